package testenv

import (
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// ReplicaSet is a standalone primary with replicas (--replicaof), no cluster.
type ReplicaSet struct {
	Primary  *RedisServer
	Replicas []*RedisServer
}

// Replicated starts a primary and n replicas of it, and waits until every
// replica reports master_link_status:up. All are stopped at the end of the
// test.
func Replicated(t testing.TB, n int) *ReplicaSet {
	t.Helper()
	rs := &ReplicaSet{Primary: Redis(t)}
	for i := 0; i < n; i++ {
		r := &RedisServer{port: FreePort(t), t: t}
		r.Addr = fmt.Sprintf("127.0.0.1:%d", r.port)
		r.args = []string{"--replicaof", "127.0.0.1", fmt.Sprint(rs.Primary.port)}
		r.Start()
		rs.Replicas = append(rs.Replicas, r)
	}
	for _, r := range rs.Replicas {
		if err := Poll(clusterTimeout, func() bool { return strings.Contains(r.info(t, "replication"), "master_link_status:up") }); err != nil {
			t.Fatalf("testenv: replica %s not linked: %v\n%s", r.Addr, err, r.Log())
		}
	}
	return rs
}

// Wait runs WAIT n on the primary, on the connection that wrote last if
// the caller used Primary.Client: it returns how many replicas acknowledged.
func (rs *ReplicaSet) Wait(t testing.TB, n int) int64 {
	t.Helper()
	v, err := rs.Primary.Client(t).Do(Context(t), "WAIT", n, 5000).Int64()
	if err != nil {
		t.Fatalf("testenv: WAIT: %v", err)
	}
	return v
}

// Client returns a go-redis client of the server with one connection (so
// that WAIT counts the writes made through it), closed at the end of the
// test. The same client is returned on every call.
func (r *RedisServer) Client(t testing.TB) *redis.Client {
	t.Helper()
	if r.client == nil {
		r.client = redis.NewClient(&redis.Options{Addr: r.Addr, PoolSize: 1})
		t.Cleanup(func() { r.client.Close(); r.client = nil })
	}
	return r.client
}

func (r *RedisServer) info(t testing.TB, section string) string {
	rc := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rc.Close()
	v, _ := rc.Info(Context(t), section).Result()
	return v
}
