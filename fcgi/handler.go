// Package fcgi is the HTTP API of ddbcache as an http.Handler, served over
// FastCGI (net/http/fcgi) for nginx, Apache and PSGI apps, and optionally as
// plain HTTP on loopback. For now it answers GET /healthz only; the item
// routes of DESIGN.md come next.
package fcgi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/ddbcache/ddbcache/cache"
)

// healthTimeout bounds the Redis check of /healthz.
const healthTimeout = time.Second

// Handler serves the HTTP API.
type Handler struct {
	engine *cache.Engine
	mux    *http.ServeMux
}

// New returns the API handler for engine.
func New(engine *cache.Engine) *Handler {
	h := &Handler{engine: engine, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /healthz", h.healthz)
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	ok := h.engine.Connected(ctx)
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"redis": ok, "degraded": !ok})
}
