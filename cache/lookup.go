package cache

import (
	"context"
	"errors"
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

// The lookup path, the same for GET and MGET (a GET is the lookup of one
// key; only the round trips differ, one command or one pipeline):
//
//  1. Redis known down: degradedLookup (degraded.go).
//  2. The value keys are read through the client-side cache (valueOf).
//     After a cold miss, a GET that must go to Redis takes the lease
//     script along (speculate.go), and a miss goes to step 5 with the
//     script's answer.
//  3. The keys that missed in the client-side cache's memory of Redis are
//     looked up in the negative cache; those Redis itself said missing go
//     to step 5 at once, the lease script reading the negative entry.
//  4. Keys whose reads failed go the degraded way, Redis being suspect.
//  5. The keys still missing are filled from DynamoDB under the lease
//     scheme (fill.go), in one flight for this daemon's concurrent callers.
//
// Every answer is counted once, by count, whichever step gave it.

// outcome is what one read of a key said.
type outcome uint8

const (
	found   outcome = iota // the key held an answer
	absent                 // the key does not exist in Redis, as the client-side cache remembers
	cold                   // the key does not exist in Redis, as Redis just said
	failing                // the read failed for a reason other than an error reply
)

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
	c := e.redis.get()
	if c == nil || !e.redisUp() {
		out := make([]Result, 1)
		if err := e.degradedLookup(ctx, ns, []Key{k}, []int{0}, out); err != nil {
			return Result{}, err
		}
		return out[0], nil
	}
	vk := ns.redisKey(k)
	var res rueidis.RedisResult
	cached, local := true, false
	var sp *speculation
	if ns.coldLast.Load() {
		if res, local = e.localRead(c, vk, ns.TTL); !local {
			sp = e.speculate(c, ns, vk)
		}
	}
	if !local {
		res, cached = e.readTTL(ctx, c, vk, ns.TTL)
	}
	r, o := e.valueOf(vk, res, cached)
	ns.noteCold(o == cold)
	if o == found { // the hot path: no allocation beyond the read's
		if sp != nil {
			e.abandon(c, sp)
		}
		e.counters(ns).count(r)
		e.heard(ns, k, r)
		return r, nil
	}
	out := []Result{r}
	if sp != nil && o != failing {
		// The lease script, sent with the GET, reads the negative entry
		// too: straight to the fill.
		if err := e.fill(ctx, c, ns, []Key{k}, []string{vk}, []int{0}, out, sp); err != nil {
			return Result{}, err
		}
		return out[0], nil
	}
	if sp != nil {
		e.abandon(c, sp)
	}
	var m misses
	m.add(o, 0)
	if err := e.resolve(ctx, c, ns, []Key{k}, []string{vk}, m, out); err != nil {
		return Result{}, err
	}
	return out[0], nil
}

// MGet looks many items of one namespace up, answering in the order of
// keys, the way Get looks one up. Hits come from the client-side cache or
// one pipelined Redis round trip; the misses are filled with one
// BatchGetItem (chunked by the loader).
func (e *Engine) MGet(ctx context.Context, nsName string, keys []Key) ([]Result, error) {
	ns, err := e.namespace(nsName)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if err := ns.check(k); err != nil {
			return nil, err
		}
	}
	out := make([]Result, len(keys))
	c := e.redis.get()
	if c == nil || !e.redisUp() {
		if err := e.degradedLookup(ctx, ns, keys, allIndexes(len(keys)), out); err != nil {
			return nil, err
		}
		return out, nil
	}
	vks := make([]string, len(keys))
	for i, k := range keys {
		vks[i] = ns.redisKey(k)
	}
	st := e.counters(ns)
	var m misses
	res, around := e.readMany(ctx, c, vks, ns.TTL)
	for i := range res {
		var o outcome
		if out[i], o = e.valueOf(vks[i], res[i], around == nil || !around[i]); o == found {
			st.count(out[i])
			e.heard(ns, keys[i], out[i])
		} else {
			m.add(o, i)
		}
	}
	if err := e.resolve(ctx, c, ns, keys, vks, m, out); err != nil {
		return nil, err
	}
	return out, nil
}

// valueOf reads the answer of value key vk's GET, as JSON (format.go);
// cached says whether it went through the client-side cache.
func (e *Engine) valueOf(vk string, res rueidis.RedisResult, cached bool) (Result, outcome) {
	v, err := res.AsBytes()
	switch {
	case err == nil:
		var ok bool
		if v, ok = e.decodeValue(vk, v); !ok {
			return Result{}, absent
		}
		r := Result{Value: v, Source: SourceRedis, TTL: cacheTTL(res), Tracked: cached && e.tracked}
		if res.IsCacheHit() {
			r.Source = SourceLocal
		}
		return r, found
	case rueidis.IsRedisNil(err) && res.IsCacheHit():
		return Result{}, absent
	case rueidis.IsRedisNil(err):
		return Result{}, cold
	}
	return Result{}, failing
}

// negativeOf reads the answer of a negative entry's GET.
func negativeOf(res rueidis.RedisResult) (Result, outcome) {
	switch err := res.Error(); {
	case err == nil:
		return Result{Source: SourceNegative, TTL: cacheTTL(res)}, found
	case rueidis.IsRedisNil(err):
		return Result{}, absent
	}
	return Result{}, failing
}

// cacheTTL is the TTL of a key read through the client-side cache, 0 for
// one read around it.
func cacheTTL(res rueidis.RedisResult) time.Duration {
	return time.Duration(max(res.CachePTTL(), 0)) * time.Millisecond
}

// misses sorts the keys (indexes into a lookup's keys) whose value read
// found no value.
type misses struct {
	// absent: the client-side cache remembers the value missing, so the
	// negative entry is likely there too: read it (through that cache).
	absent []int
	// cold: Redis said the value is missing; its negative entry is not
	// read on its own, since the lease script reads it anyway (one round
	// trip fewer for a cold miss). The next lookup finds the value's
	// absence in the client-side cache and reads the negative entry
	// through it.
	cold []int
	// failed: the read failed.
	failed []int
}

func (m *misses) add(o outcome, i int) {
	switch o {
	case absent:
		m.absent = append(m.absent, i)
	case cold:
		m.cold = append(m.cold, i)
	case failing:
		m.failed = append(m.failed, i)
	}
}

// resolve finishes the lookup of the keys whose value was missed or whose
// read failed (steps 3 to 5 above), writing their answers into out.
func (e *Engine) resolve(ctx context.Context, c rueidis.Client, ns *namespace, keys []Key, vks []string, m misses, out []Result) error {
	missed, failed := m.absent, m.failed
	if ns.NegativeTTL > 0 && len(missed) > 0 {
		nks := make([]string, len(missed))
		for j, i := range missed {
			nks[j] = negKey(vks[i])
		}
		still := missed[:0:0]
		res, _ := e.readMany(ctx, c, nks, ns.NegativeTTL)
		for j, i := range missed {
			switch r, o := negativeOf(res[j]); o {
			case found:
				out[i] = r
				e.counters(ns).count(r)
				e.heard(ns, keys[i], r)
			case absent:
				still = append(still, i)
			default:
				failed = append(failed, i)
			}
		}
		missed = still
	}
	if len(failed) > 0 {
		e.stats.redisErrors.Add(int64(len(failed)) - 1) // and one in redisFailed
		e.redisFailed()
		if err := e.degradedLookup(ctx, ns, keys, failed, out); err != nil {
			return err
		}
	}
	if missed = append(missed, m.cold...); len(missed) == 0 {
		return nil
	}
	return e.fill(ctx, c, ns, keys, vks, missed, out, nil)
}

// count counts one answer in the namespace's statistics. Degraded answers
// are counted by degradedLookup (degraded_reads, gutter_hits).
func (st *nsCounters) count(r Result) {
	switch r.Source {
	case SourceLocal:
		st.hitsLocal.Add(1)
	case SourceRedis:
		st.hitsRedis.Add(1)
	case SourceNegative:
		st.negativeHits.Add(1)
	case SourceDynamo, SourceStale:
		st.misses.Add(1)
	}
}

// read GETs key through the client-side cache, or straight from Redis when
// this daemon wrote the key a moment ago (see writeMarks). cached says
// which: only a read through the cache makes Redis track the key. It is
// the read of a client's own GET (Forward): see readTTL.
func (e *Engine) read(ctx context.Context, c rueidis.Client, key string) (res rueidis.RedisResult, cached bool) {
	return e.readTTL(ctx, c, key, 0)
}

// readTTL is read with the client-side copy's lifetime. ttl 0 asks Redis
// for the key's PTTL with each read that misses the client-side cache
// (rueidis wraps the GET: CLIENT CACHING, MULTI, PTTL, GET, EXEC), so
// that the copy expires with the key: right for a client's own keys,
// whose TTLs may be seconds. A ttl above 0 is the copy's lifetime from
// the read on (rueidis's ToStaticTTL: CLIENT CACHING, GET), for the
// engine's own keys, whose namespace TTL bounds the key's: the copy
// goes when Redis invalidates the key (a write, an invalidation, and its
// expiry, which Redis reports to tracking clients too) or after ttl,
// whichever is first, so a copy read just before the key's expiry
// outlives it by at most the namespace TTL when Redis's expiry of it
// lags. It saves 3 of the 5 commands of every read that misses the
// client-side cache.
func (e *Engine) readTTL(ctx context.Context, c rueidis.Client, key string, ttl time.Duration) (res rueidis.RedisResult, cached bool) {
	if e.bypass.marked(key) {
		return c.Do(ctx, c.B().Get().Key(key).Build()), false
	}
	if res, ok := e.replicas.readOne(ctx, key); ok {
		return res, true
	}
	res = c.DoCache(ctx, cacheableGet(c, key, ttl), clientTTL(ttl))
	if probeCanceled(ctx, res) {
		res = c.DoCache(ctx, cacheableGet(c, key, ttl), clientTTL(ttl))
	}
	return res, true
}

// probeCanceled reports whether res is the error a read gets when it
// waited on the pending cache entry of a localRead of the same key
// (speculate.go): rueidis ends that entry with the probe's context error.
// Nothing failed: the read is made again.
func probeCanceled(ctx context.Context, res rueidis.RedisResult) bool {
	return errors.Is(res.Error(), context.Canceled) && ctx.Err() == nil
}

// cacheableGet is the GET of key for the client-side cache, with a static
// TTL when ttl is above 0 (see readTTL).
func cacheableGet(c rueidis.Client, key string, ttl time.Duration) rueidis.Cacheable {
	if ttl > 0 {
		return c.B().Get().Key(key).Cache().ToStaticTTL()
	}
	return c.B().Get().Key(key).Cache()
}

// clientTTL is the lifetime rueidis gives a client-side copy: ttl, or
// DefaultTTL as the upper bound of a PTTL-clamped one.
func clientTTL(ttl time.Duration) time.Duration {
	if ttl > 0 {
		return ttl
	}
	return DefaultTTL
}

// readMany GETs keys as readTTL does, in one pipelined round trip (one key
// is one plain read). around is nil when every key was read through the
// client-side cache, and otherwise says which were not.
func (e *Engine) readMany(ctx context.Context, c rueidis.Client, keys []string, ttl time.Duration) (res []rueidis.RedisResult, around []bool) {
	res = make([]rueidis.RedisResult, len(keys))
	if len(keys) == 1 {
		r, cached := e.readTTL(ctx, c, keys[0], ttl)
		res[0] = r
		if !cached {
			around = []bool{true}
		}
		return res, around
	}
	var cached []rueidis.CacheableTTL
	var cachedAt []int
	var direct rueidis.Commands
	var directAt []int
	for i, k := range keys {
		if e.bypass.marked(k) {
			direct = append(direct, c.B().Get().Key(k).Build())
			directAt = append(directAt, i)
		} else {
			cached = append(cached, rueidis.CT(cacheableGet(c, k, ttl), clientTTL(ttl)))
			cachedAt = append(cachedAt, i)
		}
	}
	if len(cached) > 0 {
		var rr []rueidis.RedisResult
		ok := false
		if e.replicas != nil {
			rr, ok = e.replicas.readCached(ctx, pick(keys, cachedAt))
		}
		if !ok {
			rr = c.DoMultiCache(ctx, cached...)
			for j, r := range rr {
				if probeCanceled(ctx, r) {
					// A fresh command: rueidis recycles an answered one.
					rr[j] = c.DoCache(ctx, cacheableGet(c, keys[cachedAt[j]], ttl), clientTTL(ttl))
				}
			}
		}
		for j, r := range rr {
			res[cachedAt[j]] = r
		}
	}
	if len(direct) > 0 {
		around = make([]bool, len(keys))
		for j, r := range c.DoMulti(ctx, direct...) {
			res[directAt[j]] = r
			around[directAt[j]] = true
		}
	}
	return res, around
}

// redisFailed counts a Redis command that failed for a reason other than
// an error reply, and has the link probed at once.
func (e *Engine) redisFailed() {
	e.stats.redisErrors.Add(1)
	e.link.suspect()
}

func allIndexes(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// pick returns the elements of s at idx.
func pick[T any](s []T, idx []int) []T {
	out := make([]T, len(idx))
	for j, i := range idx {
		out[j] = s[i]
	}
	return out
}

// counters returns the statistics of ns.
func (e *Engine) counters(ns *namespace) *nsCounters { return ns.stats }
