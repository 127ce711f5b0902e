package cache_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
)

// Replica-load workload: two daemons look up items of a zipf-distributed
// key space (s = 1.1), and write one lookup in writeEvery.
const (
	loadKeys   = 500
	writeEvery = 100
)

// BenchmarkReplicaLoad measures what reading from replicas takes off the
// primary: Redis commands run by the primaries (all but INFO, from INFO
// commandstats deltas) per 10 000 lookups, without and with
// redis.read_from_replicas, on a standalone primary with two replicas and
// on the 3×3 cluster. The primaries' count includes the commands their
// Lua scripts run (leases, fills, invalidations), which Redis counts too. Each run starts cold (Redis flushed, new daemons), so
// it counts the fills and the tracking of a fresh cache too. Run it with
// make bench-replicas.
func BenchmarkReplicaLoad(b *testing.B) {
	topologies := []struct {
		name string
		f    *enginetest.Fixture
	}{
		{"standalone", enginetest.NewReplicated(b)},
		{"cluster", enginetest.NewCluster(b)},
	}
	for _, topo := range topologies {
		f := topo.f
		if f.Cluster != nil {
			f.Cluster.ReplicasListed(b)
		}
		for i := 0; i < loadKeys; i++ {
			f.Seed(b, fmt.Sprint("l", i), "v")
		}
		for _, replicas := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/replicas=%v", topo.name, replicas), func(b *testing.B) {
				f.ReadFromReplicas = replicas
				primaryLoad(b, f)
			})
		}
	}
}

// primaryLoad runs b.N lookups of the workload on f, cold, and reports the
// primaries' and the replicas' commands per 10 000 lookups. A cached GET
// is five commands (rueidis's opt-in tracking: CLIENT CACHING, MULTI,
// PTTL, GET, EXEC); the replicas also run the writes they replicate.
func primaryLoad(b *testing.B, f *enginetest.Fixture) {
	ctx := testenv.Context(b)
	f.UC.FlushAll(ctx)
	if f.Cluster != nil {
		f.Cluster.Flush(b)
	}
	daemons := []*cache.Engine{f.Engine(b, nil), f.Engine(b, nil)}
	primaries, replicas := roles(b, f)
	rng := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(rng, 1.1, 1, loadKeys-1)
	p0, r0 := totalCalls(b, primaries), totalCalls(b, replicas)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e := daemons[i%2]
		id := fmt.Sprint("l", zipf.Uint64())
		if i%writeEvery == writeEvery-1 {
			if err := e.Put(ctx, "profile", []byte(enginetest.UserJSON(id, fmt.Sprint("w", i)))); err != nil {
				b.Fatal(err)
			}
			continue
		}
		if _, err := e.Get(ctx, "profile", cache.Key{Partition: id}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	per := 10000 / float64(b.N)
	b.ReportMetric(float64(totalCalls(b, primaries)-p0)*per, "primary-cmds/10k")
	b.ReportMetric(float64(totalCalls(b, replicas)-r0)*per, "replica-cmds/10k")
}

// totalCalls sums every command but INFO run by the servers at addrs.
func totalCalls(b testing.TB, addrs []string) int64 {
	var n int64
	for _, a := range addrs {
		n += testenv.AllCommandCalls(b, a)
	}
	return n
}
