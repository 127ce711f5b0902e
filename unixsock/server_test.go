package unixsock_test

import (
	"path/filepath"
	"testing"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
	"github.com/ddbcache/ddbcache/tracking"
	"github.com/ddbcache/ddbcache/unixsock"
	"github.com/redis/go-redis/v9"
)

// socketPath returns a socket path in a fresh short temp dir.
func socketPath(t testing.TB) string {
	t.Helper()
	return filepath.Join(testenv.ShortDir(t), "ddbcache.sock")
}

// serve starts a server for engine on opts (Path defaults to a fresh
// socket) and stops it at the end of the test.
func serve(t testing.TB, engine *cache.Engine, opts unixsock.Options) *unixsock.Server {
	t.Helper()
	if opts.Path == "" && opts.TCP == "" {
		opts.Path = socketPath(t)
	}
	srv, err := unixsock.Listen(engine, opts)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Serve(t, srv.Serve, func() { _ = srv.Close() })
	return srv
}

// client returns a go-redis client of the socket: an independent RESP2
// implementation, as Perl's Redis.pm would be.
func client(t testing.TB, path string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: path, Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { c.Close() })
	return c
}

// setup is a server on real Redis and dynalite with two seeded users,
// with DDB TRACK enabled.
func setup(t *testing.T) (*enginetest.Fixture, *cache.Engine, string) {
	t.Helper()
	f := enginetest.New(t)
	f.Seed(t, "1", "Ann")
	f.Seed(t, "2", "Bob")
	reg := tracking.New(tracking.Options{})
	e := f.Engine(t, func(o *cache.Options) {
		o.MaxValueBytes = 64 << 10
		o.Notifier = reg
	})
	srv := serve(t, e, unixsock.Options{Tracking: reg})
	return f, e, srv.Addrs()[0].String()
}

// The RESP conformance cases (every command and its reply) are the one
// table in internal/conformance/cases.json, run on standalone and cluster
// by internal/conformance's TestConformance.
