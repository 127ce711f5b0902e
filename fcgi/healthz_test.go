package fcgi_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/fcgi"
	"github.com/ddbcache/ddbcache/metrics"
)

// TestHealthzNamesWithoutLeaking: with a namespace on a table that does
// not exist, /healthz answers 503 naming the namespace and its table, but
// not DynamoDB's URL, request ID or the SDK's error chain: the endpoint
// is reachable by load balancers and monitoring, the reason goes to the
// log.
func TestHealthzNamesWithoutLeaking(t *testing.T) {
	a := setup(t, func(o *cache.Options) {
		o.Namespaces = append(o.Namespaces, cache.Namespace{Name: "ghost", Table: "nosuch", PartitionKey: "id"})
	})
	var logged bytes.Buffer
	h, err := fcgi.New(a.engine, fcgi.Options{Metrics: metrics.New(a.engine), Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	b := &api{url: srv.URL}
	r := b.do(t, "GET", "/healthz", "")
	if r.status != 503 {
		t.Fatalf("/healthz: %d %s", r.status, r.body)
	}
	var body struct {
		Status        string            `json:"status"`
		MissingTables map[string]string `json:"missing_tables"`
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil {
		t.Fatal(err)
	}
	if body.Status != "degraded" || body.MissingTables["ghost"] != "nosuch" {
		t.Errorf("/healthz body %s: want the namespace ghost and its table nosuch", r.body)
	}
	for _, leak := range []string{"http", "RequestID", "operation error", "dynamo:", "ResourceNotFound", "127.0.0.1"} {
		if strings.Contains(r.body, leak) {
			t.Errorf("/healthz body leaks %q: %s", leak, r.body)
		}
	}
	if !strings.Contains(logged.String(), "ResourceNotFound") || !strings.Contains(logged.String(), "nosuch") {
		t.Errorf("the reason was not logged: %q", logged.String())
	}
}
