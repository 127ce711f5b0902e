package fcgi

import (
	"context"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"
)

// pprofPrefix is where ServerOptions.Pprof mounts net/http/pprof.
const pprofPrefix = "/debug/pprof/"

// withPprof serves net/http/pprof under pprofPrefix on the plain HTTP
// listener and everything else with h. It is for profiling the daemon
// under load (the bench issue); it is off by default, like any debug
// endpoint, and never on FastCGI, which the web server exposes.
func withPprof(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(pprofPrefix, pprof.Index)
	mux.HandleFunc(pprofPrefix+"cmdline", pprof.Cmdline)
	mux.HandleFunc(pprofPrefix+"profile", pprof.Profile)
	mux.HandleFunc(pprofPrefix+"symbol", pprof.Symbol)
	mux.HandleFunc(pprofPrefix+"trace", pprof.Trace)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, pprofPrefix) {
			h.ServeHTTP(w, r)
			return
		}
		// A CPU profile or trace lasts ?seconds=N, longer than the API's
		// write timeout: lift the deadline for this response, and show
		// pprof a server without a WriteTimeout (it refuses a duration beyond
		// the real one).
		_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
		r = r.WithContext(context.WithValue(r.Context(), http.ServerContextKey, &http.Server{}))
		mux.ServeHTTP(w, r)
	})
}
