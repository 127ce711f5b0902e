package cache

import (
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/ddbcache/ddbcache/internal/testenv"
)

// TestCachedConns counts the connections that share the client-side cache
// budget on each topology: rueidis's pipelined connections to a standalone
// server, the cluster's masters, and its replicas too once reads may go
// there. The test cluster has 3 masters with a replica each.
func TestCachedConns(t *testing.T) {
	single := testenv.Redis(t)
	cluster := testenv.SharedCluster(t)
	toReplicas := func(rueidis.Completed) bool { return true }
	cases := []struct {
		name string
		opt  rueidis.ClientOption
		want int
	}{
		{"standalone, multiplex 2", rueidis.ClientOption{InitAddress: []string{single.Addr}, PipelineMultiplex: 2}, 4},
		{"standalone, multiplex 0 is log2 of GOMAXPROCS", rueidis.ClientOption{InitAddress: []string{single.Addr}}, wiresPerNode(rueidis.ClientOption{}, false)},
		{"cluster, masters only", rueidis.ClientOption{InitAddress: cluster.Addrs()[:1]}, 3},
		{"cluster, reads to replicas", rueidis.ClientOption{InitAddress: cluster.Addrs()[:1], SendToReplicas: toReplicas}, 6},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := dialClient(tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// A replica just synced may be missing from CLUSTER SLOTS
			// for a moment: the count settles.
			var got int
			poll := testenv.Poll(10*time.Second, func() bool {
				got, err = cachedConns(c, tc.opt)
				return err == nil && got == tc.want
			})
			if poll != nil {
				t.Fatalf("%d connections hold a cache, %v; want %d", got, err, tc.want)
			}
		})
	}
}
