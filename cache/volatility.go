package cache

import (
	"fmt"
	"strconv"
	"time"
)

// TTL by volatility (`ttl: auto`).
//
// A namespace with TTLAuto gives each value a TTL of half the interval at
// which its item is observed to be written, within [TTLMin, TTLMax]: a
// profile nobody edits lives TTLMax, one edited every few seconds lives
// TTLMin, so it is reread from DynamoDB soon after each write even where an
// invalidation was lost, and the rarely written majority stops expiring
// for nothing.
//
// The write history lives in Redis beside the value, in the hash
// "{<value key>}:wh" (same Cluster slot), so every daemon sees every
// write: fields t (the last write, Unix ms) and i (the interval between
// writes, an exponentially weighted mean with weight 1/2, ms). Every
// write is an invalidation — DDB PUT, DEL and INVALIDATE, the Lambda
// event endpoint, the Streams consumer, queued invalidations replayed —
// and the invalidation script (invalidateSource) updates the hash in the
// same EVAL: no extra round trip, a few microseconds of Redis time, and
// about 185 bytes of Redis memory (used_memory) per key written in the last 2 × TTLMax
// (the hash expires then; a history that old would give TTLMax anyway).
// Writes closer than TTLMin to the last one are not counted: one write
// is often invalidated twice (by the writer, then by the stream), and
// any interval under 2 × TTLMin gives TTLMin anyway.
//
// A fill reads the hash in acquireScript, which it runs anyway, and
// computes the TTL (autoTTL): the estimate of the interval is the larger
// of i and the time since t, so a key that was hot and went quiet
// lengthens its TTL again; a key with no history gets TTLMax.

// Defaults of an automatic TTL's bounds.
const (
	DefaultTTLMin = 10 * time.Second
	DefaultTTLMax = time.Hour
)

func histKey(vk string) string { return "{" + vk + "}:wh" }

// writeHistory is what the hash said at a fill; zero times when unknown.
type writeHistory struct {
	last     time.Time     // the last counted write
	interval time.Duration // 0: only one write seen
}

// checkAutoTTL fills in and validates the bounds of an automatic TTL.
func checkAutoTTL(ns *Namespace) error {
	if !ns.TTLAuto {
		return nil
	}
	if ns.TTLMin == 0 {
		ns.TTLMin = DefaultTTLMin
	}
	if ns.TTLMax == 0 {
		ns.TTLMax = DefaultTTLMax
	}
	if ns.TTLMin < time.Millisecond || ns.TTLMax < ns.TTLMin {
		return fmt.Errorf("cache: namespace %q: want 1ms ≤ ttl_min ≤ ttl_max, got %s and %s", ns.Name, ns.TTLMin, ns.TTLMax)
	}
	// TTL bounds how long a client-side copy may live (readTTL): no value
	// of this namespace lives longer than TTLMax.
	ns.TTL = ns.TTLMax
	return nil
}

// autoTTL is the TTL a value filled at now gets from its write history.
func (ns *namespace) autoTTL(h writeHistory, now time.Time) time.Duration {
	if h.last.IsZero() {
		return ns.TTLMax
	}
	est := max(h.interval, now.Sub(h.last))
	return min(max(est/2, ns.TTLMin), ns.TTLMax)
}

// historyArgs are the invalidation script's ARGV[2:]: now (Unix ms), how
// long the history is kept (0: the namespace keeps none) and the
// debounce, all in ms.
func (ns *namespace) historyArgs(now time.Time) []string {
	if !ns.TTLAuto {
		return []string{"0", "0", "0"}
	}
	return []string{
		strconv.FormatInt(now.UnixMilli(), 10),
		strconv.FormatInt((2 * ns.TTLMax).Milliseconds(), 10),
		strconv.FormatInt(ns.TTLMin.Milliseconds(), 10),
	}
}

// historyScript is the part of invalidateSource that records a write.
// KEYS[6] is the history; ARGV[2..4] are historyArgs.
const historyScript = `
if tonumber(ARGV[3]) > 0 then
  local now = tonumber(ARGV[2])
  local h = redis.call('HMGET', KEYS[6], 't', 'i')
  local last = tonumber(h[1])
  if not last then
    redis.call('HSET', KEYS[6], 't', ARGV[2])
  elseif now - last >= tonumber(ARGV[4]) then
    local iv = now - last
    if tonumber(h[2]) then iv = math.floor((tonumber(h[2]) + iv) / 2) end
    redis.call('HSET', KEYS[6], 't', ARGV[2], 'i', string.format('%d', iv))
  end
  redis.call('PEXPIRE', KEYS[6], ARGV[3])
end`

// parseHistory reads the t and i that acquireScript returned.
func parseHistory(t, i int64, tErr, iErr error) writeHistory {
	if tErr != nil || t <= 0 {
		return writeHistory{}
	}
	h := writeHistory{last: time.UnixMilli(t)}
	if iErr == nil && i > 0 {
		h.interval = time.Duration(i) * time.Millisecond
	}
	return h
}

// now is the engine's clock: time.Now, or a test's.
func (e *Engine) now() time.Time {
	if e.clock != nil {
		return e.clock()
	}
	return time.Now()
}
