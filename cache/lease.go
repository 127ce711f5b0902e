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
//     runs invalidateSource (wait.go): it deletes the value, the negative and stale
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
//  5. An MGET runs the same steps for all its misses at once (fill.go):
//     one pipeline of acquireScript, one BatchGetItem, one pipeline of
//     fillScript. Keys leased elsewhere join the batch read unleased when
//     DynamoDB is read anyway, and are waited for as in step 4 otherwise.
//
// So one cold key costs one DynamoDB read however many daemons and callers
// miss it at once, and no fill outlives an invalidation.
// Replies of the lease scripts. The Lua text below is built from these
// constants, so the script and the Go code that reads its reply cannot
// disagree about a number.

// acquireKind is the first element of acquireScript's reply: what the
// script found for the key.
type acquireKind int64

const (
	// acquiredValue: {1, value, pttl}. The value is in Redis (a fill
	// stored it since the lookup missed: a lease-race hit).
	acquiredValue acquireKind = 1
	// acquiredNegative: {2, pttl}. The negative entry is in Redis.
	acquiredNegative acquireKind = 2
	// acquiredLease: {3, inv, t, i}. The lease is this caller's now; inv
	// is 1 when the item was invalidated a moment ago (read it
	// consistently); t and i are the write history (volatility.go), nil
	// when unknown.
	acquiredLease acquireKind = 3
	// acquireHeld: {4}. Another fill holds the lease.
	acquireHeld acquireKind = 4
)

// fillReply is fillScript's reply.
type fillReply int64

const (
	// fillLost: the lease was gone (an invalidation took it, or it
	// expired): nothing was stored, a fill dropped.
	fillLost fillReply = 0
	// fillStored: the value or negative entry was stored.
	fillStored fillReply = 1
)

// What fillScript stores, its ARGV[2].
const (
	fillValue    = "v" // the value (and the stale copy, if any)
	fillNegative = "n" // the negative entry
)

var (
	// KEYS: value, lease, neg, inv, write history. ARGV: token, lease
	// ms, "1" when the namespace keeps a write history (ttl: auto; the
	// others spare the HMGET). Replies with an acquireKind first (see there).
	acquireScript = newScript(fmt.Sprintf(`
local v = redis.call('GET', KEYS[1])
if v then return {%d, v, redis.call('PTTL', KEYS[1])} end
local n = redis.call('PTTL', KEYS[3])
if n ~= -2 then return {%d, n} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local h = {}
  if ARGV[3] == '1' then h = redis.call('HMGET', KEYS[5], 't', 'i') end
  return {%d, redis.call('EXISTS', KEYS[4]), h[1], h[2]}
end
return {%d}`, acquiredValue, acquiredNegative, acquiredLease, acquireHeld))

	// KEYS: value, lease, neg, stale. ARGV: token, fillValue or
	// fillNegative, value, ttl ms, stale ms (0: none). Replies a fillReply.
	fillScript = newScript(fmt.Sprintf(`
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return %d end
redis.call('DEL', KEYS[2])
if ARGV[2] == '%s' then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
  if tonumber(ARGV[5]) > 0 then redis.call('SET', KEYS[4], ARGV[3], 'PX', ARGV[5]) end
else
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[4])
end
return %d`, fillLost, fillValue, fillStored))

	// KEYS: lease. ARGV: token. Deletes the lease only if it still holds
	// token; replies how many it deleted (0 or 1).
	releaseScript = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)
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
	kind       acquireKind
	value      []byte
	ttl        time.Duration // of the value or negative entry found
	consistent bool          // the key was invalidated a moment ago
	hist       writeHistory  // with a lease: the key's write history
}

func (e *Engine) acquireExec(vk, token string, history bool) rueidis.LuaExec {
	keepsHistory := "0"
	if history {
		keepsHistory = "1"
	}
	return rueidis.LuaExec{
		Keys: []string{vk, leaseKey(vk), negKey(vk), invKey(vk), histKey(vk)},
		Args: []string{token, strconv.FormatInt(e.opts.LeaseTTL.Milliseconds(), 10), keepsHistory},
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
	r := acquireResult{kind: acquireKind(kind)}
	if len(arr) > 1 {
		switch r.kind {
		case acquiredValue:
			r.value, _ = arr[1].AsBytes()
			if len(arr) > 2 {
				ms, _ := arr[2].AsInt64()
				r.ttl = time.Duration(max(ms, 0)) * time.Millisecond
			}
		case acquiredNegative:
			ms, _ := arr[1].AsInt64()
			r.ttl = time.Duration(max(ms, 0)) * time.Millisecond
		case acquiredLease:
			n, _ := arr[1].AsInt64()
			r.consistent = n == 1
			if len(arr) > 3 {
				t, tErr := arr[2].AsInt64()
				i, iErr := arr[3].AsInt64()
				r.hist = parseHistory(t, i, tErr, iErr)
			}
		}
	}
	return r, nil
}

func (e *Engine) fillExec(ns *namespace, vk, token string, doc []byte, ttl time.Duration) rueidis.LuaExec {
	kind, staleMS := fillNegative, int64(0)
	if doc != nil {
		kind = fillValue
		if ns.StaleIfError > 0 {
			staleMS = (ttl + ns.StaleIfError).Milliseconds()
		}
	}
	return rueidis.LuaExec{
		Keys: []string{vk, leaseKey(vk), negKey(vk), staleKey(vk)},
		Args: []string{token, kind, string(ns.Codec.Encode(doc)), strconv.FormatInt(ttl.Milliseconds(), 10), strconv.FormatInt(staleMS, 10)},
	}
}

// entryTTL is the TTL a fill at now gives doc: the jittered value TTL
// (for ttl: auto, from the key's write history h), or the negative TTL
// for an absent item (0: not cached).
func entryTTL(ns *namespace, doc []byte, h writeHistory, now time.Time) time.Duration {
	if doc == nil {
		return max(ns.NegativeTTL, 0)
	}
	if ns.TTLAuto {
		return ns.jitter(ns.autoTTL(h, now))
	}
	return ns.ttl()
}

// releaseLease gives up the lease on vk after a failed read, so that
// another lookup may try at once rather than after LeaseTTL. It has a
// context of its own, since the read may have used up the load deadline;
// it deletes the lease only if it still holds token.
func (e *Engine) releaseLease(c rueidis.Client, vk, token string) {
	ctx, cancel := context.WithTimeout(context.Background(), staleTimeout)
	defer cancel()
	releaseScript.Exec(ctx, c, []string{leaseKey(vk)}, []string{token})
}
