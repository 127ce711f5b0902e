package unixsock_test

import (
	"testing"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
	"github.com/ddbcache/ddbcache/unixsock"
	"github.com/redis/go-redis/v9"
)

// benchSetup serves a warmed hot key ("1") and returns the engine, the
// socket path and the fixture.
func benchSetup(b *testing.B) (*enginetest.Fixture, *cache.Engine, string) {
	f := enginetest.New(b)
	f.Seed(b, "1", "Ann")
	e := f.Engine(b, nil)
	srv := serve(b, e, unixsock.Options{})
	ctx := testenv.Context(b)
	// Warm up until the key is served from the client-side cache.
	enginetest.WaitFor(b, "a local hit", func() bool {
		res, err := e.Get(ctx, "profile", cache.Key{Partition: "1"})
		return err == nil && res.Source == cache.SourceLocal
	})
	return f, e, srv.Addrs()[0].String()
}

// BenchmarkSocketHit is one client doing DDB GET of a hot key through the
// socket: the path a Perl worker takes.
func BenchmarkSocketHit(b *testing.B) {
	_, e, path := benchSetup(b)
	c := client(b, path)
	ctx := testenv.Context(b)
	before := e.Stats().Namespaces["profile"]
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Do(ctx, "DDB", "GET", "profile", "1").Text(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	after := e.Stats().Namespaces["profile"]
	if after.DynamoReads != before.DynamoReads {
		b.Fatalf("hit benchmark read DynamoDB %d times", after.DynamoReads-before.DynamoReads)
	}
	b.ReportMetric(float64(after.HitsLocal-before.HitsLocal)/float64(b.N), "local-hits/op")
}

// BenchmarkSocketHitParallel is many clients doing the same.
func BenchmarkSocketHitParallel(b *testing.B) {
	_, _, path := benchSetup(b)
	c := client(b, path)
	ctx := testenv.Context(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Do(ctx, "DDB", "GET", "profile", "1").Text(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRedisDirectGet is the baseline: the same JSON fetched with a
// plain GET straight from Redis over TCP, as the blog pattern's hit does.
func BenchmarkRedisDirectGet(b *testing.B) {
	f, _, _ := benchSetup(b)
	c := redis.NewClient(&redis.Options{Addr: f.Redis.Addr, Protocol: 2, DisableIdentity: true})
	defer c.Close()
	ctx := testenv.Context(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Get(ctx, "user_profile:1").Result(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEngineGetLocal is the engine's hit path without any socket.
func BenchmarkEngineGetLocal(b *testing.B) {
	_, e, _ := benchSetup(b)
	ctx := testenv.Context(b)
	k := cache.Key{Partition: "1"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.Get(ctx, "profile", k); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPassthroughGetHit is one client doing a plain GET of the hot
// legacy key through the passthrough: it must be served from the
// client-side cache (no Redis round trip), and its allocations are the
// figure to keep (they include go-redis's, client and server share the
// process).
func BenchmarkPassthroughGetHit(b *testing.B) {
	_, _, path := benchSetup(b)
	c := client(b, path)
	ctx := testenv.Context(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Get(ctx, "user_profile:1").Result(); err != nil {
			b.Fatal(err)
		}
	}
}
