package cache_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
)

// TestObserverNamesCommandsItSent: the Redis call observer names each
// round trip by the command sent, while other goroutines build and send
// commands of their own. rueidis recycles a command once it has been
// answered; a name read from it after the call could be another
// goroutine's command (and is a data race, which -race reports).
func TestObserverNamesCommandsItSent(t *testing.T) {
	f := enginetest.New(t)
	var mu sync.Mutex
	ops := map[string]int{}
	e := f.Engine(t, func(o *cache.Options) {
		o.ProbeInterval = time.Millisecond // PINGs built beside the lookups
		o.Redis.Observe = func(op string, _ time.Duration, _ error) {
			mu.Lock()
			ops[op]++
			mu.Unlock()
		}
	})
	ctx := testenv.Context(t)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				k := cache.Key{Partition: "absent-" + strconv.Itoa(g) + "-" + strconv.Itoa(i)}
				// A miss: a GET through the client-side cache, then the
				// negative entry's GET, then the lease script.
				if _, err := e.Get(ctx, "profile", k); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for op := range ops {
		switch op {
		case "GET", "EVALSHA", "EVAL", "PING", "SCRIPT", "pipeline":
		default:
			t.Errorf("a round trip was named %q: %v", op, ops)
		}
	}
	// Each miss reads the value and the negative entry; a lookup made
	// while a late PING had the link judged down reads neither.
	if ops["GET"] < 4*300 {
		t.Errorf("%d GETs observed for %d misses: %v", ops["GET"], 4*300, ops)
	}
}
