package valuefmt

import (
	"bytes"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// DefaultMemoBytes bounds a Memo made with NewMemo(0).
const DefaultMemoBytes = 64 << 20

// Memo remembers, per Redis key, the JSON decoded from the key's last
// tagged value. A daemon serves hot keys from rueidis's client-side
// cache, which hands back the same bytes on every hit; without the memo
// each such hit would decode (and unzstd) the value again. With it a hit
// costs a map lookup and a comparison of the bytes, which is a pointer
// comparison when they are the cached copy. A changed value (other bytes
// under the key) is decoded and replaces the entry, so the memo can never
// answer with an old item. It is safe for concurrent use.
type Memo struct {
	mu sync.Mutex // guards lru and size
	// lru maps a Redis key to its entry, least recently used first out.
	lru  *simplelru.LRU[string, memoEntry]
	size int // bytes of raw and JSON held
	max  int
}

type memoEntry struct {
	raw  []byte // the tagged value as read (shared with the read's buffer)
	json []byte
}

func (m memoEntry) bytes() int { return len(m.raw) + len(m.json) }

// NewMemo returns a Memo holding at most maxBytes of values and their
// JSON; 0 means DefaultMemoBytes.
func NewMemo(maxBytes int) *Memo {
	if maxBytes <= 0 {
		maxBytes = DefaultMemoBytes
	}
	m := &Memo{max: maxBytes}
	// The entry count is bounded by the bytes; simplelru wants a count too.
	m.lru, _ = simplelru.NewLRU[string, memoEntry](1<<30, func(_ string, e memoEntry) { m.size -= e.bytes() })
	return m
}

// Decode is the package's Decode of raw, the value of the Redis key key,
// answered from the memo when raw is the value last decoded for key.
// Plain JSON is returned as it is without touching the memo. raw and the
// JSON returned must not be modified.
func (m *Memo) Decode(key string, raw []byte) ([]byte, error) {
	if !Tagged(raw) {
		return raw, nil
	}
	m.mu.Lock()
	e, ok := m.lru.Get(key)
	m.mu.Unlock()
	if ok && bytes.Equal(e.raw, raw) {
		return e.json, nil
	}
	doc, err := Decode(raw)
	if err != nil {
		return nil, err
	}
	e = memoEntry{raw: raw, json: doc}
	if e.bytes() > m.max/8 {
		return doc, nil // one value must not flush the memo
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lru.Remove(key) // the eviction callback takes an old entry's size off
	m.lru.Add(key, e)
	m.size += e.bytes()
	for m.size > m.max {
		m.lru.RemoveOldest()
	}
	return doc, nil
}

// Len returns how many keys the memo holds.
func (m *Memo) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lru.Len()
}
