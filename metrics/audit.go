package metrics

import (
	"maps"
	"slices"

	"github.com/ddbcache/ddbcache/audit"
	"github.com/prometheus/client_golang/prometheus"
)

// WatchAudit exports the consistency audit's counters (package audit),
// read from stats at scrape time, so that /metrics and `DDB STATS` agree.
// Call it once.
func (m *Metrics) WatchAudit(stats func() audit.Stats) {
	m.reg.MustRegister(newAuditCollector(stats))
}

// auditCollector turns audit.Stats into metrics at scrape time.
type auditCollector struct {
	stats                                     func() audit.Stats
	results, reads, units, skipped, oldest, p *prometheus.Desc
}

func newAuditCollector(stats func() audit.Stats) *auditCollector {
	return &auditCollector{
		stats: stats,
		results: prometheus.NewDesc("ddbcache_audit_total",
			"Consistency audits of sampled cache hits by namespace and result: consistent (DynamoDB held what was served), inconsistent (still served a grace period later while DynamoDB held another item: invalidated), raced (a write changed the entry within the grace), error (no verdict).",
			[]string{"namespace", "result"}, nil),
		reads: prometheus.NewDesc("ddbcache_audit_dynamodb_reads_total",
			"GetItem calls (ConsistentRead) made by the consistency audit, by namespace; not in ddbcache_dynamodb_requests_total.",
			[]string{"namespace"}, nil),
		units: prometheus.NewDesc("ddbcache_audit_dynamodb_read_units_total",
			"Read capacity units the consistency audit's reads consumed, by table; not in ddbcache_dynamodb_capacity_units_total.",
			[]string{"table"}, nil),
		skipped: prometheus.NewDesc("ddbcache_audit_skipped_total",
			"Sampled hits not audited, by reason: rate (audit.max_per_second), queue (the audit's queue was full).",
			[]string{"reason"}, nil),
		oldest: prometheus.NewDesc("ddbcache_audit_oldest_inconsistency_seconds",
			"Of the inconsistencies found in the last hour, the largest age of the wrong entry when found (at least since the sampled hit, and since its TTL began); 0 when none.",
			nil, nil),
		p: prometheus.NewDesc("ddbcache_audit_sample_ratio",
			"The fraction of cache hits audited (audit.sample); 0 when the audit is off.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *auditCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.results, c.reads, c.units, c.skipped, c.oldest, c.p} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *auditCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	for _, n := range slices.Sorted(maps.Keys(st.Namespaces)) {
		s := st.Namespaces[n]
		for _, r := range []struct {
			result string
			v      int64
		}{
			{audit.Consistent, s.Consistent}, {audit.Inconsistent, s.Inconsistent},
			{audit.Raced, s.Raced}, {audit.Failed, s.Errors},
		} {
			counter(c.results, float64(r.v), n, r.result)
		}
		counter(c.reads, float64(s.DynamoReads), n)
	}
	for t, u := range st.ReadUnits {
		counter(c.units, u, t)
	}
	counter(c.skipped, float64(st.SkippedRate), "rate")
	counter(c.skipped, float64(st.SkippedQueue), "queue")
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, st.OldestInconsistencySeconds)
	ch <- prometheus.MustNewConstMetric(c.p, prometheus.GaugeValue, st.Sample)
}
