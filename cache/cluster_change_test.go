package cache_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
)

// staleBound is δ: a read may return a value older than a write
// acknowledged less than δ before it began (another daemon's local copy,
// dropped when Redis's tracking push arrives), never older than that.
const staleBound = 200 * time.Millisecond

// phase is how long traffic runs around each change: DDBCACHE_CLUSTER_PHASE
// (a Go duration) for a longer run, 1s in make test.
func phase(t *testing.T) time.Duration {
	if v := os.Getenv("DDBCACHE_CLUSTER_PHASE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("DDBCACHE_CLUSTER_PHASE: %v", err)
		}
		return d
	}
	return time.Second
}

// traffic is a writer on one daemon and readers on two, over keys, with
// every acknowledged write remembered so that each read can be judged.
type traffic struct {
	keys    []string
	engines []*cache.Engine
	mu      sync.Mutex              // guards acked
	acked   map[string][]ackedWrite // per key, in version order
	samples []string                // the first wrong reads
	// readWindow and writeWindow are the first and last failure's times.
	readWindow, writeWindow [2]time.Time

	reads, failed, retryFailed, wrong, writes, writeFailed atomic.Int64
	stop                                                   chan struct{}
	wg                                                     sync.WaitGroup
}

type ackedWrite struct {
	version int
	at      time.Time
}

func startTraffic(t *testing.T, f *enginetest.Fixture, keys []string, mod func(*cache.Options)) *traffic {
	tr := &traffic{keys: keys, acked: map[string][]ackedWrite{}, stop: make(chan struct{})}
	for _, k := range keys {
		f.Seed(t, k, "0")
	}
	tr.engines = []*cache.Engine{f.Engine(t, mod), f.Engine(t, mod)}
	ctx := testenv.Context(t)
	tr.wg.Add(1)
	go tr.write(ctx)
	for i := 0; i < 4; i++ {
		tr.wg.Add(1)
		go tr.read(ctx, tr.engines[i%2], i)
	}
	return tr
}

// write puts version n+1 of each key in turn on the first daemon.
func (tr *traffic) write(ctx context.Context) {
	defer tr.wg.Done()
	for n := 1; ; n++ {
		for _, k := range tr.keys {
			select {
			case <-tr.stop:
				return
			default:
			}
			doc := fmt.Sprintf(`{"user_id":%q,"name":"%d"}`, k, n)
			tr.writes.Add(1)
			if err := tr.engines[0].Put(ctx, "profile", []byte(doc)); err != nil {
				tr.writeFailed.Add(1) // not acknowledged: a later read may see it or not
				tr.failedAt(&tr.writeWindow)
				<-time.After(10 * time.Millisecond) // a writer's backoff, so that failures count attempts, not spins
				continue
			}
			tr.mu.Lock()
			tr.acked[k] = append(tr.acked[k], ackedWrite{n, time.Now()})
			tr.mu.Unlock()
		}
	}
}

// read looks keys up and judges each answer: failed (an error), retried
// once and failed again, or wrong (older than a write acknowledged more
// than staleBound before the read began).
func (tr *traffic) read(ctx context.Context, e *cache.Engine, seed int) {
	defer tr.wg.Done()
	for i := seed; ; i++ {
		select {
		case <-tr.stop:
			return
		default:
		}
		k := tr.keys[i%len(tr.keys)]
		began := time.Now()
		floor := tr.floor(k, began.Add(-staleBound))
		tr.reads.Add(1)
		r, err := e.Get(ctx, "profile", cache.Key{Partition: k})
		if err != nil {
			tr.failed.Add(1)
			tr.failedAt(&tr.readWindow)
			if r, err = e.Get(ctx, "profile", cache.Key{Partition: k}); err != nil {
				tr.retryFailed.Add(1)
				continue
			}
		}
		var doc struct{ Name string }
		v := -1
		if json.Unmarshal(r.Value, &doc) == nil {
			v, _ = strconv.Atoi(doc.Name)
		}
		if v < floor {
			if tr.wrong.Add(1) <= 5 {
				tr.mu.Lock()
				tr.samples = append(tr.samples, fmt.Sprintf("%s: read %d at %s (source %v), %d acknowledged before", k, v, began.Format("15:04:05.000"), r.Source, floor))
				tr.mu.Unlock()
			}
		}
	}
}

// failedAt widens a failure window to now.
func (tr *traffic) failedAt(w *[2]time.Time) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	now := time.Now()
	if w[0].IsZero() {
		w[0] = now
	}
	w[1] = now
}

// window describes a failure window.
func window(w [2]time.Time) string {
	if w[0].IsZero() {
		return "none"
	}
	return fmt.Sprintf("%s to %s (%s)", w[0].Format("15:04:05.000"), w[1].Format("15:04:05.000"), w[1].Sub(w[0]).Round(time.Millisecond))
}

// floor is the newest version of k acknowledged before t.
func (tr *traffic) floor(k string, t time.Time) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	floor := 0
	for _, w := range tr.acked[k] {
		if w.at.Before(t) {
			floor = w.version
		}
	}
	return floor
}

// finish stops the traffic, states its figures and checks that no read
// was wrong and that every key reads as its last acknowledged write.
func (tr *traffic) finish(t *testing.T, what string) {
	close(tr.stop)
	tr.wg.Wait()
	t.Logf("%s: %d lookups, %d failed (%d failed again on one retry), %d wrong; %d writes, %d failed",
		what, tr.reads.Load(), tr.failed.Load(), tr.retryFailed.Load(), tr.wrong.Load(), tr.writes.Load(), tr.writeFailed.Load())
	t.Logf("%s: lookups failed %s; writes failed %s", what, window(tr.readWindow), window(tr.writeWindow))
	for i, e := range tr.engines {
		st := e.Stats()
		t.Logf("%s: daemon %d: %+v, redis errors %d", what, i, st.Namespaces["profile"], st.RedisErrors)
	}
	if tr.wrong.Load() != 0 {
		t.Logf("first wrong reads: %q", tr.samples)
		t.Errorf("%s: %d reads older than a write acknowledged %s before", what, tr.wrong.Load(), staleBound)
	}
	if tr.reads.Load() == 0 || tr.writes.Load() == tr.writeFailed.Load() {
		t.Fatalf("%s: no traffic went through", what)
	}
	ctx := testenv.Context(t)
	for _, k := range tr.keys {
		want := tr.floor(k, time.Now().Add(time.Hour))
		enginetest.WaitFor(t, k+" at its last acknowledged write", func() bool {
			for _, e := range tr.engines {
				r, err := e.Get(ctx, "profile", cache.Key{Partition: k})
				if err != nil || string(r.Value) != enginetest.UserJSON(k, strconv.Itoa(want)) {
					return false
				}
			}
			return true
		})
	}
}

// wait runs the traffic for d: the traffic is the test's subject, and d
// how long it is observed, not a synchronizer.
func wait(d time.Duration) { <-time.After(d) }

// TestClusterFailover: with traffic running over keys of every master, a
// manual failover (CLUSTER FAILOVER on a replica), then a master killed
// with SIGKILL and failed over by the cluster, then that node restarted
// (it rejoins as a replica), with redis.wait_replicas 1. No read may be
// wrong; failures are stated.
func TestClusterFailover(t *testing.T) {
	c := testenv.Cluster(t)
	f := enginetest.OnCluster(t, c)
	keys := make([]string, 30)
	for i := range keys {
		keys[i] = fmt.Sprintf("f%d", i)
	}
	// An invalidation acknowledged by a master that then dies must not
	// come back with its replica: invalidations wait for one replica.
	tr := startTraffic(t, f, keys, func(o *cache.Options) { o.Redis.WaitReplicas = 1 })
	d := phase(t)
	wait(d)
	master := c.MasterOf(t, "user_profile:f0")
	t0 := time.Now()
	t.Logf("CLUSTER FAILOVER of %s at %s", master.Addr, t0.Format("15:04:05.000"))
	c.Failover(t, c.ReplicaOf(t, master))
	t.Logf("CLUSTER FAILOVER took %s", time.Since(t0))
	wait(d)
	victim := c.MasterOf(t, "user_profile:f1")
	heir := c.ReplicaOf(t, victim)
	t0 = time.Now()
	t.Logf("SIGKILL of master %s at %s", victim.Addr, t0.Format("15:04:05.000"))
	victim.Stop() // SIGKILL
	c.WaitMaster(t, heir)
	t.Logf("SIGKILLed master replaced in %s", time.Since(t0))
	wait(d)
	victim.Start(t)
	c.WaitOK(t, 3)
	wait(d)
	tr.finish(t, "failover")
}

// TestClusterReshard: with traffic running, redis-cli --cluster reshard
// moves the slots that hold the test keys (MIGRATE of their keys) to
// another master. No read may be wrong; failures are stated.
func TestClusterReshard(t *testing.T) {
	c := testenv.Cluster(t)
	f := enginetest.OnCluster(t, c)
	const slots = 200
	var keys []string
	for i := 0; len(keys) < 20 && i < 100000; i++ {
		k := fmt.Sprintf("r%d", i)
		if c.Slot(t, "user_profile:"+k) < slots {
			keys = append(keys, k)
		}
	}
	from := c.MasterOf(t, "user_profile:"+keys[0])
	var to *testenv.ClusterNode
	for _, n := range c.Nodes {
		if n != from && n.Role(t) == "master" {
			to = n
			break
		}
	}
	tr := startTraffic(t, f, keys, nil)
	d := phase(t)
	wait(d)
	t0 := time.Now()
	c.Reshard(t, from, to, slots)
	t.Logf("reshard of %d slots took %s", slots, time.Since(t0))
	if got := c.MasterOf(t, "user_profile:"+keys[0]); got != to {
		t.Errorf("after the reshard %s is on %s, want %s", keys[0], got.Addr, to.Addr)
	}
	wait(d)
	tr.finish(t, "reshard")
}

// TestClusterDeadReplica: a dead replica (or a killed master, once failed
// over) leaves every slot served, so the daemon must stay connected rather
// than flap into degraded mode whenever its probe picks the dead node.
func TestClusterDeadReplica(t *testing.T) {
	c := testenv.Cluster(t)
	f := enginetest.OnCluster(t, c)
	e := f.Engine(t, func(o *cache.Options) { o.ProbeInterval = 10 * time.Millisecond })
	c.ReplicaOf(t, c.MasterOf(t, "a")).Stop()
	down := 0
	// Sampling, not synchronizing: the link is looked at every 5 ms for a
	// second, and every look must find it up.
	for end := time.Now().Add(time.Second); time.Now().Before(end); <-time.After(5 * time.Millisecond) {
		if !e.Stats().RedisConnected {
			down++
		}
	}
	if down > 0 {
		t.Errorf("with one replica dead, redis_connected was false in %d of about 200 looks over 1s", down)
	}
}
