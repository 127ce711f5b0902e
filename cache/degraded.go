package cache

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// degradedLookup reads the items of keys at idx from DynamoDB directly,
// Redis failing, and writes their answers into out. Step by step:
//
//  1. The gutter may hold DynamoDB's answer of a moment ago (at most
//     Options.GutterTTL old, and never older than a write of this
//     daemon): served as it is.
//  2. Otherwise concurrent lookups of the same keys in this daemon share
//     one DynamoDB read (singleflight, as fills do), made under the
//     Options.DegradedConcurrency bound, so that an outage of Redis does
//     not turn into a flood of DynamoDB reads.
//  3. The answers go into the gutter for the next lookups.
func (e *Engine) degradedLookup(ctx context.Context, ns *namespace, keys []Key, idx []int, out []Result) error {
	st := e.counters(ns)
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
		return nil
	}
	lkeys := pick(keys, load)
	vks := make([]string, len(lkeys))
	for j, k := range lkeys {
		vks[j] = ns.redisKey(k)
	}
	f := e.degradedReads.do(ns.Name+"\x00"+strings.Join(vks, "\x00"), func() ([][]byte, error) {
		// The flight serves every waiting caller: it runs under the load
		// deadline, not the first caller's.
		lctx, cancel := e.loadContext()
		defer cancel()
		release, err := e.acquireDegraded(lctx)
		if err != nil {
			return nil, err
		}
		defer release()
		epoch := e.gutter.epoch()
		docs, err := e.loadDocs(lctx, ns, lkeys, false)
		if err != nil {
			return nil, err
		}
		for j, vk := range vks {
			e.gutter.put(vk, docs[j], epoch)
		}
		return docs, nil
	})
	select {
	case <-f.done:
		if f.err != nil {
			st.errors.Add(1)
			if errors.Is(f.err, ErrRedis) {
				return f.err
			}
			return fmt.Errorf("%w: %w (and Redis is unavailable)", ErrLoad, f.err)
		}
		for j, doc := range f.val {
			out[load[j]] = Result{Value: doc, Source: SourceDegraded}
		}
		return nil
	case <-ctx.Done():
		st.errors.Add(1)
		return fmt.Errorf("cache: lookup of %s while Redis is unavailable: %w", vks[0], ctx.Err())
	}
}

// acquireDegraded takes one of the Options.DegradedConcurrency slots for a
// DynamoDB read made because Redis failed, waiting until ctx ends.
func (e *Engine) acquireDegraded(ctx context.Context) (release func(), err error) {
	select {
	case e.degraded <- struct{}{}:
		return func() { <-e.degraded }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: and DynamoDB reads are saturated: %w", ErrRedis, ctx.Err())
	}
}

// loadDocs reads the items of keys from DynamoDB: one GetItem for one key,
// one BatchGetItem for more. It counts the read and tells the health
// tracking how DynamoDB did.
func (e *Engine) loadDocs(ctx context.Context, ns *namespace, keys []Key, consistent bool) ([][]byte, error) {
	e.counters(ns).dynamoReads.Add(1)
	if len(keys) == 1 {
		doc, err := e.opts.Loader.Get(ctx, ns.Table, ns.dynamoKey(keys[0]), consistent)
		if err := e.loaded(err); err != nil {
			return nil, err
		}
		return [][]byte{doc}, nil
	}
	dks := make([]map[string]string, len(keys))
	for j, k := range keys {
		dks[j] = ns.dynamoKey(k)
	}
	docs, err := e.opts.Loader.BatchGet(ctx, ns.Table, dks, consistent)
	if err := e.loaded(err); err != nil {
		return nil, err
	}
	return docs, nil
}
