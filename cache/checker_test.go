package cache_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
)

// Parameters of the randomized coherence checker.
const (
	checkerKeys = 50
	// The checker runs for checkerDuration, and on until it has made
	// checkerMinWrites writes and checkerMinReads reads, the fewest that make
	// its verdict mean something, but no longer than checkerMaxDuration: a
	// loaded machine (or -race) makes fewer operations per second, not a
	// weaker check.
	checkerDuration    = 10 * time.Second
	checkerMaxDuration = 60 * time.Second
	checkerMinWrites   = 100
	checkerMinReads    = 1000
	// checkerDelta is the invalidation delay allowed: a read that starts
	// more than this after a write was acknowledged must see it (or later).
	checkerDelta   = 50 * time.Millisecond
	writersPerHost = 2
	readersPerHost = 4
)

// op is one recorded operation on a key. A pending write reached DynamoDB
// but was never acknowledged (cache.ErrPending): reads may return it, and
// none has to.
type op struct {
	key        int
	version    int
	start, end time.Time
	pending    bool
}

// TestRandomizedCoherence: for 10 s (longer on a slow machine, see
// checkerMinWrites), writers on two daemons bump a version attribute on 50
// keys while readers on both daemons read them. No read that starts more
// than δ after a write was acknowledged may return an older version.
//
// A loaded machine slows the servers down, and the daemon's callers see
// what the test's see: the engines have the daemon's DynamoDB timeout, and
// an operation that runs out of it, or that the engine refused because it
// took Redis for down (its health checks time out too; nothing was
// written), is tried again. A write tried again keeps its version and its
// key's lock, and counts as started at its first try (which DynamoDB may
// have carried out) and acknowledged at the try that succeeded, so the
// check stays exact. A write answered with cache.ErrPending was written but
// not acknowledged: it is recorded as such, and the next write of the key
// goes on from its version.
func TestRandomizedCoherence(t *testing.T) {
	f := enginetest.New(t)
	// testenv.Context's minute would not cover a run of checkerMaxDuration.
	ctx, cancel := context.WithTimeout(context.Background(), checkerMaxDuration+30*time.Second)
	t.Cleanup(cancel)
	daemonTimeout := func(o *cache.Options) { o.LoadTimeout = cache.DefaultLoadTimeout }
	daemons := []*cache.Engine{f.Engine(t, daemonTimeout), f.Engine(t, daemonTimeout)}
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
	var nWrites, nReads, retries atomic.Int64
	begin := time.Now()
	hardStop := begin.Add(checkerMaxDuration)
	running := func() bool {
		now := time.Now()
		return now.Before(begin.Add(checkerDuration)) ||
			now.Before(hardStop) && (nWrites.Load() < checkerMinWrites || nReads.Load() < checkerMinReads)
	}
	// retry runs op again while it fails with a timeout or a refusal
	// that says nothing was done (cache.ErrRedis), until hardStop.
	retry := func(op func() error) error {
		for {
			err := op()
			if err == nil || !(errors.Is(err, context.DeadlineExceeded) || errors.Is(err, cache.ErrRedis)) ||
				!time.Now().Before(hardStop) {
				return err
			}
			retries.Add(1)
		}
	}
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
				for running() {
					k := rng.IntN(checkerKeys)
					keyLocks[k].Lock()
					v := versions[k] + 1
					start := time.Now()
					err := retry(func() error { return e.Put(ctx, "profile", doc(k, v)) })
					end := time.Now()
					pending := errors.Is(err, cache.ErrPending)
					if err == nil || pending {
						versions[k] = v
					}
					keyLocks[k].Unlock()
					if err != nil && !pending {
						report(err)
						return
					}
					mu.Lock()
					writes = append(writes, op{k, v, start, end, pending})
					mu.Unlock()
					nWrites.Add(1)
				}
			}(e, rand.New(rand.NewPCG(rand.Uint64(), 1)))
		}
		for r := 0; r < readersPerHost; r++ {
			wg.Add(1)
			go func(e *cache.Engine, rng *rand.Rand) {
				defer wg.Done()
				var local []op
				for running() {
					k := rng.IntN(checkerKeys)
					var (
						start, end time.Time
						res        cache.Result
					)
					// A read that timed out returned nothing: only the try
					// that answered is recorded.
					err := retry(func() (err error) {
						start = time.Now()
						res, err = e.Get(ctx, "profile", cache.Key{Partition: fmt.Sprintf("k%d", k)})
						end = time.Now()
						return err
					})
					if err != nil {
						report(err)
						return
					}
					var item struct{ V int }
					if err := json.Unmarshal(res.Value, &item); err != nil {
						report(fmt.Errorf("k%d: %q: %v", k, res.Value, err))
						return
					}
					local = append(local, op{key: k, version: item.V, start: start, end: end})
					nReads.Add(1)
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
	t.Logf("randomized checker: %d writes (%d pending), %d reads on 2 daemons in %s (%d tried again); %d reads older than an acknowledged write, max staleness %s (δ = %s)",
		len(writes), pendingWrites(writes), len(reads), time.Since(begin).Round(time.Millisecond), retries.Load(), stale, maxStaleness, checkerDelta)
	if len(writes) < checkerMinWrites || len(reads) < checkerMinReads {
		t.Errorf("too few operations to mean anything in %s: %d writes, %d reads (want %d and %d)",
			checkerMaxDuration, len(writes), len(reads), checkerMinWrites, checkerMinReads)
	}
}

// checkReads checks every read against the writes of its key and returns
// how many reads returned a version older than one acknowledged before the
// read started, and the largest such staleness (read start minus the
// acknowledgement of the first newer acknowledged write: pending writes
// have none). Staleness beyond checkerDelta
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
	top := make([]int, checkerKeys) // the key's highest version written
	for _, w := range writes {
		if !w.pending {
			acked[w.key][w.version] = w.end
		}
		started[w.key][w.version] = w.start
		top[w.key] = max(top[w.key], w.version)
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
		// The first acknowledged write newer than what the read returned
		// (acknowledgements follow the versions: writers of a key take turns).
		var next time.Time
		ok := false
		for v := r.version + 1; v <= top[r.key] && !ok; v++ {
			next, ok = acked[r.key][v]
		}
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

// pendingWrites counts the writes that were never acknowledged.
func pendingWrites(writes []op) int {
	n := 0
	for _, w := range writes {
		if w.pending {
			n++
		}
	}
	return n
}
