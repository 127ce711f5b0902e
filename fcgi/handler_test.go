package fcgi_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/fcgi"
	"github.com/ddbcache/ddbcache/internal/enginetest"
)

// api is the HTTP API on a real Redis and dynalite with two seeded users.
type api struct {
	f       *enginetest.Fixture
	engine  *cache.Engine
	metrics *fcgi.Metrics
	url     string
}

// setup starts the API under httptest (plain HTTP; the FastCGI transport
// is tested in server_test.go) with prefix /api; mod may adjust the
// engine's options.
func setup(t *testing.T, mod func(*cache.Options)) *api {
	t.Helper()
	return setupTB(t, mod)
}

// setupB is setup for benchmarks.
func setupB(b *testing.B) *api { b.Helper(); return setupTB(b, nil) }

func setupTB(t testing.TB, mod func(*cache.Options)) *api {
	t.Helper()
	f := enginetest.New(t)
	f.Seed(t, "1", "Ann")
	f.Seed(t, "2", "Bob")
	e := f.Engine(t, func(o *cache.Options) {
		o.MaxValueBytes = 64 << 10
		if mod != nil {
			mod(o)
		}
	})
	m := fcgi.NewMetrics(e)
	h, err := fcgi.New(e, fcgi.Options{Prefix: "/api", Metrics: m, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Instrument(fcgi.FrontHTTP, h))
	t.Cleanup(srv.Close)
	return &api{f: f, engine: e, metrics: m, url: srv.URL}
}

// response is what a request got.
type response struct {
	status int
	header http.Header
	body   string
}

// do sends one request; hdr holds header name/value pairs.
func (a *api) do(t *testing.T, method, path, body string, hdr ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, a.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: string(b)}
}

// etag is the ETag the API must send for body, computed independently.
func etag(body string) string {
	sum := sha256.Sum256([]byte(body))
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// The HTTP conformance cases (every route, status and body) are the one
// table in internal/conformance/cases.json, run on standalone and cluster
// by internal/conformance's TestConformance.

// TestCacheHeaders checks ETag and Cache-Control of a lookup: the ETag
// names the bytes, max-age is the remaining TTL (1h ± 10% for profile).
func TestCacheHeaders(t *testing.T) {
	a := setup(t, nil)
	ann := enginetest.UserJSON("1", "Ann")
	hits := 0
	for i := 0; i < 3; i++ {
		r := a.do(t, "GET", "/v1/profile/1", "")
		if got := r.header.Get("ETag"); got != etag(ann) {
			t.Errorf("ETag %q, want %q", got, etag(ann))
		}
		if r.header.Get("X-Cache") != "hit" {
			continue // a fill may not know the TTL (max-age=0)
		}
		hits++
		var age int
		if _, err := fmt.Sscanf(r.header.Get("Cache-Control"), "max-age=%d", &age); err != nil || age < 3240-5 || age > 3960 {
			t.Errorf("lookup %d: Cache-Control %q, want max-age within 1h ± 10%%", i, r.header.Get("Cache-Control"))
		}
	}
	if hits == 0 {
		t.Error("no hit in three lookups")
	}
	r := a.do(t, "GET", "/v1/profile/1", "", "If-None-Match", etag(ann))
	if r.status != 304 || r.header.Get("ETag") != etag(ann) || r.body != "" {
		t.Errorf("304: %d, ETag %q, body %q", r.status, r.header.Get("ETag"), r.body)
	}
	a.do(t, "GET", "/v1/profile/none", "") // fills the negative entry
	neg := a.do(t, "GET", "/v1/profile/none", "")
	if cc := neg.header.Get("Cache-Control"); neg.status != 404 || !strings.HasPrefix(cc, "max-age=") || cc == "max-age=0" {
		t.Errorf("negative lookup: %d, Cache-Control %q, want the negative TTL", neg.status, cc)
	}
	if e := a.do(t, "GET", "/v1/nope/1", ""); e.header.Get("Cache-Control") != "no-store" || e.header.Get("ETag") != "" {
		t.Errorf("error response headers %v", e.header)
	}
}

// TestPrefixOptional checks that New validates the prefix.
func TestPrefixOptional(t *testing.T) {
	f := enginetest.New(t)
	e := f.Engine(t, nil)
	for _, p := range []string{"api", "/api/", "/a?b"} {
		if _, err := fcgi.New(e, fcgi.Options{Prefix: p}); err == nil {
			t.Errorf("prefix %q accepted", p)
		}
	}
	for _, p := range []string{"", "/v1", "/api", "/a/b"} {
		if _, err := fcgi.New(e, fcgi.Options{Prefix: p}); err != nil {
			t.Errorf("prefix %q: %v", p, err)
		}
	}
}
