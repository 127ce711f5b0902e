package cache_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
)

func TestRedisDownAtStart(t *testing.T) {
	f := enginetest.New(t)
	f.Seed(t, "1", "Ann")
	f.Redis.Stop()
	e := f.Engine(t, nil) // must not fail: an unreachable Redis is a warning
	ctx := testenv.Context(t)

	res, err := e.Get(ctx, "profile", cache.Key{Partition: "1"})
	if err != nil || string(res.Value) != enginetest.UserJSON("1", "Ann") || res.Source != cache.SourceDegraded {
		t.Fatalf("with Redis down: %q from %s, %v; want the item from DynamoDB (degraded)", res.Value, res.Source, err)
	}
	got, err := e.MGet(ctx, "profile", []cache.Key{{Partition: "1"}, {Partition: "2"}})
	if err != nil || string(got[0].Value) != enginetest.UserJSON("1", "Ann") || got[1].Value != nil {
		t.Fatalf("MGET with Redis down: %+v, %v", got, err)
	}
	if st := e.Stats(); st.RedisConnected || st.DegradedReads != 3 {
		t.Errorf("stats %+v, want disconnected with 3 degraded reads", st)
	}
	if err := e.Put(ctx, "profile", []byte(enginetest.UserJSON("3", "Cy"))); err == nil {
		t.Error("Put with Redis down succeeded; the cache entry cannot have been invalidated")
	}

	f.Redis.Start()
	enginetest.WaitFor(t, "the engine to reach Redis", func() bool { return e.Connected() })
	for _, want := range []cache.Source{cache.SourceDynamo, cache.SourceRedis} {
		res, err := e.Get(ctx, "profile", cache.Key{Partition: "1"})
		if err != nil || res.Source != want {
			t.Errorf("after Redis came up: from %s, %v; want %s", res.Source, err, want)
		}
	}
}

func TestRedisDiesWhileServing(t *testing.T) {
	f := enginetest.New(t)
	f.Seed(t, "1", "Ann")
	e := f.Engine(t, func(o *cache.Options) { o.Redis.CommandTimeout = time.Second })
	ctx := testenv.Context(t)
	if _, err := e.Get(ctx, "profile", cache.Key{Partition: "1"}); err != nil {
		t.Fatal(err)
	}
	f.Redis.Stop()
	for i := 0; i < 3; i++ {
		res, err := e.Get(ctx, "profile", cache.Key{Partition: "1"})
		if err != nil || string(res.Value) != enginetest.UserJSON("1", "Ann") {
			t.Fatalf("lookup %d with Redis dead: %q, %v", i, res.Value, err)
		}
		if res.Source == cache.SourceLocal {
			t.Errorf("lookup %d served from the local cache after the connection dropped", i)
		}
	}
	if st := e.Stats(); st.RedisErrors == 0 || st.DegradedReads == 0 {
		t.Errorf("stats %+v, want Redis errors and degraded reads counted", st)
	}
}

func TestDynamoDown(t *testing.T) {
	f := enginetest.New(t)
	f.Seed(t, "1", "Ann")
	e := f.Engine(t, func(o *cache.Options) { o.LoadTimeout = 500 * time.Millisecond })
	ctx := testenv.Context(t)
	for _, ns := range []string{"profile", "sturdy"} {
		if _, err := e.Get(ctx, ns, cache.Key{Partition: "1"}); err != nil {
			t.Fatal(err)
		}
	}
	f.DDB.Stop()

	t.Run("cached items still come back", func(t *testing.T) {
		res, err := e.Get(ctx, "profile", cache.Key{Partition: "1"})
		if err != nil || string(res.Value) != enginetest.UserJSON("1", "Ann") {
			t.Errorf("%q, %v", res.Value, err)
		}
	})
	t.Run("a miss fails with a clear error within the timeout", func(t *testing.T) {
		start := time.Now()
		_, err := e.Get(ctx, "profile", cache.Key{Partition: "2"})
		if !errors.Is(err, cache.ErrLoad) {
			t.Errorf("err = %v, want cache.ErrLoad", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %s, want about the 500ms load timeout", d)
		}
	})
	t.Run("stale copy served when the value expired", func(t *testing.T) {
		// Expire the value but not its stale-if-error copy.
		if err := f.RDB.Del(ctx, "sturdy:1").Err(); err != nil {
			t.Fatal(err)
		}
		res, err := e.Get(ctx, "sturdy", cache.Key{Partition: "1"})
		if err != nil || res.Source != cache.SourceStale || string(res.Value) != enginetest.UserJSON("1", "Ann") {
			t.Errorf("%q from %s, %v; want the stale copy", res.Value, res.Source, err)
		}
	})
	t.Run("writes fail cleanly", func(t *testing.T) {
		err := e.Put(context.Background(), "profile", []byte(enginetest.UserJSON("1", "Nope")))
		if !errors.Is(err, cache.ErrLoad) {
			t.Errorf("err = %v, want cache.ErrLoad", err)
		}
		res, _ := e.Get(ctx, "profile", cache.Key{Partition: "1"})
		if string(res.Value) != enginetest.UserJSON("1", "Ann") {
			t.Errorf("failed write changed the cache: %s", res.Value)
		}
	})
}
