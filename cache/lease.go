package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// Defaults of the lease scheme, for Options fields left at zero.
const (
	// DefaultLeaseTTL bounds how long a fill may hold a key's lease; a
	// holder that dies releases it by expiry.
	DefaultLeaseTTL = 5 * time.Second
	// DefaultLeaseWait is how long a lookup waits for another daemon's fill
	// before it reads DynamoDB itself.
	DefaultLeaseWait = 2 * time.Second
	// DefaultConsistentWindow is how long after an invalidation fills read
	// DynamoDB with ConsistentRead.
	DefaultConsistentWindow = 3 * time.Second
	leasePollMin            = 2 * time.Millisecond
	leasePollMax            = 50 * time.Millisecond
)

// The lease scheme (Facebook's memcache leases, NSDI 2013), step by step.
//
// Keys of one item share a Redis Cluster slot: the value "user_profile:42"
// and "{user_profile:42}:lease", ":neg", ":stale", ":inv".
//
//  1. A lookup misses (no value, no negative entry) in this daemon's cache
//     and in Redis. Concurrent misses in this daemon share one flight
//     (singleflight); the flight runs acquireScript, which atomically
//     re-reads the value and negative entry and, if both are absent, takes
//     the lease: SET lease TOKEN NX PX lease_ttl. It also reports whether
//     the item was invalidated a moment ago (the :inv marker).
//  2. The lease holder reads DynamoDB — with ConsistentRead after a recent
//     invalidation, since an eventually consistent read right after a
//     write may return the old item — and stores the answer with
//     fillScript, which writes the value (or the negative entry) only if
//     the lease still holds its TOKEN, and deletes the lease.
//  3. A write (DDB PUT/DEL, a stream record) first changes DynamoDB, then
//     runs invalidateScript: it deletes the value, the negative and stale
//     entries AND the lease, and sets the :inv marker. So a fill that read
//     DynamoDB before the write finds its token gone in step 2 and stores
//     nothing: the old value it read can never overwrite the invalidation
//     (the "stale set" of the blog pattern). Its caller still gets what it
//     read, which is correct for a read that overlapped the write.
//  4. Other daemons that miss while the lease is held poll acquireScript
//     with backoff (2 ms doubling to 50 ms): they see the value once the
//     holder stores it, or take the lease themselves if it vanished (holder
//     died, or an invalidation removed it). After LeaseWait they stop
//     waiting and read DynamoDB themselves without storing, rather than fail.
//
// So one cold key costs one DynamoDB read however many daemons and callers
// miss it at once, and no fill outlives an invalidation.
var (
	// KEYS: value, lease, neg, inv. ARGV: token, lease ms. Returns
	// {1, value, pttl} | {2, pttl} (negative) | {3, inv} (lease taken) | {4} (held).
	acquireScript = rueidis.NewLuaScript(`
local v = redis.call('GET', KEYS[1])
if v then return {1, v, redis.call('PTTL', KEYS[1])} end
local n = redis.call('PTTL', KEYS[3])
if n ~= -2 then return {2, n} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {3, redis.call('EXISTS', KEYS[4])}
end
return {4}`)

	// KEYS: value, lease, neg, stale. ARGV: token, "v" or "n", value,
	// ttl ms, stale ms (0: none). Returns 1 if stored, 0 if the lease was lost.
	fillScript = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
if ARGV[2] == 'v' then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
  if tonumber(ARGV[5]) > 0 then redis.call('SET', KEYS[4], ARGV[3], 'PX', ARGV[5]) end
else
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[4])
end
return 1`)

	// KEYS: value, neg, stale, lease, inv. ARGV: marker ms.
	// Returns how many of value, neg and stale existed.
	invalidateScript = rueidis.NewLuaScript(`
local n = redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('DEL', KEYS[4])
redis.call('SET', KEYS[5], '1', 'PX', ARGV[1])
return n`)
)

func leaseKey(vk string) string { return "{" + vk + "}:lease" }
func invKey(vk string) string   { return "{" + vk + "}:inv" }

// tokens makes lease tokens unique across daemons (random prefix) and
// within one (counter).
type tokens struct {
	prefix string
	n      atomic.Uint64
}

func newTokens() *tokens {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return &tokens{prefix: hex.EncodeToString(b)}
}

func (t *tokens) next() string { return t.prefix + "-" + strconv.FormatUint(t.n.Add(1), 10) }

// acquireResult is what acquireScript said.
type acquireResult struct {
	kind       int // 1 value, 2 negative, 3 lease taken, 4 lease held elsewhere
	value      []byte
	ttl        time.Duration // of the value or negative entry found
	consistent bool          // the key was invalidated a moment ago
}

func (e *Engine) acquireExec(vk, token string) rueidis.LuaExec {
	return rueidis.LuaExec{
		Keys: []string{vk, leaseKey(vk), negKey(vk), invKey(vk)},
		Args: []string{token, strconv.FormatInt(e.opts.LeaseTTL.Milliseconds(), 10)},
	}
}

func parseAcquire(res rueidis.RedisResult) (acquireResult, error) {
	arr, err := res.ToArray()
	if err != nil || len(arr) == 0 {
		return acquireResult{}, fmt.Errorf("%w: lease: %v", ErrRedis, err)
	}
	kind, err := arr[0].AsInt64()
	if err != nil {
		return acquireResult{}, fmt.Errorf("%w: lease: %v", ErrRedis, err)
	}
	r := acquireResult{kind: int(kind)}
	if len(arr) > 1 {
		switch kind {
		case 1:
			r.value, _ = arr[1].AsBytes()
			if len(arr) > 2 {
				ms, _ := arr[2].AsInt64()
				r.ttl = time.Duration(max(ms, 0)) * time.Millisecond
			}
		case 2:
			ms, _ := arr[1].AsInt64()
			r.ttl = time.Duration(max(ms, 0)) * time.Millisecond
		case 3:
			n, _ := arr[1].AsInt64()
			r.consistent = n == 1
		}
	}
	return r, nil
}

func (e *Engine) fillExec(ns *namespace, vk, token string, doc []byte, ttl time.Duration) rueidis.LuaExec {
	kind, staleMS := "n", int64(0)
	if doc != nil {
		kind = "v"
		if ns.StaleIfError > 0 {
			staleMS = (ns.TTL + ns.StaleIfError).Milliseconds()
		}
	}
	return rueidis.LuaExec{
		Keys: []string{vk, leaseKey(vk), negKey(vk), staleKey(vk)},
		Args: []string{token, kind, string(doc), strconv.FormatInt(ttl.Milliseconds(), 10), strconv.FormatInt(staleMS, 10)},
	}
}

// entryTTL is the TTL a fill gives doc: the jittered value TTL, or the
// negative TTL for an absent item (0: not cached).
func entryTTL(ns *namespace, doc []byte) time.Duration {
	if doc == nil {
		return max(ns.NegativeTTL, 0)
	}
	return ns.ttl()
}

// load is the body of one fill (see the lease scheme above).
func (e *Engine) load(c rueidis.Client, ns *namespace, k Key, vk string) (Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.LeaseWait+e.opts.LoadTimeout)
	defer cancel()
	st := ns.stats
	token := e.tokens.next()
	deadline := time.Now().Add(e.opts.LeaseWait)
	pause := leasePollMin
	ax := e.acquireExec(vk, token)
	for {
		a, err := parseAcquire(acquireScript.Exec(ctx, c, ax.Keys, ax.Args))
		if err != nil {
			e.stats.redisErrors.Add(1)
			return e.loadUnleased(ns, k, vk, false)
		}
		switch a.kind {
		case 1:
			return Result{Value: a.value, Source: SourceRedis, TTL: a.ttl}, nil
		case 2:
			return Result{Source: SourceNegative, TTL: a.ttl}, nil
		case 3:
			return e.loadLeased(c, ns, k, vk, token, a.consistent || e.bypass.marked(vk))
		}
		if time.Now().After(deadline) {
			return e.loadUnleased(ns, k, vk, e.bypass.marked(vk))
		}
		st.leaseWaits.Add(1)
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return Result{}, fmt.Errorf("cache: waiting for the fill of %s: %w", vk, ctx.Err())
		}
		pause = min(2*pause, leasePollMax)
	}
}

// loadLeased reads DynamoDB as the lease holder and stores the answer if
// the lease survived.
func (e *Engine) loadLeased(c rueidis.Client, ns *namespace, k Key, vk, token string, consistent bool) (Result, error) {
	ctx, cancel := e.loadContext()
	defer cancel()
	st := ns.stats
	st.dynamoReads.Add(1)
	doc, err := e.opts.Loader.Get(ctx, ns.Table, ns.dynamoKey(k), consistent)
	if err := e.loaded(err); err != nil {
		e.releaseLease(c, vk, token)
		if stale, ok := e.staleCopy(c, ns, vk); ok {
			return stale, nil
		}
		return Result{}, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	if e.afterLoad != nil {
		e.afterLoad(ns.Name, k)
	}
	ttl := entryTTL(ns, doc)
	if ttl > 0 {
		fx := e.fillExec(ns, vk, token, doc, ttl)
		stored, err := fillScript.Exec(ctx, c, fx.Keys, fx.Args).AsInt64()
		switch {
		case err != nil:
			e.stats.redisErrors.Add(1)
			e.log.Warn("cache fill not stored in Redis", "key", vk, "err", err)
		case stored == 0:
			st.fillsDropped.Add(1)
			ttl = 0
		}
	}
	return Result{Value: doc, Source: SourceDynamo, TTL: ttl}, nil
}

// loadUnleased reads DynamoDB without a lease and stores nothing: a lookup
// that waited its budget for another daemon's fill, or whose Redis failed.
func (e *Engine) loadUnleased(ns *namespace, k Key, vk string, consistent bool) (Result, error) {
	ctx, cancel := e.loadContext()
	defer cancel()
	ns.stats.dynamoReads.Add(1)
	doc, err := e.opts.Loader.Get(ctx, ns.Table, ns.dynamoKey(k), consistent)
	if err := e.loaded(err); err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	return Result{Value: doc, Source: SourceDynamo}, nil
}

// releaseLease gives up the lease on vk after a failed read, so that
// another lookup may try at once rather than after LeaseTTL. It has a
// context of its own, since the read may have used up the load deadline;
// it deletes the lease only if it still holds token.
func (e *Engine) releaseLease(c rueidis.Client, vk, token string) {
	ctx, cancel := context.WithTimeout(context.Background(), staleTimeout)
	defer cancel()
	unlockScript.Exec(ctx, c, []string{leaseKey(vk)}, []string{token}) // a lock's release, by its owner
}
