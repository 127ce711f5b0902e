package cache_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
)

// Parameters of the randomized coherence checker.
const (
	checkerKeys     = 50
	checkerDuration = 10 * time.Second
	// checkerDelta is the invalidation delay allowed: a read that starts
	// more than this after a write was acknowledged must see it (or later).
	checkerDelta   = 50 * time.Millisecond
	writersPerHost = 2
	readersPerHost = 4
)

// op is one recorded operation on a key.
type op struct {
	key        int
	version    int
	start, end time.Time
}

// TestRandomizedCoherence: for 10 s, writers on two daemons bump a version
// attribute on 50 keys while readers on both daemons read them. No read
// that starts more than δ after a write was acknowledged may return an
// older version.
func TestRandomizedCoherence(t *testing.T) {
	f := enginetest.New(t)
	ctx := testenv.Context(t)
	daemons := []*cache.Engine{f.Engine(t, nil), f.Engine(t, nil)}
	doc := func(k, v int) []byte { return []byte(fmt.Sprintf(`{"user_id":"k%d","v":%d}`, k, v)) }
	for k := 0; k < checkerKeys; k++ {
		if err := daemons[0].Put(ctx, "profile", doc(k, 0)); err != nil {
			t.Fatal(err)
		}
	}
	var (
		keyLocks [checkerKeys]sync.Mutex // serialise writers of one key, so versions follow DynamoDB order
		versions [checkerKeys]int        // guarded by keyLocks
		mu       sync.Mutex              // guards writes, reads
		writes   []op
		reads    []op
	)
	stop := time.Now().Add(checkerDuration)
	var wg sync.WaitGroup
	fail := make(chan error, 1)
	report := func(err error) {
		select {
		case fail <- err:
		default:
		}
	}
	for _, e := range daemons {
		for w := 0; w < writersPerHost; w++ {
			wg.Add(1)
			go func(e *cache.Engine, rng *rand.Rand) {
				defer wg.Done()
				for time.Now().Before(stop) {
					k := rng.IntN(checkerKeys)
					keyLocks[k].Lock()
					v := versions[k] + 1
					start := time.Now()
					err := e.Put(ctx, "profile", doc(k, v))
					end := time.Now()
					if err == nil {
						versions[k] = v
					}
					keyLocks[k].Unlock()
					if err != nil {
						report(err)
						return
					}
					mu.Lock()
					writes = append(writes, op{k, v, start, end})
					mu.Unlock()
				}
			}(e, rand.New(rand.NewPCG(rand.Uint64(), 1)))
		}
		for r := 0; r < readersPerHost; r++ {
			wg.Add(1)
			go func(e *cache.Engine, rng *rand.Rand) {
				defer wg.Done()
				var local []op
				for time.Now().Before(stop) {
					k := rng.IntN(checkerKeys)
					start := time.Now()
					res, err := e.Get(ctx, "profile", cache.Key{Partition: fmt.Sprintf("k%d", k)})
					end := time.Now()
					if err != nil {
						report(err)
						return
					}
					var item struct{ V int }
					if err := json.Unmarshal(res.Value, &item); err != nil {
						report(fmt.Errorf("k%d: %q: %v", k, res.Value, err))
						return
					}
					local = append(local, op{k, item.V, start, end})
				}
				mu.Lock()
				reads = append(reads, local...)
				mu.Unlock()
			}(e, rand.New(rand.NewPCG(rand.Uint64(), 2)))
		}
	}
	wg.Wait()
	select {
	case err := <-fail:
		t.Fatal(err)
	default:
	}
	stale, maxStaleness := checkReads(t, writes, reads)
	t.Logf("randomized checker: %d writes, %d reads on 2 daemons in %s; %d reads older than an acknowledged write, max staleness %s (δ = %s)",
		len(writes), len(reads), checkerDuration, stale, maxStaleness, checkerDelta)
	if len(writes) < 100 || len(reads) < 1000 {
		t.Errorf("too few operations to mean anything: %d writes, %d reads", len(writes), len(reads))
	}
}

// checkReads checks every read against the writes of its key and returns
// how many reads returned a version older than one acknowledged before the
// read started, and the largest such staleness (read start minus the
// acknowledgement of the first newer write). Staleness beyond checkerDelta
// fails the test, as does a read of a version not yet written.
func checkReads(t *testing.T, writes, reads []op) (int, time.Duration) {
	t.Helper()
	acked := make([]map[int]time.Time, checkerKeys) // key → version → ack time
	started := make([]map[int]time.Time, checkerKeys)
	for k := range acked {
		acked[k] = map[int]time.Time{0: {}}
		started[k] = map[int]time.Time{0: {}}
	}
	byKey := make([][]op, checkerKeys)
	for _, w := range writes {
		acked[w.key][w.version] = w.end
		started[w.key][w.version] = w.start
		byKey[w.key] = append(byKey[w.key], w)
	}
	for k := range byKey {
		sort.Slice(byKey[k], func(i, j int) bool { return byKey[k][i].version < byKey[k][j].version })
	}
	stale, worst, violations := 0, time.Duration(0), 0
	for _, r := range reads {
		if s, ok := started[r.key][r.version]; !ok || s.After(r.end) {
			t.Errorf("k%d: read version %d, which was not written before the read ended", r.key, r.version)
			continue
		}
		// The first write newer than what the read returned.
		next, ok := acked[r.key][r.version+1]
		if !ok || !next.Before(r.start) {
			continue
		}
		stale++
		staleness := r.start.Sub(next)
		worst = max(worst, staleness)
		if staleness > checkerDelta {
			violations++
			if violations <= 5 {
				t.Errorf("k%d: read at %s returned v%d, but v%d was acknowledged %s before the read started",
					r.key, r.start.Format("15:04:05.000"), r.version, r.version+1, staleness)
			}
		}
	}
	if violations > 0 {
		t.Errorf("%d reads staler than δ = %s", violations, checkerDelta)
	}
	return stale, worst
}
