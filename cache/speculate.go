package cache

import (
	"context"
	"time"

	"github.com/redis/rueidis"
)

// A cold miss waits for three Redis round trips in a row: the value's GET
// (Redis says missing), the lease script, the fill script. At 0.25–0.5 ms
// a round trip to a managed Redis, that is most of what a miss costs
// beyond the DynamoDB read. The lease script already answers for a key
// that has a value (acquiredValue: it takes no lease then), so it can be
// sent together with the GET, before the GET's answer says whether it is
// needed: a speculation. It is made only when the last lookup of the
// namespace was a cold miss (misses come in runs: a cold start, a scan, a
// new page of keys) and the key is not in the client-side cache (which
// answers without the network: no round trip to save). A wrong guess costs
// Redis one script run and no wait; a right one saves a round trip.

// speculation is a lease script sent ahead of a GET's answer.
type speculation struct {
	vk    string
	token string
	done  chan struct{} // closed once res is set
	res   rueidis.RedisResult
}

// speculate starts acquireScript for vk on a goroutine of its own, so that
// it travels with the GET the caller sends next. Its context is not the
// lookup's: a lease taken must be answered (filled, or released), whoever
// stops waiting.
func (e *Engine) speculate(c rueidis.Client, ns *namespace, vk string) *speculation {
	sp := &speculation{vk: vk, token: e.tokens.next(), done: make(chan struct{})}
	exec := e.acquireExec(vk, sp.token, ns.TTLAuto)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), e.opts.LoadTimeout)
		defer cancel()
		sp.res = acquireScript.Exec(ctx, c, exec.Keys, exec.Args)
		close(sp.done)
	}()
	return sp
}

// result waits for the script's answer.
func (sp *speculation) result() rueidis.RedisResult {
	<-sp.done
	return sp.res
}

// abandon gives the speculation up (the GET found the value, or the
// lookup went another way): if the script took the lease after all (the
// value went between the GET and the script), it is released at once,
// not left to block other fillers until it expires.
func (e *Engine) abandon(c rueidis.Client, sp *speculation) {
	go func() {
		if a, err := parseAcquire(sp.result()); err == nil && a.kind == acquiredLease {
			e.releaseLease(c, sp.vk, sp.token)
		}
	}()
}

// noteCold notes whether ns's last lookup was a cold miss: the hint to
// speculate on the next. It writes only on a change, to keep the shared
// word out of the hot path's way.
func (ns *namespace) noteCold(cold bool) {
	if ns.coldLast.Load() != cold {
		ns.coldLast.Store(cold)
	}
}

// canceled is a context that has ended: rueidis's DoCache on it answers
// from the client-side cache, or fails at once without sending anything
// (TestLocallyCached holds rueidis to that).
var canceled = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// localRead reads vk from the client-side cache alone, the way readTTL
// would read it through that cache; ok is false when the cache does not
// hold it (or readTTL would not read it from there: a key this daemon
// wrote a moment ago, or replicas). It goes around the round-trip
// observer: it makes no round trip, and a failure here is no Redis error.
func (e *Engine) localRead(c rueidis.Client, key string, ttl time.Duration) (res rueidis.RedisResult, ok bool) {
	if e.replicas != nil || e.bypass.marked(key) {
		return res, false
	}
	if oc, wrapped := c.(observedClient); wrapped {
		c = oc.Client
	}
	res = c.DoCache(canceled, cacheableGet(c, key, ttl), clientTTL(ttl))
	return res, res.IsCacheHit()
}
