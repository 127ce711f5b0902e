package cache

import (
	"context"
	"fmt"

	"github.com/redis/rueidis"
)

// MGet looks many items of one namespace up, answering in the order of
// keys. Hits come from the client-side cache or one pipelined Redis round
// trip; all misses are read from DynamoDB in one BatchGetItem (chunked by
// the loader).
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
	st := ns.stats
	out := make([]Result, len(keys))
	c := e.redis.get()
	if c == nil || !e.redisUp() {
		return e.degradedMGet(ctx, ns, keys, allIndexes(len(keys)), out)
	}
	vks := make([]string, len(keys))
	for i, k := range keys {
		vks[i] = ns.redisKey(k)
	}
	var missed, broken []int
	for i, res := range e.readMany(ctx, c, vks) {
		v, err := res.AsBytes()
		switch {
		case err == nil && res.IsCacheHit():
			st.hitsLocal.Add(1)
			out[i] = Result{Value: v, Source: SourceLocal}
		case err == nil:
			st.hitsRedis.Add(1)
			out[i] = Result{Value: v, Source: SourceRedis}
		case rueidis.IsRedisNil(err):
			missed = append(missed, i)
		default:
			broken = append(broken, i)
		}
	}
	if ns.NegativeTTL > 0 && len(missed) > 0 {
		nks := make([]string, len(missed))
		for j, i := range missed {
			nks[j] = negKey(vks[i])
		}
		still := missed[:0:0]
		for j, res := range e.readMany(ctx, c, nks) {
			i := missed[j]
			switch err := res.Error(); {
			case err == nil:
				st.negativeHits.Add(1)
				out[i] = Result{Source: SourceNegative}
			case rueidis.IsRedisNil(err):
				still = append(still, i)
			default:
				broken = append(broken, i)
			}
		}
		missed = still
	}
	if len(broken) > 0 {
		e.stats.redisErrors.Add(int64(len(broken)) - 1)
		e.redisFailed()
		if _, err := e.degradedMGet(ctx, ns, keys, broken, out); err != nil {
			return nil, err
		}
	}
	if len(missed) == 0 {
		return out, nil
	}
	st.misses.Add(int64(len(missed)))
	return out, e.fillMany(ctx, c, ns, keys, vks, missed, out)
}

// fillMany fills the missed keys with one BatchGetItem. Each key goes
// through acquireScript first, as in load: keys another flight filled
// meanwhile are answered from Redis; keys whose lease this call takes are
// stored with fillScript; keys whose lease another daemon holds are read in
// the same batch but not stored (waiting for them key by key would cost
// more than the read).
func (e *Engine) fillMany(ctx context.Context, c rueidis.Client, ns *namespace, keys []Key, vks []string, missed []int, out []Result) error {
	lctx, cancel := e.loadContext()
	defer cancel()
	st := ns.stats
	tokens := make(map[int]string, len(missed)) // key index → its lease token
	execs := make([]rueidis.LuaExec, len(missed))
	for j, i := range missed {
		tokens[i] = e.tokens.next()
		execs[j] = e.acquireExec(vks[i], tokens[i])
	}
	var load []int           // indexes into keys to read from DynamoDB
	leased := map[int]bool{} // of those, the ones whose lease we hold
	consistent := false
	for j, res := range acquireScript.ExecMulti(lctx, c, execs...) {
		i := missed[j]
		a, err := parseAcquire(res)
		switch {
		case err != nil:
			e.stats.redisErrors.Add(1)
			load = append(load, i)
		case a.kind == 1:
			out[i] = Result{Value: a.value, Source: SourceRedis, TTL: a.ttl}
		case a.kind == 2:
			out[i] = Result{Source: SourceNegative, TTL: a.ttl}
		case a.kind == 3:
			leased[i] = true
			consistent = consistent || a.consistent
			load = append(load, i)
		default:
			load = append(load, i)
		}
		consistent = consistent || e.bypass.marked(vks[i])
	}
	if len(load) == 0 {
		return nil
	}
	dks := make([]map[string]string, len(load))
	for j, i := range load {
		dks[j] = ns.dynamoKey(keys[i])
	}
	st.dynamoReads.Add(1)
	docs, err := e.opts.Loader.BatchGet(lctx, ns.Table, dks, consistent)
	if err := e.loaded(err); err != nil {
		for _, i := range load {
			if leased[i] {
				e.releaseLease(c, vks[i], tokens[i])
			}
		}
		for _, i := range load {
			stale, ok := e.staleCopy(c, ns, vks[i])
			if !ok {
				st.errors.Add(1)
				return fmt.Errorf("%w: %w", ErrLoad, err)
			}
			out[i] = stale
		}
		return nil
	}
	var fills []rueidis.LuaExec
	var filled []int
	for j, i := range load {
		out[i] = Result{Value: docs[j], Source: SourceDynamo}
		if ttl := entryTTL(ns, docs[j]); leased[i] && ttl > 0 {
			out[i].TTL = ttl
			fills = append(fills, e.fillExec(ns, vks[i], tokens[i], docs[j], ttl))
			filled = append(filled, i)
		}
	}
	for j, res := range fillScript.ExecMulti(lctx, c, fills...) {
		if stored, err := res.AsInt64(); err != nil || stored == 0 {
			out[filled[j]].TTL = 0
			if err != nil {
				e.stats.redisErrors.Add(1)
			} else {
				st.fillsDropped.Add(1)
			}
		}
	}
	return nil
}

// readMany GETs keys in one pipelined round trip, through the client-side
// cache except for keys this daemon wrote a moment ago.
func (e *Engine) readMany(ctx context.Context, c rueidis.Client, keys []string) []rueidis.RedisResult {
	out := make([]rueidis.RedisResult, len(keys))
	var cached []rueidis.CacheableTTL
	var cachedAt []int
	var direct rueidis.Commands
	var directAt []int
	for i, k := range keys {
		if e.bypass.marked(k) {
			direct = append(direct, c.B().Get().Key(k).Build())
			directAt = append(directAt, i)
		} else {
			cached = append(cached, rueidis.CT(c.B().Get().Key(k).Cache(), DefaultTTL))
			cachedAt = append(cachedAt, i)
		}
	}
	if len(cached) > 0 {
		for j, r := range c.DoMultiCache(ctx, cached...) {
			out[cachedAt[j]] = r
		}
	}
	if len(direct) > 0 {
		for j, r := range c.DoMulti(ctx, direct...) {
			out[directAt[j]] = r
		}
	}
	return out
}

// degradedMGet reads the items at idx while Redis fails: from the gutter
// where it has them (see degradedGet), the others from DynamoDB in one
// BatchGetItem, whose answers go into the gutter.
func (e *Engine) degradedMGet(ctx context.Context, ns *namespace, keys []Key, idx []int, out []Result) ([]Result, error) {
	st := ns.stats
	e.stats.degradedReads.Add(int64(len(idx)))
	var load []int
	for _, i := range idx {
		if doc, ok := e.gutter.get(ns.redisKey(keys[i])); ok {
			st.gutterHits.Add(1)
			out[i] = Result{Value: doc, Source: SourceDegraded}
		} else {
			load = append(load, i)
		}
	}
	if len(load) == 0 {
		return out, nil
	}
	release, err := e.acquireDegraded(ctx, st)
	if err != nil {
		st.errors.Add(1)
		return nil, err
	}
	defer release()
	st.dynamoReads.Add(1)
	lctx, cancel := e.loadContext()
	defer cancel()
	dks := make([]map[string]string, len(load))
	for j, i := range load {
		dks[j] = ns.dynamoKey(keys[i])
	}
	epoch := e.gutter.epoch()
	docs, err := e.opts.Loader.BatchGet(lctx, ns.Table, dks, false)
	if err := e.loaded(err); err != nil {
		st.errors.Add(1)
		return nil, fmt.Errorf("%w: %w (and Redis is unavailable)", ErrLoad, err)
	}
	for j, i := range load {
		e.gutter.put(ns.redisKey(keys[i]), docs[j], epoch)
		out[i] = Result{Value: docs[j], Source: SourceDegraded}
	}
	return out, nil
}

func allIndexes(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}
