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
	"github.com/ddbcache/ddbcache/metrics"
)

// api is the HTTP API on a real Redis and dynalite with two seeded users.
type api struct {
	f       *enginetest.Fixture
	engine  *cache.Engine
	metrics *metrics.Metrics
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
	m := metrics.New(e)
	h, err := fcgi.New(e, fcgi.Options{Prefix: "/api", Metrics: m, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Instrument(metrics.FrontHTTP, h))
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

// TestConformance runs the cases of unixsock's TestConformance that apply
// to HTTP, in order, against one API: each answer's status, body (exact
// bytes, or the error code of a JSON error) and X-Cache must match.
func TestConformance(t *testing.T) {
	a := setup(t, nil)
	ann, bob := enginetest.UserJSON("1", "Ann"), enginetest.UserJSON("2", "Bob")
	zoe := `{"n":123456789012345678901,"name":"Zoë 東京","user_id":"3"}`
	login := `{"account":7,"kind":"login","seq":1}`
	big := strings.Repeat("x", 70<<10)
	event := `{"Records":[{"eventName":"MODIFY","eventSourceARN":"arn:aws:dynamodb:us-east-1:1:table/users/stream/x","dynamodb":{"Keys":{"user_id":{"S":"1"}}}}]}`
	cases := []struct {
		name, method, path, body string
		hdr                      []string
		status                   int
		want                     string // the exact body, or "code:<error code>"
		xcache                   string // "" means not checked
	}{
		{"lookup", "GET", "/v1/profile/1", "", nil, 200, ann, "miss"},
		{"lookup again", "GET", "/v1/profile/1", "", nil, 200, ann, "hit"},
		{"prefix maps to /v1", "GET", "/api/profile/1", "", nil, 200, ann, "hit"},
		{"prefix then /v1", "GET", "/api/v1/profile/1", "", nil, 200, ann, "hit"},
		{"head", "HEAD", "/v1/profile/1", "", nil, 200, "", "hit"},
		{"if-none-match", "GET", "/v1/profile/1", "", []string{"If-None-Match", etag(ann)}, 304, "", "hit"},
		{"if-none-match weak, in a list", "GET", "/v1/profile/1", "", []string{"If-None-Match", `"x", W/` + etag(ann)}, 304, "", "hit"},
		{"if-none-match other", "GET", "/v1/profile/1", "", []string{"If-None-Match", etag(bob)}, 200, ann, "hit"},
		{"absent item", "GET", "/v1/profile/404", "", nil, 404, "code:not_found", "miss"},
		{"absent again", "GET", "/v1/profile/404", "", nil, 404, "code:not_found", "negative"},
		{"mget in request order", "POST", "/v1/profile/_mget", `["2","404","1","405",2]`, nil, 200, `{"2":` + bob + `,"1":` + ann + `}`, ""},
		{"mget through the prefix", "POST", "/api/profile/_mget", `[]`, nil, 200, `{}`, ""},
		{"put", "PUT", "/v1/profile/3", `{"user_id":"3","name":"Zoë 東京","n":123456789012345678901}`, nil, 204, "", ""},
		{"get after put", "GET", "/v1/profile/3", "", nil, 200, zoe, "miss"},
		{"del", "DELETE", "/v1/profile/3", "", nil, 200, `{"deleted":true}`, ""},
		{"del again", "DELETE", "/v1/profile/3", "", nil, 404, "code:not_found", ""},
		{"get after del", "GET", "/v1/profile/3", "", nil, 404, "code:not_found", ""},
		{"key with a slash", "PUT", "/v1/profile/a%2Fb", `{"user_id":"a/b"}`, nil, 204, "", ""},
		{"get key with a slash", "GET", "/api/profile/a%2Fb", "", nil, 200, `{"user_id":"a/b"}`, "miss"},
		{"sort-key put", "PUT", "/v1/events/7/1", `{"account":7,"seq":1,"kind":"login"}`, nil, 204, "", ""},
		{"sort-key get", "GET", "/v1/events/7/1", "", nil, 200, login, "miss"},
		{"sort-key mget pairs", "POST", "/v1/events/_mget", `[[7,1],["7","2"]]`, nil, 200, `{"7":{"1":` + login + `}}`, ""},
		{"sort-key mget without pairs", "POST", "/v1/events/_mget", `["7"]`, nil, 400, "code:bad_request", ""},
		{"sort-key missing", "GET", "/v1/events/7", "", nil, 400, "code:bad_key", ""},
		{"unknown namespace", "GET", "/v1/nope/1", "", nil, 404, "code:unknown_namespace", ""},
		{"unknown namespace mget", "POST", "/v1/nope/_mget", `["1"]`, nil, 404, "code:unknown_namespace", ""},
		{"sort key where none", "GET", "/v1/profile/1/x", "", nil, 400, "code:bad_key", ""},
		{"put malformed JSON", "PUT", "/v1/profile/9", `{"user_id":`, nil, 400, "code:bad_item", ""},
		{"put non-object", "PUT", "/v1/profile/9", `[1,2]`, nil, 400, "code:bad_item", ""},
		{"put without key", "PUT", "/v1/profile/9", `{"name":"x"}`, nil, 400, "code:bad_item", ""},
		{"put key mismatch", "PUT", "/v1/profile/9", `{"user_id":"8"}`, nil, 400, "code:bad_key", ""},
		{"put too large", "PUT", "/v1/profile/9", `{"user_id":"9","x":"` + big + `"}`, nil, 413, "code:too_large", ""},
		{"mget malformed", "POST", "/v1/profile/_mget", `{"1":1}`, nil, 400, "code:bad_request", ""},
		{"mget too many keys", "POST", "/v1/profile/_mget", "[" + strings.Repeat(`"k",`, 1000) + `"k"]`, nil, 413, "code:too_large", ""},
		{"stream event", "POST", "/v1/_stream", event, nil, 200, `{"invalidated":1}`, ""},
		{"stream event through the prefix", "POST", "/api/_stream", event, nil, 200, `{"invalidated":0}`, ""},
		{"bad stream event", "POST", "/v1/_stream", `{"Records":[{"eventName":"X"}]}`, nil, 400, "code:bad_event", ""},
		{"method not allowed", "POST", "/v1/profile/1", "", nil, 405, "code:method_not_allowed", ""},
		{"no route", "GET", "/v2/profile/1", "", nil, 404, "code:no_route", ""},
		{"no key", "GET", "/v1/profile", "", nil, 404, "code:no_route", ""},
		{"healthz", "GET", "/healthz", "", nil, 200, `{"dynamodb":true,"redis":true,"status":"ok"}`, ""},
		{"healthz through the prefix", "GET", "/api/healthz", "", nil, 200, `{"dynamodb":true,"redis":true,"status":"ok"}`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := a.do(t, tc.method, tc.path, tc.body, tc.hdr...)
			if r.status != tc.status {
				t.Errorf("%s %s: status %d, want %d (body %.200s)", tc.method, tc.path, r.status, tc.status, r.body)
			}
			if code, ok := strings.CutPrefix(tc.want, "code:"); ok {
				if !strings.Contains(r.body, `"code":"`+code+`"`) || !strings.Contains(r.body, `"error":"`) {
					t.Errorf("%s %s: body %.200s, want a JSON error with code %q", tc.method, tc.path, r.body, code)
				}
			} else if r.body != tc.want {
				t.Errorf("%s %s: body %.200s, want %.200s", tc.method, tc.path, r.body, tc.want)
			}
			if tc.xcache != "" && r.header.Get("X-Cache") != tc.xcache {
				t.Errorf("%s %s: X-Cache %q, want %q", tc.method, tc.path, r.header.Get("X-Cache"), tc.xcache)
			}
			if ct := r.header.Get("Content-Type"); r.status != 204 && r.status != 304 && ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

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
