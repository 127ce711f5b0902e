package cache_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// waitConnected waits until the engine's view of Redis is want and
// returns how long that took, failing after limit.
func waitConnected(t *testing.T, e *cache.Engine, want bool, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for e.Stats().RedisConnected != want {
		if time.Since(start) > limit {
			t.Fatalf("redis_connected still %v after %s, want %v", !want, limit, want)
		}
		time.Sleep(10 * time.Millisecond) // polls a state that a goroutine changes
	}
	return time.Since(start)
}

// The outage shapes of Redis: killed (connections refused) and hung
// (SIGSTOP: connections open, nothing answers).
var redisOutages = []struct {
	name       string
	stop, back func(f *enginetest.Fixture)
}{
	{"killed", func(f *enginetest.Fixture) { f.Redis.Stop() }, func(f *enginetest.Fixture) { f.Redis.Start() }},
	{"hung", func(f *enginetest.Fixture) { f.Redis.Pause() }, func(f *enginetest.Fixture) { f.Redis.Resume() }},
}

func outageEngine(t *testing.T, f *enginetest.Fixture, mod func(*cache.Options)) *cache.Engine {
	return f.Engine(t, func(o *cache.Options) {
		o.Redis.CommandTimeout = 500 * time.Millisecond
		if mod != nil {
			mod(o)
		}
	})
}

func TestRedisConnectedFollowsTheLink(t *testing.T) {
	for _, o := range redisOutages {
		t.Run(o.name, func(t *testing.T) {
			f := enginetest.New(t)
			f.Seed(t, "1", "Ann")
			e := outageEngine(t, f, nil)
			ctx := testenv.Context(t)
			if !e.Stats().RedisConnected {
				t.Fatal("redis_connected false with Redis up")
			}
			o.stop(f)
			lost := waitConnected(t, e, false, 1500*time.Millisecond)
			o.back(f)
			back := waitConnected(t, e, true, 2*time.Second)
			t.Logf("redis_connected false %s after the outage began, true %s after Redis returned", lost, back)
			res, err := e.Get(ctx, "profile", cache.Key{Partition: "1"})
			if err != nil || res.Source == cache.SourceDegraded {
				t.Errorf("after Redis returned: from %s, %v; want Redis used again", res.Source, err)
			}
		})
	}
}

func TestWriteRefusedWhileRedisDown(t *testing.T) {
	for _, o := range redisOutages {
		t.Run(o.name, func(t *testing.T) {
			f := enginetest.New(t)
			f.Seed(t, "1", "Ann")
			e := outageEngine(t, f, nil)
			ctx := testenv.Context(t)
			o.stop(f)
			t.Cleanup(func() { o.back(f) })
			waitConnected(t, e, false, 1500*time.Millisecond)
			writes := f.Proxy.Count("PutItem") + f.Proxy.Count("DeleteItem")

			err := e.Put(ctx, "profile", []byte(enginetest.UserJSON("1", "Nope")))
			if !errors.Is(err, cache.ErrRedis) || !strings.Contains(err.Error(), "nothing was written") {
				t.Errorf("Put: %v; want ErrRedis saying nothing was written", err)
			}
			_, err = e.Delete(ctx, "profile", cache.Key{Partition: "1"})
			if !errors.Is(err, cache.ErrRedis) || !strings.Contains(err.Error(), "nothing was written") {
				t.Errorf("Delete: %v; want ErrRedis saying nothing was written", err)
			}
			if n := f.Proxy.Count("PutItem") + f.Proxy.Count("DeleteItem"); n != writes {
				t.Errorf("DynamoDB got %d write requests while Redis was down; want none", n-writes)
			}
			res, err := e.Get(ctx, "profile", cache.Key{Partition: "1"})
			if err != nil || string(res.Value) != enginetest.UserJSON("1", "Ann") {
				t.Errorf("the item after the refused writes: %s, %v; want it unchanged", res.Value, err)
			}
		})
	}
}

// faultAfterWrite is the real loader, with a real fault injected into
// Redis right after DynamoDB took a write: the window between a write and
// its invalidation.
type faultAfterWrite struct {
	cache.Loader
	fault func()
}

func (l faultAfterWrite) Put(ctx context.Context, table string, item []byte) error {
	err := l.Loader.Put(ctx, table, item)
	l.fault()
	return err
}

func TestRedisFailsBetweenWriteAndInvalidation(t *testing.T) {
	f := enginetest.New(t)
	f.Seed(t, "1", "Ann")
	var once sync.Once
	e := outageEngine(t, f, func(o *cache.Options) {
		o.Loader = faultAfterWrite{Loader: o.Loader, fault: func() { once.Do(f.Redis.Pause) }}
	})
	ctx := testenv.Context(t)
	if _, err := e.Get(ctx, "profile", cache.Key{Partition: "1"}); err != nil {
		t.Fatal(err) // the old value is now in Redis, which keeps it while paused
	}

	err := e.Put(ctx, "profile", []byte(enginetest.UserJSON("1", "Bo")))
	if !errors.Is(err, cache.ErrPending) || !strings.Contains(err.Error(), "the item was written to DynamoDB; its cache entries will be dropped when Redis returns") {
		t.Fatalf("Put: %v; want ErrPending saying the item was written", err)
	}
	st := e.Stats()
	if st.RedisConnected || st.PendingInvalidations != 1 {
		t.Errorf("after the failed invalidation: redis_connected %v, pending %d; want false and 1", st.RedisConnected, st.PendingInvalidations)
	}
	res, err := e.Get(ctx, "profile", cache.Key{Partition: "1"})
	if err != nil || string(res.Value) != enginetest.UserJSON("1", "Bo") {
		t.Errorf("during the outage: %s from %s, %v; want the written item", res.Value, res.Source, err)
	}

	f.Redis.Resume()
	waitConnected(t, e, true, 3*time.Second)
	if v, err := f.RDB.Get(ctx, "user_profile:1").Result(); !errors.Is(err, redis.Nil) {
		t.Errorf("Redis still holds %q, %v once the link is up; want the queued invalidation applied first", v, err)
	}
	for i := 0; i < 2; i++ {
		res, err := e.Get(ctx, "profile", cache.Key{Partition: "1"})
		if err != nil || string(res.Value) != enginetest.UserJSON("1", "Bo") {
			t.Errorf("lookup %d after Redis returned: %s from %s, %v; want the written item", i, res.Value, res.Source, err)
		}
	}
	if st := e.Stats(); st.PendingInvalidations != 0 {
		t.Errorf("pending %d after reconnect, want 0", st.PendingInvalidations)
	}
}

func TestPendingOverflowDropsTheNamespace(t *testing.T) {
	f := enginetest.New(t)
	ids := []string{"1", "2", "3"}
	// Three writes pass the "Redis is up" check together; once all three
	// reached DynamoDB, Redis hangs, so all three invalidations fail, and
	// the queue (of one key) overflows.
	var written sync.WaitGroup
	written.Add(len(ids))
	var pause sync.Once
	e := outageEngine(t, f, func(o *cache.Options) {
		o.MaxPending = 1
		o.Loader = faultAfterWrite{Loader: o.Loader, fault: func() {
			written.Done()
			written.Wait()
			pause.Do(f.Redis.Pause)
		}}
	})
	ctx := testenv.Context(t)
	for _, id := range ids {
		f.Seed(t, id, "Old")
		if _, err := e.Get(ctx, "profile", cache.Key{Partition: id}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.Put(ctx, "profile", []byte(enginetest.UserJSON(id, "New"))); !errors.Is(err, cache.ErrPending) {
				t.Errorf("Put %s: %v, want ErrPending", id, err)
			}
		}()
	}
	wg.Wait()
	if st := e.Stats(); st.PendingWhole != 1 || st.PendingInvalidations != 0 {
		t.Fatalf("pending %d keys, %d namespaces; want the namespace marked whole after the queue overflowed", st.PendingInvalidations, st.PendingWhole)
	}
	f.Redis.Resume()
	waitConnected(t, e, true, 3*time.Second)
	for _, id := range ids {
		res, err := e.Get(ctx, "profile", cache.Key{Partition: id})
		if err != nil || string(res.Value) != enginetest.UserJSON(id, "New") {
			t.Errorf("item %s after reconnect: %s from %s, %v; want the new item", id, res.Value, res.Source, err)
		}
	}
}

func TestHotKeyDuringRedisOutage(t *testing.T) {
	cases := []struct {
		name      string
		gutterTTL time.Duration
		maxReads  int // DynamoDB reads allowed in the run
	}{
		// 2 s of lookups with a 1 s gutter: at most one read per TTL, plus
		// the TTL the run starts in.
		{"gutter 1s", time.Second, 3},
		// Off: still collapsed (one read in flight for the key at a time),
		// but many more reads than with it.
		{"gutter off", -1, 1 << 30},
	}
	const run = 2 * time.Second
	reads := map[string]int{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := enginetest.New(t)
			f.Seed(t, "1", "Ann")
			e := outageEngine(t, f, func(o *cache.Options) { o.GutterTTL = c.gutterTTL })
			ctx := testenv.Context(t)
			f.Redis.Stop()
			waitConnected(t, e, false, 1500*time.Millisecond)
			before := f.Proxy.Count("GetItem")
			var wg sync.WaitGroup
			var mu sync.Mutex
			lookups, failed := 0, 0
			end := time.Now().Add(run)
			for w := 0; w < 8; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for time.Now().Before(end) {
						res, err := e.Get(ctx, "profile", cache.Key{Partition: "1"})
						mu.Lock()
						lookups++
						if err != nil || string(res.Value) != enginetest.UserJSON("1", "Ann") {
							failed++
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			n := f.Proxy.Count("GetItem") - before
			reads[c.name] = n
			t.Logf("%d lookups of one key in %s with Redis down: %d DynamoDB reads (%.1f/s), %d failed", lookups, run, n, float64(n)/run.Seconds(), failed)
			if failed > 0 {
				t.Errorf("%d of %d lookups failed or were wrong", failed, lookups)
			}
			if n > c.maxReads {
				t.Errorf("%d DynamoDB reads, want at most %d", n, c.maxReads)
			}
		})
	}
	if reads["gutter off"] <= reads["gutter 1s"] {
		t.Errorf("DynamoDB reads without the gutter (%d) not above those with it (%d)", reads["gutter off"], reads["gutter 1s"])
	}
}

func TestStaleIfErrorWhenDynamoHangs(t *testing.T) {
	const loadTimeout = 500 * time.Millisecond
	f := enginetest.New(t)
	for i := 1; i <= 3; i++ {
		f.Seed(t, fmt.Sprint(i), "Ann")
	}
	e := f.Engine(t, func(o *cache.Options) { o.LoadTimeout = loadTimeout })
	ctx := testenv.Context(t)
	keys := []cache.Key{{Partition: "1"}, {Partition: "2"}, {Partition: "3"}}
	if _, err := e.MGet(ctx, "sturdy", keys); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Get(ctx, "profile", cache.Key{Partition: "1"}); err != nil {
		t.Fatal(err)
	}
	f.DDB.Pause()
	t.Cleanup(f.DDB.Resume)
	expire := func(ids ...string) {
		for _, id := range ids {
			if err := f.RDB.Del(ctx, "sturdy:"+id).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}

	t.Run("GET of an expired item is served stale", func(t *testing.T) {
		expire("1")
		res, err := e.Get(ctx, "sturdy", cache.Key{Partition: "1"})
		if err != nil || res.Source != cache.SourceStale || string(res.Value) != enginetest.UserJSON("1", "Ann") {
			t.Errorf("%s from %s, %v; want the stale copy", res.Value, res.Source, err)
		}
	})
	t.Run("MGET of expired items is served stale", func(t *testing.T) {
		expire("2", "3")
		got, err := e.MGet(ctx, "sturdy", keys[1:])
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range got {
			if r.Source != cache.SourceStale || string(r.Value) != enginetest.UserJSON(keys[i+1].Partition, "Ann") {
				t.Errorf("key %s: %s from %s; want the stale copy", keys[i+1].Partition, r.Value, r.Source)
			}
		}
	})
	t.Run("a cached item comes back at once", func(t *testing.T) {
		start := time.Now()
		res, err := e.Get(ctx, "profile", cache.Key{Partition: "1"})
		if err != nil || !res.Source.Hit() {
			t.Errorf("from %s, %v; want a hit", res.Source, err)
		}
		if d := time.Since(start); d > 50*time.Millisecond {
			t.Errorf("a hit took %s with DynamoDB hung", d)
		}
	})
	t.Run("a miss fails within the load timeout", func(t *testing.T) {
		// The fastest of three, so that one descheduling of this 2-core
		// machine does not decide; each must still end well within bounds.
		fastest := time.Hour
		for i := 0; i < 3; i++ {
			start := time.Now()
			_, err := e.Get(ctx, "profile", cache.Key{Partition: fmt.Sprint(100 + i)})
			d := time.Since(start)
			fastest = min(fastest, d)
			if !errors.Is(err, cache.ErrLoad) {
				t.Errorf("err = %v, want cache.ErrLoad", err)
			}
			if d > loadTimeout+500*time.Millisecond {
				t.Errorf("a miss took %s, want about the %s load timeout", d, loadTimeout)
			}
		}
		t.Logf("fastest failed miss: %s (load timeout %s)", fastest, loadTimeout)
		if fastest > loadTimeout+100*time.Millisecond {
			t.Errorf("fastest failed miss took %s, want within load timeout + 100ms", fastest)
		}
	})
}
