package metrics

import (
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// callBuckets span a Redis round trip on the same host (tens of µs) to a
// DynamoDB call that retries into its timeout.
var callBuckets = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// Calls times the daemon's calls to its backends. It exists before the
// registry (the DynamoDB client and the engine take its observers when
// they are built, and the registry is built on the engine), and
// Metrics.WatchCalls registers it.
type Calls struct {
	dynamo, redis             *prometheus.HistogramVec
	dynamoErrors, redisErrors *prometheus.CounterVec
}

// dynamoOperations are the DynamoDB operations the engine calls; their
// error counters exist from the start at 0, so that an alert's rate()
// sees the first error and a dashboard shows a flat line, not "no data".
var dynamoOperations = []string{"GetItem", "BatchGetItem", "PutItem", "DeleteItem", "DescribeTable"}

// NewCalls returns empty call metrics.
func NewCalls() *Calls {
	c := &Calls{
		dynamo: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ddbcache_dynamodb_call_duration_seconds",
			Help:    "DynamoDB API calls (retries included), by operation (GetItem, BatchGetItem, PutItem, DeleteItem, DescribeTable).",
			Buckets: callBuckets,
		}, []string{"operation"}),
		dynamoErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ddbcache_dynamodb_call_errors_total",
			Help: "DynamoDB API calls that failed (after the SDK's retries), by operation.",
		}, []string{"operation"}),
		redis: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ddbcache_redis_call_duration_seconds",
			Help:    "Redis round trips (answers from the client-side cache excluded), by command; several commands of different names sent together are \"pipeline\".",
			Buckets: callBuckets,
		}, []string{"operation"}),
		redisErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ddbcache_redis_call_errors_total",
			Help: "Redis round trips that failed (connection lost, timeout, or an error reply), by command.",
		}, []string{"operation"}),
	}
	for _, op := range dynamoOperations {
		c.dynamoErrors.WithLabelValues(op)
	}
	return c
}

// Dynamo records one DynamoDB call; dynamo.Options.Observe takes it.
func (c *Calls) Dynamo(op string, d time.Duration, err error) {
	c.dynamo.WithLabelValues(op).Observe(d.Seconds())
	if err != nil {
		c.dynamoErrors.WithLabelValues(op).Inc()
	}
}

// Redis records one Redis round trip; cache.RedisOptions.Observe takes it.
func (c *Calls) Redis(op string, d time.Duration, err error) {
	c.redis.WithLabelValues(op).Observe(d.Seconds())
	if err != nil {
		c.redisErrors.WithLabelValues(op).Inc()
	}
}

// WatchCalls exports c. Call it once.
func (m *Metrics) WatchCalls(c *Calls) {
	m.reg.MustRegister(c.dynamo, c.dynamoErrors, c.redis, c.redisErrors)
}

// buildInfo is ddbcache_build_info: a constant 1 whose labels say which
// build runs, so that a dashboard can show versions across a fleet and an
// alert can join on them.
func buildInfo() prometheus.Collector {
	version, commit, goversion := "(devel)", "", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		goversion = bi.GoVersion
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				commit = s.Value
			}
		}
	}
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "ddbcache_build_info",
		Help:        "A constant 1, labelled with the running build's module version, VCS commit and Go version.",
		ConstLabels: prometheus.Labels{"version": version, "commit": commit, "goversion": goversion},
	}, func() float64 { return 1 })
}
