package cache

import (
	"sync"

	"github.com/redis/rueidis"
)

// Notifier hears which Redis keys may have changed, so that copies cached
// outside the daemon (the Perl client's local cache, see package
// tracking) can be dropped. tracking.Registry implements it.
//
// The engine calls Invalidate from its write paths (Put, Delete,
// Invalidate, stream events, passthrough writes) after Redis was changed
// and before the write returns, so a client that reads after a write's
// reply has already been told. It also relays what Redis's tracking tells
// rueidis about changes made elsewhere, and calls Flush when it cannot say
// which keys changed. Calls may be concurrent and must not block for long.
type Notifier interface {
	// Invalidate says that the values of keys may have changed.
	Invalidate(keys []string)
	// Flush says that any key may have changed.
	Flush()
}

// maxRelayKeys bounds the keys waiting to be relayed; beyond it the relay
// sends a flush instead, which says more and costs less.
const maxRelayKeys = 4096

// relay hands the invalidations that Redis's tracking sends rueidis to
// the Notifier on a goroutine of its own: rueidis calls OnInvalidations on
// the goroutine that reads a connection's replies, which must not wait for
// slow subscribers. Pending invalidations coalesce into one call.
type relay struct {
	n    Notifier
	wake chan struct{} // capacity 1: "something is pending"
	mu   sync.Mutex    // guards keys and flush
	keys []string
	// flush is set when rueidis lost a connection (its cache is gone, and
	// with it the promise of invalidations) or too many keys were pending.
	flush bool
}

func newRelay(n Notifier) *relay {
	return &relay{n: n, wake: make(chan struct{}, 1)}
}

// onInvalidations is rueidis's ClientOption.OnInvalidations: nil means
// the connection was lost (or Redis flushed), so every key is invalid.
func (r *relay) onInvalidations(msgs []rueidis.RedisMessage) {
	r.mu.Lock()
	switch {
	case msgs == nil:
		r.flush, r.keys = true, nil
	case !r.flush:
		for i := range msgs {
			if k, err := msgs[i].ToString(); err == nil {
				r.keys = append(r.keys, k)
			}
		}
		if len(r.keys) > maxRelayKeys {
			r.flush, r.keys = true, nil
		}
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// run relays pending invalidations until closed is closed.
func (r *relay) run(closed <-chan struct{}) {
	for {
		select {
		case <-closed:
			return
		case <-r.wake:
		}
		r.mu.Lock()
		keys, flush := r.keys, r.flush
		r.keys, r.flush = nil, false
		r.mu.Unlock()
		switch {
		case flush:
			r.n.Flush()
		case len(keys) > 0:
			r.n.Invalidate(keys)
		}
	}
}

// notify tells the Notifier, if any, that keys changed.
func (e *Engine) notify(keys ...string) {
	if e.opts.Notifier != nil {
		e.opts.Notifier.Invalidate(keys)
	}
}

// notifyFlush tells the Notifier, if any, that any key may have changed.
func (e *Engine) notifyFlush() {
	if e.opts.Notifier != nil {
		e.opts.Notifier.Flush()
	}
}
