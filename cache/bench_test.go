package cache_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
)

// benchKeys is how many keys the MGET benchmarks ask for at once.
const benchKeys = 10

// benchEngine seeds benchKeys items, warms them into Redis, and returns an
// engine that has not read them yet; uncached turns its client-side cache
// off, so that every hit is a Redis round trip.
func benchEngine(b *testing.B, uncached bool) (*cache.Engine, []cache.Key) {
	f := enginetest.New(b)
	keys := make([]cache.Key, benchKeys)
	for i := range keys {
		id := strconv.Itoa(i)
		f.Seed(b, id, "N"+id)
		keys[i] = cache.Key{Partition: id}
	}
	ctx := testenv.Context(b)
	if _, err := f.Engine(b, nil).MGet(ctx, "profile", keys); err != nil {
		b.Fatal(err)
	}
	e := f.Engine(b, func(o *cache.Options) { o.Redis.DisableClientCache = uncached })
	want := cache.SourceLocal
	if uncached {
		want = cache.SourceRedis
	}
	enginetest.WaitFor(b, "hits of every key", func() bool {
		for _, k := range keys {
			if res, err := e.Get(ctx, "profile", k); err != nil || res.Source != want {
				return false
			}
		}
		return true
	})
	return e, keys
}

// benchSources checks after a benchmark that every answer was a hit of
// the wanted kind and none read DynamoDB.
func benchSources(b *testing.B, e *cache.Engine, before cache.NamespaceStats, hits int64, uncached bool) {
	after := e.Stats().Namespaces["profile"]
	got := after.HitsLocal - before.HitsLocal
	if uncached {
		got = after.HitsRedis - before.HitsRedis
	}
	if after.DynamoReads != before.DynamoReads || got != hits {
		b.Fatalf("%d hits of %d, %d DynamoDB reads: not a hit benchmark", got, hits, after.DynamoReads-before.DynamoReads)
	}
}

// benchHits times op (lookup i of the benchmark, perOp hits each) b.N
// times, then checks with benchSources that every lookup was a hit.
func benchHits(b *testing.B, e *cache.Engine, perOp int64, uncached bool, op func(ctx context.Context, i int) error) {
	b.Helper()
	ctx := testenv.Context(b)
	before := e.Stats().Namespaces["profile"]
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := op(ctx, i); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	benchSources(b, e, before, int64(b.N)*perOp, uncached)
}

// BenchmarkGetHit is the engine's GET hit path, from the client-side cache
// (local) and from Redis (redis).
func BenchmarkGetHit(b *testing.B) {
	for _, uncached := range []bool{false, true} {
		name := map[bool]string{false: "local", true: "redis"}[uncached]
		b.Run(name, func(b *testing.B) {
			e, keys := benchEngine(b, uncached)
			benchHits(b, e, 1, uncached, func(ctx context.Context, i int) error {
				_, err := e.Get(ctx, "profile", keys[i%len(keys)])
				return err
			})
		})
	}
}

// BenchmarkMGetHit is the engine's MGET hit path for benchKeys keys, from
// the client-side cache (local) and from one Redis round trip (redis).
func BenchmarkMGetHit(b *testing.B) {
	for _, uncached := range []bool{false, true} {
		name := map[bool]string{false: "local", true: "redis"}[uncached]
		b.Run(name, func(b *testing.B) {
			e, keys := benchEngine(b, uncached)
			benchHits(b, e, benchKeys, uncached, func(ctx context.Context, _ int) error {
				_, err := e.MGet(ctx, "profile", keys)
				return err
			})
		})
	}
}
