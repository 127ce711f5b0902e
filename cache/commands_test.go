package cache_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
)

// commandCalls sums Redis's INFO commandstats calls, commands run inside
// scripts included, leaving out the test's own INFO and the link probe's
// PING.
func commandCalls(t *testing.T, rdb *redis.Client) (total int64, byName map[string]int64) {
	t.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	byName = map[string]int64{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "cmdstat_"), ":calls=")
		if !ok || name == "info" || name == "ping" {
			continue
		}
		n, _ := strconv.ParseInt(rest[:strings.IndexByte(rest, ',')], 10, 64)
		byName[name] = n
		total += n
	}
	return total, byName
}

// roundTrips counts the engine's Redis round trips (Options.Redis.Observe),
// leaving out the link probe's PINGs.
type roundTrips struct {
	mu  sync.Mutex
	ops []string
}

func (r *roundTrips) observe(op string, _ time.Duration, _ error) {
	if op != "PING" {
		r.mu.Lock()
		r.ops = append(r.ops, op)
		r.mu.Unlock()
	}
}

func (r *roundTrips) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ops := r.ops
	r.ops = nil
	return ops
}

// TestCommandsPerMiss bounds what a lookup costs Redis, in commands (INFO
// commandstats, script bodies included) and in calls to Redis (as
// Options.Redis.Observe hears them), so that the miss path cannot grow
// back: it was 4 calls and 20 commands for a cold miss (CLIENT CACHING,
// MULTI, PTTL, GET, EXEC for the value and again for the negative entry,
// then the lease and fill scripts). A cold miss after a cold miss sends
// the lease script with the GET (speculate.go): 3 calls in 2 round trips,
// which TestLookupRoundTrips counts on the wire.
func TestCommandsPerMiss(t *testing.T) {
	f := enginetest.New(t)
	var rt roundTrips
	e := f.Engine(t, func(o *cache.Options) { o.Redis.Observe = rt.observe })
	ctx := testenv.Context(t)
	const n = 20
	for i := 0; i < 2*n; i++ {
		f.Seed(t, strconv.Itoa(i), "N"+strconv.Itoa(i))
	}
	// Warm up: every pipelined connection dialed, the scripts loaded; and
	// items n to 2n-1 filled, for the wrong guess below.
	for i := 0; i < n; i++ {
		if _, err := e.Get(ctx, "profile", cache.Key{Partition: "warm" + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Get(ctx, "profile", cache.Key{Partition: strconv.Itoa(n + i)}); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name       string
		lookup     func(i int) (cache.Source, error)
		want       cache.Source
		commands   float64 // most commands per lookup
		roundTrips float64 // most calls (Observe's round trips) per lookup
	}{
		{"cold miss of an item", func(i int) (cache.Source, error) {
			r, err := e.Get(ctx, "profile", cache.Key{Partition: strconv.Itoa(i)})
			return r.Source, err
		}, cache.SourceDynamo, 11, 3},
		{"cold miss of no item", func(i int) (cache.Source, error) {
			r, err := e.Get(ctx, "profile", cache.Key{Partition: "none" + strconv.Itoa(i)})
			return r.Source, err
		}, cache.SourceDynamo, 11, 3},
		// The speculation's wrong guess: a hit in Redis right after a cold
		// miss also runs the lease script (EVALSHA, GET, PTTL: 3 commands
		// more, one call more, no wait more). Each lookup here is both.
		{"cold miss of no item, then a hit in Redis", func(i int) (cache.Source, error) {
			if r, err := e.Get(ctx, "profile", cache.Key{Partition: "gone" + strconv.Itoa(i)}); err != nil || r.Source != cache.SourceDynamo {
				return r.Source, err
			}
			r, err := e.Get(ctx, "profile", cache.Key{Partition: strconv.Itoa(n + i)})
			return r.Source, err
		}, cache.SourceRedis, 11 + 2 + 3, 3 + 2},
		{"second lookup of no item", func(i int) (cache.Source, error) {
			r, err := e.Get(ctx, "profile", cache.Key{Partition: "none" + strconv.Itoa(i)})
			return r.Source, err
		}, cache.SourceNegative, 2, 1},
		{"third lookup of no item", func(i int) (cache.Source, error) {
			r, err := e.Get(ctx, "profile", cache.Key{Partition: "none" + strconv.Itoa(i)})
			return r.Source, err
		}, cache.SourceNegative, 0, 0},
		{"hit in Redis", func(i int) (cache.Source, error) {
			r, err := e.Get(ctx, "profile", cache.Key{Partition: strconv.Itoa(i)})
			return r.Source, err
		}, cache.SourceRedis, 2, 1},
		{"hit in the client-side cache", func(i int) (cache.Source, error) {
			r, err := e.Get(ctx, "profile", cache.Key{Partition: strconv.Itoa(i)})
			return r.Source, err
		}, cache.SourceLocal, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := commandCalls(t, f.RDB)
			rt.take()
			for i := 0; i < n; i++ {
				if src, err := tc.lookup(i); err != nil || src != tc.want {
					t.Fatalf("lookup %d: %v, %v; want %v", i, src, err, tc.want)
				}
			}
			after, byName := commandCalls(t, f.RDB)
			ops := rt.take()
			cmds, trips := float64(after-before)/n, float64(len(ops))/n
			t.Logf("%.1f commands, %.1f round trips per lookup (%v; totals %v)", cmds, trips, ops[:min(len(ops), 6)], byName)
			// Observe names each round trip (the metrics' op label).
			if slices.Contains(ops, "") {
				t.Errorf("a round trip reported without a command name: %q", ops)
			}
			if cmds > tc.commands || trips > tc.roundTrips {
				t.Errorf("%.1f commands and %.1f round trips per lookup; want at most %.0f and %.0f", cmds, trips, tc.commands, tc.roundTrips)
			}
		})
	}
}
