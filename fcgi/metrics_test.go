package fcgi_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/fcgi"
	"github.com/ddbcache/ddbcache/internal/promtest"
	"github.com/ddbcache/ddbcache/metrics"
	"github.com/ddbcache/ddbcache/tracking"
	"github.com/ddbcache/ddbcache/unixsock"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
)

// scrape fetches /metrics and parses it with the Prometheus text parser.
func (a *api) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	return promtest.Scrape(t, a.url+"/metrics")
}

// value returns the value of the sample of family name whose labels
// include want ("k", "v" pairs), or -1 when there is none.
func value(fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	if v, ok := promtest.Sample(fams, name, want...); ok {
		return v
	}
	return -1
}

// TestMetrics checks that /metrics parses, that its lookup counters move
// with requests and equal Engine.Stats (what DDB STATS reports), and that
// the RESP front's latency and connections are recorded.
func TestMetrics(t *testing.T) {
	a := setup(t, nil)
	before := a.scrape(t)
	for _, name := range []string{"ddbcache_lookups_total", "ddbcache_dynamodb_requests_total",
		"ddbcache_dynamodb_capacity_units_total", "ddbcache_redis_errors_total", "ddbcache_redis_connected",
		"ddbcache_degraded_reads_total", "go_goroutines"} {
		if before[name] == nil {
			t.Errorf("no %s in /metrics", name)
		}
	}
	if v := value(before, "ddbcache_lookups_total", "namespace", "profile", "result", "miss"); v != 0 {
		t.Errorf("misses before any lookup: %v", v)
	}
	a.do(t, "GET", "/v1/profile/1", "")   // miss
	a.do(t, "GET", "/v1/profile/1", "")   // hit
	a.do(t, "GET", "/v1/profile/404", "") // miss (absent)
	a.do(t, "GET", "/v1/profile/404", "") // negative
	a.do(t, "PUT", "/v1/profile/9", `{}`) // 400
	after := a.scrape(t)
	st := a.engine.Stats().Namespaces["profile"]
	checks := []struct {
		labels []string
		want   float64
	}{
		{[]string{"namespace", "profile", "result", "miss"}, 2},
		{[]string{"namespace", "profile", "result", "negative"}, 1},
		{[]string{"namespace", "profile", "result", "miss"}, float64(st.Misses)},
		{[]string{"namespace", "profile", "result", "local"}, float64(st.HitsLocal)},
		{[]string{"namespace", "profile", "result", "redis"}, float64(st.HitsRedis)},
		{[]string{"namespace", "profile", "result", "error"}, float64(st.Errors)},
	}
	for _, c := range checks {
		if got := value(after, "ddbcache_lookups_total", c.labels...); got != c.want {
			t.Errorf("ddbcache_lookups_total%v = %v, want %v", c.labels, got, c.want)
		}
	}
	if hits := value(after, "ddbcache_lookups_total", "namespace", "profile", "result", "local") +
		value(after, "ddbcache_lookups_total", "namespace", "profile", "result", "redis"); hits != 1 {
		t.Errorf("hits = %v, want 1", hits)
	}
	if got := value(after, "ddbcache_dynamodb_requests_total", "namespace", "profile", "operation", "read"); got != float64(st.DynamoReads) || got < 2 {
		t.Errorf("DynamoDB reads %v, stats say %d", got, st.DynamoReads)
	}
	if got := value(after, "ddbcache_request_duration_seconds", "front", "http"); got < 5 {
		t.Errorf("http request durations observed: %v, want >= 5", got)
	}
	if got := value(after, "ddbcache_http_responses_total", "front", "http", "code", "400"); got != 1 {
		t.Errorf("400 responses: %v", got)
	}
	if got := value(after, "ddbcache_redis_connected"); got != 1 {
		t.Errorf("redis_connected %v", got)
	}

	t.Run("RESP front", func(t *testing.T) {
		srv, err := unixsock.Listen(a.engine, unixsock.Options{Path: socketPath(t), Observe: a.metrics.Observer(metrics.FrontRESP)})
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve()
		defer srv.Close()
		a.metrics.WatchConns(metrics.FrontRESP, srv.Conns)
		c := redis.NewClient(&redis.Options{Network: "unix", Addr: srv.Addrs()[0].String(), Protocol: 2, DisableIdentity: true, PoolSize: 1})
		defer c.Close()
		for i := 0; i < 3; i++ {
			if err := c.Do(context.Background(), "DDB", "GET", "profile", "1").Err(); err != nil {
				t.Fatal(err)
			}
		}
		m := a.scrape(t)
		if got := value(m, "ddbcache_request_duration_seconds", "front", "resp"); got < 3 {
			t.Errorf("resp durations observed: %v, want at least the 3 lookups", got)
		}
		if got := value(m, "ddbcache_client_connections", "front", "resp"); got != 1 {
			t.Errorf("resp connections: %v, want 1", got)
		}
		if got, st := value(m, "ddbcache_lookups_total", "namespace", "profile", "result", "local")+
			value(m, "ddbcache_lookups_total", "namespace", "profile", "result", "redis"),
			a.engine.Stats().Namespaces["profile"]; got != float64(st.HitsLocal+st.HitsRedis) || got != 4 {
			t.Errorf("hits after 3 socket lookups: %v (stats %+v)", got, st)
		}
	})
}

// TestTrackingMetrics: the tracking connections' counters reach /metrics.
func TestTrackingMetrics(t *testing.T) {
	a := setup(t, nil)
	// net.Pipe has no buffer: each push waits for the reader goroutine, which
	// a loaded CI machine may not run within the 2 ms default. The bound on
	// slow subscribers has tests of its own in package tracking.
	reg := tracking.New(tracking.Options{WriteTimeout: 10 * time.Second})
	a.metrics.WatchTracking(reg.Stats)
	client, server := net.Pipe()
	go func() { _, _ = io.Copy(io.Discard, client) }() // the Perl client, reading every push
	sub, err := reg.Subscribe(server, []byte("+OK\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	reg.Invalidate([]string{"user_profile:1", "user_profile:2"})
	reg.Invalidate([]string{"user_profile:3"})
	reg.Flush()
	m := a.scrape(t)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"ddbcache_tracking_clients", nil, 1},
		{"ddbcache_tracking_pushes_total", []string{"kind", "invalidate"}, 2},
		{"ddbcache_tracking_pushes_total", []string{"kind", "flush"}, 1},
		{"ddbcache_tracking_clients_dropped_total", nil, 0},
	} {
		if got := value(m, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// TestMetricsOff checks /metrics without Options.Metrics.
func TestMetricsOff(t *testing.T) {
	a := setup(t, func(*cache.Options) {})
	h, err := fcgi.New(a.engine, fcgi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := serveWeb(t, h, fcgi.ServerOptions{HTTP: "127.0.0.1:0"})
	res, err := http.Get("http://" + srv.HTTPAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Errorf("/metrics without metrics: %d", res.StatusCode)
	}
}
