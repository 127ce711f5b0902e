package conformance_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/fcgi"
	"github.com/ddbcache/ddbcache/internal/conformance"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/fcgiclient"
	"github.com/ddbcache/ddbcache/internal/testenv"
	"github.com/ddbcache/ddbcache/tracking"
	"github.com/ddbcache/ddbcache/unixsock"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// engine starts a fresh daemon engine on topology's fixture, seeded with
// the table's users.
func engine(t *testing.T, table *conformance.Table, newFixture func(testing.TB) *enginetest.Fixture, reg *tracking.Registry) (*enginetest.Fixture, *cache.Engine) {
	t.Helper()
	f := newFixture(t)
	for _, u := range table.Seed {
		f.Seed(t, u["user_id"], u["name"])
	}
	return f, f.Engine(t, func(o *cache.Options) {
		o.MaxValueBytes = 64 << 10
		if reg != nil {
			o.Notifier = reg
		}
	})
}

// TestConformance runs the table through the RESP socket, the HTTP API and
// the HTTP API over FastCGI, on standalone Redis and on the Redis Cluster.
func TestConformance(t *testing.T) {
	table, err := conformance.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, topo := range enginetest.Topologies {
		t.Run(topo.Name+"/resp", func(t *testing.T) {
			reg := tracking.New(tracking.Options{})
			f, e := engine(t, table, topo.New, reg)
			path := filepath.Join(testenv.ShortDir(t), "ddbcache.sock")
			srv, err := unixsock.Listen(e, unixsock.Options{Path: path, Tracking: reg})
			if err != nil {
				t.Fatal(err)
			}
			testenv.Serve(t, srv.Serve, func() { _ = srv.Close() })
			c := redis.NewClient(&redis.Options{Network: "unix", Addr: path, Protocol: 2, DisableIdentity: true})
			t.Cleanup(func() { c.Close() })
			runRESP(t, c, table, topo.Name)
			checkRedis(t, f)
		})
		t.Run(topo.Name+"/http", func(t *testing.T) {
			srv := httptest.NewServer(handler(t, table, topo.New))
			t.Cleanup(srv.Close)
			runHTTP(t, http.DefaultClient, srv.URL, table)
		})
		t.Run(topo.Name+"/fastcgi", func(t *testing.T) {
			// The daemon's FastCGI server (net/http/fcgi), and the
			// requests sent over FastCGI with the params nginx sends.
			sock := filepath.Join(testenv.ShortDir(t), "fcgi.sock")
			srv, err := fcgi.Listen(handler(t, table, topo.New), fcgi.ServerOptions{FCGI: sock})
			if err != nil {
				t.Fatal(err)
			}
			testenv.Serve(t, srv.Serve, srv.Close)
			client := &http.Client{Transport: fcgiclient.Transport{Network: "unix", Addr: sock}}
			runHTTP(t, client, "http://www.example.com", table)
		})
	}
}

// handler is the HTTP API of a fresh engine on topology's fixture, under
// the prefix /api as the deploy/ configs mount it.
func handler(t *testing.T, table *conformance.Table, newFixture func(testing.TB) *enginetest.Fixture) http.Handler {
	t.Helper()
	_, e := engine(t, table, newFixture, nil)
	h, err := fcgi.New(e, fcgi.Options{Prefix: "/api", Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// runRESP sends every case's command on one connection: each reply must
// match, and after each (error or not) the connection must answer PING.
func runRESP(t *testing.T, c *redis.Client, table *conformance.Table, topology string) {
	ctx := testenv.Context(t)
	conn := c.Conn()
	defer conn.Close()
	for _, tc := range table.Cases {
		want := tc.For(topology)
		if want == nil {
			continue
		}
		t.Run(tc.Name, func(t *testing.T) {
			args := make([]any, len(want.Args))
			for i, a := range want.Args {
				args[i] = conformance.Expand(a)
			}
			got, err := conn.Do(ctx, args...).Result()
			if msg := checkReply(want, got, err); msg != "" {
				t.Errorf("%.80v: %s", want.Args, msg)
			}
			if pong, err := conn.Ping(ctx).Result(); pong != "PONG" || err != nil {
				t.Fatalf("connection unusable after %.80v: %q, %v", want.Args, pong, err)
			}
		})
	}
	t.Run("stats and namespaces are JSON", func(t *testing.T) {
		for _, sub := range []string{"STATS", "NAMESPACES"} {
			v, err := conn.Do(ctx, "DDB", sub).Text()
			if err != nil || !strings.HasPrefix(v, "{") && !strings.HasPrefix(v, "[") {
				t.Errorf("DDB %s = %q, %v", sub, v, err)
			}
		}
	})
}

// checkReply says how a reply differs from want, or "".
func checkReply(want *conformance.RESP, got any, err error) string {
	switch {
	case want.Error != "":
		if err == nil || !strings.Contains(err.Error(), want.Error) {
			return fmt.Sprintf("err = %v, want one containing %q (reply %v)", err, want.Error, got)
		}
	case want.OneOf != nil:
		for _, w := range want.OneOf {
			if err == nil && fmt.Sprintf("%#v", got) == fmt.Sprintf("%#v", normal(w)) {
				return ""
			}
		}
		return fmt.Sprintf("= %#v, %v; want one of %v", got, err, want.OneOf)
	case want.Reply == nil:
		if !errors.Is(err, redis.Nil) {
			return fmt.Sprintf("= %#v, %v; want nil", got, err)
		}
	default:
		if err != nil || fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", normal(want.Reply)) {
			return fmt.Sprintf("= %#v, %v; want %#v", got, err, normal(want.Reply))
		}
	}
	return ""
}

// normal turns a JSON value into what go-redis returns for the same RESP
// reply: numbers are integers, lists are []any.
func normal(v any) any {
	switch v := v.(type) {
	case float64:
		return int64(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = normal(e)
		}
		return out
	}
	return v
}

// checkRedis checks what the RESP cases left in Redis, read directly.
func checkRedis(t *testing.T, f *enginetest.Fixture) {
	ctx := testenv.Context(t)
	bob := enginetest.UserJSON("2", "Bob")
	if v := f.UC.Get(ctx, "user_profile:2").Val(); v != bob {
		t.Errorf("user_profile:2 = %q", v)
	}
	for _, k := range []string{"plain", "counter"} {
		if n := f.UC.Exists(ctx, k).Val(); n != 0 {
			t.Errorf("DEL through the passthrough left %s", k)
		}
	}
}

// runHTTP sends every case's request: status, body (exact bytes, or the
// error code of a JSON error), X-Cache and Content-Type must match.
func runHTTP(t *testing.T, client *http.Client, base string, table *conformance.Table) {
	for _, tc := range table.Cases {
		if tc.HTTP == nil {
			continue
		}
		h := tc.HTTP
		t.Run(tc.Name, func(t *testing.T) {
			status, hdr, body := request(t, client, base, h)
			if status != h.Status {
				t.Errorf("%s %s: status %d, want %d (body %.200s)", h.Method, h.Path, status, h.Status, body)
			}
			if h.Code != "" {
				if !strings.Contains(body, `"code":"`+h.Code+`"`) || !strings.Contains(body, `"error":"`) {
					t.Errorf("%s %s: body %.200s, want a JSON error with code %q", h.Method, h.Path, body, h.Code)
				}
			} else if body != h.Reply {
				t.Errorf("%s %s: body %.200s, want %.200s", h.Method, h.Path, body, h.Reply)
			}
			if h.XCache != "" && hdr.Get("X-Cache") != h.XCache {
				t.Errorf("%s %s: X-Cache %q, want %q", h.Method, h.Path, hdr.Get("X-Cache"), h.XCache)
			}
			if ct := hdr.Get("Content-Type"); status != 204 && status != 304 && ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

func request(t *testing.T, client *http.Client, base string, h *conformance.HTTP) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(h.Method, base+h.Path, strings.NewReader(conformance.Expand(h.Body)))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h.Headers {
		req.Header.Set(k, strings.ReplaceAll(v, "${etag}", conformance.ETag(h.EtagOf)))
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", h.Method, h.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, string(b)
}
