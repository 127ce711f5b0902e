package cache

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"time"

	"github.com/redis/rueidis"
)

// The client-side cache budget (RedisOptions.ClientCacheMB) is a total for
// the daemon, but rueidis sizes its cache per connection
// (ClientOption.CacheSizeEachConn) and keeps one cache in every pipelined
// connection (rueidis 1.0.79, pipe.go: every "wire" with a background
// reader gets its own LRU). The connections that hold cached reads are:
//
//   - standalone (and standalone with replicas): 2^PipelineMultiplex
//     connections per server, where rueidis turns a PipelineMultiplex of 0
//     into log2(GOMAXPROCS) capped at 2, so 1, 2 or 4; a cached GET goes
//     to the connection its key's slot picks, so all of them fill;
//   - Redis Cluster: one connection per node (a cluster client takes
//     PipelineMultiplex as it is, 0 meaning 1), the masters always, the
//     replicas only when reads are sent to them (SendToReplicas,
//     ReplicaOnly): an unused replica connection holds nothing.
//
// The blocking pool's connections (BLPOP and the like) have caches too,
// but the daemon never reads through them, so they stay empty.
//
// So dialClient divides the budget by that count. A cluster's node count
// is known only once connected: dialClient guesses from the configured
// addresses, asks the cluster (CLUSTER SLOTS), and dials again with the
// right share if the guess was low. The count is taken at dial: a cluster
// that grows later gets more connections and may exceed the budget by the
// new nodes' shares until the daemon restarts (a cluster that shrinks
// under-uses it).

// minCacheEachConn is the least cache a connection is given, so that a
// small budget over many nodes still caches something.
const minCacheEachConn = 1 << 20

// dialClient connects with opt, taking its CacheSizeEachConn as the total
// for all connections and giving each its share.
func dialClient(opt rueidis.ClientOption) (rueidis.Client, error) {
	totalBytes := opt.CacheSizeEachConn
	guess := len(opt.InitAddress) * wiresPerNode(opt, len(opt.InitAddress) > 1)
	opt.CacheSizeEachConn = max(totalBytes/max(guess, 1), minCacheEachConn)
	c, err := rueidis.NewClient(opt)
	if err != nil || opt.DisableCache {
		return c, err
	}
	n, err := cachedConns(c, opt)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("cache: counting Redis connections: %w", err)
	}
	if n <= guess {
		return c, nil
	}
	c.Close()
	opt.CacheSizeEachConn = max(totalBytes/n, minCacheEachConn)
	return rueidis.NewClient(opt)
}

// wiresPerNode is how many pipelined connections rueidis opens to one
// server (mux.go newMux, rueidis.go singleClientMultiplex).
func wiresPerNode(opt rueidis.ClientOption, cluster bool) int {
	m := opt.PipelineMultiplex
	if !cluster && m == 0 {
		m = min(int(math.Log2(float64(runtime.GOMAXPROCS(0)))), 2)
	}
	return 1 << max(m, 0)
}

// cachedConns counts the connections of c that may hold cached reads.
func cachedConns(c rueidis.Client, opt rueidis.ClientOption) (int, error) {
	if c.Mode() != rueidis.ClientModeCluster {
		return len(c.Nodes()) * wiresPerNode(opt, false), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	slots, err := c.Do(ctx, c.B().ClusterSlots().Build()).ToArray()
	if err != nil {
		return 0, err
	}
	withReplicas := opt.SendToReplicas != nil || opt.ReplicaOnly
	nodes := map[string]bool{}
	for _, s := range slots {
		// A range is {start, end, master, replica...}, a node {host, port, id...}.
		entries, err := s.ToArray()
		if err != nil || len(entries) < 3 {
			return 0, fmt.Errorf("CLUSTER SLOTS entry: %v", err)
		}
		for i, node := range entries[2:] {
			if i > 0 && !withReplicas {
				break
			}
			if f, err := node.ToArray(); err == nil && len(f) >= 2 {
				host, _ := f[0].ToString()
				port, _ := f[1].AsInt64()
				nodes[fmt.Sprintf("%s:%d", host, port)] = true
			}
		}
	}
	return max(len(nodes), 1) * wiresPerNode(opt, true), nil
}
