package cache_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
)

// TestStampedeAcrossDaemons: three daemons (engines on one Redis) × 200
// concurrent lookups of one cold key cost exactly one DynamoDB GetItem,
// counted at the proxy in front of dynalite, outside the engines.
func TestStampedeAcrossDaemons(t *testing.T) {
	f := enginetest.New(t)
	f.Seed(t, "cold", "Cold")
	ctx := testenv.Context(t)
	const daemons, callers = 3, 200
	var engines []*cache.Engine
	for i := 0; i < daemons; i++ {
		engines = append(engines, f.Engine(t, nil))
	}
	start := make(chan struct{})
	errs := make(chan error, daemons*callers)
	var wg sync.WaitGroup
	for _, e := range engines {
		for i := 0; i < callers; i++ {
			wg.Add(1)
			go func(e *cache.Engine) {
				defer wg.Done()
				<-start
				res, err := e.Get(ctx, "profile", cache.Key{Partition: "cold"})
				if err == nil && string(res.Value) != enginetest.UserJSON("cold", "Cold") {
					err = fmt.Errorf("got %s", res.Value)
				}
				errs <- err
			}(e)
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := f.Proxy.Count("GetItem"); n != 1 {
		t.Errorf("%d GetItem calls for %d×%d concurrent lookups of one cold key, want 1", n, daemons, callers)
	}
	t.Logf("stampede: %d daemons × %d lookups → %d GetItem", daemons, callers, f.Proxy.Count("GetItem"))
}

// TestStaleSetPrevented is the race of the blog pattern, made
// deterministic: a fill reads the old item from DynamoDB and is paused
// before storing it; a PUT of a new version completes meanwhile; the fill
// resumes. The cache must end with the new version. (Replace fillScript's
// lease check by a plain SET and this test fails: the old version stays.)
func TestStaleSetPrevented(t *testing.T) {
	f := enginetest.New(t)
	f.Seed(t, "race", "v1")
	ctx := testenv.Context(t)
	reader := f.Engine(t, nil)
	writer := f.Engine(t, nil)

	paused, resume := make(chan struct{}), make(chan struct{})
	reader.SetAfterLoad(func(ns string, k cache.Key) {
		close(paused)
		<-resume
	})
	type result struct {
		res cache.Result
		err error
	}
	done := make(chan result)
	go func() {
		res, err := reader.Get(ctx, "profile", cache.Key{Partition: "race"})
		done <- result{res, err}
	}()
	<-paused // the fill has read v1 from DynamoDB
	if err := writer.Put(ctx, "profile", []byte(enginetest.UserJSON("race", "v2"))); err != nil {
		t.Fatal(err)
	}
	close(resume)
	r := <-done
	if r.err != nil || string(r.res.Value) != enginetest.UserJSON("race", "v1") {
		t.Fatalf("the paused read: %s, %v; want v1 (it overlapped the write)", r.res.Value, r.err)
	}
	reader.SetAfterLoad(nil)
	if v, err := f.RDB.Get(ctx, "user_profile:race").Result(); err == nil {
		t.Errorf("Redis holds %s after the paused fill: a stale set", v)
	}
	for _, e := range []*cache.Engine{reader, writer} {
		res, err := e.Get(ctx, "profile", cache.Key{Partition: "race"})
		if err != nil || string(res.Value) != enginetest.UserJSON("race", "v2") {
			t.Errorf("after the race: %s, %v; want v2", res.Value, err)
		}
	}
	if st := reader.Stats().Namespaces["profile"]; st.FillsDropped != 1 {
		t.Errorf("fills_dropped = %d, want 1", st.FillsDropped)
	}
}

// TestReadYourWritesRounds: 1,000 PUT-then-GET rounds on one daemon, each
// GET returns the version just written.
func TestReadYourWritesRounds(t *testing.T) {
	f := enginetest.New(t)
	e := f.Engine(t, nil)
	ctx := testenv.Context(t)
	for v := 0; v < 1000; v++ {
		doc := fmt.Sprintf(`{"user_id":"ryw","v":%d}`, v)
		if err := e.Put(ctx, "profile", []byte(doc)); err != nil {
			t.Fatal(err)
		}
		res, err := e.Get(ctx, "profile", cache.Key{Partition: "ryw"})
		if err != nil || string(res.Value) != doc {
			t.Fatalf("round %d: read %s, %v after writing %s", v, res.Value, err, doc)
		}
	}
}

// TestCrossDaemonCoherence: a daemon serving a key from its local cache
// drops it when another daemon writes the item, or when anything else
// changes the Redis key.
func TestCrossDaemonCoherence(t *testing.T) {
	f := enginetest.New(t)
	f.Seed(t, "1", "Ann")
	ctx := testenv.Context(t)
	a, b := f.Engine(t, nil), f.Engine(t, nil)
	enginetest.WaitFor(t, "a local hit on daemon A", func() bool {
		res, err := a.Get(ctx, "profile", cache.Key{Partition: "1"})
		return err == nil && res.Source == cache.SourceLocal
	})
	seen := func(want string) func() bool {
		return func() bool {
			res, err := a.Get(ctx, "profile", cache.Key{Partition: "1"})
			return err == nil && string(res.Value) == want
		}
	}
	start := time.Now()
	if err := b.Put(ctx, "profile", []byte(enginetest.UserJSON("1", "Bea"))); err != nil {
		t.Fatal(err)
	}
	enginetest.WaitFor(t, "daemon A to see daemon B's write", seen(enginetest.UserJSON("1", "Bea")))
	t.Logf("daemon A saw daemon B's write %s after B's PUT returned", time.Since(start))

	enginetest.WaitFor(t, "a local hit on daemon A", func() bool {
		res, err := a.Get(ctx, "profile", cache.Key{Partition: "1"})
		return err == nil && res.Source == cache.SourceLocal
	})
	// Legacy Perl code writing the key straight into Redis.
	if err := f.RDB.Set(ctx, "user_profile:1", enginetest.UserJSON("1", "Cat"), time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	enginetest.WaitFor(t, "daemon A to drop its local copy", seen(enginetest.UserJSON("1", "Cat")))
}

func TestLeaseWaitBudget(t *testing.T) {
	f := enginetest.New(t)
	f.Seed(t, "held", "Held")
	ctx := testenv.Context(t)
	e := f.Engine(t, func(o *cache.Options) { o.LeaseWait = 200 * time.Millisecond })
	// A daemon that died holding the lease.
	if err := f.RDB.Set(ctx, "{user_profile:held}:lease", "dead-daemon", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := e.Get(ctx, "profile", cache.Key{Partition: "held"})
	if err != nil || string(res.Value) != enginetest.UserJSON("held", "Held") {
		t.Fatalf("%s, %v; want the item read from DynamoDB after the wait", res.Value, err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 2*time.Second {
		t.Errorf("took %s, want about the 200ms wait budget", d)
	}
	if n := f.RDB.Exists(ctx, "user_profile:held").Val(); n != 0 {
		t.Error("a lookup without the lease stored the value")
	}
	if st := e.Stats().Namespaces["profile"]; st.LeaseWaits == 0 {
		t.Error("lease_waits not counted")
	}
}
