// Package fcgi is the HTTP API of ddbcache as an http.Handler, served over
// FastCGI (net/http/fcgi) for nginx, Apache and PSGI apps, and optionally as
// plain HTTP on loopback; it also exports the daemon's Prometheus metrics.
//
// Routes (the prefix /v1 may also be spelled as Options.Prefix, e.g. /api):
//
//	GET    /v1/{ns}/{key}[/{sort}]  the item's JSON (200) or a JSON error (404)
//	PUT    /v1/{ns}/{key}[/{sort}]  write the JSON item in the body (204)
//	DELETE /v1/{ns}/{key}[/{sort}]  delete the item (200, or 404 when absent)
//	POST   /v1/{ns}/_mget           JSON array of keys → JSON object key ⇒ item
//	POST   /v1/_stream              a DynamoDB Streams event as AWS Lambda receives it
//	GET    /healthz                 Redis and DynamoDB reachability (503 when degraded)
//	GET    /metrics                 Prometheus text format
//
// The handler routes on the whole request path, which net/http/fcgi takes
// from REQUEST_URI (or SCRIPT_NAME + PATH_INFO when a server sends no
// REQUEST_URI): nginx's fastcgi_params, Apache's mod_proxy_fcgi and Plack
// all send the path the client asked for, so the same route is reached
// whichever server is in front, as long as the prefix the site uses is
// configured.
package fcgi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/metrics"
)

// Defaults for Options fields left at their zero value.
const (
	// DefaultTimeout bounds one request's work in the engine.
	DefaultTimeout = 5 * time.Second
	// DefaultMaxKeys bounds the keys of one _mget request.
	DefaultMaxKeys = 1000
	// healthTimeout bounds the backend checks of /healthz.
	healthTimeout = time.Second
	// apiRoot is the canonical prefix of the item routes.
	apiRoot = "/v1"
)

// Options configures a Handler.
type Options struct {
	// Prefix is another path prefix that means /v1, such as "/api" for a
	// site whose web server passes /api/ to the daemon: /api/profile/42 is
	// then /v1/profile/42 (and /api/v1/profile/42 and /api/healthz work
	// too; /metrics is not under the prefix, so a public site that passes
	// /api/ to the daemon does not publish it). "" means /v1 only.
	Prefix string
	// Timeout bounds one request's work in the engine; 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxBodyBytes bounds a request body; 0 means the engine's
	// MaxValueBytes. Larger bodies are answered with 413.
	MaxBodyBytes int64
	// MaxKeys bounds the keys of one _mget; 0 means DefaultMaxKeys.
	MaxKeys int
	// Metrics, when set, is served on /metrics.
	Metrics *metrics.Metrics
	// Logger receives errors; nil means slog.Default().
	Logger *slog.Logger
}

// Handler serves the HTTP API. It is safe for concurrent use.
type Handler struct {
	engine *cache.Engine
	// opts are the options in force, replaced whole by Reconfigure; a
	// request reads them once.
	opts atomic.Pointer[Options]
	log  *slog.Logger
}

// New returns the API handler for engine. The prefix must be "" or a path
// like "/api" (a leading slash, no trailing one). The namespaces are the
// engine's, read at each request, so a reload of the engine's table
// reaches the API at once.
func New(engine *cache.Engine, opts Options) (*Handler, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &Handler{engine: engine, log: opts.Logger}
	if err := h.Reconfigure(opts); err != nil {
		return nil, err
	}
	return h, nil
}

// Reconfigure replaces the handler's options (a reload): requests under
// way finish with the options they started with. Logger and Metrics are
// the ones New was given; on an error nothing changes.
func (h *Handler) Reconfigure(opts Options) error {
	p := opts.Prefix
	if p != "" && (!strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.ContainsAny(p, "?#")) {
		return errors.New("fcgi: prefix must start with '/' and not end with one, e.g. /api")
	}
	if p == apiRoot {
		opts.Prefix = ""
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxKeys == 0 {
		opts.MaxKeys = DefaultMaxKeys
	}
	if old := h.opts.Load(); old != nil {
		opts.Metrics = old.Metrics
	}
	opts.Logger = h.log
	h.opts.Store(&opts)
	return nil
}

// options returns the options in force.
func (h *Handler) options() *Options { return h.opts.Load() }

// maxBody is the bound on a request body: Options.MaxBodyBytes, or the
// engine's MaxValueBytes as it is now.
func (h *Handler) maxBody() int64 {
	if n := h.options().MaxBodyBytes; n != 0 {
		return n
	}
	return int64(h.engine.MaxValueBytes())
}

// route is a request resolved to one of the API's routes.
type route struct {
	kind string // "item", "mget", "stream", "healthz", "metrics"
	ns   string
	key  cache.Key
}

// resolve maps a request path to a route. It splits the escaped path, so
// that a key may hold a '/' written as %2F.
func (h *Handler) resolve(u *url.URL) (route, bool) {
	p, prefix := u.EscapedPath(), h.options().Prefix
	if prefix != "" && (p == prefix || strings.HasPrefix(p, prefix+"/")) {
		rest := p[len(prefix):]
		switch {
		case rest == "/healthz", rest == apiRoot, strings.HasPrefix(rest, apiRoot+"/"):
			p = rest
		default:
			p = apiRoot + rest
		}
	}
	switch p {
	case "/healthz":
		return route{kind: "healthz"}, true
	case "/metrics":
		return route{kind: "metrics"}, true
	}
	rest, ok := strings.CutPrefix(p, apiRoot+"/")
	if !ok {
		return route{}, false
	}
	// At most three segments are a route: split into an array, not a
	// slice from strings.Split (an allocation on every request).
	var buf [3]string
	segs := buf[:0]
	for s := range strings.SplitSeq(rest, "/") {
		if len(segs) == len(buf) {
			return route{}, false
		}
		v, err := url.PathUnescape(s)
		if err != nil || v == "" {
			return route{}, false
		}
		segs = append(segs, v)
	}
	switch {
	case len(segs) == 1 && segs[0] == "_stream":
		return route{kind: "stream"}, true
	case len(segs) == 2 && segs[1] == "_mget":
		return route{kind: "mget", ns: segs[0]}, true
	case len(segs) == 2:
		return route{kind: "item", ns: segs[0], key: cache.Key{Partition: segs[1]}}, true
	case len(segs) == 3:
		return route{kind: "item", ns: segs[0], key: cache.Key{Partition: segs[1], Sort: segs[2]}}, true
	}
	return route{}, false
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, ok := h.resolve(r.URL)
	if !ok {
		writeError(w, http.StatusNotFound, "no_route", "no such route: "+r.URL.Path)
		return
	}
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
		w = headWriter{w}
	}
	switch rt.kind {
	case "healthz":
		if allow(w, method, http.MethodGet) {
			h.healthz(w, r)
		}
	case "metrics":
		if h.options().Metrics == nil {
			writeError(w, http.StatusNotFound, "no_route", "metrics are not enabled")
		} else if allow(w, method, http.MethodGet) {
			h.options().Metrics.Handler().ServeHTTP(w, r)
		}
	case "stream":
		if allow(w, method, http.MethodPost) {
			h.stream(w, r)
		}
	case "mget":
		// GET /v1/{ns}/_mget is the lookup of an item whose key is "_mget".
		if method == http.MethodGet {
			h.get(w, r, rt.ns, cache.Key{Partition: "_mget"})
		} else if allow(w, method, http.MethodPost, http.MethodGet) {
			h.mget(w, r, rt.ns)
		}
	case "item":
		switch method {
		case http.MethodGet:
			h.get(w, r, rt.ns, rt.key)
		case http.MethodPut:
			h.put(w, r, rt.ns, rt.key)
		case http.MethodDelete:
			h.del(w, r, rt.ns, rt.key)
		default:
			allow(w, method, http.MethodGet, http.MethodPut, http.MethodDelete)
		}
	}
}

// allow reports whether method is one of methods, and answers 405 when not.
func allow(w http.ResponseWriter, method string, methods ...string) bool {
	for _, m := range methods {
		if m == method {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "method "+method+" not allowed here")
	return false
}

// context returns the context of one request's work in the engine.
func (h *Handler) context(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), h.options().Timeout)
}

// healthz reports whether Redis and DynamoDB answer and every
// namespace's table can be used: 200 when so, 503 (degraded) otherwise.
// The body names what failed (redis, dynamodb, and each namespace whose
// table is missing → that table) but not why: the reasons carry DynamoDB's
// URL, request IDs and the SDK's error chain, which are for the log, not
// for whoever can reach this endpoint.
func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	hl := h.engine.Health(ctx)
	status, code := "ok", http.StatusOK
	if !hl.OK() {
		status, code = "degraded", http.StatusServiceUnavailable
	}
	body := map[string]any{"status": status, "redis": hl.Redis, "dynamodb": hl.DynamoDB}
	if len(hl.MissingTables) > 0 {
		missing := make(map[string]string, len(hl.MissingTables))
		for ns, reason := range hl.MissingTables {
			info, _ := h.engine.Namespace(ns)
			missing[ns] = info.Table
			h.log.Warn("healthz: namespace's table cannot be used", "namespace", ns, "err", reason)
		}
		body["missing_tables"] = missing
	}
	writeJSON(w, code, body)
}

// headWriter answers a HEAD as the GET without its body: net/http's server
// drops a HEAD response's body, but net/http/fcgi passes it on, and it
// reached the web server (the conformance table's "head" case over
// FastCGI found it).
type headWriter struct{ http.ResponseWriter }

func (w headWriter) Write(b []byte) (int, error) { return len(b), nil }

// writeJSON writes v as a JSON response.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"internal error","code":"internal"}`)
	}
	writeBody(w, code, b)
}

// jsonType is the Content-Type header of every body (shared, never modified).
var jsonType = []string{"application/json"}

// writeBody writes a JSON body with its length and the Date.
func writeBody(w http.ResponseWriter, code int, b []byte) {
	hd := w.Header()
	hd["Content-Type"] = jsonType
	hd["Content-Length"] = []string{itoa(len(b))}
	hd["Date"] = dates.get()
	w.WriteHeader(code)
	_, _ = w.Write(b)
}
