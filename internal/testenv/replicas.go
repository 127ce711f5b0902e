package testenv

import (
	"fmt"
	"strconv"
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
	rs.startReplicas(t, n, rs.Primary.port)
	return rs
}

// startReplicas starts n replicas of the primary listening at port (the
// primary's, or a LagProxy's), and waits until they are linked.
func (rs *ReplicaSet) startReplicas(t testing.TB, n, port int) {
	t.Helper()
	for i := 0; i < n; i++ {
		r := &RedisServer{port: FreePort(t), t: t}
		r.Addr = fmt.Sprintf("127.0.0.1:%d", r.port)
		// --dir: a replica's sync writes dump.rdb, which would land in
		// the test's package directory.
		r.args = []string{"--replicaof", "127.0.0.1", fmt.Sprint(port), "--dir", t.TempDir()}
		r.Start()
		rs.Replicas = append(rs.Replicas, r)
	}
	for _, r := range rs.Replicas {
		if err := Poll(clusterTimeout, func() bool { return strings.Contains(r.info(t, "replication"), "master_link_status:up") }); err != nil {
			t.Fatalf("testenv: replica %s not linked: %v\n%s", r.Addr, err, r.Log())
		}
	}
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

// CommandCalls returns how many times the Redis server at addr ran each
// of cmds (lowercase names: "get", "evalsha"), summed, from INFO
// commandstats: what a test counts to learn where commands went.
func CommandCalls(t testing.TB, addr string, cmds ...string) int64 {
	t.Helper()
	calls := commandStats(t, addr)
	var sum int64
	for _, c := range cmds {
		sum += calls[c]
	}
	return sum
}

// AllCommandCalls returns how many commands the Redis server at addr ran,
// all commands but INFO (which the counting itself sends), from INFO
// commandstats.
func AllCommandCalls(t testing.TB, addr string) int64 {
	t.Helper()
	var sum int64
	for name, n := range commandStats(t, addr) {
		if name != "info" {
			sum += n
		}
	}
	return sum
}

// commandStats reads INFO commandstats of the Redis server at addr: the
// calls of each command, by lowercase name ("get", "client|tracking").
func commandStats(t testing.TB, addr string) map[string]int64 {
	t.Helper()
	rc := redis.NewClient(&redis.Options{Addr: addr})
	defer rc.Close()
	info, err := rc.Info(Context(t), "commandstats").Result()
	if err != nil {
		t.Fatalf("testenv: INFO commandstats of %s: %v", addr, err)
	}
	calls := map[string]int64{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		name, isCmd := strings.CutPrefix(name, "cmdstat_")
		if !ok || !isCmd {
			continue
		}
		n, _ := strconv.ParseInt(strings.SplitN(rest, ",", 2)[0], 10, 64)
		calls[name] += n
	}
	return calls
}

// Settled waits until the replicas of every primary at addrs have
// acknowledged all of its replication stream (ROLE: each replica's
// offset equals the primary's), so that what a test wrote on a primary
// can be read from its replicas.
func Settled(t testing.TB, addrs ...string) {
	t.Helper()
	for _, addr := range addrs {
		rc := redis.NewClient(&redis.Options{Addr: addr})
		err := Poll(clusterTimeout, func() bool {
			v, err := rc.Do(Context(t), "ROLE").Slice()
			if err != nil || len(v) < 3 || v[0] != "master" {
				return false
			}
			reps, _ := v[2].([]any)
			for _, r := range reps {
				f, _ := r.([]any)
				if len(f) < 3 || fmt.Sprint(f[2]) != fmt.Sprint(v[1]) {
					return false
				}
			}
			return true
		})
		rc.Close()
		if err != nil {
			t.Fatalf("testenv: replicas of %s not caught up: %v", addr, err)
		}
	}
}

// Addrs returns the replicas' addresses.
func (rs *ReplicaSet) Addrs() []string {
	out := make([]string, len(rs.Replicas))
	for i, r := range rs.Replicas {
		out[i] = r.Addr
	}
	return out
}

// ReplicasListed waits until every node of c lists a replica for every
// slot range in CLUSTER SLOTS, which is where clients (rueidis) learn
// the replicas they may read from: it lags the replicas' sync by a
// moment after the cluster forms.
func (c *RedisCluster) ReplicasListed(t testing.TB) {
	t.Helper()
	err := Poll(clusterTimeout, func() bool {
		for _, n := range c.Nodes {
			if !n.running() {
				continue
			}
			ranges, _ := n.Do(t, "CLUSTER", "SLOTS").([]any)
			for _, r := range ranges {
				if nodes, _ := r.([]any); len(nodes) < 4 { // start, end, master, replica
					return false
				}
			}
		}
		return true
	})
	if err != nil {
		t.Fatalf("testenv: replicas not listed in CLUSTER SLOTS: %v", err)
	}
}
