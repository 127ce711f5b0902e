package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterTimeout bounds how long a cluster may take to form, or to settle
// after a failover or a resharding.
const clusterTimeout = 30 * time.Second

// ClusterNodeTimeout is the cluster-node-timeout of the test clusters, in
// milliseconds: short, so that a killed master is failed over in about two
// seconds rather than Redis's default fifteen.
const ClusterNodeTimeout = 1000

// ClusterNode is one redis-server of a RedisCluster.
type ClusterNode struct {
	*Process
	// Addr is host:port of the node.
	Addr string
	port int
	bus  int    // the cluster bus port: free, rather than port+10000, which may exceed 65535
	dir  string // holds the node's nodes.conf, so that a restart rejoins
}

// RedisCluster is a private Redis Cluster of masters, each with replicas,
// on free loopback ports, with persistence off.
type RedisCluster struct {
	Nodes []*ClusterNode
}

// Cluster starts a Redis Cluster of 3 masters and 3 replicas (one each),
// formed by `redis-cli --cluster create`, and waits until every node says
// cluster_state:ok and every replica is linked. It is stopped at the end
// of the test. Tests that change the topology (failover, resharding) need
// their own; the others can share one with SharedCluster.
func Cluster(t testing.TB) *RedisCluster {
	t.Helper()
	c, err := startCluster(3, 1)
	t.Cleanup(c.Stop)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// shared is the cluster of SharedCluster, stopped by Main.
var shared struct {
	mu      sync.Mutex // guards the fields below
	cluster *RedisCluster
	err     error
}

// SharedCluster returns the test binary's one cluster, started on first
// use and emptied (FLUSHALL on every master) on each: six redis-servers
// and a cluster handshake are worth starting once per binary, not per
// test. The package's TestMain must call Main, which stops it. Tests that
// change the topology must use Cluster instead.
func SharedCluster(t testing.TB) *RedisCluster {
	t.Helper()
	shared.mu.Lock()
	if shared.cluster == nil && shared.err == nil {
		shared.cluster, shared.err = startCluster(3, 1)
	}
	c, err := shared.cluster, shared.err
	shared.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	c.Flush(t)
	return c
}

// Main runs the tests of a package and then stops the servers they shared:
// func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }.
func Main(m *testing.M) int {
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.cluster != nil {
		shared.cluster.Stop()
	}
	return code
}

// startCluster starts masters×(1+replicas) nodes and forms the cluster.
// On error, the nodes started so far are in the result, for Stop.
func startCluster(masters, replicas int) (*RedisCluster, error) {
	c := &RedisCluster{}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return c, fmt.Errorf("testenv: redis-cli not found in PATH; install it with: apt-get install -y redis-server (or run `make deps`)")
	}
	for i := 0; i < masters*(1+replicas); i++ {
		n, err := newClusterNode()
		if err != nil {
			return c, err
		}
		c.Nodes = append(c.Nodes, n)
		if err := n.start(); err != nil {
			return c, err
		}
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		return c, fmt.Errorf("testenv: redis-cli --cluster create: %w\n%s", err, out)
	}
	return c, c.waitOK(masters * replicas)
}

func newClusterNode() (*ClusterNode, error) {
	l, err := freePort()
	if err != nil {
		return nil, err
	}
	bus, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ddbcluster")
	if err != nil {
		return nil, fmt.Errorf("testenv: temp dir: %w", err)
	}
	return &ClusterNode{port: l, bus: bus, dir: dir, Addr: fmt.Sprintf("127.0.0.1:%d", l)}, nil
}

// start runs the node's redis-server; a node started again after Stop
// rejoins the cluster from its nodes.conf.
func (n *ClusterNode) start() error {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return fmt.Errorf("testenv: redis-server not found in PATH; install it with: apt-get install -y redis-server (or run `make deps`)")
	}
	n.Process, err = spawn("Ready to accept connections", bin,
		"--port", strconv.Itoa(n.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--logfile", "", "--daemonize", "no", "--protected-mode", "no", "--dir", n.dir, "--repl-diskless-sync-delay", "0",
		"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(n.dir, "nodes.conf"),
		"--cluster-node-timeout", strconv.Itoa(ClusterNodeTimeout), "--cluster-port", strconv.Itoa(n.bus))
	return err
}

// Start starts a stopped node again (it rejoins, as a replica if it was
// failed over meanwhile).
func (n *ClusterNode) Start(t testing.TB) {
	t.Helper()
	if err := n.start(); err != nil {
		t.Fatal(err)
	}
}

// Addrs returns every node's address.
func (c *RedisCluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	return addrs
}

// Stop kills every node and removes their directories.
func (c *RedisCluster) Stop() {
	for _, n := range c.Nodes {
		if n.Process != nil {
			n.Stop()
		}
		os.RemoveAll(n.dir)
	}
}

// Client returns a go-redis cluster client of c, independent of the code
// under test, closed at the end of the test.
func (c *RedisCluster) Client(t testing.TB) *redis.ClusterClient {
	t.Helper()
	rc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	t.Cleanup(func() { rc.Close() })
	return rc
}

// Flush empties every master (and so its replicas).
func (c *RedisCluster) Flush(t testing.TB) {
	t.Helper()
	rc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	defer rc.Close()
	ctx := Context(t)
	err := rc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		return m.FlushAll(ctx).Err()
	})
	if err != nil {
		t.Fatalf("testenv: flush the cluster: %v", err)
	}
}

// WaitOK waits until the cluster is whole again (after a failover, a
// restart or a resharding): see waitOK.
func (c *RedisCluster) WaitOK(t testing.TB, replicas int) {
	t.Helper()
	if err := c.waitOK(replicas); err != nil {
		t.Fatal(err)
	}
}

// waitOK polls every running node until each says cluster_state:ok, all
// agree on the same epoch-stable view (every slot assigned), and at least
// replicas replicas report master_link_status:up. Polled: Redis gives no
// signal when gossip has converged.
func (c *RedisCluster) waitOK(replicas int) error {
	var last string
	if err := Poll(clusterTimeout, func() bool { last = c.notOK(replicas); return last == "" }); err != nil {
		return fmt.Errorf("testenv: cluster not ok after %s: %s", clusterTimeout, last)
	}
	return nil
}

// pollInterval is how often Poll checks its condition.
const pollInterval = 20 * time.Millisecond

// Poll calls cond every pollInterval until it holds, for up to timeout: a
// readiness check on a process outside the test (Redis signals nothing
// when a cluster forms or a replica's sync ends), not a sleep standing in
// for one.
func Poll(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("testenv: timed out after %s", timeout)
		}
		time.Sleep(pollInterval)
	}
	return nil
}

// notOK says what is not yet ok, or "" when everything is.
func (c *RedisCluster) notOK(replicas int) string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	linked := 0
	for _, n := range c.Nodes {
		if !n.running() {
			continue
		}
		rc := redis.NewClient(&redis.Options{Addr: n.Addr, MaxRetries: -1})
		info, err := rc.ClusterInfo(ctx).Result()
		repl, err2 := rc.Info(ctx, "replication").Result()
		rc.Close()
		if err != nil || err2 != nil {
			return fmt.Sprintf("%s: %v %v", n.Addr, err, err2)
		}
		if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384") {
			return n.Addr + ": " + info
		}
		if strings.Contains(repl, "role:slave") && strings.Contains(repl, "master_link_status:up") {
			linked++
		}
	}
	if linked < replicas {
		return fmt.Sprintf("%d of %d replicas linked", linked, replicas)
	}
	return ""
}

// running reports whether the node's process is alive.
func (n *ClusterNode) running() bool {
	if n.Process == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// Role returns "master" or "slave", as the node itself says.
func (n *ClusterNode) Role(t testing.TB) string {
	t.Helper()
	rc := redis.NewClient(&redis.Options{Addr: n.Addr})
	defer rc.Close()
	v, err := rc.Do(Context(t), "ROLE").Slice()
	if err != nil || len(v) == 0 {
		t.Fatalf("testenv: ROLE of %s: %v", n.Addr, err)
	}
	return fmt.Sprint(v[0])
}

// Do runs a command on the node itself (not routed by the cluster).
func (n *ClusterNode) Do(t testing.TB, args ...any) any {
	t.Helper()
	rc := redis.NewClient(&redis.Options{Addr: n.Addr})
	defer rc.Close()
	v, err := rc.Do(Context(t), args...).Result()
	if err != nil {
		t.Fatalf("testenv: %v on %s: %v", args, n.Addr, err)
	}
	return v
}

// MasterOf returns the running node that serves key's slot as master.
func (c *RedisCluster) MasterOf(t testing.TB, key string) *ClusterNode {
	t.Helper()
	for _, n := range c.Nodes {
		if !n.running() {
			continue
		}
		rc := redis.NewClient(&redis.Options{Addr: n.Addr})
		err := rc.Get(Context(t), key).Err()
		rc.Close()
		if err == nil || err == redis.Nil {
			if n.Role(t) == "master" {
				return n
			}
		}
	}
	t.Fatalf("testenv: no master serves %q", key)
	return nil
}

// freePort is FreePort without a test.
func freePort() (int, error) {
	l, err := listenLocal()
	if err != nil {
		return 0, fmt.Errorf("testenv: find a free port: %w", err)
	}
	defer l.Close()
	return portOf(l), nil
}
