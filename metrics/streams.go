package metrics

import "github.com/prometheus/client_golang/prometheus"

// StreamStats is what the DynamoDB Streams consumer reports to the
// metrics. It is its own type, filled by the daemon from the consumer's
// Stats, so that this package does not depend on where the consumer lives.
type StreamStats struct {
	Records       int64
	Invalidations int64
	Gaps          int64
	Errors        int64
	ShardsOwned   int64
	// LagSeconds is how far behind its stream the consumer is: the age of
	// the newest record of the last non-empty read, over the shards it
	// reads (0 once a read comes back empty, caught up).
	LagSeconds float64
}

// WatchStreams exports the Streams consumer's counters, read from stats at
// scrape time. Call it once, and only when a consumer runs.
func (m *Metrics) WatchStreams(stats func() StreamStats) {
	counter := func(name, help string, v func(StreamStats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v(stats())) })
	}
	m.reg.MustRegister(
		counter("ddbcache_stream_records_total", "DynamoDB Streams records read.",
			func(s StreamStats) int64 { return s.Records }),
		counter("ddbcache_stream_invalidations_total", "Cache invalidations made from stream records.",
			func(s StreamStats) int64 { return s.Invalidations }),
		counter("ddbcache_stream_gaps_total", "Times records were lost to the stream's trim (the table's cache was dropped whole).",
			func(s StreamStats) int64 { return s.Gaps }),
		counter("ddbcache_stream_errors_total", "Stream reads, scans and records that failed.",
			func(s StreamStats) int64 { return s.Errors }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ddbcache_stream_shard_locks",
			Help: "Stream shards this daemon holds the lock of (and reads).",
		}, func() float64 { return float64(stats().ShardsOwned) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ddbcache_stream_lag_seconds",
			Help: "Age of the newest record of the last non-empty shard read (0 when caught up), the largest over the shards read.",
		}, func() float64 { return stats().LagSeconds }),
	)
}
