package cache_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// multiKey is an MGET whose keys are all misses: it invalidates ids first
// (one multi-key invalidation), then looks them up, so that their fills
// run as pipelined scripts (one acquire and one fill per key) rather than
// one Exec. It returns the first error, wrong value, or value the fill did
// not store in Redis (a failed fill script is logged, not returned: the
// lookup is answered from DynamoDB anyway).
func multiKey(ctx context.Context, f *enginetest.Fixture, e *cache.Engine, ids []string) error {
	keys := make([]map[string]string, len(ids))
	lookups := make([]cache.Key, len(ids))
	for i, id := range ids {
		keys[i] = map[string]string{"user_id": id}
		lookups[i] = cache.Key{Partition: id}
	}
	if _, err := e.InvalidateTableKeys(ctx, "users", keys); err != nil {
		return fmt.Errorf("invalidation of %d keys: %w", len(ids), err)
	}
	res, err := e.MGet(ctx, "profile", lookups)
	if err != nil {
		return fmt.Errorf("MGET of %d misses: %w", len(ids), err)
	}
	for i, id := range ids {
		if string(res[i].Value) != enginetest.UserJSON(id, "N"+id) {
			return fmt.Errorf("MGET %s = %s", id, res[i].Value)
		}
		if res[i].Source != cache.SourceDynamo {
			return fmt.Errorf("MGET %s came from %v, not a fill", id, res[i].Source)
		}
		if v, err := stored(ctx, f.Cluster, "user_profile:"+id); v != enginetest.UserJSON(id, "N"+id) {
			return fmt.Errorf("after MGET, user_profile:%s in Redis is %q, %v: the fill was not stored", id, v, err)
		}
	}
	return nil
}

// stored reads key on the node that serves it as master, asked directly:
// a cluster client of the test's own might still route by the topology
// before a failover.
func stored(ctx context.Context, c *testenv.RedisCluster, key string) (string, error) {
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		rc := redis.NewClient(&redis.Options{Addr: n.Addr})
		v, err := rc.Get(ctx, key).Result()
		rc.Close()
		if err == nil || errors.Is(err, redis.Nil) { // a replica answers MOVED
			return v, nil
		}
	}
	return "", fmt.Errorf("no node serves %s", key)
}

// TestClusterMultiKeyFailover: an MGET's misses are filled with pipelined
// scripts on every master. After a CLUSTER FAILOVER the new master must
// run them even without the scripts loaded (NOSCRIPT); with a replica
// dead, every slot is still served, so they must not fail. (A SIGKILLed
// master, under traffic, is TestClusterFailover's.)
func TestClusterMultiKeyFailover(t *testing.T) {
	c := testenv.Cluster(t)
	f := enginetest.OnCluster(t, c)
	ids := make([]string, 30)
	for i := range ids {
		ids[i] = fmt.Sprintf("m%d", i)
		f.Seed(t, ids[i], "N"+ids[i])
	}
	e := f.Engine(t, nil)
	ctx := testenv.Context(t)
	if err := multiKey(ctx, f, e, ids); err != nil {
		t.Fatalf("before any failover: %v", err)
	}

	promoted := c.ReplicaOf(t, c.MasterOf(t, "user_profile:"+ids[0]))
	c.Failover(t, promoted)
	// As a master restarted empty, or a replica promoted before it was
	// ever sent the scripts, would be.
	promoted.Do(t, "SCRIPT", "FLUSH")
	if err := multiKey(ctx, f, e, ids); err != nil {
		t.Errorf("after CLUSTER FAILOVER to a master without the scripts: %v", err)
	}

	// A dead replica, of a shard the failover left alone (the client may
	// still route to the demoted master for up to a second): every slot
	// is still served by its master.
	var dead *testenv.ClusterNode
	for _, id := range ids {
		if m := c.MasterOf(t, "user_profile:"+id); m != promoted {
			dead = c.ReplicaOf(t, m)
			break
		}
	}
	dead.Stop() // SIGKILL
	if err := multiKey(ctx, f, e, ids); err != nil {
		t.Errorf("with a replica dead: %v", err)
	}
}
