package fcgi_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/dynamo"
	"github.com/ddbcache/ddbcache/internal/enginetest"
)

// TestDynamoDown stops dynalite: cached items still come back, a miss is
// a 503 within the timeout, /healthz says degraded.
func TestDynamoDown(t *testing.T) {
	a := setup(t, nil)
	ann := enginetest.UserJSON("1", "Ann")
	if r := a.do(t, "GET", "/v1/profile/1", ""); r.status != 200 {
		t.Fatalf("warm-up: %d %s", r.status, r.body)
	}
	a.f.DDB.Stop()
	if r := a.do(t, "GET", "/v1/profile/1", ""); r.status != 200 || r.body != ann || r.header.Get("X-Cache") != "hit" {
		t.Errorf("cached item with DynamoDB down: %d %q X-Cache %q", r.status, r.body, r.header.Get("X-Cache"))
	}
	start := time.Now()
	r := a.do(t, "GET", "/v1/profile/2", "")
	if r.status != 503 || !strings.Contains(r.body, `"code":"backend_unavailable"`) {
		t.Errorf("miss with DynamoDB down: %d %s", r.status, r.body)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the error took %s, more than the timeout", d)
	}
	if r := a.do(t, "PUT", "/v1/profile/5", `{"user_id":"5"}`); r.status != 503 {
		t.Errorf("write with DynamoDB down: %d %s", r.status, r.body)
	}
	if r := a.do(t, "GET", "/healthz", ""); r.status != 503 || r.body != `{"dynamodb":false,"redis":true,"status":"degraded"}` {
		t.Errorf("/healthz: %d %s", r.status, r.body)
	}
}

// TestRedisDown stops Redis: /healthz says degraded, lookups go to
// DynamoDB (X-Cache miss), writes fail with 503.
func TestRedisDown(t *testing.T) {
	a := setup(t, nil)
	a.f.Redis.Stop()
	if r := a.do(t, "GET", "/healthz", ""); r.status != 503 || !strings.Contains(r.body, `"redis":false`) {
		t.Errorf("/healthz: %d %s", r.status, r.body)
	}
	if r := a.do(t, "GET", "/v1/profile/1", ""); r.status != 200 || r.header.Get("X-Cache") != "miss" {
		t.Errorf("degraded lookup: %d %s X-Cache %q", r.status, r.body, r.header.Get("X-Cache"))
	}
	if r := a.do(t, "DELETE", "/v1/profile/1", ""); r.status != 503 || !strings.Contains(r.body, `"code":"backend_unavailable"`) {
		t.Errorf("delete without Redis: %d %s", r.status, r.body)
	}
}

// TestDynamoTimeout puts a server that accepts and never answers in place
// of DynamoDB: a miss is a 504 once load_timeout has passed.
func TestDynamoTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	loader, err := dynamo.New(context.Background(), dynamo.Options{Endpoint: "http://" + ln.Addr().String(), Region: "us-east-1", MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	a := setup(t, func(o *cache.Options) { o.Loader = loader; o.LoadTimeout = 300 * time.Millisecond })
	start := time.Now()
	r := a.do(t, "GET", "/v1/profile/1", "")
	if r.status != 504 || !strings.Contains(r.body, `"code":"timeout"`) {
		t.Errorf("miss with DynamoDB hanging: %d %s", r.status, r.body)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the timeout took %s", d)
	}
}
