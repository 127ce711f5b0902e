package cache

import (
	"context"
	"fmt"
	"sync"

	"github.com/redis/rueidis"
)

// DefaultMaxPending bounds the invalidations queued while Redis is down.
const DefaultMaxPending = 10000

// pending holds the invalidations this daemon owes Redis: a write reached
// DynamoDB, then Redis failed before the write's cache entries were
// dropped. Until they are applied the engine keeps the link down (see
// link.go), so it never serves from Redis a value it knows to be old; the
// probe that finds Redis back applies them first.
//
// The queue is bounded. A namespace whose invalidations overflow it is
// marked whole: on reconnect all of its keys are dropped (as
// InvalidateTable does), which costs fills but loses no invalidation.
type pending struct {
	max int

	mu    sync.Mutex // guards the fields below
	keys  map[*namespace][]Key
	n     int                 // keys held
	whole map[*namespace]bool // namespaces to drop whole
}

func newPending(max int) *pending {
	return &pending{max: max, keys: map[*namespace][]Key{}, whole: map[*namespace]bool{}}
}

// add queues the invalidation of keys of ns.
func (p *pending) add(ns *namespace, keys []Key) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.whole[ns] {
		return
	}
	if p.n+len(keys) > p.max {
		p.whole[ns] = true
		p.n -= len(p.keys[ns])
		delete(p.keys, ns)
		return
	}
	p.keys[ns] = append(p.keys[ns], keys...)
	p.n += len(keys)
}

// size returns how many keys are queued and how many namespaces are to be
// dropped whole.
func (p *pending) size() (keys, whole int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n, len(p.whole)
}

// take removes and returns what is queued.
func (p *pending) take() (keys map[*namespace][]Key, whole map[*namespace]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	keys, whole = p.keys, p.whole
	p.keys, p.whole, p.n = map[*namespace][]Key{}, map[*namespace]bool{}, 0
	return keys, whole
}

// putBack requeues what take returned and could not be applied.
func (p *pending) putBack(keys map[*namespace][]Key, whole map[*namespace]bool) {
	for ns := range whole {
		p.mu.Lock()
		p.whole[ns] = true
		p.n -= len(p.keys[ns])
		delete(p.keys, ns)
		p.mu.Unlock()
	}
	for ns, ks := range keys {
		p.add(ns, ks)
	}
}

// applyPending applies the queued invalidations, namespaces to drop whole
// first. What fails stays queued, and the error says why.
func (e *Engine) applyPending(ctx context.Context, c rueidis.Client) error {
	if n, w := e.pending.size(); n == 0 && w == 0 {
		return nil
	}
	keys, whole := e.pending.take()
	for ns := range whole {
		if _, err := e.invalidateWhole(ctx, c, ns); err != nil {
			e.pending.putBack(keys, whole)
			return err
		}
		delete(whole, ns)
		delete(keys, ns)
		e.notifyFlush()
		e.log.Info("applied the invalidations queued while Redis was down: namespace dropped whole (the queue overflowed)", "namespace", ns.Name)
	}
	for ns, ks := range keys {
		if _, err := e.invalidateRedis(ctx, c, ns, ks); err != nil {
			e.pending.putBack(keys, nil)
			return err
		}
		delete(keys, ns)
		e.log.Info("applied the invalidations queued while Redis was down", "namespace", ns.Name, "keys", len(ks))
	}
	return nil
}

// pendingError is what a write says when it reached DynamoDB but its
// cache entries could not be dropped: what happened, and what will.
func pendingError(what string, cause error) error {
	return fmt.Errorf("%w: the item was %s DynamoDB; its cache entries will be dropped when Redis returns (%v)", ErrPending, what, cause)
}
