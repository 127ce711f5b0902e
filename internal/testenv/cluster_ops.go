package testenv

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// ID returns the node's cluster node ID.
func (n *ClusterNode) ID(t testing.TB) string {
	t.Helper()
	return fmt.Sprint(n.Do(t, "CLUSTER", "MYID"))
}

// ReplicaOf returns a running replica of master.
func (c *RedisCluster) ReplicaOf(t testing.TB, master *ClusterNode) *ClusterNode {
	t.Helper()
	id := master.ID(t)
	for _, n := range c.Nodes {
		if !n.running() || n == master {
			continue
		}
		info := fmt.Sprint(n.Do(t, "INFO", "replication"))
		if strings.Contains(info, "role:slave") && strings.Contains(info, fmt.Sprintf("master_port:%d\r", master.port)) {
			return n
		}
	}
	t.Fatalf("testenv: no running replica of %s (%s)", master.Addr, id)
	return nil
}

// Failover runs CLUSTER FAILOVER on replica (a manual, coordinated
// failover: the master stops writes until the replica has caught up) and
// waits until the replica says it is master and the cluster is whole.
func (c *RedisCluster) Failover(t testing.TB, replica *ClusterNode) {
	t.Helper()
	replica.Do(t, "CLUSTER", "FAILOVER")
	c.waitRole(t, replica, "master")
	c.WaitOK(t, 3)
}

// waitRole polls until n says it has role.
func (c *RedisCluster) waitRole(t testing.TB, n *ClusterNode, role string) {
	t.Helper()
	if err := Poll(clusterTimeout, func() bool { return n.Role(t) == role }); err != nil {
		t.Fatalf("testenv: %s never became %s", n.Addr, role)
	}
}

// WaitMaster waits until n's replica took over after n died, and the
// cluster is ok again without n.
func (c *RedisCluster) WaitMaster(t testing.TB, replica *ClusterNode) {
	t.Helper()
	c.waitRole(t, replica, "master")
	c.WaitOK(t, 2)
}

// Slot returns the hash slot of key.
func (c *RedisCluster) Slot(t testing.TB, key string) int {
	t.Helper()
	for _, n := range c.Nodes {
		if n.running() {
			v, _ := strconv.Atoi(fmt.Sprint(n.Do(t, "CLUSTER", "KEYSLOT", key)))
			return v
		}
	}
	t.Fatal("testenv: no node running")
	return 0
}

// Reshard moves the lowest slots slots of from to to with `redis-cli
// --cluster reshard` (MIGRATE of their keys), and waits until the cluster
// is whole.
func (c *RedisCluster) Reshard(t testing.TB, from, to *ClusterNode, slots int) {
	t.Helper()
	cli := need(t, "redis-cli", "apt-get install -y redis-server")
	out, err := exec.Command(cli, "--cluster", "reshard", from.Addr, "--cluster-from", from.ID(t),
		"--cluster-to", to.ID(t), "--cluster-slots", strconv.Itoa(slots), "--cluster-yes").CombinedOutput()
	if err != nil {
		t.Fatalf("testenv: redis-cli --cluster reshard: %v\n%s", err, out)
	}
	c.WaitOK(t, 3)
}

// Running reports whether the node's process is alive (a test may have
// stopped it).
func (n *ClusterNode) Running() bool { return n.running() }
