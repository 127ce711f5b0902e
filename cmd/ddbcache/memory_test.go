package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
)

// TestClientCacheIsADaemonTotal fills the client-side cache of a daemon
// far past redis.client_cache_mb through plain GETs (each read through the
// cache, spread over all of rueidis's connections) and checks the issue's
// memory target: the daemon's RSS stays within client_cache_mb + 100 MiB.
// GOMAXPROCS=4 makes rueidis open 4 pipelined connections, so a per-
// connection budget would hold 4× client_cache_mb.
func TestClientCacheIsADaemonTotal(t *testing.T) {
	const (
		cacheMB   = 32
		valueSize = 128 << 10
		keys      = 1600 // 200 MiB of values: 6× the budget
		headroom  = 100 << 20
	)
	f := enginetest.New(t)
	ctx := testenv.Context(t)
	value := strings.Repeat("v", valueSize)
	for i := 0; i < keys; i += 100 {
		p := f.RDB.Pipeline()
		for j := i; j < i+100; j++ {
			p.Set(ctx, fmt.Sprintf("blob:%d", j), value, 0)
		}
		if _, err := p.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { f.RDB.FlushAll(context.Background()) })

	socket := filepath.Join(testenv.ShortDir(t), "ddbcache.sock")
	cfg, _ := writeConfig(t, fmt.Sprintf("redis: { addrs: [%q], client_cache_mb: %d }\ndynamodb: { endpoint: %q }\nlisten: { unix: %q }\n",
		f.Redis.Addr, cacheMB, f.Proxy.URL, socket)+goodNamespace)
	d := startDaemonArgs(t, []string{"--config", cfg, "serve"}, socket, "GOMAXPROCS=4")
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: socket, Protocol: 2, DisableIdentity: true, PoolSize: 4})
	defer c.Close()

	var peak int64
	for round := 0; round < 2; round++ {
		for i := 0; i < keys; i++ {
			v, err := c.Get(ctx, fmt.Sprintf("blob:%d", i)).Result()
			if err != nil || len(v) != valueSize {
				t.Fatalf("GET blob:%d: %d bytes, %v", i, len(v), err)
			}
			if i%50 == 0 {
				peak = max(peak, readUsage(t, d.cmd.Process.Pid).rss)
			}
		}
	}
	t.Logf("daemon peak RSS %d MiB with client_cache_mb %d", peak>>20, cacheMB)
	if limit := int64(cacheMB<<20) + headroom; peak > limit {
		t.Errorf("daemon RSS reached %d MiB, above client_cache_mb + 100 MiB = %d MiB", peak>>20, limit>>20)
	}
}
