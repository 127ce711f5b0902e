// Package metrics is the daemon's Prometheus registry, shared by its fronts:
// the engine's counters read from Engine.Stats at scrape time (so /metrics
// and `DDB STATS` agree), request latency by front, DynamoDB and Redis call
// latency by operation, the tracking registry's and the Streams consumer's
// counters, and build information. It lives apart from the fronts so that
// the RESP socket and the FastCGI/HTTP front record into one registry
// without either importing the other; the HTTP front serves it on /metrics.
package metrics

import (
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/tracking"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Fronts, as the "front" label of the request metrics names them.
const (
	FrontRESP = "resp"
	FrontFCGI = "fcgi"
	FrontHTTP = "http"
)

// latencyBuckets span a hit from the daemon's memory (tens of µs) to a
// request that runs into the default timeout.
var latencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// Metrics is the daemon's Prometheus registry: the engine's counters,
// read from Engine.Stats at scrape time (so /metrics and `DDB STATS`
// always agree), request latency by front, HTTP responses by status, open
// client connections, and the Go runtime's and the process's own metrics.
// It is safe for concurrent use.
type Metrics struct {
	reg       *prometheus.Registry
	latency   *prometheus.HistogramVec
	responses *prometheus.CounterVec
	handler   http.Handler
}

// New returns the registry of a daemon serving engine.
func New(engine *cache.Engine) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ddbcache_request_duration_seconds",
			Help:    "Time to answer one request (a RESP command, a FastCGI or an HTTP request), by front.",
			Buckets: latencyBuckets,
		}, []string{"front"}),
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ddbcache_http_responses_total",
			Help: "HTTP API responses by front (fcgi, http) and status code.",
		}, []string{"front", "code"}),
	}
	m.reg.MustRegister(m.latency, m.responses, newStatsCollector(engine), buildInfo(),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: nil})
	return m
}

// Registry returns the registry, for adding collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler { return m.handler }

// Observer returns a function that records one request's duration on
// front; unixsock.Options.Observe takes it for the RESP front.
func (m *Metrics) Observer(front string) func(time.Duration) {
	o := m.latency.WithLabelValues(front)
	return func(d time.Duration) { o.Observe(d.Seconds()) }
}

// WatchConns exports n, the number of open client connections of front,
// as ddbcache_client_connections{front=…}. Call it once per front.
func (m *Metrics) WatchConns(front string, n func() int64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "ddbcache_client_connections",
		Help:        "Open client connections, by front.",
		ConstLabels: prometheus.Labels{"front": front},
	}, func() float64 { return float64(n()) }))
}

// WatchTracking exports the counters of the Perl clients' tracking
// connections (package tracking) that stats returns: how many are open,
// the pushes written, and the clients dropped for not reading them. Call
// it once.
func (m *Metrics) WatchTracking(stats func() tracking.Stats) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ddbcache_tracking_clients",
			Help: "Open DDB TRACK connections (client local caches kept coherent by pushes).",
		}, func() float64 { return float64(stats().Clients) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "ddbcache_tracking_pushes_total",
			Help:        "Pushes written to tracking connections, one per connection, by kind.",
			ConstLabels: prometheus.Labels{"kind": "invalidate"},
		}, func() float64 { return float64(stats().InvalidationsPushed) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "ddbcache_tracking_pushes_total",
			Help:        "Pushes written to tracking connections, one per connection, by kind.",
			ConstLabels: prometheus.Labels{"kind": "flush"},
		}, func() float64 { return float64(stats().FlushesPushed) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "ddbcache_tracking_clients_dropped_total",
			Help: "Tracking connections closed because a push could not be written in time.",
		}, func() float64 { return float64(stats().Dropped) }),
	)
}

// WatchAuthFailures exports n, the count of failed AUTH attempts on the
// RESP socket, as ddbcache_auth_failures_total. Call it once.
func (m *Metrics) WatchAuthFailures(n func() int64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "ddbcache_auth_failures_total",
		Help: "Failed AUTH attempts on the RESP socket (wrong user or password).",
	}, func() float64 { return float64(n()) }))
}

// Instrument wraps an HTTP handler serving front: it records each
// request's duration and response status. The counter of each status is
// resolved once (codes): looking the labels up for every request, with
// the code formatted anew, was a hash and two allocations per request.
func (m *Metrics) Instrument(front string, h http.Handler) http.Handler {
	o := m.latency.WithLabelValues(front)
	codes := &codeCounters{vec: m.responses, front: front}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(rec, r)
		o.Observe(time.Since(start).Seconds())
		codes.counter(rec.code).Inc()
	})
}

// codeCounters are one front's response counters by status code, each
// resolved from the vector on first use (a code never answered has no
// series, as before).
type codeCounters struct {
	vec   *prometheus.CounterVec
	front string
	by    [600]atomic.Pointer[prometheus.Counter] // codes 100–599
}

// counter returns the counter of code.
func (c *codeCounters) counter(code int) prometheus.Counter {
	if code < 100 || code >= len(c.by) {
		return c.vec.WithLabelValues(c.front, strconv.Itoa(code))
	}
	if p := c.by[code].Load(); p != nil {
		return *p
	}
	ctr := c.vec.WithLabelValues(c.front, strconv.Itoa(code))
	c.by[code].Store(&ctr)
	return ctr
}

// statusRecorder remembers the status an HTTP handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

// WriteHeader records code and passes it on.
func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// statsCollector turns Engine.Stats into metrics at scrape time.
type statsCollector struct {
	engine *cache.Engine

	lookups, dynamoRequests, capacity, redisErrors, degraded, redisUp *prometheus.Desc
	dynamoUp, pending, leaseWaits, fillsDropped, waitShort            *prometheus.Desc
}

func newStatsCollector(engine *cache.Engine) *statsCollector {
	c := &statsCollector{engine: engine}
	c.lookups = prometheus.NewDesc("ddbcache_lookups_total",
		"Item lookups by namespace and result: local (the daemon's memory), redis, miss (read DynamoDB), negative (known absent), stale (served a stale copy because DynamoDB failed), gutter (Redis down: DynamoDB's answer of a moment ago), error.",
		[]string{"namespace", "result"}, nil)
	c.dynamoRequests = prometheus.NewDesc("ddbcache_dynamodb_requests_total",
		"DynamoDB requests by namespace and operation: read (GetItem, BatchGetItem), write (PutItem, DeleteItem).",
		[]string{"namespace", "operation"}, nil)
	c.capacity = prometheus.NewDesc("ddbcache_dynamodb_capacity_units_total",
		"DynamoDB capacity units consumed, by table and operation (read, write).",
		[]string{"table", "operation"}, nil)
	c.redisErrors = prometheus.NewDesc("ddbcache_redis_errors_total",
		"Redis commands that failed for other reasons than an error reply (connection lost, timeout).", nil, nil)
	c.degraded = prometheus.NewDesc("ddbcache_degraded_reads_total",
		"Lookups served from DynamoDB directly because Redis failed.", nil, nil)
	c.redisUp = prometheus.NewDesc("ddbcache_redis_connected",
		"1 while Redis is used: its last probe was answered and no invalidation is pending; else 0.", nil, nil)
	c.dynamoUp = prometheus.NewDesc("ddbcache_dynamodb_up",
		"1 when the last DynamoDB request that could tell succeeded, else 0.", nil, nil)
	c.pending = prometheus.NewDesc("ddbcache_invalidations_pending",
		"Keys whose invalidation waits for Redis to return (a write reached DynamoDB, then Redis failed).", nil, nil)
	c.waitShort = prometheus.NewDesc("ddbcache_invalidation_waits_short_total",
		"Invalidations whose WAIT for redis.wait_replicas replicas timed out (done on the master only).", nil, nil)
	c.leaseWaits = prometheus.NewDesc("ddbcache_lease_waits_total",
		"Polls of a key whose lease another daemon held (its fill was under way), by namespace.", []string{"namespace"}, nil)
	c.fillsDropped = prometheus.NewDesc("ddbcache_fills_dropped_total",
		"Fills not stored because an invalidation took their lease (a stale set prevented), by namespace.", []string{"namespace"}, nil)
	return c
}

// Describe implements prometheus.Collector.
func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.lookups, c.dynamoRequests, c.capacity, c.redisErrors, c.degraded, c.redisUp, c.dynamoUp, c.pending, c.leaseWaits, c.fillsDropped, c.waitShort} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.engine.Stats()
	// The engine's table of now, read at each scrape: a reload that adds
	// or removes namespaces changes what is reported.
	tableOf := map[string]string{}
	for _, n := range c.engine.Namespaces() {
		tableOf[n.Name] = n.Table
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	names := slices.Sorted(maps.Keys(st.Namespaces))
	tables := map[string]bool{}
	for _, n := range names {
		s := st.Namespaces[n]
		for _, l := range []struct {
			result string
			v      int64
		}{
			{"local", s.HitsLocal}, {"redis", s.HitsRedis}, {"miss", s.Misses},
			{"negative", s.NegativeHits}, {"stale", s.Stale}, {"gutter", s.GutterHits}, {"error", s.Errors},
		} {
			counter(c.lookups, float64(l.v), n, l.result)
		}
		counter(c.leaseWaits, float64(s.LeaseWaits), n)
		counter(c.fillsDropped, float64(s.FillsDropped), n)
		counter(c.dynamoRequests, float64(s.DynamoReads), n, "read")
		counter(c.dynamoRequests, float64(s.DynamoWrites), n, "write")
		// Capacity is accounted per table; namespaces on one table share it.
		if t, ok := tableOf[n]; ok && !tables[t] {
			tables[t] = true
			counter(c.capacity, s.ReadUnits, t, "read")
			counter(c.capacity, s.WriteUnits, t, "write")
		}
	}
	counter(c.redisErrors, float64(st.RedisErrors))
	counter(c.degraded, float64(st.DegradedReads))
	counter(c.waitShort, float64(st.WaitShort))
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	gauge(c.redisUp, boolGauge(st.RedisConnected))
	gauge(c.dynamoUp, boolGauge(st.DynamoDBUp))
	gauge(c.pending, float64(st.PendingInvalidations))
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
