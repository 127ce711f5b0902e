package unixsock_test

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
	"github.com/ddbcache/ddbcache/tracking"
	"github.com/ddbcache/ddbcache/unixsock"
)

// fuzzDeadline bounds one input's exchange: the server answers within
// milliseconds, or closes after its 2 s read timeout at the latest.
const fuzzDeadline = 10 * time.Second

// FuzzServer sends arbitrary bytes to a real server (real Redis and
// dynalite behind it) on one connection, then half-closes it. The server
// must end the exchange (answer everything and close) within the read
// timeout, never panic (not even in a recovered handler), and go on
// serving other clients.
func FuzzServer(f *testing.F) {
	fx := enginetest.New(f)
	fx.Seed(f, "1", "Ann")
	logs := &testenv.LogBuffer{}
	reg := tracking.New(tracking.Options{})
	e := fx.Engine(f, func(o *cache.Options) {
		o.MaxValueBytes = 64 << 10
		o.Notifier = reg
	})
	srv := serve(f, e, unixsock.Options{Tracking: reg, ReadTimeout: 2 * time.Second,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	path := srv.Addrs()[0].String()
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(fuzzDeadline))
		go func() {
			// The server may close before it has read everything.
			if _, err := c.Write(in); err == nil {
				_ = c.(*net.UnixConn).CloseWrite()
			}
		}()
		if _, err := io.Copy(io.Discard, c); isTimeout(err) {
			t.Fatalf("%q: the server neither answered nor closed within %v", in, fuzzDeadline)
		}
		if got := roundTrip(t, dialRaw(t, path), "PING\r\n"); got != "+PONG" {
			t.Fatalf("after %q: PING = %q", in, got)
		}
		if l := logs.String(); strings.Contains(l, "panic") {
			t.Fatalf("after %q the server logged a panic:\n%s", in, l)
		}
	})
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
