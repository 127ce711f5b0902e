package cache_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
)

// fakeClock is an engine clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// autoNS is a ttl: auto namespace on table users.
var autoNS = cache.Namespace{Name: "auto", Table: "users", PartitionKey: "user_id", RedisKey: "auto:{user_id}",
	TTLAuto: true, TTLMin: 2 * time.Second, TTLMax: time.Hour}

// every returns n write offsets step apart, the last at end.
func every(n int, step, end time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = end - time.Duration(n-1-i)*step
	}
	return out
}

func TestAutoTTL(t *testing.T) {
	f := enginetest.New(t)
	clock := &fakeClock{}
	e := f.Engine(t, func(o *cache.Options) {
		o.Namespaces = append(append([]cache.Namespace(nil), enginetest.Namespaces...), autoNS)
	})
	e.SetClock(clock.now)
	ctx := testenv.Context(t)
	base := time.Now()

	// The ways a write reaches the engine; each must count.
	writers := map[string]func(ctx context.Context, id string) error{
		"invalidate": func(ctx context.Context, id string) error {
			_, err := e.Invalidate(ctx, "auto", []cache.Key{{Partition: id}})
			return err
		},
		"put": func(ctx context.Context, id string) error {
			return e.Put(ctx, "auto", []byte(fmt.Sprintf(`{"user_id":%q,"name":"v"}`, id)))
		},
		"delete": func(ctx context.Context, id string) error {
			_, err := e.Delete(ctx, "auto", cache.Key{Partition: id})
			return err
		},
		"stream": func(ctx context.Context, id string) error { // the Streams consumer and Lambda events
			_, err := e.InvalidateTableKeys(ctx, "users", []map[string]string{{"user_id": id}})
			return err
		},
	}
	cases := []struct {
		name   string
		writer string
		writes []time.Duration // before the fill, which is at 0
		want   time.Duration
	}{
		{"never written", "", nil, time.Hour},
		{"written every second", "invalidate", every(10, time.Second, -500*time.Millisecond), 2 * time.Second},
		{"written every second through the stream", "stream", every(10, time.Second, -500*time.Millisecond), 2 * time.Second},
		{"written every 10 minutes", "put", every(5, 10*time.Minute, -time.Second), 5 * time.Minute},
		{"deleted every 2 minutes", "delete", every(4, 2*time.Minute, -time.Second), time.Minute},
		{"hot, then quiet for 40 minutes", "invalidate", every(10, time.Second, -40*time.Minute), 20 * time.Minute},
		{"written once, a minute ago", "stream", []time.Duration{-time.Minute}, 30 * time.Second},
		{"written twice in one second (one write invalidated twice)", "put",
			[]time.Duration{-10*time.Minute - time.Second, -10*time.Minute - 500*time.Millisecond, -time.Second}, 5 * time.Minute},
		{"written a day ago", "invalidate", every(3, time.Second, -24*time.Hour), time.Hour},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("a%d", i)
			f.Seed(t, id, "v")
			for _, w := range tc.writes {
				clock.set(base.Add(w))
				if err := writers[tc.writer](ctx, id); err != nil {
					t.Fatal(err)
				}
			}
			if tc.writer == "delete" || tc.writer == "" {
				f.Seed(t, id, "v") // an item to fill
			}
			clock.set(base)
			if res, err := e.Get(ctx, "auto", cache.Key{Partition: id}); err != nil || res.Source != cache.SourceDynamo {
				t.Fatalf("fill: %+v, %v", res, err)
			}
			ttl := f.RDB.PTTL(ctx, "auto:"+id).Val()
			// Within a few seconds: the test's own run time, and writes
			// closer than ttl_min to the last one are not counted.
			if ttl > tc.want+2*time.Second || ttl < tc.want-5*time.Second {
				t.Errorf("TTL %s, want about %s", ttl, tc.want)
			}
			hist := f.RDB.PTTL(ctx, "{auto:"+id+"}:wh").Val()
			if len(tc.writes) > 0 && (hist <= time.Hour || hist > 2*time.Hour) {
				t.Errorf("write history expires in %s, want 2 × ttl_max", hist)
			}
		})
	}
	t.Run("a fixed-TTL namespace keeps no write history", func(t *testing.T) {
		if err := e.Put(ctx, "profile", []byte(`{"user_id":"f1","name":"v"}`)); err != nil {
			t.Fatal(err)
		}
		if n := f.RDB.Exists(ctx, "{user_profile:f1}:wh").Val(); n != 0 {
			t.Error("a write history was kept for a namespace without ttl: auto")
		}
	})
}
