package cache

import (
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Defaults of the gutter, for Options fields left at zero.
const (
	// DefaultGutterTTL is how long an answer DynamoDB gave while Redis was
	// down is reused.
	DefaultGutterTTL = time.Second
	// DefaultGutterSize bounds the gutter's entries.
	DefaultGutterSize = 10000
)

// gutter is a small, bounded, short-lived in-process copy of what DynamoDB
// answered while Redis was down (the "gutter pool" of Facebook's memcache
// paper): without it, every lookup of a hot key during an outage is a
// DynamoDB read. Entries live Options.GutterTTL, so a change made
// elsewhere is seen at most that late; this daemon's own writes drop
// theirs at once. It is emptied when Redis comes back.
//
// The LRU (hashicorp/golang-lru) bounds its size and is safe for
// concurrent use; expiry is checked on read, so the gutter needs no
// goroutine of its own.
type gutter struct {
	// ttl is in nanoseconds, 0 or less: off. It is atomic because a
	// reload (Engine.SetLimits) changes it while lookups run.
	ttl   atomic.Int64
	items *lru.Cache[string, gutterEntry]
	// drops counts drop and purge calls. A read takes it before asking
	// DynamoDB and stores its answer only if it has not moved: otherwise a
	// write of this daemon may have dropped the key while the read was on
	// its way, and the answer may be older than the write.
	drops atomic.Uint64
}

// gutterEntry is one remembered answer; doc is nil for an absent item.
type gutterEntry struct {
	doc     []byte
	expires time.Time
}

// newGutter makes a gutter of size entries keeping answers for ttl; a ttl
// of 0 or less turns it off. The LRU is made even when it is off, so that
// a reload can turn it on.
func newGutter(size int, ttl time.Duration) *gutter {
	g := &gutter{}
	g.items, _ = lru.New[string, gutterEntry](size) // errs only for size <= 0
	g.setTTL(ttl)
	return g
}

// setTTL changes how long answers are kept; 0 or less turns the gutter
// off and forgets what it held.
func (g *gutter) setTTL(ttl time.Duration) {
	if g.ttl.Swap(int64(max(ttl, 0))) > 0 && ttl <= 0 {
		g.purge()
	}
}

// on reports whether the gutter keeps answers.
func (g *gutter) on() bool { return g.items != nil && g.ttl.Load() > 0 }

// get returns the remembered answer for key vk.
func (g *gutter) get(vk string) (doc []byte, ok bool) {
	if !g.on() {
		return nil, false
	}
	en, ok := g.items.Get(vk)
	if !ok || time.Now().After(en.expires) {
		return nil, false
	}
	return en.doc, true
}

// epoch returns the value of drops that a later put must find.
func (g *gutter) epoch() uint64 { return g.drops.Load() }

// put remembers DynamoDB's answer for key vk, read after epoch was taken,
// unless a drop happened since.
func (g *gutter) put(vk string, doc []byte, epoch uint64) {
	ttl := time.Duration(g.ttl.Load())
	if g.items == nil || ttl <= 0 {
		return
	}
	g.items.Add(vk, gutterEntry{doc: doc, expires: time.Now().Add(ttl)})
	if g.drops.Load() != epoch {
		g.items.Remove(vk) // a drop raced the read: its answer may be old
	}
}

// drop forgets the answers for keys: this daemon wrote them.
func (g *gutter) drop(vks ...string) {
	if g.items != nil {
		g.drops.Add(1)
		for _, vk := range vks {
			g.items.Remove(vk)
		}
	}
}

// purge forgets everything.
func (g *gutter) purge() {
	if g.items != nil {
		g.drops.Add(1)
		g.items.Purge()
	}
}
