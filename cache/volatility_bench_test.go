package cache_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
)

// BenchmarkTTLModes compares ttl: auto with a fixed short and a fixed
// long TTL on a mixed workload, in real time on real servers: 1000
// profiles, 10 % of them rewritten (DDB PUT) every 3 s, 90 % never;
// reads of uniformly chosen keys at 400/s for TTL_BENCH_SECONDS (default
// 40) per mode. It reports the hit ratio, DynamoDB reads per second, and
// the mean TTL Redis holds for a hot and a cold key at the end: the
// longest a hot value could be served stale if one of its invalidations
// were lost.
//
//	TTL_BENCH_SECONDS=40 go test -run '^$' -bench BenchmarkTTLModes -benchtime 1x -timeout 30m ./cache
func BenchmarkTTLModes(b *testing.B) {
	secs := 40
	if n, err := strconv.Atoi(os.Getenv("TTL_BENCH_SECONDS")); err == nil && n > 0 {
		secs = n
	}
	modes := []struct {
		name string
		ns   cache.Namespace
	}{
		{"fixed short (2s)", cache.Namespace{TTL: 2 * time.Second}},
		{"fixed long (10m)", cache.Namespace{TTL: 10 * time.Minute}},
		{"auto (2s–10m)", cache.Namespace{TTLAuto: true, TTLMin: 2 * time.Second, TTLMax: 10 * time.Minute}},
	}
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				ttlWorkload(b, m.ns, time.Duration(secs)*time.Second)
			}
		})
	}
}

const (
	ttlKeys     = 1000
	ttlHot      = 100 // keys 0–99 are rewritten
	ttlRewrite  = 3 * time.Second
	ttlReadRate = 400 // reads per second
)

func ttlWorkload(b *testing.B, ns cache.Namespace, run time.Duration) {
	f := enginetest.New(b)
	ns.Name, ns.Table, ns.PartitionKey, ns.RedisKey = "mixed", "users", "user_id", "mixed:{user_id}"
	e := f.Engine(b, func(o *cache.Options) { o.Namespaces = []cache.Namespace{ns} })
	ctx := context.Background() // a run outlasts testenv.Context's minute
	for i := range ttlKeys {
		f.Seed(b, "k"+strconv.Itoa(i), "v0")
	}
	start := time.Now()
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- rewriteHot(ctx, e, stop) }()
	rng := rand.New(rand.NewPCG(1, 2))
	tick := time.NewTicker(time.Second / ttlReadRate)
	for time.Since(start) < run {
		<-tick.C
		if _, err := e.Get(ctx, "mixed", cache.Key{Partition: "k" + strconv.Itoa(rng.IntN(ttlKeys))}); err != nil {
			b.Fatal(err)
		}
	}
	tick.Stop()
	close(stop)
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	st := e.Stats().Namespaces["mixed"]
	hits := st.HitsLocal + st.HitsRedis
	b.ReportMetric(float64(hits)/float64(hits+st.Misses), "hit-ratio")
	b.ReportMetric(float64(st.DynamoReads)/run.Seconds(), "ddb-reads/s")
	b.ReportMetric(meanTTL(b, f, 0, ttlHot).Seconds(), "hot-ttl-s")
	b.ReportMetric(meanTTL(b, f, ttlHot, ttlKeys).Seconds(), "cold-ttl-s")
}

// rewriteHot writes every hot key through DDB PUT every ttlRewrite, spread
// over the period, until stop.
func rewriteHot(ctx context.Context, e *cache.Engine, stop <-chan struct{}) error {
	tick := time.NewTicker(ttlRewrite / ttlHot)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-stop:
			return nil
		case <-tick.C:
		}
		doc := fmt.Sprintf(`{"user_id":"k%d","name":"v%d"}`, n%ttlHot, n)
		if err := e.Put(ctx, "mixed", []byte(doc)); err != nil {
			return err
		}
	}
}

// meanTTL is the mean remaining TTL of the cached keys in [lo, hi).
func meanTTL(b *testing.B, f *enginetest.Fixture, lo, hi int) time.Duration {
	var sum time.Duration
	n := 0
	for i := lo; i < hi; i++ {
		if ttl := f.RDB.PTTL(context.Background(), "mixed:k"+strconv.Itoa(i)).Val(); ttl > 0 {
			sum += ttl
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / time.Duration(n)
}
