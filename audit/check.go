package audit

import (
	"context"
	"time"

	"github.com/ddbcache/ddbcache/cache"
)

// Results of one audit, as the result label of ddbcache_audit_total says.
const (
	// Consistent: DynamoDB held what the cache served.
	Consistent = "consistent"
	// Inconsistent: the cache still served, a grace period after the
	// hit, a value DynamoDB did not hold; the entry was invalidated.
	Inconsistent = "inconsistent"
	// Raced: DynamoDB disagreed, but the entry changed within the grace
	// period (a write's invalidation landed) or DynamoDB came back to
	// the served value: a write raced the audit, which says nothing of
	// the cache's consistency either way.
	Raced = "raced"
	// Failed: DynamoDB or Redis could not be read; no verdict.
	Failed = "error"
)

// first is step 1: the consistent read right after the hit.
func (a *Auditor) first(c Cache, s sampled) {
	doc, ok := a.read(c, s)
	if !ok {
		return
	}
	if same, err := equalItems(doc, s.value); err != nil || same {
		a.verdict(s.ns, Consistent, err)
		return
	}
	select {
	case a.recheck <- suspect{sampled: s, due: time.Now().Add(time.Duration(a.grace.Load()))}:
	default:
		a.stats.skippedQueue.Add(1)
	}
}

// confirm is steps 2 and 3: once the grace is over, is the entry still
// the one served, and does DynamoDB still disagree with it?
func (a *Auditor) confirm(c Cache, s suspect) {
	ctx, cancel := context.WithTimeout(context.Background(), a.opts.Timeout)
	defer cancel()
	cur, ok, err := c.Cached(ctx, s.ns, s.key)
	if err != nil {
		a.verdict(s.ns, Failed, err)
		return
	}
	if !stillServed(cur, ok, s.value) {
		a.verdict(s.ns, Raced, nil)
		return
	}
	doc, read := a.read(c, s.sampled)
	if !read {
		return
	}
	if same, _ := equalItems(doc, s.value); same {
		a.verdict(s.ns, Raced, nil)
		return
	}
	a.repair(c, s, cur)
}

// repair invalidates the inconsistent entry of s, logs it and counts it.
func (a *Auditor) repair(c Cache, s suspect, cur cache.Result) {
	ctx, cancel := context.WithTimeout(context.Background(), a.opts.Timeout)
	defer cancel()
	age := a.entryAge(c, s, cur)
	_, err := c.Invalidate(ctx, s.ns, []cache.Key{s.key})
	attrs := []any{"namespace", s.ns, "key", s.key.Partition}
	if s.key.Sort != "" {
		attrs = append(attrs, "sort_key", s.key.Sort)
	}
	attrs = append(attrs, "entry_age", age.Round(time.Millisecond), "grace", time.Duration(a.grace.Load()))
	if err != nil {
		a.log.Warn("consistency audit: the cache serves a value DynamoDB no longer holds, and its invalidation failed",
			append(attrs, "err", err)...)
	} else {
		a.log.Warn("consistency audit: the cache served a value DynamoDB no longer holds; entry invalidated", attrs...)
	}
	a.stats.inconsistency(s.ns, s.key, age, err == nil)
	a.verdict(s.ns, Inconsistent, nil)
}

// read reads the item of s from DynamoDB with ConsistentRead; ok is false
// (and the failure counted) when it could not.
func (a *Auditor) read(c Cache, s sampled) (doc []byte, ok bool) {
	info, known := c.Namespace(s.ns)
	if !known {
		return nil, false // removed by a reload meanwhile: nothing to say
	}
	key := map[string]string{info.PartitionKey: s.key.Partition}
	if info.SortKey != "" {
		key[info.SortKey] = s.key.Sort
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.opts.Timeout)
	defer cancel()
	a.stats.read(s.ns, info.Table)
	doc, err := a.opts.Reader.Get(ctx, info.Table, key, true)
	if err != nil {
		a.verdict(s.ns, Failed, err)
		return nil, false
	}
	return doc, true
}

// stillServed reports whether the entry read now (cur, ok) is the one
// that served value (nil: a negative entry).
func stillServed(cur cache.Result, ok bool, value []byte) bool {
	if !ok {
		return false
	}
	if value == nil {
		return cur.Source == cache.SourceNegative
	}
	if cur.Source == cache.SourceNegative {
		return false
	}
	same, err := equalItems(cur.Value, value)
	return err == nil && same
}

// entryAge is how long the inconsistent entry had been in the cache when
// it was repaired, as far as can be known: at least since the hit, and
// at least since its TTL started running (the namespace's TTL, shortened
// by its jitter, minus what is left of it).
func (a *Auditor) entryAge(c Cache, s suspect, cur cache.Result) time.Duration {
	age := time.Since(s.at)
	info, ok := c.Namespace(s.ns)
	if !ok || cur.TTL <= 0 {
		return age
	}
	full, err := time.ParseDuration(info.TTL)
	jitter := info.TTLJitter
	if s.value == nil {
		full, err = time.ParseDuration(info.NegativeTTL)
		jitter = 0
	}
	if err != nil {
		return age // a TTL that is not a duration (chosen per key)
	}
	return max(age, time.Duration(float64(full)*(1-jitter))-cur.TTL)
}

// verdict counts one audit's result; err, if any, is logged at debug.
func (a *Auditor) verdict(ns, result string, err error) {
	if err != nil {
		a.log.Debug("consistency audit: no verdict", "namespace", ns, "err", err)
		result = Failed
	}
	a.stats.result(ns, result)
}
