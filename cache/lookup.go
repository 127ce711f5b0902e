package cache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/rueidis"
)

// Source says where a lookup's answer came from.
type Source uint8

// Sources of a lookup's answer.
const (
	// SourceLocal is the daemon's client-side cache: no network at all.
	SourceLocal Source = iota
	// SourceRedis is a Redis round trip.
	SourceRedis
	// SourceNegative is the negative cache: the item is known not to exist.
	SourceNegative
	// SourceDynamo is a miss filled from DynamoDB.
	SourceDynamo
	// SourceStale is a stale copy served because DynamoDB failed.
	SourceStale
	// SourceDegraded is DynamoDB read directly because Redis failed.
	SourceDegraded
)

var sourceNames = [...]string{"local", "redis", "negative", "miss", "stale", "degraded"}

// String returns the source's name: local, redis, negative, miss, stale or degraded.
func (s Source) String() string { return sourceNames[s] }

// Hit reports whether the answer came from a cache without reading DynamoDB.
func (s Source) Hit() bool { return s <= SourceNegative }

// Result is the answer to one lookup.
type Result struct {
	// Value is the item's JSON, or nil when the item does not exist. It may
	// share memory with the client-side cache: never modify it.
	Value  []byte
	Source Source
	// TTL is how long the answer stays fresh in the cache, when known
	// (0 when not: a value read around the local cache, or a degraded read).
	TTL time.Duration
	// Tracked says that Options.Notifier will hear if Value changes in
	// Redis, for as long as TTL: the value was read through the
	// client-side cache, whose keys Redis tracks. It is false for values
	// read around that cache (a write a moment ago), filled from DynamoDB,
	// negative, stale or degraded, and always without a Notifier.
	Tracked bool
}

// Get looks one item up: client-side cache, then Redis, then the negative
// cache, then DynamoDB (once for all concurrent callers of this daemon),
// storing what DynamoDB said.
func (e *Engine) Get(ctx context.Context, nsName string, k Key) (Result, error) {
	ns, err := e.namespace(nsName)
	if err != nil {
		return Result{}, err
	}
	if err := ns.check(k); err != nil {
		return Result{}, err
	}
	st := ns.stats
	c := e.redis.get()
	if c == nil || !e.redisUp() {
		return e.degradedGet(ctx, ns, k)
	}
	vk := ns.redisKey(k)
	res, cached := e.read(ctx, c, vk)
	if v, err := res.AsBytes(); err == nil {
		ttl := time.Duration(res.CachePTTL()) * time.Millisecond
		tracked := cached && e.tracked
		if res.IsCacheHit() {
			st.hitsLocal.Add(1)
			return Result{Value: v, Source: SourceLocal, TTL: ttl, Tracked: tracked}, nil
		}
		st.hitsRedis.Add(1)
		return Result{Value: v, Source: SourceRedis, TTL: max(ttl, 0), Tracked: tracked}, nil
	} else if !rueidis.IsRedisNil(err) {
		e.redisFailed()
		return e.degradedGet(ctx, ns, k)
	}
	if ns.NegativeTTL > 0 {
		res, _ := e.read(ctx, c, negKey(vk))
		if err := res.Error(); err == nil {
			st.negativeHits.Add(1)
			return Result{Source: SourceNegative, TTL: max(time.Duration(res.CachePTTL())*time.Millisecond, 0)}, nil
		} else if !rueidis.IsRedisNil(err) {
			e.redisFailed()
			return e.degradedGet(ctx, ns, k)
		}
	}
	return e.fill(ctx, c, ns, k, vk)
}

// read GETs key through the client-side cache, or straight from Redis when
// this daemon wrote the key a moment ago (see writeMarks). cached says
// which: only a read through the cache makes Redis track the key.
func (e *Engine) read(ctx context.Context, c rueidis.Client, key string) (res rueidis.RedisResult, cached bool) {
	if e.bypass.marked(key) {
		return c.Do(ctx, c.B().Get().Key(key).Build()), false
	}
	return c.DoCache(ctx, c.B().Get().Key(key).Cache(), DefaultTTL), true
}

// fill reads a missed item from DynamoDB and stores it. Concurrent fills of
// one key in this daemon share a single DynamoDB read (singleflight); the
// waiting callers give up when their own ctx ends, the read goes on for the
// others.
func (e *Engine) fill(ctx context.Context, c rueidis.Client, ns *namespace, k Key, vk string) (Result, error) {
	ch := e.flights.DoChan(ns.Name+"\x00"+vk, func() (any, error) {
		return e.load(c, ns, k, vk)
	})
	select {
	case r := <-ch:
		st := ns.stats
		if r.Err != nil {
			st.errors.Add(1)
			return Result{}, r.Err
		}
		res := r.Val.(Result)
		switch res.Source {
		case SourceRedis:
			st.hitsRedis.Add(1)
		case SourceNegative:
			st.negativeHits.Add(1)
		default:
			st.misses.Add(1)
		}
		return res, nil
	case <-ctx.Done():
		ns.stats.errors.Add(1)
		return Result{}, fmt.Errorf("cache: lookup of %s: %w", vk, ctx.Err())
	}
}

// staleTimeout bounds the read of a stale-if-error copy. It has a context
// of its own: the copy is wanted precisely when DynamoDB used up the
// request's deadline (a hang, throttling), and must not share it.
const staleTimeout = 500 * time.Millisecond

// staleCopy returns the stale-if-error copy of vk, if the namespace keeps one.
func (e *Engine) staleCopy(c rueidis.Client, ns *namespace, vk string) (Result, bool) {
	if ns.StaleIfError <= 0 {
		return Result{}, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), staleTimeout)
	defer cancel()
	v, err := c.Do(ctx, c.B().Get().Key(staleKey(vk)).Build()).AsBytes()
	if err != nil {
		return Result{}, false
	}
	ns.stats.stale.Add(1)
	return Result{Value: v, Source: SourceStale}, true
}

// redisFailed counts a Redis command that failed for a reason other than
// an error reply, and has the link probed at once.
func (e *Engine) redisFailed() {
	e.stats.redisErrors.Add(1)
	e.link.suspect()
}

// degradedGet reads DynamoDB directly while Redis fails. Step by step:
//
//  1. The gutter may hold DynamoDB's answer of a moment ago (at most
//     Options.GutterTTL old, and never older than a write of this
//     daemon): served as it is.
//  2. Otherwise concurrent lookups of the key in this daemon share one
//     DynamoDB read (singleflight, as fills do), made under the
//     Options.DegradedConcurrency bound, so that an outage of Redis does
//     not turn into a flood of DynamoDB reads.
//  3. The answer goes into the gutter for the next lookups.
func (e *Engine) degradedGet(ctx context.Context, ns *namespace, k Key) (Result, error) {
	st := ns.stats
	vk := ns.redisKey(k)
	e.stats.degradedReads.Add(1)
	if doc, ok := e.gutter.get(vk); ok {
		st.gutterHits.Add(1)
		return Result{Value: doc, Source: SourceDegraded}, nil
	}
	ch := e.flights.DoChan("degraded\x00"+ns.Name+"\x00"+vk, func() (any, error) {
		// The flight serves every waiting caller: it runs under the load
		// deadline, not the first caller's.
		lctx, cancel := e.loadContext()
		defer cancel()
		release, err := e.acquireDegraded(lctx, st)
		if err != nil {
			return nil, err
		}
		defer release()
		epoch := e.gutter.epoch()
		st.dynamoReads.Add(1)
		doc, err := e.opts.Loader.Get(lctx, ns.Table, ns.dynamoKey(k), false)
		if err := e.loaded(err); err != nil {
			return nil, err
		}
		e.gutter.put(vk, doc, epoch)
		return doc, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			st.errors.Add(1)
			if errors.Is(r.Err, ErrRedis) {
				return Result{}, r.Err
			}
			return Result{}, fmt.Errorf("%w: %w (and Redis is unavailable)", ErrLoad, r.Err)
		}
		doc, _ := r.Val.([]byte)
		return Result{Value: doc, Source: SourceDegraded}, nil
	case <-ctx.Done():
		st.errors.Add(1)
		return Result{}, fmt.Errorf("cache: lookup of %s while Redis is unavailable: %w", vk, ctx.Err())
	}
}

// acquireDegraded takes one of the Options.DegradedConcurrency slots for a
// DynamoDB read made because Redis failed, waiting until ctx ends.
func (e *Engine) acquireDegraded(ctx context.Context, st *nsCounters) (release func(), err error) {
	select {
	case e.degraded <- struct{}{}:
		return func() { <-e.degraded }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: and DynamoDB reads are saturated: %w", ErrRedis, ctx.Err())
	}
}
