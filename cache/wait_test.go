package cache_test

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// onReplica reads key on node n with READONLY, as a replica serves it.
func onReplica(t *testing.T, n *testenv.ClusterNode, key string) (bool, error) {
	t.Helper()
	rc := redis.NewClient(&redis.Options{Addr: n.Addr, PoolSize: 1})
	defer rc.Close()
	ctx := testenv.Context(t)
	conn := rc.Conn()
	defer conn.Close()
	if err := conn.ReadOnly(ctx).Err(); err != nil {
		return false, err
	}
	k, err := conn.Exists(ctx, key).Result()
	return k == 1, err
}

// TestWaitReplicas: with redis.wait_replicas 1, a PUT returns only once
// the replica of the key's master has dropped the old value; with that
// replica stopped (SIGSTOP) the PUT still succeeds after the wait's
// timeout, and the short wait is counted.
func TestWaitReplicas(t *testing.T) {
	f := enginetest.NewCluster(t)
	f.Seed(t, "w", "old")
	e := f.Engine(t, func(o *cache.Options) {
		o.Redis.WaitReplicas = 1
		o.Redis.WaitTimeout = 300 * time.Millisecond
	})
	ctx := testenv.Context(t)
	if _, err := e.Get(ctx, "profile", cache.Key{Partition: "w"}); err != nil {
		t.Fatal(err)
	}
	master := f.Cluster.MasterOf(t, "user_profile:w")
	replica := f.Cluster.ReplicaOf(t, master)
	enginetest.WaitFor(t, "the fill to reach the replica", func() bool {
		ok, _ := onReplica(t, replica, "user_profile:w")
		return ok
	})
	if err := e.Put(ctx, "profile", []byte(`{"user_id":"w","name":"new"}`)); err != nil {
		t.Fatal(err)
	}
	if ok, err := onReplica(t, replica, "user_profile:w"); ok || err != nil {
		t.Errorf("right after the PUT the replica still has the old value (%v, %v)", ok, err)
	}
	if n := e.Stats().WaitShort; n != 0 {
		t.Errorf("wait_short = %d with a healthy replica", n)
	}
	replica.Pause()
	defer replica.Resume()
	t0 := time.Now()
	if err := e.Put(ctx, "profile", []byte(`{"user_id":"w","name":"newer"}`)); err != nil {
		t.Fatalf("PUT with the replica stopped: %v", err)
	}
	if took := time.Since(t0); took < 300*time.Millisecond {
		t.Errorf("PUT with the replica stopped took %s, less than the wait's timeout", took)
	}
	if n := e.Stats().WaitShort; n != 1 {
		t.Errorf("wait_short = %d with the replica stopped, want 1", n)
	}
}

// BenchmarkPutWaitReplicas measures what redis.wait_replicas 1 costs a
// PUT on the cluster: rounds of 50 PUTs without and with it, interleaved
// so that both see the same machine, and the median of each reported
// (ns/put-nowait, ns/put-wait1). Run with -benchtime=1x.
func BenchmarkPutWaitReplicas(b *testing.B) {
	f := enginetest.NewCluster(b)
	plain := f.Engine(b, nil)
	waiting := f.Engine(b, func(o *cache.Options) { o.Redis.WaitReplicas = 1 })
	ctx := testenv.Context(b)
	const rounds, puts = 15, 50
	var without, with []float64
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			for _, side := range []struct {
				e   *cache.Engine
				out *[]float64
			}{{plain, &without}, {waiting, &with}} {
				t0 := time.Now()
				for p := 0; p < puts; p++ {
					doc := fmt.Sprintf(`{"user_id":"b%d","name":"%d"}`, p, r)
					if err := side.e.Put(ctx, "profile", []byte(doc)); err != nil {
						b.Fatal(err)
					}
				}
				*side.out = append(*side.out, float64(time.Since(t0).Nanoseconds())/puts)
			}
		}
	}
	b.ReportMetric(median(without), "ns/put-nowait")
	b.ReportMetric(median(with), "ns/put-wait1")
	b.ReportMetric(0, "ns/op")
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}
