package cache

import (
	"context"
	"fmt"
)

// HitObserver hears the lookups answered from the cache without reading
// DynamoDB (the daemon's memory, a Redis round trip, the negative cache):
// the consistency audit (package audit) samples them. Hit runs on the
// lookup's own goroutine, on the hot path: it must return at once, never
// block, and never modify r.Value (it may share memory with the
// client-side cache). Hits of a fill's lease race (another daemon stored
// the value while this one asked for the lease) are not heard.
type HitObserver interface {
	Hit(ns string, k Key, r Result)
}

// HitObserverFunc adapts a function to HitObserver.
type HitObserverFunc func(ns string, k Key, r Result)

// Hit implements HitObserver.
func (f HitObserverFunc) Hit(ns string, k Key, r Result) { f(ns, k, r) }

// heard tells Options.Hits, if any, of a hit of k.
func (e *Engine) heard(ns *namespace, k Key, r Result) {
	if h := e.opts.Hits; h != nil {
		h.Hit(ns.Name, k, r)
	}
}

// Cached returns what this daemon's cache would answer for k now,
// without filling a miss, counting a lookup or telling Options.Hits: the
// value (through the client-side cache, as a lookup reads it) or the
// negative entry, with its remaining TTL when known. ok is false when
// neither is cached. The consistency audit calls it to learn whether the
// entry it sampled is still the one served.
func (e *Engine) Cached(ctx context.Context, nsName string, k Key) (r Result, ok bool, err error) {
	ns, err := e.namespace(nsName)
	if err != nil {
		return Result{}, false, err
	}
	if err := ns.check(k); err != nil {
		return Result{}, false, err
	}
	c := e.redis.get()
	if c == nil || !e.redisUp() {
		return Result{}, false, fmt.Errorf("%w: cannot read the cache entry", ErrRedis)
	}
	vk := ns.redisKey(k)
	res, cached := e.readTTL(ctx, c, vk, ns.TTL)
	r, o := e.valueOf(vk, res, cached)
	if (o == absent || o == cold) && ns.NegativeTTL > 0 {
		res, _ = e.readTTL(ctx, c, negKey(vk), ns.NegativeTTL)
		r, o = negativeOf(res)
	}
	switch o {
	case found:
		return r, true, nil
	case absent, cold:
		return Result{}, false, nil
	}
	return Result{}, false, fmt.Errorf("%w: cache entry of %s: %v", ErrRedis, vk, res.Error())
}
