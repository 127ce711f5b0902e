package cache_test

import (
	"context"
	"testing"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
)

// lookupFront is one way of looking one key up: GET, or MGET of one key.
type lookupFront struct {
	name string
	get  func(ctx context.Context, e *cache.Engine, k cache.Key) (cache.Result, error)
}

var lookupFronts = []lookupFront{
	{"GET", func(ctx context.Context, e *cache.Engine, k cache.Key) (cache.Result, error) {
		return e.Get(ctx, "profile", k)
	}},
	{"MGET", func(ctx context.Context, e *cache.Engine, k cache.Key) (cache.Result, error) {
		res, err := e.MGet(ctx, "profile", []cache.Key{k})
		if err != nil {
			return cache.Result{}, err
		}
		return res[0], nil
	}},
}

// TestLeaseRaceHitIsAHit: a lookup that misses while another daemon's fill
// holds the key's lease, and then finds that fill's value, was answered
// from Redis: GET and MGET both say so, and both count a Redis hit, not a
// miss and no DynamoDB read of their own.
func TestLeaseRaceHitIsAHit(t *testing.T) {
	for _, front := range lookupFronts {
		t.Run(front.name, func(t *testing.T) {
			f := enginetest.New(t)
			f.Seed(t, "race", "Race")
			ctx := testenv.Context(t)
			filler, e := f.Engine(t, nil), f.Engine(t, nil)
			paused, resume := make(chan struct{}), make(chan struct{})
			filler.SetAfterLoad(func(string, cache.Key) { close(paused); <-resume })
			k := cache.Key{Partition: "race"}
			fillDone := make(chan error, 1)
			go func() { _, err := filler.Get(ctx, "profile", k); fillDone <- err }()
			<-paused // filler holds the lease and has read DynamoDB
			type answer struct {
				res cache.Result
				err error
			}
			done := make(chan answer, 1)
			go func() { res, err := front.get(ctx, e, k); done <- answer{res, err} }()
			var a answer
			answered := false
			enginetest.WaitFor(t, "the lookup to wait for the lease or answer", func() bool {
				select {
				case a = <-done:
					answered = true
					return true
				default:
					return e.Stats().Namespaces["profile"].LeaseWaits > 0
				}
			})
			close(resume)
			if err := <-fillDone; err != nil {
				t.Fatal(err)
			}
			if !answered {
				a = <-done
			}
			if a.err != nil || string(a.res.Value) != enginetest.UserJSON("race", "Race") {
				t.Fatalf("%s, %v; want the item", a.res.Value, a.err)
			}
			st := e.Stats().Namespaces["profile"]
			if a.res.Source != cache.SourceRedis || st.HitsRedis != 1 || st.Misses != 0 || st.DynamoReads != 0 {
				t.Errorf("source %s, stats %+v; want a Redis hit counted as one, no miss, no DynamoDB read", a.res.Source, st)
			}
		})
	}
}

// TestHitsCarryTTLAndTracked: GET and MGET describe the same hit the same
// way: its TTL, and whether the Notifier will hear of a change.
func TestHitsCarryTTLAndTracked(t *testing.T) {
	for _, front := range lookupFronts {
		t.Run(front.name, func(t *testing.T) {
			f := enginetest.New(t)
			f.Seed(t, "1", "Ann")
			ctx := testenv.Context(t)
			k := cache.Key{Partition: "1"}
			if _, err := f.Engine(t, nil).Get(ctx, "profile", k); err != nil { // into Redis
				t.Fatal(err)
			}
			e := f.Engine(t, func(o *cache.Options) { o.Notifier = &recorder{} })
			for _, want := range []cache.Source{cache.SourceRedis, cache.SourceLocal} {
				res, err := front.get(ctx, e, k)
				if err != nil {
					t.Fatal(err)
				}
				if res.Source != want || !res.Tracked || res.TTL <= 0 {
					t.Errorf("source %s, tracked %v, TTL %s; want %s, tracked, a TTL", res.Source, res.Tracked, res.TTL, want)
				}
			}
		})
	}
}
