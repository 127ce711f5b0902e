package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// Read replicas (RedisOptions.ReadFromReplicas).
//
// What goes where: value and negative-entry GETs (through the client-side
// cache or not) and passthrough commands the front calls read-only go to a
// replica; lease scripts, fills, invalidations, WAIT, the link's PING and
// every write go to the primary. Two topologies:
//
//   - Redis Cluster: rueidis routes each read-only command to a replica of
//     its slot's master (ClientOption.SendToReplicas, with toReplica as the
//     predicate). rueidis's cluster client also serves DoCache from the
//     replica, so Redis tracks the key there.
//   - A standalone primary with replicas (ReplicaAddrs): rueidis's own
//     standalone ReplicaAddress mode sends DoCache to the primary always
//     (v1.0.79 standalone.go), so each replica gets a client of its own
//     (a redisConn, reconnecting like the primary's), and reads pick it.
//
// Client-side caching stays tracked: a replica applies the primary's
// writes through its replication stream, and Redis's tracking invalidates
// on those as on its own clients' writes (TestReplicaInvalidatesOnReplicatedWrite).
//
// Read-your-writes: keys this daemon wrote or invalidated a moment ago
// are marked (e.bypass, WriteBypass: 2 s by default) and so are keys it
// filled (replicas.fills, the same window); reads of marked keys go to the
// primary. The window outlasts replication lag by orders of magnitude on a
// healthy replica (sub-millisecond on one host, about a millisecond
// across zones); a replica lagging more than it is what redis.wait_replicas
// and the replica watch below are for.

// replicaCooldown is how long a standalone replica that failed a read, or
// whose link to the primary is down, is left aside: reads go to the
// primary meanwhile, without paying a failed round trip each.
const replicaCooldown = time.Second

// replicaRefresh is how often a cluster client reading from replicas
// rescans the topology: rueidis learns the replicas from CLUSTER SLOTS,
// which lists a replica only once its master's node knows it synced
// (half a second after a cluster forms, in tests), and otherwise rescans
// only on a MOVED or a lost connection, so a replica added or listed
// late would never be read.
const replicaRefresh = 5 * time.Second

// ErrReplicaConfig means ReplicaAddrs was set without ReadFromReplicas.
var ErrReplicaConfig = errors.New("cache: ReplicaAddrs (redis.replica_addrs) needs ReadFromReplicas (redis.read_from_replicas)")

// replicas routes reads to replicas; a nil *replicas (replica reads off)
// sends everything to the primary.
type replicas struct {
	bypass *writeMarks // the engine's: keys written a moment ago
	fills  *writeMarks // keys this daemon filled a moment ago
	// nodes are the standalone replicas, nil on a cluster.
	nodes []*replicaNode
	// first is the node this daemon reads from while it answers: one per
	// daemon (chosen at random), so that a key is cached once, an MGET is
	// one round trip, and daemons spread over the replicas.
	first int
	log   *slog.Logger
}

// replicaNode is one standalone replica.
type replicaNode struct {
	addr string
	conn *redisConn
	// downUntil is when the node may be read again (unix ns); 0 is now.
	downUntil atomic.Int64
}

// newClient is rueidis.NewClient, given only the masters' addresses when
// it is to read from a cluster's replicas: rueidis (v1.0.79, cluster.go
// _refresh) keeps the connection it opened to each init address and
// reuses it when it learns the node is a replica, and that connection was
// opened without READONLY, so the replica answers MOVED to reads and they
// end on the master. The masters are learned with CLUSTER SLOTS through
// a first client; on failure the addresses are used as given.
func newClient(copt rueidis.ClientOption) (rueidis.Client, error) {
	if copt.SendToReplicas != nil {
		copt.InitAddress = masterAddrs(copt)
	}
	return dialClient(copt) // client_cache_mb is the total over its connections
}

// masterAddrs returns the masters of the cluster at copt.InitAddress, or
// copt.InitAddress when they cannot be learned (not a cluster, no answer).
func masterAddrs(copt rueidis.ClientOption) []string {
	probe := copt
	probe.SendToReplicas, probe.DisableCache, probe.OnInvalidations = nil, true, nil
	probe.ClusterOption.ShardsRefreshInterval = 0
	c, err := rueidis.NewClient(probe)
	if err != nil {
		return copt.InitAddress
	}
	defer c.Close()
	if c.Mode() != rueidis.ClientModeCluster {
		return copt.InitAddress
	}
	ctx, cancel := context.WithTimeout(context.Background(), copt.Dialer.Timeout)
	defer cancel()
	ranges, err := c.Do(ctx, c.B().ClusterSlots().Build()).ToArray()
	if err != nil {
		return copt.InitAddress
	}
	var out []string
	seen := map[string]bool{}
	for _, r := range ranges {
		f, _ := r.ToArray()
		if len(f) < 3 {
			return copt.InitAddress
		}
		node, _ := f[2].ToArray() // [host, port, id, …]
		if len(node) < 2 {
			return copt.InitAddress
		}
		host, _ := node[0].ToString()
		port, _ := node[1].AsInt64()
		if host == "" { // "the node you asked": not knowable here
			return copt.InitAddress
		}
		if a := net.JoinHostPort(host, strconv.FormatInt(port, 10)); !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return copt.InitAddress
	}
	return out
}

// newReplicas returns nil when opts turns replica reads off.
func newReplicas(opts RedisOptions, bypass *writeMarks, log *slog.Logger) (*replicas, error) {
	if !opts.ReadFromReplicas {
		if len(opts.ReplicaAddrs) > 0 {
			return nil, ErrReplicaConfig
		}
		return nil, nil
	}
	rp := &replicas{bypass: bypass, fills: newWriteMarks(bypass.window), log: log}
	if len(opts.ReplicaAddrs) > 0 {
		rp.first = rand.IntN(len(opts.ReplicaAddrs))
	}
	return rp, nil
}

// dial connects to the standalone replicas, each with the primary's
// options (client-side cache, timeouts, tracking callback).
func (rp *replicas) dial(opts RedisOptions, closed <-chan struct{}, onInvalidations func([]rueidis.RedisMessage)) error {
	if rp == nil {
		return nil
	}
	for _, addr := range opts.ReplicaAddrs {
		o := opts
		o.Addrs, o.ReplicaAddrs, o.sendToReplicas = []string{addr}, nil, nil
		conn, err := dialRedis(o, rp.log, closed, onInvalidations, func() {})
		if err != nil {
			return fmt.Errorf("cache: replica %s: %w", addr, err)
		}
		rp.nodes = append(rp.nodes, &replicaNode{addr: addr, conn: conn})
	}
	return nil
}

func (rp *replicas) close() {
	if rp == nil {
		return
	}
	for _, n := range rp.nodes {
		n.conn.close()
	}
}

// markFilled makes this daemon read keys it just filled from the primary
// for the window: a lagging replica could still hold what the fill replaced.
func (rp *replicas) markFilled(keys ...string) {
	if rp != nil {
		rp.fills.mark(keys...)
	}
}

// primaryOnly reports whether key must be read from the primary.
func (rp *replicas) primaryOnly(key string) bool {
	return rp.bypass.marked(key) || rp.fills.marked(key)
}

// toReplica is the cluster's SendToReplicas: read-only commands none of
// whose arguments is a marked key. (Arguments that are not keys are
// checked too: a false match only reads from the primary.)
func (rp *replicas) toReplica(cmd rueidis.Completed) bool {
	if !cmd.IsReadOnly() {
		return false
	}
	args := cmd.Commands()
	for _, a := range args[1:] {
		if rp.primaryOnly(a) {
			return false
		}
	}
	return true
}

// pick returns the standalone replica to read keys from, or nil: replica
// reads off, a cluster (rueidis routes), a marked key, or no replica up.
func (rp *replicas) pick(keys ...string) *replicaNode {
	if rp == nil || len(rp.nodes) == 0 {
		return nil
	}
	for _, k := range keys {
		if rp.primaryOnly(k) {
			return nil
		}
	}
	now := time.Now().UnixNano()
	for i := range rp.nodes {
		n := rp.nodes[(rp.first+i)%len(rp.nodes)]
		if n.conn.get() != nil && n.downUntil.Load() <= now {
			return n
		}
	}
	return nil
}

// client returns n's client; n is from pick, so connected.
func (n *replicaNode) client() rueidis.Client { return n.conn.get() }

// answered reports whether a replica's answer can be used, and if not
// leaves the replica aside for replicaCooldown: a network error, or an
// error reply that says the replica cannot serve (MASTERDOWN: its link
// to the primary is down and replica-serve-stale-data is no; LOADING).
func (n *replicaNode) answered(res ...rueidis.RedisResult) bool {
	for _, r := range res {
		if r.NonRedisError() != nil || unserved(r.Error()) {
			n.downUntil.Store(time.Now().Add(replicaCooldown).UnixNano())
			return false
		}
	}
	return true
}

func unserved(err error) bool {
	re, ok := rueidis.IsRedisErr(err)
	if !ok {
		return false
	}
	msg := re.Error()
	return strings.HasPrefix(msg, "MASTERDOWN") || strings.HasPrefix(msg, "LOADING")
}

// watch leaves aside, every interval, the standalone replicas whose link
// to the primary is not up (INFO replication): such a replica serves
// values that no longer receive the primary's writes, nor their
// invalidations. When the link returns, the resynchronization replays
// the writes (or flushes), and Redis invalidates the tracked keys.
func (rp *replicas) watch(interval time.Duration, closed <-chan struct{}) {
	if rp == nil || len(rp.nodes) == 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-closed:
			return
		case <-t.C:
		}
		for _, n := range rp.nodes {
			n.check(interval)
		}
	}
}

// check probes n's replication link once.
func (n *replicaNode) check(interval time.Duration) {
	c := n.conn.get()
	if c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	info, err := c.Do(ctx, c.B().Info().Section("replication").Build()).ToString()
	if err != nil || !strings.Contains(info, "master_link_status:up") {
		// Aside until the next check, and a little beyond it.
		n.downUntil.Store(time.Now().Add(interval + probeTimeout).UnixNano())
	}
}

// readOne GETs key from a standalone replica through the client-side
// cache; ok is false when no replica is to be read or it failed.
func (rp *replicas) readOne(ctx context.Context, key string) (res rueidis.RedisResult, ok bool) {
	n := rp.pick(key)
	if n == nil {
		return res, false
	}
	c := n.client()
	res = c.DoCache(ctx, c.B().Get().Key(key).Cache(), DefaultTTL)
	return res, n.answered(res)
}

// readCached GETs keys from a standalone replica in one pipeline, as
// readOne does.
func (rp *replicas) readCached(ctx context.Context, keys []string) (res []rueidis.RedisResult, ok bool) {
	n := rp.pick(keys...)
	if n == nil {
		return nil, false
	}
	c := n.client()
	cmds := make([]rueidis.CacheableTTL, len(keys))
	for i, k := range keys {
		cmds[i] = rueidis.CT(c.B().Get().Key(k).Cache(), DefaultTTL)
	}
	res = c.DoMultiCache(ctx, cmds...)
	return res, n.answered(res...)
}

// forwardToReplica runs a client's read-only passthrough command on a standalone
// replica; ok is false when it was not run there or the replica failed.
func (e *Engine) forwardToReplica(ctx context.Context, args []string, keyPos []int) (res rueidis.RedisResult, ok bool) {
	keys := make([]string, len(keyPos))
	for i, p := range keyPos {
		keys[i] = args[p]
	}
	n := e.replicas.pick(keys...)
	if n == nil {
		return res, false
	}
	c := n.client()
	cmd, _ := e.passthrough(c, args, keyPos, true)
	res = c.Do(ctx, cmd)
	return res, n.answered(res)
}
