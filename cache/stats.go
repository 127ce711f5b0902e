package cache

import (
	"sync"
	"sync/atomic"
)

// counters are the engine's lookup counters. Each field is atomic, so they
// need no lock; the per-namespace map only grows, under mu, when a table
// with a new name is built, and each namespace holds its own pointer.
type counters struct {
	mu            sync.Mutex
	ns            map[string]*nsCounters
	redisErrors   atomic.Int64
	waitShort     atomic.Int64 // invalidations fewer replicas acknowledged than WaitReplicas
	degradedReads atomic.Int64
}

// nsCounters count what happened to one namespace's lookups.
type nsCounters struct {
	hitsLocal    atomic.Int64 // served from the daemon's client-side cache
	hitsRedis    atomic.Int64 // served by a Redis round trip
	misses       atomic.Int64 // not cached: filled from DynamoDB
	negativeHits atomic.Int64 // known absent, from the negative cache
	stale        atomic.Int64 // DynamoDB failed; served a stale copy
	dynamoReads  atomic.Int64 // DynamoDB read requests (GetItem or BatchGetItem)
	dynamoWrites atomic.Int64 // DynamoDB write requests (PutItem or DeleteItem)
	errors       atomic.Int64 // lookups that returned an error
	leaseWaits   atomic.Int64 // polls while another daemon held a key's lease
	fillsDropped atomic.Int64 // fills not stored because an invalidation took their lease
	gutterHits   atomic.Int64 // served from the gutter while Redis was down
}

func newCounters() *counters {
	return &counters{ns: map[string]*nsCounters{}}
}

// of returns the counters of namespace name, made at its first use.
func (c *counters) of(name string) *nsCounters {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.ns[name]
	if !ok {
		n = &nsCounters{}
		c.ns[name] = n
	}
	return n
}

// Stats is a snapshot of the engine's counters, as `DDB STATS` reports it.
type Stats struct {
	Namespaces map[string]NamespaceStats `json:"namespaces"`
	// RedisConnected says whether Redis is used now: its last probe (at
	// most Options.ProbeInterval ago) was answered, and no invalidation is
	// pending.
	RedisConnected bool `json:"redis_connected"`
	// DynamoDBUp says whether the last DynamoDB request that could tell
	// (not refused for its own content) succeeded.
	DynamoDBUp bool `json:"dynamodb_up"`
	// PendingInvalidations counts the keys whose invalidation waits for
	// Redis to return; PendingWhole the namespaces to be dropped whole.
	PendingInvalidations int `json:"pending_invalidations"`
	PendingWhole         int `json:"pending_whole_namespaces"`
	// RedisErrors counts Redis commands that failed for other reasons than
	// a Redis error reply (connection lost, timeout).
	RedisErrors int64 `json:"redis_errors"`
	// DegradedReads counts lookups served from DynamoDB because Redis failed.
	DegradedReads int64 `json:"degraded_reads"`
	// WaitShort counts invalidations that fewer replicas than
	// RedisOptions.WaitReplicas acknowledged within its timeout.
	WaitShort int64 `json:"wait_short,omitempty"`
}

// NamespaceStats are one namespace's counters.
type NamespaceStats struct {
	HitsLocal    int64 `json:"hits_local"`
	HitsRedis    int64 `json:"hits_redis"`
	Misses       int64 `json:"misses"`
	NegativeHits int64 `json:"negative_hits"`
	Stale        int64 `json:"stale"`
	DynamoReads  int64 `json:"dynamodb_reads"`
	DynamoWrites int64 `json:"dynamodb_writes"`
	Errors       int64 `json:"errors"`
	LeaseWaits   int64 `json:"lease_waits"`
	FillsDropped int64 `json:"fills_dropped"`
	// GutterHits counts lookups answered from the gutter while Redis was
	// down (also counted in DegradedReads).
	GutterHits int64 `json:"gutter_hits"`
	// ReadUnits and WriteUnits are the DynamoDB capacity consumed on the
	// namespace's table (shared by namespaces on the same table), when the
	// loader accounts for it.
	ReadUnits  float64 `json:"read_capacity_units"`
	WriteUnits float64 `json:"write_capacity_units"`
}

// CapacityReporter is implemented by loaders that account consumed capacity
// per table; dynamo.Client does.
type CapacityReporter interface {
	ConsumedCapacity(table string) (readUnits, writeUnits float64)
}

// Stats returns a snapshot of the counters of the namespaces served now.
func (e *Engine) Stats() Stats {
	pendingKeys, pendingWhole := e.pending.size()
	table := e.nsMap()
	s := Stats{
		Namespaces:           make(map[string]NamespaceStats, len(table)),
		RedisConnected:       e.redisUp(),
		DynamoDBUp:           e.dynamo.log.state(),
		PendingInvalidations: pendingKeys,
		PendingWhole:         pendingWhole,
		RedisErrors:          e.stats.redisErrors.Load(),
		WaitShort:            e.stats.waitShort.Load(),
		DegradedReads:        e.stats.degradedReads.Load(),
	}
	cr, _ := e.opts.Loader.(CapacityReporter)
	for name, n := range table {
		c := n.stats
		ns := NamespaceStats{
			HitsLocal: c.hitsLocal.Load(), HitsRedis: c.hitsRedis.Load(), Misses: c.misses.Load(),
			NegativeHits: c.negativeHits.Load(), Stale: c.stale.Load(), DynamoReads: c.dynamoReads.Load(),
			DynamoWrites: c.dynamoWrites.Load(), Errors: c.errors.Load(),
			LeaseWaits: c.leaseWaits.Load(), FillsDropped: c.fillsDropped.Load(),
			GutterHits: c.gutterHits.Load(),
		}
		if cr != nil {
			ns.ReadUnits, ns.WriteUnits = cr.ConsumedCapacity(n.Table)
		}
		s.Namespaces[name] = ns
	}
	return s
}
