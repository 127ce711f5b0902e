package cache_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
)

// recorder is a cache.Notifier that remembers what it heard.
type recorder struct {
	mu      sync.Mutex
	keys    []string
	flushes int
}

func (r *recorder) Invalidate(keys []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys = append(r.keys, keys...)
}

func (r *recorder) Flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flushes++
}

func (r *recorder) heard(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.keys, key)
}

func (r *recorder) flushed() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.flushes
}

// TestTracked: only a value read through the client-side cache, with a
// Notifier to hear of its changes, is Tracked.
func TestTracked(t *testing.T) {
	f := enginetest.New(t)
	f.Seed(t, "1", "Ann")
	ctx := testenv.Context(t)
	rec := &recorder{}
	e := f.Engine(t, func(o *cache.Options) { o.Notifier = rec })
	plain := f.Engine(t, nil)
	other := f.Engine(t, func(o *cache.Options) { o.Notifier = &recorder{} })
	uncached := f.Engine(t, func(o *cache.Options) {
		o.Notifier = &recorder{}
		o.Redis.DisableClientCache = true
	})
	ann := cache.Key{Partition: "1"}
	cases := []struct {
		name        string
		engine      *cache.Engine
		before      func(t *testing.T)
		key         cache.Key
		wantSource  cache.Source
		wantTracked bool
	}{
		{"filled from DynamoDB", e, nil, ann, cache.SourceDynamo, false},
		{"read from Redis through the cache", plain, nil, ann, cache.SourceRedis, false},
		{"local hit without a Notifier", plain, nil, ann, cache.SourceLocal, false},
		// A second engine with a Notifier: e cached the nil it read before
		// its fill, and answers untracked until Redis's invalidation of
		// that nil arrives, at a moment the test does not control.
		{"read from Redis with a Notifier", other, nil, ann, cache.SourceRedis, true},
		{"local hit with a Notifier", other, nil, ann, cache.SourceLocal, true},
		{"read around the cache after a write", e, func(t *testing.T) {
			if err := e.Put(ctx, "profile", []byte(`{"user_id":"1","name":"Ann"}`)); err != nil {
				t.Fatal(err)
			}
			if _, err := e.Get(ctx, "profile", ann); err != nil { // the fill
				t.Fatal(err)
			}
		}, ann, cache.SourceRedis, false},
		{"negative", e, nil, cache.Key{Partition: "404"}, cache.SourceDynamo, false},
		{"negative again", e, nil, cache.Key{Partition: "404"}, cache.SourceNegative, false},
		{"client-side cache off", uncached, nil, ann, cache.SourceRedis, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before(t)
			}
			res, err := tc.engine.Get(ctx, "profile", tc.key)
			if err != nil {
				t.Fatal(err)
			}
			if res.Source != tc.wantSource || res.Tracked != tc.wantTracked {
				t.Errorf("source %s, tracked %v; want %s, %v", res.Source, res.Tracked, tc.wantSource, tc.wantTracked)
			}
			if res.Tracked && res.TTL <= 0 {
				t.Errorf("tracked with TTL %s", res.TTL)
			}
		})
	}
}

// TestWritesNotifyBeforeReturning: every write path tells the Notifier of
// the value keys it changed before it returns. The keys were never read
// through the client-side cache, so Redis's tracking cannot be what told it.
func TestWritesNotifyBeforeReturning(t *testing.T) {
	f := enginetest.New(t)
	f.Seed(t, "del", "Del")
	ctx := testenv.Context(t)
	rec := &recorder{}
	e := f.Engine(t, func(o *cache.Options) { o.Notifier = rec })
	cases := []struct {
		name  string
		write func(ctx context.Context) error
		keys  []string
	}{
		{"Put", func(ctx context.Context) error {
			return e.Put(ctx, "profile", []byte(`{"user_id":"put","name":"P"}`))
		}, []string{"user_profile:put"}},
		{"Delete", func(ctx context.Context) error {
			_, err := e.Delete(ctx, "profile", cache.Key{Partition: "del"})
			return err
		}, []string{"user_profile:del"}},
		{"Invalidate", func(ctx context.Context) error {
			_, err := e.Invalidate(ctx, "profile", []cache.Key{{Partition: "i1"}, {Partition: "i2"}})
			return err
		}, []string{"user_profile:i1", "user_profile:i2"}},
		{"InvalidateItems", func(ctx context.Context) error {
			_, err := e.InvalidateItems(ctx, []cache.TableKeys{{Table: "users", Keys: []map[string]string{{"user_id": "1"}, {"user_id": "2"}}}})
			return err
		}, []string{"user_profile:1", "user_profile:2", "sturdy:1", "sturdy:2"}},
		{"InvalidateTableKeys", func(ctx context.Context) error {
			_, err := e.InvalidateTableKeys(ctx, "events", []map[string]string{{"account": "7", "seq": "1"}})
			return err
		}, []string{"events:7:1"}},
		{"passthrough SET", func(ctx context.Context) error {
			_, err := e.Forward(ctx, []string{"SET", "user_profile:raw", "{}"}, []int{1}, false)
			return err
		}, []string{"user_profile:raw"}},
		{"passthrough DEL of two keys", func(ctx context.Context) error {
			_, err := e.Forward(ctx, []string{"DEL", "a", "b"}, []int{1, 2}, false)
			return err
		}, []string{"a", "b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.write(ctx); err != nil {
				t.Fatal(err)
			}
			for _, k := range tc.keys {
				if !rec.heard(k) {
					t.Errorf("returned before the Notifier heard of %q", k)
				}
			}
		})
	}
	t.Run("a read through the passthrough notifies nothing", func(t *testing.T) {
		if _, err := e.Forward(ctx, []string{"EXISTS", "read-only"}, []int{1}, true); err != nil {
			t.Fatal(err)
		}
		if rec.heard("read-only") {
			t.Error("a read-only command was taken for a write")
		}
	})
	t.Run("InvalidateTable flushes", func(t *testing.T) {
		before := rec.flushed()
		if _, err := e.InvalidateTable(ctx, "users"); err != nil {
			t.Fatal(err)
		}
		if rec.flushed() != before+1 {
			t.Errorf("%d flushes, want %d", rec.flushed(), before+1)
		}
		if _, err := e.InvalidateTable(ctx, "no-such-table"); err != nil {
			t.Fatal(err)
		}
		if rec.flushed() != before+1 {
			t.Error("a table of no namespace flushed")
		}
	})
}

// TestRedisTrackingIsRelayed: a change made in Redis behind the engine's
// back reaches the Notifier through Redis's tracking, and a lost Redis
// connection becomes a flush.
func TestRedisTrackingIsRelayed(t *testing.T) {
	f := enginetest.New(t)
	f.Seed(t, "1", "Ann")
	ctx := testenv.Context(t)
	rec := &recorder{}
	e := f.Engine(t, func(o *cache.Options) { o.Notifier = rec })
	track := func(t *testing.T) {
		t.Helper()
		// Until Redis's invalidation of the nil that the first lookup
		// cached reaches the engine (the fill's SET causes it), lookups
		// are answered untracked.
		enginetest.WaitFor(t, "a tracked lookup of user 1", func() bool {
			res, err := e.Get(ctx, "profile", cache.Key{Partition: "1"})
			if err != nil {
				t.Fatal(err)
			}
			return res.Tracked
		})
	}
	track(t)
	if err := f.RDB.Set(ctx, "user_profile:1", `{"user_id":"1","name":"legacy"}`, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	enginetest.WaitFor(t, "the relayed invalidation of user_profile:1", func() bool { return rec.heard("user_profile:1") })

	track(t)
	before := rec.flushed()
	if err := f.RDB.Do(ctx, "CLIENT", "KILL", "TYPE", "normal").Err(); err != nil {
		t.Fatal(err)
	}
	enginetest.WaitFor(t, "a flush after the engine's Redis connections were killed", func() bool { return rec.flushed() > before })
}
