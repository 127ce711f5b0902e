package cache_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
	"github.com/ddbcache/ddbcache/relay"
)

// TestLookupRoundTrips counts the Redis round trips a lookup waits for one
// after the other, on the wire: the engine reaches Redis through a relay
// that counts turns (relay.Turns), so commands sent together, in one
// pipeline or from two goroutines at once, are one round trip. A cold miss
// was 3 (the value's GET, the lease script, the fill script); once a cold
// miss was seen, the next lookup sends the lease script with the GET, and a
// cold miss is 2. TestCommandsPerMiss bounds the commands.
func TestLookupRoundTrips(t *testing.T) {
	f := enginetest.New(t)
	// A delay well above the engine's own pauses between the commands it
	// sends together, so that they fall in one turn.
	r, err := relay.New(relay.Options{Upstream: f.Redis.Addr, Delay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Serve(t, r.Serve, func() { _ = r.Close() })
	f.Addrs = []string{r.Addr()}
	e := f.Engine(t, func(o *cache.Options) { o.ProbeInterval = time.Hour }) // no PING on the relay meanwhile
	ctx := testenv.Context(t)
	const n = 10
	for i := 0; i < n; i++ {
		f.Seed(t, "rt"+strconv.Itoa(i), "N"+strconv.Itoa(i))
	}
	// Warm up: the connections dialed, the scripts loaded, and the last
	// lookup a cold miss.
	for i := 0; i < 3; i++ {
		if _, err := e.Get(ctx, "profile", cache.Key{Partition: "rtwarm" + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(prefix string) func(int) (cache.Source, error) {
		return func(i int) (cache.Source, error) {
			res, err := e.Get(ctx, "profile", cache.Key{Partition: prefix + strconv.Itoa(i)})
			return res.Source, err
		}
	}
	for _, tc := range []struct {
		name   string
		lookup func(i int) (cache.Source, error)
		want   cache.Source
		turns  int64 // most round trips per lookup
	}{
		{"cold miss of an item", get("rt"), cache.SourceDynamo, 2},
		{"cold miss of no item", get("rtnone"), cache.SourceDynamo, 2},
		{"hit in Redis", get("rt"), cache.SourceRedis, 1},
		{"second lookup of no item", get("rtnone"), cache.SourceNegative, 1},
		{"hit in the client-side cache", get("rt"), cache.SourceLocal, 0},
		{"third lookup of no item", get("rtnone"), cache.SourceNegative, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := r.Turns()
			for i := 0; i < n; i++ {
				if src, err := tc.lookup(i); err != nil || src != tc.want {
					t.Fatalf("lookup %d: %v, %v; want %v", i, src, err, tc.want)
				}
			}
			// rueidis PINGs a connection idle for a while (pipe.go
			// backgroundPing), the engine's second one among them: that
			// slack of 2 turns is not one more round trip per lookup.
			if turns := r.Turns() - before; turns > tc.turns*n+keepAlives {
				t.Errorf("%d round trips for %d lookups; want at most %d each", turns, n, tc.turns)
			}
		})
	}
}

// keepAlives bounds the turns rueidis's keepalive PINGs add to a run of
// TestLookupRoundTrips's lookups.
const keepAlives = 2
