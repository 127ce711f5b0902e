package fcgi_test

import (
	"testing"

	"github.com/ddbcache/ddbcache/fcgi"
)

// BenchmarkFastCGIHit is a lookup of a hot key over FastCGI on a Unix
// socket, one connection a request (as nginx without keep-conn), from
// parallel clients.
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
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r := fcgiRequest(b, "unix", sock, params, ""); r.status != 200 {
				b.Fatalf("status %d", r.status)
			}
		}
	})
}
