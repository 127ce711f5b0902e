package cache

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/rueidis"
)

// invalidateSource is the invalidation script (see the lease scheme in
// lease.go, step 3). Invalidations send it with
// EVAL rather than EVALSHA: rueidis's ExecMulti loads a script on the nodes
// it knows and then sends EVALSHA, which a replica promoted a moment ago
// (in a failover) answers NOSCRIPT — the invalidation failed and the write
// was left pending. EVAL of these few bytes costs Redis a SHA-1 and a
// lookup in its script cache, and needs no SCRIPT LOAD on every node per
// call. EVAL and WAIT must also go in one DoMulti (see invalidateWaiting).
// KEYS: value, neg, stale, lease, inv, write history. ARGV: marker ms,
// then the write history's arguments (volatility.go). Returns how many of
// value, neg and stale existed.
const invalidateSource = `
local n = redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('DEL', KEYS[4])
redis.call('SET', KEYS[5], '1', 'PX', ARGV[1])` + historyScript + `
return n`

// invalidateEval runs the invalidations of execs with EVAL, in one
// pipeline, or with invalidateWaiting when replicas must acknowledge them,
// and returns how many keys had an entry.
func (e *Engine) invalidateEval(ctx context.Context, c rueidis.Client, execs []rueidis.LuaExec) (int, error) {
	if e.opts.Redis.WaitReplicas > 0 {
		return e.invalidateWaiting(ctx, c, execs)
	}
	cmds := make(rueidis.Commands, len(execs))
	for i, x := range execs {
		cmds[i] = evalInvalidate(c, x)
	}
	dropped := 0
	for _, r := range c.DoMulti(ctx, cmds...) {
		n, err := r.AsInt64()
		if err != nil {
			e.stats.redisErrors.Add(1)
			return dropped, fmt.Errorf("%w: cache entries not invalidated: %v", ErrRedis, err)
		}
		if n > 0 {
			dropped++
		}
	}
	return dropped, nil
}

func evalInvalidate(c rueidis.Client, x rueidis.LuaExec) rueidis.Completed {
	return c.B().Eval().Script(invalidateSource).Numkeys(int64(len(x.Keys))).Key(x.Keys...).Arg(x.Args...).Build()
}

// invalidateWaiting runs the invalidations of execs, each followed by
// WAIT WaitReplicas WaitTimeout. WAIT counts the replicas that have every
// write made so far on the connection it is sent on, so it must travel on
// the invalidation's own connection: rueidis sends a DoMulti of one slot's
// commands and a keyless one (WAIT) to that slot's master on one pipe. One
// DoMulti per key, since rueidis refuses a keyless command beside commands
// of several slots; they run concurrently, so n keys cost one round trip
// and one wait, not n.
func (e *Engine) invalidateWaiting(ctx context.Context, c rueidis.Client, execs []rueidis.LuaExec) (int, error) {
	timeout := e.opts.Redis.WaitTimeout
	if timeout == 0 {
		timeout = DefaultWaitTimeout
	}
	type outcome struct {
		dropped bool
		err     error
	}
	results := make(chan outcome, len(execs))
	for _, x := range execs {
		go func(x rueidis.LuaExec) {
			eval := evalInvalidate(c, x)
			wait := c.B().Wait().Numreplicas(int64(e.opts.Redis.WaitReplicas)).Timeout(timeout.Milliseconds()).Build()
			rs := c.DoMulti(ctx, eval, wait)
			n, err := rs[0].AsInt64()
			if err != nil {
				results <- outcome{err: err}
				return
			}
			if acked, err := rs[1].AsInt64(); err != nil || acked < int64(e.opts.Redis.WaitReplicas) {
				e.stats.waitShort.Add(1)
				e.log.Warn("invalidation not acknowledged by enough replicas within the wait", "key", x.Keys[0],
					"replicas", strconv.FormatInt(acked, 10), "want", e.opts.Redis.WaitReplicas, "err", err)
			}
			results <- outcome{dropped: n > 0}
		}(x)
	}
	dropped := 0
	var first error
	for range execs {
		o := <-results
		if o.err != nil && first == nil {
			first = o.err
		}
		if o.dropped {
			dropped++
		}
	}
	if first != nil {
		e.stats.redisErrors.Add(1)
		return dropped, fmt.Errorf("%w: cache entries not invalidated: %v", ErrRedis, first)
	}
	return dropped, nil
}
