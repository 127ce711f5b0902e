package metrics_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/audit"
	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/daemon"
	"github.com/ddbcache/ddbcache/dynamo"
	api "github.com/ddbcache/ddbcache/fcgi"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/promtest"
	"github.com/ddbcache/ddbcache/internal/testenv"
	"github.com/ddbcache/ddbcache/unixsock"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
)

// running is a whole daemon on real servers, with its socket client.
type running struct {
	d   *daemon.Daemon
	rdb *redis.Client
	url string
}

// start runs a daemon (RESP socket, HTTP front, a Streams consumer on
// table users) on a fresh redis-server and dynalite.
func start(t *testing.T) *running { return startWith(t, audit.Options{}) }

// startWith is start with the consistency audit configured by ao.
func startWith(t *testing.T, ao audit.Options) *running {
	t.Helper()
	f := enginetest.New(t)
	f.Seed(t, "1", "Ann")
	sock := filepath.Join(testenv.ShortDir(t), "ddb.sock")
	d, err := daemon.New(context.Background(), daemon.Options{
		Engine:  cache.Options{Redis: cache.RedisOptions{Addrs: []string{f.Redis.Addr}}, Namespaces: enginetest.Namespaces, LoadTimeout: 2 * time.Second},
		Dynamo:  dynamo.Options{Endpoint: f.Proxy.URL, Region: "us-east-1", MaxAttempts: 1},
		Socket:  unixsock.Options{Path: sock},
		Web:     api.ServerOptions{HTTP: "127.0.0.1:0"},
		Streams: daemon.StreamOptions{Tables: []string{"users"}, Endpoint: f.DDB.Endpoint},
		Audit:   ao,
	})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Serve(t, d.Run, func() { _ = d.Shutdown(context.Background()) })
	rdb := redis.NewClient(&redis.Options{Network: "unix", Addr: sock, Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { rdb.Close() })
	return &running{d: d, rdb: rdb, url: "http://" + d.Web().HTTPAddr().String()}
}

// workload makes every kind of lookup the counters count, on both fronts.
func (r *running) workload(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for _, args := range [][]any{
		{"DDB", "GET", "profile", "1"}, {"DDB", "GET", "profile", "1"}, // miss, hit
		{"DDB", "GET", "profile", "404"}, {"DDB", "GET", "profile", "404"}, // miss, negative
		{"DDB", "PUT", "profile", `{"user_id":"2","name":"Bob"}`},
		{"DDB", "MGET", "profile", "1", "2", "3"},
	} {
		if err := r.rdb.Do(ctx, args...).Err(); err != nil && err != redis.Nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	for _, p := range []string{"/v1/profile/1", "/v1/profile/2", "/v1/events/1/2"} {
		res, err := http.Get(r.url + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
}

// scrape fetches /metrics and parses it with Prometheus's text parser.
func (r *running) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	return promtest.Scrape(t, r.url+"/metrics")
}

// sample is promtest.Sample, named short for the tables below.
var sample = promtest.Sample

// TestStatsAgree: after a workload, every counter that `DDB STATS` and
// /metrics both report has the same value in both. The table is the
// mapping; a field of STATS that is not in it fails the test, so a new
// counter cannot reach one and not the other unnoticed.
func TestStatsAgree(t *testing.T) {
	r := start(t)
	r.workload(t)
	var st map[string]any
	raw, err := r.rdb.Do(context.Background(), "DDB", "STATS").Text()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		t.Fatal(err)
	}
	fams := r.scrape(t)
	perNamespace := map[string][]string{ // stats field → metric, labels
		"hits_local": {"ddbcache_lookups_total", "result", "local"}, "hits_redis": {"ddbcache_lookups_total", "result", "redis"},
		"misses": {"ddbcache_lookups_total", "result", "miss"}, "negative_hits": {"ddbcache_lookups_total", "result", "negative"},
		"stale": {"ddbcache_lookups_total", "result", "stale"}, "gutter_hits": {"ddbcache_lookups_total", "result", "gutter"},
		"errors": {"ddbcache_lookups_total", "result", "error"}, "lease_waits": {"ddbcache_lease_waits_total"},
		"fills_dropped":  {"ddbcache_fills_dropped_total"},
		"dynamodb_reads": {"ddbcache_dynamodb_requests_total", "operation", "read"}, "dynamodb_writes": {"ddbcache_dynamodb_requests_total", "operation", "write"},
		// Capacity is per table in /metrics; checked below.
		"read_capacity_units": nil, "write_capacity_units": nil,
	}
	global := map[string][]string{
		"redis_connected": {"ddbcache_redis_connected"}, "dynamodb_up": {"ddbcache_dynamodb_up"},
		"pending_invalidations": {"ddbcache_invalidations_pending"}, "redis_errors": {"ddbcache_redis_errors_total"},
		"degraded_reads": {"ddbcache_degraded_reads_total"}, "wait_short": {"ddbcache_invalidation_waits_short_total"}, "tracking_clients": {"ddbcache_tracking_clients"},
		"invalidations_pushed":     {"ddbcache_tracking_pushes_total", "kind", "invalidate"},
		"flushes_pushed":           {"ddbcache_tracking_pushes_total", "kind", "flush"},
		"tracking_clients_dropped": {"ddbcache_tracking_clients_dropped_total"},
		// Whole-namespace drops waiting for Redis have no metric; the
		// audit's fields are compared by TestAuditAgrees.
		"pending_whole_namespaces": nil, "namespaces": nil, "audit": nil,
	}
	compared := 0
	for field, v := range st {
		m, known := global[field]
		if !known {
			t.Errorf("DDB STATS field %q is not in this test's table: add its metric (or nil)", field)
			continue
		}
		if m != nil {
			compared++
			agree(t, fams, field, v, m[0], m[1:]...)
		}
	}
	namespaces, _ := st["namespaces"].(map[string]any)
	for ns, fields := range namespaces {
		for field, v := range fields.(map[string]any) {
			m, known := perNamespace[field]
			if !known {
				t.Errorf("DDB STATS namespace field %q is not in this test's table", field)
				continue
			}
			if m != nil {
				compared++
				agree(t, fams, ns+"."+field, v, m[0], append([]string{"namespace", ns}, m[1:]...)...)
			}
		}
	}
	prof := namespaces["profile"].(map[string]any)
	agree(t, fams, "profile.read_capacity_units", prof["read_capacity_units"], "ddbcache_dynamodb_capacity_units_total", "table", "users", "operation", "read")
	if prof["misses"].(float64) < 2 || compared < 40 {
		t.Errorf("the workload did not reach the counters: misses %v, %d values compared", prof["misses"], compared)
	}
}

// agree fails unless /metrics' sample equals the STATS value v.
func agree(t *testing.T, fams map[string]*dto.MetricFamily, field string, v any, metric string, labels ...string) {
	t.Helper()
	want, ok := v.(float64)
	if b, isBool := v.(bool); isBool {
		want, ok = 0, true
		if b {
			want = 1
		}
	}
	got, found := sample(fams, metric, labels...)
	if !ok || !found || got != want {
		t.Errorf("DDB STATS %s = %v, /metrics %s%v = %v (present %v)", field, v, metric, labels, got, found)
	}
}

// TestCallsAndBuildInfo: DynamoDB and Redis calls are timed by operation,
// and ddbcache_build_info names the Go version that built the test.
func TestCallsAndBuildInfo(t *testing.T) {
	r := start(t)
	r.workload(t)
	fams := r.scrape(t)
	for _, c := range []struct {
		name   string
		labels []string
	}{
		{"ddbcache_dynamodb_call_duration_seconds", []string{"operation", "GetItem"}},
		{"ddbcache_dynamodb_call_duration_seconds", []string{"operation", "PutItem"}},
		{"ddbcache_dynamodb_call_duration_seconds", []string{"operation", "BatchGetItem"}},
		{"ddbcache_redis_call_duration_seconds", nil},
		{"ddbcache_build_info", []string{"goversion", runtime.Version()}},
	} {
		if v, ok := sample(fams, c.name, c.labels...); !ok || v < 1 {
			t.Errorf("%s%v = %v (present %v), want >= 1", c.name, c.labels, v, ok)
		}
	}
	var ops []string
	for _, m := range fams["ddbcache_redis_call_duration_seconds"].GetMetric() {
		ops = append(ops, m.GetLabel()[0].GetValue())
	}
	if joined := strings.Join(ops, " "); !strings.Contains(joined, "EVALSHA") && !strings.Contains(joined, "GET") {
		t.Errorf("Redis operations timed: %v, want the lookups' commands", ops)
	}
	// dynalite has no Streams API: the consumer's scans fail, and say so.
	enginetest.WaitFor(t, "a stream scan error", func() bool {
		v, _ := sample(r.scrape(t), "ddbcache_stream_errors_total")
		return v >= 1
	})
}
