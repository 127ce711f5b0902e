package cache_test

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
)

// BenchmarkGetHitFormat is the GET hit path from the client-side cache
// for each value format, at 300 B and 10 KB: json is the path as it was
// before formats existed (plus one byte's comparison); msgpack and zstd
// answer from the memo of decoded JSON; "decoded per hit" is msgpack
// without the memo, what each hit would cost if it converted again.
//
//	go test -run '^$' -bench BenchmarkGetHitFormat -count 5 ./cache
func BenchmarkGetHitFormat(b *testing.B) {
	for _, size := range []int{300, 10_000} {
		f := enginetest.New(b)
		keys := make([]cache.Key, benchKeys)
		for i := range keys {
			id := "b" + strconv.Itoa(i)
			seedItemB(b, f, id, size)
			keys[i] = cache.Key{Partition: id}
		}
		for _, v := range []struct{ name, ns string }{
			{"json", "profile"}, {"msgpack", "mp"}, {"msgpack+zstd", "zm"}, {"msgpack decoded per hit", "mp"},
		} {
			b.Run(fmt.Sprintf("%dB/%s", size, v.name), func(b *testing.B) {
				e := formatBenchEngine(b, f, v.ns, keys)
				if v.name == "msgpack decoded per hit" {
					e.DecodeEveryHit()
				}
				ctx := testenv.Context(b)
				before := e.Stats().Namespaces[v.ns]
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := e.Get(ctx, v.ns, keys[i%len(keys)]); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				if after := e.Stats().Namespaces[v.ns]; after.HitsLocal-before.HitsLocal != int64(b.N) {
					b.Fatalf("%d local hits of %d: not a hit benchmark", after.HitsLocal-before.HitsLocal, b.N)
				}
			})
		}
	}
}

// formatBenchEngine fills keys of ns into Redis with one engine and
// returns another whose every lookup of them is a local hit.
func formatBenchEngine(b *testing.B, f *enginetest.Fixture, ns string, keys []cache.Key) *cache.Engine {
	withFormats := func(o *cache.Options) {
		o.Namespaces = append(append([]cache.Namespace(nil), enginetest.Namespaces...), formatNamespaces...)
	}
	ctx := testenv.Context(b)
	if _, err := f.Engine(b, withFormats).MGet(ctx, ns, keys); err != nil {
		b.Fatal(err)
	}
	e := f.Engine(b, withFormats)
	enginetest.WaitFor(b, "local hits of every key", func() bool {
		for _, k := range keys {
			if res, err := e.Get(ctx, ns, k); err != nil || res.Source != cache.SourceLocal {
				return false
			}
		}
		return true
	})
	return e
}
