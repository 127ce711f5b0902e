package audit_test

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/audit"
	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/dynamo"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
)

// rig is an engine on real redis-server and dynalite with an Auditor
// hearing its hits; the audit reads DynamoDB through a counting proxy of
// its own, so its reads are counted apart from the engine's.
type rig struct {
	f      *enginetest.Fixture
	e      *cache.Engine
	a      *audit.Auditor
	reads  *testenv.Counter // the audit's DynamoDB requests
	reader *dynamo.Client
	log    *testenv.LogBuffer
	heard  atomic.Int64 // hits the engine told the audit of
}

func newRig(t *testing.T, opts audit.Options) *rig {
	t.Helper()
	r := &rig{f: enginetest.New(t), log: &testenv.LogBuffer{}}
	r.reads = testenv.CountingProxy(t, r.f.DDB.Endpoint)
	var err error
	r.reader, err = dynamo.New(context.Background(), dynamo.Options{Endpoint: r.reads.URL, Region: "us-east-1", MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	opts.Reader = r.reader
	opts.Logger = slog.New(slog.NewTextHandler(r.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if r.a, err = audit.New(opts); err != nil {
		t.Fatal(err)
	}
	r.e = r.f.Engine(t, func(o *cache.Options) {
		o.Hits = cache.HitObserverFunc(func(ns string, k cache.Key, res cache.Result) {
			r.heard.Add(1)
			r.a.Hit(ns, k, res)
		})
	})
	r.a.Start(r.e)
	t.Cleanup(r.a.Close)
	return r
}

// get looks key up in profile and returns the JSON served ("" for none).
func get(t *testing.T, e *cache.Engine, key string) (string, cache.Source) {
	t.Helper()
	res, err := e.Get(testenv.Context(t), "profile", cache.Key{Partition: key})
	if err != nil {
		t.Fatal(err)
	}
	return string(res.Value), res.Source
}

// hit reads key until the answer is a hit (the first read of a key fills
// it), and returns what the hit served.
func hit(t *testing.T, e *cache.Engine, key string) string {
	t.Helper()
	for range 3 {
		if v, src := get(t, e, key); src.Hit() {
			return v
		}
	}
	t.Fatalf("no hit of %s in 3 reads", key)
	return ""
}

// waitResult polls until the audit counted n results of kind in profile,
// failing after within.
func (r *rig) waitResult(t *testing.T, kind string, n int64, within time.Duration) {
	t.Helper()
	count := func() int64 {
		s := r.a.Stats().Namespaces["profile"]
		return map[string]int64{audit.Consistent: s.Consistent, audit.Inconsistent: s.Inconsistent,
			audit.Raced: s.Raced, audit.Failed: s.Errors}[kind]
	}
	start := time.Now()
	if err := testenv.Poll(within, func() bool { return count() >= n }); err != nil {
		t.Fatalf("after %s: %d %s audits of profile, want %d; stats %+v; log:\n%s",
			time.Since(start), count(), kind, n, r.a.Stats(), r.log)
	}
}

// TestAuditFinds plants each kind of disagreement between the cache and
// DynamoDB and checks the audit's verdict, its repair and its counts.
func TestAuditFinds(t *testing.T) {
	const grace = 500 * time.Millisecond
	const delta = 3 * time.Second // scheduling on a loaded machine, two DynamoDB reads
	for _, tc := range []struct {
		name string
		// plant runs after a first hit of key; what it leaves DynamoDB
		// holding is want, the value the lookup after the audit must
		// serve (an audit that finds nothing leaves the cache alone).
		plant func(t *testing.T, r *rig, key string)
		// after, if set, runs right after the audited hit.
		after  func(t *testing.T, r *rig, key string)
		result string
		want   string
		reads  int // the audit's DynamoDB reads
	}{
		{
			name:   "consistent",
			plant:  func(t *testing.T, r *rig, key string) {},
			result: audit.Consistent, want: enginetest.UserJSON("7", "Ann"), reads: 1,
		},
		{
			name: "changed behind the cache's back",
			plant: func(t *testing.T, r *rig, key string) {
				r.f.Seed(t, key, "Bea") // no stream, no invalidation
			},
			result: audit.Inconsistent, want: enginetest.UserJSON("7", "Bea"), reads: 2,
		},
		{
			name: "created behind a negative entry",
			plant: func(t *testing.T, r *rig, key string) {
				r.f.Seed(t, key, "Cid")
			},
			result: audit.Inconsistent, want: enginetest.UserJSON("8", "Cid"), reads: 2,
		},
		{
			name:  "invalidated within the grace",
			plant: func(t *testing.T, r *rig, key string) { r.f.Seed(t, key, "Dee") },
			after: func(t *testing.T, r *rig, key string) {
				// What a stream record does a moment after the write:
				// the entry changes before the grace is over.
				if _, err := r.e.Invalidate(testenv.Context(t), "profile", []cache.Key{{Partition: key}}); err != nil {
					t.Fatal(err)
				}
			},
			result: audit.Raced, want: enginetest.UserJSON("7", "Dee"), reads: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, audit.Options{Grace: grace, MaxPerSecond: 100})
			key := "7"
			if tc.name == "created behind a negative entry" {
				key = "8" // not seeded: the first lookups fill a negative entry
			} else {
				r.f.Seed(t, key, "Ann")
			}
			other := r.f.Engine(t, nil) // another daemon, with the value in its memory
			hit(t, r.e, key)
			hit(t, other, key)
			tc.plant(t, r, key)
			r.a.Reconfigure(audit.Options{Sample: 1, Grace: grace, MaxPerSecond: 100})
			// The one audited: a hit answered by a fill's lease race is not
			// heard (see cache.HitObserver), so read until one is.
			heard, served := r.heard.Load(), ""
			for i := 0; i < 3 && r.heard.Load() == heard; i++ {
				served = hit(t, r.e, key)
			}
			r.a.Reconfigure(audit.Options{Sample: 0, Grace: grace, MaxPerSecond: 100})
			if tc.after != nil {
				tc.after(t, r, key)
			}
			r.waitResult(t, tc.result, 1, grace+delta)
			if got := r.reads.Count("GetItem"); got != tc.reads {
				t.Errorf("the audit made %d DynamoDB reads, want %d", got, tc.reads)
			}
			st := r.a.Stats()
			if n := st.Namespaces["profile"].DynamoReads; n != int64(tc.reads) {
				t.Errorf("Stats counts %d audit reads, want %d", n, tc.reads)
			}
			if u := st.ReadUnits["users"]; u < float64(tc.reads) {
				t.Errorf("%d consistent reads consumed %v RCUs, want at least 1 each", tc.reads, u)
			}
			if v, _ := get(t, r.e, key); v != tc.want {
				t.Errorf("after the audit the lookup served %s, want %s", v, tc.want)
			}
			logged := strings.Contains(r.log.String(), "key="+key)
			if tc.result != audit.Inconsistent {
				if logged || st.Last != nil || served == tc.want && tc.result == audit.Raced {
					t.Errorf("nothing to report, but: logged %v, last %+v, served %s", logged, st.Last, served)
				}
				return
			}
			if !logged || !strings.Contains(r.log.String(), "level=WARN") || !strings.Contains(r.log.String(), "namespace=profile") {
				t.Errorf("the inconsistency is not logged at WARN with its namespace and key:\n%s", r.log)
			}
			if st.Last == nil || st.Last.Key != key || !st.Last.Repaired || st.OldestInconsistencySeconds < grace.Seconds() {
				t.Errorf("stats of the inconsistency: last %+v, oldest %vs (want ≥ the grace)", st.Last, st.OldestInconsistencySeconds)
			}
			// The other daemon's client-side cache dropped it too.
			enginetest.WaitFor(t, "the other daemon to serve the new item", func() bool {
				v, _ := get(t, other, key)
				return v == tc.want
			})
		})
	}
}

// TestAuditRateCap sends many hits with every one sampled and checks that
// the audit read DynamoDB no more than the cap allows, and counted the
// rest as skipped.
func TestAuditRateCap(t *testing.T) {
	for _, tc := range []struct {
		name   string
		perSec int
		hits   int
	}{
		{"cap 3", 3, 300},
		{"cap 20", 20, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, audit.Options{Grace: time.Second, MaxPerSecond: tc.perSec})
			r.f.Seed(t, "5", "Eve")
			hit(t, r.e, "5")
			r.a.Reconfigure(audit.Options{Sample: 1, Grace: time.Second, MaxPerSecond: tc.perSec})
			start, heard := time.Now(), r.heard.Load()
			for range tc.hits {
				hit(t, r.e, "5")
			}
			r.a.Reconfigure(audit.Options{Sample: 0, Grace: time.Second, MaxPerSecond: tc.perSec})
			elapsed := time.Since(start)
			// A hit answered by a fill's lease race (the local cache still
			// held the nil of the first read) is not heard: count those heard.
			offered := int(r.heard.Load() - heard)
			if offered < tc.hits-5 {
				t.Fatalf("%d hits, the audit heard %d", tc.hits, offered)
			}
			// A burst of one second's worth, then perSec a second.
			allowed := tc.perSec + int(elapsed.Seconds()*float64(tc.perSec)) + 1
			st := r.a.Stats()
			audited := offered - int(st.SkippedRate)
			r.waitResult(t, audit.Consistent, int64(audited), 10*time.Second)
			if got := r.reads.Count("GetItem"); got > allowed || got != audited || got < tc.perSec {
				t.Errorf("%d hits heard in %s, cap %d/s: %d audit reads (%d audited, %d skipped), want %d..%d",
					offered, elapsed, tc.perSec, got, audited, st.SkippedRate, tc.perSec, allowed)
			}
		})
	}
}

// TestAuditOff checks that with Sample 0 no hit is audited.
func TestAuditOff(t *testing.T) {
	// A cap of 1 a second: a sampled hit beyond the first would be
	// counted as skipped by Hit itself, on the lookup's goroutine.
	r := newRig(t, audit.Options{MaxPerSecond: 1})
	r.f.Seed(t, "6", "Fay")
	for range 50 {
		hit(t, r.e, "6")
	}
	st := r.a.Stats()
	if r.reads.Count("GetItem") != 0 || st.SkippedRate != 0 || st.Namespaces["profile"] != (audit.NamespaceStats{}) {
		t.Errorf("with sample 0: %d audit reads, stats %+v", r.reads.Count("GetItem"), st)
	}
}
