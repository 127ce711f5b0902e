package cache_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
)

func TestLookup(t *testing.T) {
	f := enginetest.New(t)
	e := f.Engine(t, nil)
	ctx := testenv.Context(t)
	f.Seed(t, "1", "Ann")

	steps := []struct {
		name       string
		id         string
		wantValue  string // "" means absent
		wantSource cache.Source
		wantReads  int // GetItem calls seen by the proxy after the step
	}{
		{"cold lookup reads DynamoDB", "1", enginetest.UserJSON("1", "Ann"), cache.SourceDynamo, 1},
		{"second lookup is a hit", "1", enginetest.UserJSON("1", "Ann"), cache.SourceRedis, 1},
		{"absent item reads DynamoDB", "404", "", cache.SourceDynamo, 2},
		{"absent again is a negative hit", "404", "", cache.SourceNegative, 2},
	}
	for _, s := range steps {
		res, err := e.Get(ctx, "profile", cache.Key{Partition: s.id})
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if string(res.Value) != s.wantValue || res.Source != s.wantSource {
			t.Errorf("%s: got %q from %s, want %q from %s", s.name, res.Value, res.Source, s.wantValue, s.wantSource)
		}
		if got := f.Proxy.Count("GetItem"); got != s.wantReads {
			t.Errorf("%s: %d GetItem calls, want %d", s.name, got, s.wantReads)
		}
	}

	t.Run("Redis holds the legacy key with plain JSON and a jittered TTL", func(t *testing.T) {
		v, err := f.RDB.Get(ctx, "user_profile:1").Result()
		if err != nil || v != enginetest.UserJSON("1", "Ann") {
			t.Fatalf("GET user_profile:1 = %q, %v", v, err)
		}
		ttl := f.RDB.PTTL(ctx, "user_profile:1").Val()
		if ttl < 54*time.Minute || ttl > 66*time.Minute {
			t.Errorf("TTL %s outside 1h ± 10%%", ttl)
		}
		nttl := f.RDB.PTTL(ctx, "{user_profile:404}:neg").Val()
		if nttl <= 0 || nttl > 30*time.Second {
			t.Errorf("negative entry TTL %s, want in (0, 30s]", nttl)
		}
	})
	t.Run("hot key is served from the local cache", func(t *testing.T) {
		// The fill marked the key written, so reads go to Redis for
		// WriteBypass; a fresh engine has no such mark.
		e2 := f.Engine(t, nil)
		var last cache.Source
		for i := 0; i < 3; i++ {
			res, err := e2.Get(ctx, "profile", cache.Key{Partition: "1"})
			if err != nil {
				t.Fatal(err)
			}
			last = res.Source
		}
		if last != cache.SourceLocal {
			t.Errorf("third lookup from %s, want local", last)
		}
		if st := e2.Stats().Namespaces["profile"]; st.HitsLocal < 1 || st.DynamoReads != 0 {
			t.Errorf("stats %+v, want local hits and no DynamoDB reads", st)
		}
	})
	t.Run("stats count what happened", func(t *testing.T) {
		st := e.Stats().Namespaces["profile"]
		if st.Misses != 2 || st.DynamoReads != 2 || st.NegativeHits != 1 || st.HitsRedis+st.HitsLocal != 1 {
			t.Errorf("stats %+v", st)
		}
		if st.ReadUnits <= 0 {
			t.Errorf("read capacity %g, want > 0", st.ReadUnits)
		}
	})
}

func TestLookupErrors(t *testing.T) {
	f := enginetest.New(t)
	e := f.Engine(t, func(o *cache.Options) { o.MaxValueBytes = 1000 })
	ctx := testenv.Context(t)
	cases := []struct {
		name string
		run  func() error
		want error
	}{
		{"unknown namespace", func() error { _, err := e.Get(ctx, "nope", cache.Key{Partition: "1"}); return err }, cache.ErrUnknownNamespace},
		{"empty key", func() error { _, err := e.Get(ctx, "profile", cache.Key{}); return err }, cache.ErrBadKey},
		{"sort key missing", func() error { _, err := e.Get(ctx, "events", cache.Key{Partition: "1"}); return err }, cache.ErrBadKey},
		{"non-numeric key of an N table", func() error { _, err := e.Get(ctx, "events", cache.Key{Partition: "x", Sort: "1"}); return err }, cache.ErrLoad},
		{"put malformed JSON", func() error { return e.Put(ctx, "profile", []byte(`{"user_id":`)) }, cache.ErrBadItem},
		{"put array", func() error { return e.Put(ctx, "profile", []byte(`[1]`)) }, cache.ErrBadItem},
		{"put without key", func() error { return e.Put(ctx, "profile", []byte(`{"name":"x"}`)) }, cache.ErrBadItem},
		{"put key of wrong type", func() error { return e.Put(ctx, "profile", []byte(`{"user_id":true}`)) }, cache.ErrBadItem},
		{"put too large", func() error { return e.Put(ctx, "profile", []byte(fmt.Sprintf(`{"user_id":"1","x":"%01000d"}`, 0))) }, cache.ErrTooLarge},
		{"mget with a bad key", func() error { _, err := e.MGet(ctx, "profile", []cache.Key{{Partition: "1"}, {}}); return err }, cache.ErrBadKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil || !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if n := f.Proxy.Count("PutItem"); n != 0 {
		t.Errorf("%d PutItem calls for rejected writes, want 0", n)
	}
}

// gatedLoader holds every Get until the gate opens and counts the calls.
type gatedLoader struct {
	cache.Loader
	gate  chan struct{}
	calls atomic.Int64
}

func (g *gatedLoader) Get(ctx context.Context, table string, key map[string]string, consistent bool) ([]byte, error) {
	g.calls.Add(1)
	<-g.gate
	return g.Loader.Get(ctx, table, key, consistent)
}

func TestConcurrentMissesCollapse(t *testing.T) {
	f := enginetest.New(t)
	f.Seed(t, "hot", "Hot")
	g := &gatedLoader{Loader: f.Loader, gate: make(chan struct{})}
	e := f.Engine(t, func(o *cache.Options) { o.Loader = g })
	ctx := testenv.Context(t)

	const callers = 100
	var started, done sync.WaitGroup
	errs := make(chan error, callers)
	started.Add(callers)
	done.Add(callers)
	for i := 0; i < callers; i++ {
		go func() {
			defer done.Done()
			started.Done()
			res, err := e.Get(ctx, "profile", cache.Key{Partition: "hot"})
			if err == nil && string(res.Value) != enginetest.UserJSON("hot", "Hot") {
				err = fmt.Errorf("got %s", res.Value)
			}
			errs <- err
		}()
	}
	started.Wait()
	close(g.gate)
	done.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := f.Proxy.Count("GetItem"); n != 1 {
		t.Errorf("%d GetItem calls for %d concurrent lookups, want 1", n, callers)
	}
}

func TestWrites(t *testing.T) {
	f := enginetest.New(t)
	e := f.Engine(t, nil)
	ctx := testenv.Context(t)

	t.Run("put replaces a cached value", func(t *testing.T) {
		f.Seed(t, "w1", "Old")
		if _, err := e.Get(ctx, "profile", cache.Key{Partition: "w1"}); err != nil {
			t.Fatal(err)
		}
		if err := e.Put(ctx, "profile", []byte(enginetest.UserJSON("w1", "New"))); err != nil {
			t.Fatal(err)
		}
		res, err := e.Get(ctx, "profile", cache.Key{Partition: "w1"})
		if err != nil || string(res.Value) != enginetest.UserJSON("w1", "New") {
			t.Errorf("after put: %s, %v", res.Value, err)
		}
	})
	t.Run("put clears a negative entry", func(t *testing.T) {
		if res, _ := e.Get(ctx, "profile", cache.Key{Partition: "w2"}); res.Value != nil {
			t.Fatalf("w2 exists before the test: %s", res.Value)
		}
		if err := e.Put(ctx, "profile", []byte(enginetest.UserJSON("w2", "Born"))); err != nil {
			t.Fatal(err)
		}
		res, err := e.Get(ctx, "profile", cache.Key{Partition: "w2"})
		if err != nil || string(res.Value) != enginetest.UserJSON("w2", "Born") {
			t.Errorf("after put: %s, %v", res.Value, err)
		}
	})
	t.Run("delete", func(t *testing.T) {
		f.Seed(t, "w3", "Doomed")
		if _, err := e.Get(ctx, "profile", cache.Key{Partition: "w3"}); err != nil {
			t.Fatal(err)
		}
		for _, want := range []bool{true, false} {
			existed, err := e.Delete(ctx, "profile", cache.Key{Partition: "w3"})
			if err != nil || existed != want {
				t.Errorf("Delete = %v, %v; want %v", existed, err, want)
			}
		}
		res, err := e.Get(ctx, "profile", cache.Key{Partition: "w3"})
		if err != nil || res.Value != nil {
			t.Errorf("after delete: %s, %v", res.Value, err)
		}
	})
	t.Run("invalidate counts entries dropped and rereads", func(t *testing.T) {
		f.Seed(t, "w4", "Before")
		if _, err := e.Get(ctx, "profile", cache.Key{Partition: "w4"}); err != nil {
			t.Fatal(err)
		}
		f.Seed(t, "w4", "After") // behind the cache's back
		n, err := e.Invalidate(ctx, "profile", []cache.Key{{Partition: "w4"}, {Partition: "never-cached"}})
		if err != nil || n != 1 {
			t.Errorf("Invalidate = %d, %v; want 1", n, err)
		}
		res, err := e.Get(ctx, "profile", cache.Key{Partition: "w4"})
		if err != nil || string(res.Value) != enginetest.UserJSON("w4", "After") {
			t.Errorf("after invalidate: %s, %v", res.Value, err)
		}
	})
}

func TestMGet(t *testing.T) {
	f := enginetest.New(t)
	e := f.Engine(t, nil)
	ctx := testenv.Context(t)
	for _, id := range []string{"a", "b", "c"} {
		f.Seed(t, id, "N"+id)
	}
	if _, err := e.Get(ctx, "profile", cache.Key{Partition: "a"}); err != nil { // a: cached
		t.Fatal(err)
	}
	if _, err := e.Get(ctx, "profile", cache.Key{Partition: "x"}); err != nil { // x: negative
		t.Fatal(err)
	}
	before := f.Proxy.Count("BatchGetItem")
	keys := []cache.Key{{Partition: "c"}, {Partition: "x"}, {Partition: "a"}, {Partition: "y"}, {Partition: "b"}}
	got, err := e.MGet(ctx, "profile", keys)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{enginetest.UserJSON("c", "Nc"), "", enginetest.UserJSON("a", "Na"), "", enginetest.UserJSON("b", "Nb")}
	for i := range keys {
		if string(got[i].Value) != want[i] {
			t.Errorf("key %s: got %q, want %q", keys[i].Partition, got[i].Value, want[i])
		}
	}
	if n := f.Proxy.Count("BatchGetItem") - before; n != 1 {
		t.Errorf("%d BatchGetItem calls for the misses, want 1", n)
	}
	// Now everything is cached: a second MGET reads DynamoDB no more.
	before = f.Proxy.Count("BatchGetItem") + f.Proxy.Count("GetItem")
	if _, err := e.MGet(ctx, "profile", keys); err != nil {
		t.Fatal(err)
	}
	if n := f.Proxy.Count("BatchGetItem") + f.Proxy.Count("GetItem") - before; n != 0 {
		t.Errorf("%d DynamoDB calls for a fully cached MGET, want 0", n)
	}
}
