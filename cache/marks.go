package cache

import (
	"sync"
	"sync/atomic"
	"time"
)

// writeMarks remembers keys this daemon wrote or invalidated a moment ago.
//
// Why: Redis tells rueidis to drop a client-side cached key with a tracking
// push, and that push can reach us after the reply to our own write (it
// travels on the connection that read the key, not necessarily the one
// that wrote it). A client that gets +OK for a write and reads at once
// would then see its old value from our local cache. So a write marks its
// keys, and for `window` afterwards reads of marked keys go to Redis
// directly (uncached). Clearing a mark on the tracking push is not safe: a
// push from an earlier change can arrive late and be mistaken for ours.
type writeMarks struct {
	window time.Duration
	n      atomic.Int64 // number of marks, so the hot path skips the map when empty
	writes atomic.Int64 // marks made, to sweep expired ones now and then
	m      sync.Map     // key → expiry (time.Time)
}

// sweepEvery is how many marks are made between sweeps of expired marks
// (a mark that is never read again would otherwise stay forever).
const sweepEvery = 1024

func newWriteMarks(window time.Duration) *writeMarks {
	return &writeMarks{window: window}
}

// mark records keys as written now.
func (w *writeMarks) mark(keys ...string) {
	until := time.Now().Add(w.window)
	for _, k := range keys {
		if _, loaded := w.m.Swap(k, until); !loaded {
			w.n.Add(1)
		}
	}
	if w.writes.Add(1)%sweepEvery == 0 {
		w.sweep()
	}
}

// sweep removes expired marks.
func (w *writeMarks) sweep() {
	now := time.Now()
	w.m.Range(func(k, v any) bool {
		if now.After(v.(time.Time)) && w.m.CompareAndDelete(k, v) {
			w.n.Add(-1)
		}
		return true
	})
}

// marked reports whether key was written within the window.
func (w *writeMarks) marked(key string) bool {
	if w.n.Load() == 0 {
		return false
	}
	v, ok := w.m.Load(key)
	if !ok {
		return false
	}
	if time.Now().Before(v.(time.Time)) {
		return true
	}
	if w.m.CompareAndDelete(key, v) {
		w.n.Add(-1)
	}
	return false
}
