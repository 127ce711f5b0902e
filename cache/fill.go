package cache

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ddbcache/ddbcache/valuefmt"
	"github.com/redis/rueidis"
)

// fill fills the missed keys (indexes into keys) from DynamoDB, writing
// their answers into out. Concurrent fills of the same keys in this daemon
// share one flight (flight.go); the waiting callers give up when their
// own ctx ends, the flight goes on for the others.
//
// sp, when not nil, is the lease script already sent for the one missed
// key: the flight starts from its answer, and a caller that joins another
// flight instead gives it up.
func (e *Engine) fill(ctx context.Context, c rueidis.Client, ns *namespace, keys []Key, vks []string, missed []int, out []Result, sp *speculation) error {
	fkeys, fvks := pick(keys, missed), pick(vks, missed)
	f, led := e.fills.lead(ns.Name+"\x00"+strings.Join(fvks, "\x00"), func() ([]Result, error) {
		return e.load(c, ns, fkeys, fvks, sp)
	})
	if sp != nil && !led {
		e.abandon(c, sp)
	}
	st := e.counters(ns)
	select {
	case <-f.done:
		if f.err != nil {
			st.errors.Add(1)
			return f.err
		}
		for j, res := range f.val {
			out[missed[j]] = res
			st.count(res)
			if res.Source == SourceNegative {
				// A key Redis said had no value comes here without its own
				// negative read (see misses.cold): the lease script's
				// negative answer is a negative hit, heard as one.
				e.heard(ns, fkeys[j], res)
			}
		}
		return nil
	case <-ctx.Done():
		st.errors.Add(1)
		return fmt.Errorf("cache: lookup of %s: %w", fvks[0], ctx.Err())
	}
}

// load is the body of one fill flight: the lease scheme of lease.go for
// each key, the DynamoDB reads of all keys in one request.
//
//  1. acquireScript runs for every key still undecided, in one pipeline:
//     each key is answered from Redis (filled meanwhile, a lease-race
//     hit), answered negative, leased to this flight, or leased elsewhere.
//  2. Keys leased elsewhere are waited for (polling with backoff, up to
//     LeaseWait) only while nothing else is to be read: once DynamoDB
//     must be read anyway, they join that read unleased rather than
//     delay it key by key. After LeaseWait they are read unleased too.
//  3. loadAndStore reads them all and stores the leased ones.
//
// sp, when not nil, is step 1 for the one key, already sent.
func (e *Engine) load(c rueidis.Client, ns *namespace, keys []Key, vks []string, sp *speculation) ([]Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.LeaseWait+e.opts.LoadTimeout)
	defer cancel()
	out := make([]Result, len(keys))
	tokens := make([]string, len(keys))
	for i := range tokens {
		tokens[i] = e.tokens.next()
	}
	if sp != nil {
		tokens[0] = sp.token
	}
	leased := make([]bool, len(keys))
	hists := make([]writeHistory, len(keys))
	var toRead []int
	consistent := false
	undecided := allIndexes(len(keys))
	deadline := time.Now().Add(e.opts.LeaseWait)
	for pause := leasePollMin; ; pause = min(2*pause, leasePollMax) {
		var held []int
		var acquired []rueidis.RedisResult
		if sp != nil {
			acquired, sp = []rueidis.RedisResult{sp.result()}, nil
		} else {
			acquired = e.acquire(ctx, c, ns, vks, tokens, undecided)
		}
		for j, res := range acquired {
			i := undecided[j]
			a, err := e.acquired(vks[i], res)
			switch {
			case err != nil:
				e.stats.redisErrors.Add(1)
				toRead = append(toRead, i)
			case a.kind == acquiredValue:
				out[i] = Result{Value: a.value, Source: SourceRedis, TTL: a.ttl}
			case a.kind == acquiredNegative:
				out[i] = Result{Source: SourceNegative, TTL: a.ttl}
			case a.kind == acquiredLease:
				leased[i] = true
				hists[i] = a.hist
				consistent = consistent || a.consistent
				toRead = append(toRead, i)
			default: // acquireHeld
				held = append(held, i)
			}
		}
		if len(held) == 0 || len(toRead) > 0 || time.Now().After(deadline) {
			toRead = append(toRead, held...)
			break
		}
		e.counters(ns).leaseWaits.Add(1)
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return nil, fmt.Errorf("cache: waiting for the fill of %s: %w", vks[held[0]], ctx.Err())
		}
		undecided = held
	}
	if len(toRead) == 0 {
		return out, nil
	}
	for _, i := range toRead {
		consistent = consistent || e.bypass.marked(vks[i])
	}
	return out, e.loadAndStore(c, ns, keys, vks, tokens, leased, hists, toRead, consistent, out)
}

// acquire runs acquireScript for the keys at idx: one EVALSHA for one
// key, one pipeline for more.
func (e *Engine) acquire(ctx context.Context, c rueidis.Client, ns *namespace, vks, tokens []string, idx []int) []rueidis.RedisResult {
	execs := make([]rueidis.LuaExec, len(idx))
	for j, i := range idx {
		execs[j] = e.acquireExec(vks[i], tokens[i], ns.TTLAuto)
	}
	return execScript(ctx, c, acquireScript, execs)
}

// execScript runs script once per exec: Exec for one, multi for more (see
// script for why not rueidis's ExecMulti).
func execScript(ctx context.Context, c rueidis.Client, script *script, execs []rueidis.LuaExec) []rueidis.RedisResult {
	switch len(execs) {
	case 0:
		return nil
	case 1:
		return []rueidis.RedisResult{script.Exec(ctx, c, execs[0].Keys, execs[0].Args)}
	}
	return script.multi(ctx, c, execs)
}

// loadAndStore reads the items at idx from DynamoDB in one request and
// stores, with fillScript, those whose lease this flight holds (hists are
// their write histories, for ttl: auto). When
// DynamoDB fails, the leases go back, and every key must have a
// stale-if-error copy or the lookup fails.
func (e *Engine) loadAndStore(c rueidis.Client, ns *namespace, keys []Key, vks, tokens []string, leased []bool, hists []writeHistory, idx []int, consistent bool, out []Result) error {
	ctx, cancel := e.loadContext()
	defer cancel()
	docs, err := e.loadDocs(ctx, ns, pick(keys, idx), consistent)
	if err != nil {
		for _, i := range idx {
			if leased[i] {
				e.releaseLease(c, vks[i], tokens[i])
			}
		}
		for _, i := range idx {
			stale, ok := e.staleCopy(c, ns, vks[i])
			if !ok {
				return fmt.Errorf("%w: %w", ErrLoad, err)
			}
			out[i] = stale
		}
		return nil
	}
	if e.afterLoad != nil {
		for _, i := range idx {
			e.afterLoad(ns.Name, keys[i])
		}
	}
	var fills []rueidis.LuaExec
	var filled []int
	for j, i := range idx {
		out[i] = Result{Value: docs[j], Source: SourceDynamo}
		if ttl := entryTTL(ns, docs[j], hists[i], e.now()); leased[i] && ttl > 0 {
			out[i].TTL = ttl
			fills = append(fills, e.fillExec(ns, vks[i], tokens[i], docs[j], ttl))
			filled = append(filled, i)
		}
	}
	for j, res := range execScript(ctx, c, fillScript, fills) {
		i := filled[j]
		stored, err := res.AsInt64()
		switch {
		case err != nil:
			out[i].TTL = 0
			e.stats.redisErrors.Add(1)
			e.log.Warn("cache fill not stored in Redis", "key", vks[i], "err", err)
		case fillReply(stored) == fillLost:
			out[i].TTL = 0
			e.counters(ns).fillsDropped.Add(1)
		default:
			e.replicas.markFilled(vks[i])
		}
	}
	return nil
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
	if err == nil {
		v, err = valuefmt.Decode(v)
	}
	if err != nil {
		return Result{}, false
	}
	e.counters(ns).stale.Add(1)
	return Result{Value: v, Source: SourceStale}, true
}
