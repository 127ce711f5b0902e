package cache_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"github.com/ddbcache/ddbcache/internal/testenv"
)

// TestLocallyCached holds rueidis to what the speculation of a cold miss
// (speculate.go, localRead) assumes of it: DoCache on a context that has
// ended answers from the client-side cache when the cache holds the key
// (its value, or its absence), and otherwise fails at once with the
// context's error, sending Redis nothing and leaving no pending entry
// behind (the next DoCache reads Redis). A rueidis upgrade that changed
// this would make every lookup after a cold miss speculate, or fail.
func TestLocallyCached(t *testing.T) {
	rs := testenv.Redis(t)
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{rs.Addr}, DisableRetry: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	t.Cleanup(func() { rdb.Close() })
	ctx := testenv.Context(t)
	if err := rdb.Set(ctx, "present", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	get := func(ctx context.Context, key string) rueidis.RedisResult {
		return c.DoCache(ctx, c.B().Get().Key(key).Cache().ToStaticTTL(), time.Minute)
	}
	for _, key := range []string{"present", "absent"} {
		t.Run(key, func(t *testing.T) {
			before, _ := commandCalls(t, rdb)
			res := get(ended, key)
			if after, byName := commandCalls(t, rdb); after != before {
				t.Fatalf("DoCache on an ended context sent %d commands to Redis (%v)", after-before, byName)
			}
			if res.IsCacheHit() || !errors.Is(res.Error(), context.Canceled) {
				t.Fatalf("uncached key on an ended context: hit %v, error %v; want no hit and context.Canceled", res.IsCacheHit(), res.Error())
			}
			if res := get(ctx, key); res.IsCacheHit() || (res.Error() != nil && !rueidis.IsRedisNil(res.Error())) {
				t.Fatalf("read after the ended one: hit %v, error %v; want a read from Redis", res.IsCacheHit(), res.Error())
			}
			res = get(ended, key)
			if !res.IsCacheHit() {
				t.Fatalf("cached key on an ended context: error %v, want a client-side cache hit", res.Error())
			}
			switch v, err := res.ToString(); key {
			case "present":
				if err != nil || v != "v" {
					t.Errorf("cached value %q, %v; want \"v\"", v, err)
				}
			default:
				if !rueidis.IsRedisNil(err) {
					t.Errorf("cached absence: %q, %v; want a Redis nil", v, err)
				}
			}
		})
	}
}
