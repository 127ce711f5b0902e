package fcgi_test

import (
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/fcgi"
	"github.com/ddbcache/ddbcache/internal/fcgiclient"
	"github.com/ddbcache/ddbcache/metrics"
)

// BenchmarkFastCGIHit is a lookup of a hot key over FastCGI on a Unix
// socket, from parallel clients: one connection a request (as a web
// server without keep-conn), and kept connections (as nginx with
// deploy/nginx's `fastcgi_keep_conn on` and upstream keepalive). The
// kept case is nearly all the daemon's own work per request; run with
// -benchmem to see its allocations.
func BenchmarkFastCGIHit(b *testing.B) {
	a := setupB(b)
	h, err := fcgi.New(a.engine, fcgi.Options{Prefix: "/api", Metrics: a.metrics})
	if err != nil {
		b.Fatal(err)
	}
	sock := socketPath(b)
	serveWeb(b, h, fcgi.ServerOptions{FCGI: sock, Metrics: a.metrics})
	params := cgiParams("GET", "/api/profile/1")
	for i := 0; i < 3; i++ {
		fcgiRequest(b, "unix", sock, params, "")
	}
	b.Run("conn-per-request", func(b *testing.B) {
		defer reportCPU(b)()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if r := fcgiRequest(b, "unix", sock, params, ""); r.status != 200 {
					b.Fatalf("status %d", r.status)
				}
			}
		})
	})
	b.Run("keep-conn", func(b *testing.B) {
		defer reportCPU(b)()
		b.RunParallel(func(pb *testing.PB) {
			c, err := fcgiclient.Dial("unix", sock)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			for pb.Next() {
				r, err := c.Do(params, "")
				if err != nil {
					b.Fatal(err)
				}
				if r.Status != 200 {
					b.Fatalf("status %d", r.Status)
				}
			}
		})
	})
}

// BenchmarkHandlerHit is the handler's own work for a hot key, without
// FastCGI: net/http/fcgi's share of a request (its params, http.Request
// and 64 KiB buffer) is not in it, the metrics instrumentation is.
func BenchmarkHandlerHit(b *testing.B) {
	a := setupB(b)
	h, err := fcgi.New(a.engine, fcgi.Options{Prefix: "/api", Metrics: a.metrics})
	if err != nil {
		b.Fatal(err)
	}
	srv := a.metrics.Instrument(metrics.FrontFCGI, h)
	req := httptest.NewRequest("GET", "/api/profile/1", nil)
	w := &discardWriter{header: http.Header{}}
	srv.ServeHTTP(w, req)
	if w.code != 200 {
		b.Fatalf("status %d", w.code)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		clear(w.header)
		srv.ServeHTTP(w, req)
	}
}

// discardWriter is a ResponseWriter that keeps the status and drops the body.
type discardWriter struct {
	header http.Header
	code   int
}

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

// reportCPU reports the process's CPU time (user and system, the
// FastCGI client's included) per operation as cpu-µs/op when the returned
// function is called: on a shared machine less noisy than ns/op.
func reportCPU(b *testing.B) func() {
	start := cpuTime(b)
	return func() {
		b.ReportMetric(float64((cpuTime(b)-start).Microseconds())/float64(b.N), "cpu-µs/op")
	}
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
