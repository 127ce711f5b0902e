package audit

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ddbcache/ddbcache/cache"
)

// Window is how long an inconsistency counts in
// Stats.OldestInconsistencySeconds.
const Window = time.Hour

// maxRecent bounds the inconsistencies remembered for Window.
const maxRecent = 1024

// counters are the audit's counters. The two skip counters are atomic
// (Hit increments them on lookups' goroutines); mu guards the rest,
// which only the audit's two goroutines change, a few times a second.
type counters struct {
	skippedRate  atomic.Int64
	skippedQueue atomic.Int64

	mu     sync.Mutex
	ns     map[string]*nsCounts
	tables map[string]bool // tables read, for their capacity
	recent []found         // inconsistencies of the last Window, oldest first
	last   *Inconsistency
}

// nsCounts are one namespace's audit results and DynamoDB reads.
type nsCounts struct {
	results map[string]int64
	reads   int64
}

// found is an inconsistency remembered for Stats.OldestInconsistencySeconds.
type found struct {
	at  time.Time
	age time.Duration
}

func newCounters() *counters {
	return &counters{ns: map[string]*nsCounts{}, tables: map[string]bool{}}
}

// of returns the counts of namespace ns; c.mu must be held.
func (c *counters) of(ns string) *nsCounts {
	n := c.ns[ns]
	if n == nil {
		n = &nsCounts{results: map[string]int64{}}
		c.ns[ns] = n
	}
	return n
}

func (c *counters) result(ns, result string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.of(ns).results[result]++
}

func (c *counters) read(ns, table string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.of(ns).reads++
	c.tables[table] = true
}

func (c *counters) inconsistency(ns string, k cache.Key, age time.Duration, repaired bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if len(c.recent) == maxRecent {
		c.recent = c.recent[1:]
	}
	c.recent = append(c.recent, found{at: now, age: age})
	c.last = &Inconsistency{Namespace: ns, Key: k.Partition, SortKey: k.Sort, FoundAt: now.UTC(),
		EntryAgeSeconds: age.Seconds(), Repaired: repaired}
}

// Stats is a snapshot of the audit's counters, as `DDB STATS` reports it
// (under "audit") and /metrics exports it.
type Stats struct {
	// Sample is the fraction of hits audited now.
	Sample float64 `json:"sample"`
	// Namespaces are the results and DynamoDB reads by namespace.
	Namespaces map[string]NamespaceStats `json:"namespaces"`
	// ReadUnits are the read capacity units the audit's reads consumed, by
	// table, when its Reader accounts for them.
	ReadUnits map[string]float64 `json:"read_capacity_units"`
	// SkippedRate counts sampled hits not audited because of the rate
	// cap; SkippedQueue those (and suspects) dropped because a queue
	// was full.
	SkippedRate  int64 `json:"skipped_rate"`
	SkippedQueue int64 `json:"skipped_queue"`
	// OldestInconsistencySeconds is, over the inconsistencies found in
	// the last Window, the largest age of the wrong entry when it was
	// found (see Inconsistency.EntryAgeSeconds); 0 when none was.
	OldestInconsistencySeconds float64 `json:"oldest_inconsistency_seconds"`
	// Last is the latest inconsistency found, nil when none was.
	Last *Inconsistency `json:"last_inconsistency,omitempty"`
}

// NamespaceStats are one namespace's audit counters.
type NamespaceStats struct {
	Consistent   int64 `json:"consistent"`
	Inconsistent int64 `json:"inconsistent"`
	Raced        int64 `json:"raced"`
	Errors       int64 `json:"errors"`
	// DynamoReads counts the audit's GetItem calls (consistent reads).
	DynamoReads int64 `json:"dynamodb_reads"`
}

// Inconsistency is one entry found serving a value DynamoDB no longer held.
type Inconsistency struct {
	Namespace string    `json:"namespace"`
	Key       string    `json:"key"`
	SortKey   string    `json:"sort_key,omitempty"`
	FoundAt   time.Time `json:"found_at"`
	// EntryAgeSeconds is how long the entry had been cached when found,
	// as far as can be known: at least since the sampled hit, and at
	// least since its TTL began (the namespace's ttl × (1 − ttl_jitter)
	// minus the TTL left). It bounds how long the wrong value may have
	// been served.
	EntryAgeSeconds float64 `json:"entry_age_seconds"`
	// Repaired says the entry's invalidation succeeded.
	Repaired bool `json:"repaired"`
}

// Stats returns a snapshot of the counters.
func (a *Auditor) Stats() Stats {
	c := a.stats
	st := Stats{
		Sample:       a.sampleNow(),
		Namespaces:   map[string]NamespaceStats{},
		ReadUnits:    map[string]float64{},
		SkippedRate:  c.skippedRate.Load(),
		SkippedQueue: c.skippedQueue.Load(),
	}
	// Every namespace served is reported, audited or not yet, so that
	// dashboards and alerts see zeros rather than no series.
	if cp := a.cache.Load(); cp != nil {
		for _, n := range (*cp).Namespaces() {
			st.Namespaces[n.Name] = NamespaceStats{}
			st.ReadUnits[n.Table] = 0
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, n := range c.ns {
		st.Namespaces[name] = NamespaceStats{
			Consistent: n.results[Consistent], Inconsistent: n.results[Inconsistent],
			Raced: n.results[Raced], Errors: n.results[Failed], DynamoReads: n.reads,
		}
	}
	if cr, ok := a.opts.Reader.(cache.CapacityReporter); ok {
		for t := range c.tables {
			st.ReadUnits[t], _ = cr.ConsumedCapacity(t)
		}
	}
	since := time.Now().Add(-Window)
	i := sort.Search(len(c.recent), func(i int) bool { return c.recent[i].at.After(since) })
	c.recent = c.recent[i:]
	for _, f := range c.recent {
		st.OldestInconsistencySeconds = max(st.OldestInconsistencySeconds, f.age.Seconds())
	}
	if c.last != nil {
		l := *c.last
		st.Last = &l
	}
	return st
}
