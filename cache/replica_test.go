package cache_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
)

// replicaTopologies are the topologies whose engines read from replicas.
var replicaTopologies = []struct {
	name string
	new  func(testing.TB) *enginetest.Fixture
}{
	{"standalone", enginetest.NewReplicated},
	{"cluster", func(t testing.TB) *enginetest.Fixture {
		f := enginetest.NewCluster(t)
		f.Cluster.ReplicasListed(t)
		f.ReadFromReplicas = true
		return f
	}},
}

// roles returns the addresses of f's primaries and of its replicas.
func roles(t testing.TB, f *enginetest.Fixture) (primaries, replicas []string) {
	t.Helper()
	if f.Replicas != nil {
		return []string{f.Replicas.Primary.Addr}, f.Replicas.Addrs()
	}
	for _, n := range f.Cluster.Nodes {
		if n.Role(t) == "master" {
			primaries = append(primaries, n.Addr)
		} else {
			replicas = append(replicas, n.Addr)
		}
	}
	return primaries, replicas
}

// calls sums the calls of cmds on the servers at addrs.
func calls(t testing.TB, addrs []string, cmds ...string) int64 {
	t.Helper()
	var n int64
	for _, a := range addrs {
		n += testenv.CommandCalls(t, a, cmds...)
	}
	return n
}

// TestReplicaReads: a daemon's GETs, MGETs and passthrough reads of items
// another daemon filled go to the replicas; the primaries run none of
// them, nor any lease script.
func TestReplicaReads(t *testing.T) {
	for _, topo := range replicaTopologies {
		t.Run(topo.name, func(t *testing.T) {
			f := topo.new(t)
			ctx := testenv.Context(t)
			keys := make([]cache.Key, 20)
			for i := range keys {
				id := fmt.Sprintf("r%d", i)
				f.Seed(t, id, "N"+id)
				keys[i] = cache.Key{Partition: id}
			}
			if _, err := f.Engine(t, nil).MGet(ctx, "profile", keys); err != nil { // fills
				t.Fatal(err)
			}
			primaries, replicas := roles(t, f)
			testenv.Settled(t, primaries...)
			pGet, rGet := calls(t, primaries, "get", "exists", "evalsha", "eval"), calls(t, replicas, "get")
			rExists := calls(t, replicas, "exists")

			b, c := f.Engine(t, nil), f.Engine(t, nil)
			for i, k := range keys {
				r, err := b.Get(ctx, "profile", k)
				if err != nil || string(r.Value) != enginetest.UserJSON(k.Partition, "N"+k.Partition) {
					t.Fatalf("GET %d = %s, %v", i, r.Value, err)
				}
			}
			res, err := c.MGet(ctx, "profile", keys)
			if err != nil || len(res) != len(keys) || res[0].Value == nil || res[0].Source != cache.SourceRedis {
				t.Fatalf("MGET = %v, %v", res, err)
			}
			rep, err := b.Forward(ctx, []string{"EXISTS", "user_profile:r0"}, []int{1}, true)
			if err != nil || rep.Int != 1 {
				t.Fatalf("EXISTS = %+v, %v", rep, err)
			}

			if d := calls(t, primaries, "get", "exists", "evalsha", "eval") - pGet; d != 0 {
				t.Errorf("the primaries ran %d GET/EXISTS/EVALSHA/EVAL, want 0", d)
			}
			if d := calls(t, replicas, "get") - rGet; d < int64(2*len(keys)) {
				t.Errorf("the replicas ran %d GETs, want at least %d", d, 2*len(keys))
			}
			if d := calls(t, replicas, "exists") - rExists; d != 1 {
				t.Errorf("the replicas ran %d EXISTS, want 1", d)
			}
		})
	}
}

// replicaLag is the replication lag of the lagged topology: far more than
// a round trip on one host, so that a read sent to a replica right after
// a write finds the old value.
const replicaLag = 200 * time.Millisecond

// laggedTopologies are the topologies where a read from a replica right
// after a write sees the old value: replicas that lag (standalone), and
// the cluster, whose replicas on one host do not lag but whose routing
// (rueidis SendToReplicas) differs.
var laggedTopologies = []struct {
	name string
	new  func(testing.TB) *enginetest.Fixture
}{
	{"standalone-lagged", func(t testing.TB) *enginetest.Fixture { return enginetest.NewLagged(t, replicaLag) }},
	replicaTopologies[1],
}

// TestReplicaReadYourWrites: on the daemon that writes, a read right after
// PUT, DEL, INVALIDATE or a passthrough SET sees the write, every time,
// though the replicas serve its other reads and lag.
func TestReplicaReadYourWrites(t *testing.T) {
	for _, topo := range laggedTopologies {
		t.Run(topo.name, func(t *testing.T) {
			f := topo.new(t)
			ctx := testenv.Context(t)
			e := f.Engine(t, nil)
			k := cache.Key{Partition: "ryw"}
			f.Seed(t, "ryw", "v0")
			for i := 1; i <= 200; i++ {
				want := enginetest.UserJSON("ryw", fmt.Sprint("v", i))
				switch i % 4 {
				case 0:
					if _, err := e.Delete(ctx, "profile", k); err != nil {
						t.Fatal(err)
					}
					want = ""
				case 1:
					f.Seed(t, "ryw", fmt.Sprint("v", i))
					if _, err := e.Invalidate(ctx, "profile", []cache.Key{k}); err != nil {
						t.Fatal(err)
					}
				default:
					if err := e.Put(ctx, "profile", []byte(want)); err != nil {
						t.Fatal(err)
					}
				}
				if r, err := e.Get(ctx, "profile", k); err != nil || string(r.Value) != want {
					t.Fatalf("iteration %d: GET after write = %q, %v; want %q", i, r.Value, err, want)
				}
				v := fmt.Sprint("p", i)
				if rep, err := e.Forward(ctx, []string{"SET", "ryw:pt", v}, []int{1}, false); err != nil || rep.Str != "OK" {
					t.Fatalf("SET = %+v, %v", rep, err)
				}
				if rep, err := e.Forward(ctx, []string{"GET", "ryw:pt"}, []int{1}, true); err != nil || rep.Str != v {
					t.Fatalf("iteration %d: GET after SET = %+v, %v; want %s", i, rep, err, v)
				}
			}
			// Where the read after a write goes: to the primary, where a
			// lagless replica would hide a routing mistake.
			primaries, replicas := roles(t, f)
			if err := e.Put(ctx, "profile", []byte(enginetest.UserJSON("ryw", "last"))); err != nil {
				t.Fatal(err)
			}
			pGet, rGet := calls(t, primaries, "get"), calls(t, replicas, "get")
			if _, err := e.Get(ctx, "profile", k); err != nil {
				t.Fatal(err)
			}
			// (The primaries' count includes the lease scripts' own GETs.)
			if dp, dr := calls(t, primaries, "get")-pGet, calls(t, replicas, "get")-rGet; dp < 1 || dr != 0 {
				t.Errorf("GET after PUT: %d GETs on the primaries, %d on the replicas; want some and 0", dp, dr)
			}
		})
	}
}

// TestReplicaMonotonicAfterFill: a daemon that filled an item from
// DynamoDB after another daemon's write reads the filled value again, not
// the older one its lagging replica still has.
func TestReplicaMonotonicAfterFill(t *testing.T) {
	f := enginetest.NewLagged(t, replicaLag)
	ctx := testenv.Context(t)
	a, b := f.Engine(t, nil), f.Engine(t, nil)
	k := cache.Key{Partition: "mono"}
	f.Seed(t, "mono", "v0")
	if _, err := a.Get(ctx, "profile", k); err != nil { // filled by a
		t.Fatal(err)
	}
	testenv.Settled(t, f.Redis.Addr)
	for i := 1; i <= 10; i++ {
		old := enginetest.UserJSON("mono", fmt.Sprint("v", i-1))
		if r, err := a.Get(ctx, "profile", k); err != nil || string(r.Value) != old {
			t.Fatalf("iteration %d: GET = %s, %v; want %s", i, r.Value, err, old)
		}
		want := enginetest.UserJSON("mono", fmt.Sprint("v", i))
		if err := b.Put(ctx, "profile", []byte(want)); err != nil {
			t.Fatal(err)
		}
		// a reads the old value from its replica until the write
		// replicates, or fills the new one from DynamoDB (a's read went
		// to the primary's lease script, which found no value).
		var filled bool
		err := testenv.Poll(5*time.Second, func() bool {
			r, err := a.Get(ctx, "profile", k)
			filled = err == nil && r.Source == cache.SourceDynamo
			return err == nil && string(r.Value) == want
		})
		if err != nil {
			t.Fatalf("iteration %d: a never saw the PUT", i)
		}
		if r, err := a.Get(ctx, "profile", k); err != nil || string(r.Value) != want {
			t.Fatalf("iteration %d (filled: %v): GET after seeing the PUT = %s, %v; want %s", i, filled, r.Value, err, want)
		}
		testenv.Settled(t, f.Redis.Addr)
	}
}

// replicaDelta bounds how long after another daemon's write a daemon may
// still read the old value from a replica: replication, then the
// replica's tracking push. Measured: a few milliseconds on one host.
const replicaDelta = time.Second

// TestReplicaOtherDaemon: a second daemon, which holds the item in its
// client-side cache from a replica, sees the first daemon's PUT within
// replicaDelta.
func TestReplicaOtherDaemon(t *testing.T) {
	for _, topo := range replicaTopologies {
		t.Run(topo.name, func(t *testing.T) {
			f := topo.new(t)
			ctx := testenv.Context(t)
			a, b := f.Engine(t, nil), f.Engine(t, nil)
			k := cache.Key{Partition: "od"}
			f.Seed(t, "od", "v0")
			var worst time.Duration
			for i := 1; i <= 20; i++ {
				if _, err := b.Get(ctx, "profile", k); err != nil { // cached from a replica
					t.Fatal(err)
				}
				want := enginetest.UserJSON("od", fmt.Sprint("v", i))
				if err := a.Put(ctx, "profile", []byte(want)); err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				err := testenv.Poll(replicaDelta, func() bool {
					r, err := b.Get(ctx, "profile", k)
					return err == nil && string(r.Value) == want
				})
				if err != nil {
					t.Fatalf("iteration %d: the other daemon did not see the PUT within %s", i, replicaDelta)
				}
				worst = max(worst, time.Since(start))
			}
			t.Logf("the other daemon saw each PUT within %s (δ %s)", worst, replicaDelta)
		})
	}
}

// TestReplicaInvalidatesOnReplicatedWrite: a value read from a replica
// and held in the client-side cache is dropped when a write made on the
// primary replicates: Redis tracking on a replica invalidates on the
// writes of its replication stream. Without that the local copy would
// live out its TTL (an hour).
func TestReplicaInvalidatesOnReplicatedWrite(t *testing.T) {
	for _, topo := range replicaTopologies {
		t.Run(topo.name, func(t *testing.T) {
			f := topo.new(t)
			ctx := testenv.Context(t)
			f.Seed(t, "inv", "old")
			k := cache.Key{Partition: "inv"}
			if _, err := f.Engine(t, nil).Get(ctx, "profile", k); err != nil { // fill
				t.Fatal(err)
			}
			primaries, replicas := roles(t, f)
			testenv.Settled(t, primaries...)
			rec := &recorder{}
			e := f.Engine(t, func(o *cache.Options) { o.Notifier = rec })
			pGet, rGet := calls(t, primaries, "get"), calls(t, replicas, "get")
			if r, err := e.Get(ctx, "profile", k); err != nil || r.Source != cache.SourceRedis || !r.Tracked {
				t.Fatalf("first GET = %+v, %v", r, err)
			}
			if r, err := e.Get(ctx, "profile", k); err != nil || r.Source != cache.SourceLocal {
				t.Fatalf("second GET = %+v, %v; want local", r, err)
			}
			if dp, dr := calls(t, primaries, "get")-pGet, calls(t, replicas, "get")-rGet; dp != 0 || dr != 1 {
				t.Fatalf("GETs: %d on the primaries, %d on the replicas; want 0 and 1", dp, dr)
			}
			want := enginetest.UserJSON("inv", "new")
			if err := f.UC.Set(ctx, "user_profile:inv", want, time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
			enginetest.WaitFor(t, "the replica's invalidation", func() bool {
				r, err := e.Get(ctx, "profile", k)
				return err == nil && string(r.Value) == want
			})
			if !rec.heard("user_profile:inv") {
				t.Error("the Notifier did not hear of user_profile:inv")
			}
		})
	}
}

// TestReplicaDown: with its replicas stopped, a daemon reads from the
// primary, not in degraded mode.
func TestReplicaDown(t *testing.T) {
	f := enginetest.NewReplicated(t)
	ctx := testenv.Context(t)
	e := f.Engine(t, nil)
	f.Seed(t, "d1", "one")
	if _, err := e.Get(ctx, "profile", cache.Key{Partition: "d1"}); err != nil {
		t.Fatal(err)
	}
	for _, r := range f.Replicas.Replicas {
		r.Stop()
	}
	f.Seed(t, "d2", "two")
	for _, id := range []string{"d1", "d2"} {
		r, err := e.Get(ctx, "profile", cache.Key{Partition: id})
		if err != nil || r.Value == nil || r.Source == cache.SourceDegraded {
			t.Errorf("GET %s with the replicas down = %+v, %v", id, r, err)
		}
	}
}

// TestReplicaAddrsNeedReadFromReplicas: replica addresses without replica
// reads are a configuration mistake, refused at start.
func TestReplicaAddrsNeedReadFromReplicas(t *testing.T) {
	_, err := cache.New(cache.Options{
		Redis:  cache.RedisOptions{Addrs: []string{"127.0.0.1:1"}, ReplicaAddrs: []string{"127.0.0.1:2"}},
		Loader: enginetest.New(t).Loader, Namespaces: enginetest.Namespaces,
	})
	if err == nil || !errors.Is(err, cache.ErrReplicaConfig) {
		t.Fatalf("New = %v, want ErrReplicaConfig", err)
	}
}
