package testenv_test

import (
	"os"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// TestCluster checks that the harness's cluster is a real one: 3 masters,
// 3 replicas, keys of different slots on different masters, and a shared
// cluster emptied for each test.
func TestCluster(t *testing.T) {
	t0 := time.Now()
	c := testenv.SharedCluster(t)
	t.Logf("cluster of %d nodes up in %s", len(c.Nodes), time.Since(t0))
	roles := map[string]int{}
	for _, n := range c.Nodes {
		roles[n.Role(t)]++
	}
	if roles["master"] != 3 || roles["slave"] != 3 {
		t.Fatalf("roles %v, want 3 masters and 3 replicas", roles)
	}
	rc := c.Client(t)
	ctx := testenv.Context(t)
	masters := map[string]bool{}
	for _, k := range []string{"a", "b", "c", "d", "e", "f"} {
		if err := rc.Set(ctx, k, "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		masters[c.MasterOf(t, k).Addr] = true
	}
	if len(masters) < 2 {
		t.Errorf("six keys on %d master(s)", len(masters))
	}
	again := testenv.SharedCluster(t)
	if again != c {
		t.Fatal("SharedCluster started a second cluster")
	}
	if n, err := rc.Exists(ctx, "a").Result(); err != nil || n != 0 {
		t.Errorf("after SharedCluster: EXISTS a = %d, %v; want 0 (flushed)", n, err)
	}
}

// TestReplicated checks the primary-with-replicas topology: a write on the
// primary reaches both replicas.
func TestReplicated(t *testing.T) {
	rs := testenv.Replicated(t, 2)
	ctx := testenv.Context(t)
	if err := rs.Primary.Client(t).Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n := rs.Wait(t, 2); n != 2 {
		t.Fatalf("WAIT 2 = %d", n)
	}
	for _, r := range rs.Replicas {
		if v, err := r.Client(t).Get(ctx, "k").Result(); err != nil || v != "v" {
			t.Errorf("replica %s: GET k = %q, %v", r.Addr, v, err)
		}
	}
}
