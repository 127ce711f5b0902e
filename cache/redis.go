package cache

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// Defaults for RedisOptions fields left at their zero value.
const (
	// DefaultRedisAddr is the Redis server a daemon beside the app uses
	// when none is configured: the local one.
	DefaultRedisAddr     = "127.0.0.1:6379"
	DefaultClientCacheMB = 128
	DefaultDialTimeout   = 2 * time.Second
	// DefaultCommandTimeout bounds a Redis round trip that does not answer.
	DefaultCommandTimeout = 3 * time.Second
	// reconnectMin and reconnectMax bound the pause between attempts to
	// reach a Redis that was down when the engine started.
	reconnectMin = 100 * time.Millisecond
	reconnectMax = 5 * time.Second
)

// RedisOptions says how to reach Redis.
type RedisOptions struct {
	// Addrs are host:port addresses. One address of a standalone server
	// means standalone; several, or one of a cluster node, mean Redis Cluster.
	Addrs []string
	// Username and Password authenticate; "" means none.
	Username string
	Password string
	// ClientCacheMB is the client-side cache size of the daemon, in MiB,
	// shared by all its Redis connections (see clientcache.go); 0 means
	// DefaultClientCacheMB.
	ClientCacheMB int
	// DisableClientCache turns client-side caching off, for servers without
	// RESP3 or CLIENT TRACKING.
	DisableClientCache bool
	// DialTimeout bounds connecting; 0 means DefaultDialTimeout.
	DialTimeout time.Duration
	// CommandTimeout bounds an unanswered command; 0 means DefaultCommandTimeout.
	CommandTimeout time.Duration
	// Observe, when set, hears every Redis round trip: the command's
	// name, its duration and its error (a nil reply is none), for latency
	// metrics. It must be quick and safe for concurrent use.
	Observe func(op string, d time.Duration, err error)
	// WaitReplicas, when above 0, makes every invalidation wait (Redis
	// WAIT, on the connection that ran the invalidation script) until that
	// many replicas of the key's master have it, or WaitTimeout passes: a
	// master that acknowledged an invalidation and then died could
	// otherwise be replaced by a replica that still holds the old value.
	// 0 means no WAIT (standalone Redis without replicas).
	WaitReplicas int
	// WaitTimeout bounds that wait; 0 means DefaultWaitTimeout. A wait
	// that times out is counted (Stats.WaitShort), not an error: the
	// invalidation is done on the master.
	WaitTimeout time.Duration
	// ReadFromReplicas sends reads to replicas (see replica.go): on Redis
	// Cluster to the replicas of each slot's master, on a standalone
	// primary to ReplicaAddrs. Keys this daemon wrote, invalidated or
	// filled within WriteBypass are still read from the primary.
	ReadFromReplicas bool
	// ReplicaAddrs are host:port addresses of replicas of a standalone
	// primary (Addrs), read when ReadFromReplicas is set.
	ReplicaAddrs []string
	// sendToReplicas is the cluster's rueidis SendToReplicas, set by New.
	sendToReplicas func(rueidis.Completed) bool
}

// DefaultWaitReplicas is RedisOptions.WaitReplicas's zero value spelled
// out for the settings table: no WAIT.
const DefaultWaitReplicas = 0

// DefaultWaitTimeout bounds RedisOptions.WaitReplicas's WAIT.
const DefaultWaitTimeout = 100 * time.Millisecond

// redisConn holds the rueidis client, which exists only once Redis has been
// reached: rueidis.NewClient fails when no address answers, and the daemon
// must start anyway.
type redisConn struct {
	client atomic.Pointer[clientBox] // nil until connected
	done   chan struct{}             // closed when the reconnect loop ends
	// observe is RedisOptions.Observe; nil means round trips are not timed.
	observe func(op string, d time.Duration, err error)
}

// store makes c the client, timed when an observer is set.
func (r *redisConn) store(c rueidis.Client) {
	if r.observe != nil {
		c = observedClient{Client: c, observe: r.observe}
	}
	r.client.Store(&clientBox{c})
}

// clientBox lets an interface value live in an atomic.Pointer.
type clientBox struct{ rueidis.Client }

// dialRedis connects, or starts trying in the background until closed is
// closed. onInvalidations, when not nil, hears Redis's tracking
// invalidations after rueidis dropped the keys from its cache, and nil when
// a connection (and with it the cache) was lost.
func dialRedis(opts RedisOptions, log *slog.Logger, closed <-chan struct{}, onInvalidations func([]rueidis.RedisMessage), reached func()) (*redisConn, error) {
	if len(opts.Addrs) == 0 {
		return nil, fmt.Errorf("cache: no Redis address configured")
	}
	if opts.ClientCacheMB == 0 {
		opts.ClientCacheMB = DefaultClientCacheMB
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	if opts.CommandTimeout == 0 {
		opts.CommandTimeout = DefaultCommandTimeout
	}
	copt := rueidis.ClientOption{
		InitAddress:       opts.Addrs,
		Username:          opts.Username,
		Password:          opts.Password,
		ClientName:        "ddbcache",
		CacheSizeEachConn: opts.ClientCacheMB << 20, // the daemon's total: dialClient splits it
		DisableCache:      opts.DisableClientCache,
		ConnWriteTimeout:  opts.CommandTimeout,
		// rueidis retries read-only commands on network errors until the
		// context ends; a lookup has a better fallback (DynamoDB), so it
		// fails fast instead.
		DisableRetry:    true,
		OnInvalidations: onInvalidations,
		SendToReplicas:  opts.sendToReplicas,
	}
	copt.Dialer.Timeout = opts.DialTimeout
	if opts.sendToReplicas != nil {
		copt.ClusterOption.ShardsRefreshInterval = replicaRefresh
	}
	r := &redisConn{done: make(chan struct{}), observe: opts.Observe}
	c, err := newClient(copt)
	if err == nil {
		r.store(c)
		close(r.done)
		return r, nil
	}
	log.Warn("Redis unreachable at start; serving from DynamoDB until it answers", "addrs", opts.Addrs, "err", err)
	go r.reconnect(copt, log, closed, reached)
	return r, nil
}

// reconnect retries dialClient with backoff until it succeeds or the engine closes.
func (r *redisConn) reconnect(copt rueidis.ClientOption, log *slog.Logger, closed <-chan struct{}, reached func()) {
	defer close(r.done)
	pause := reconnectMin
	for {
		select {
		case <-closed:
			return
		case <-time.After(pause):
		}
		c, err := newClient(copt)
		if err == nil {
			r.store(c)
			log.Info("Redis reached for the first time", "addrs", copt.InitAddress)
			reached()
			return
		}
		pause = min(2*pause, reconnectMax)
	}
}

// get returns the client, or nil while Redis has never been reached.
func (r *redisConn) get() rueidis.Client {
	if b := r.client.Load(); b != nil {
		return b.Client
	}
	return nil
}

func (r *redisConn) close() {
	<-r.done
	if c := r.get(); c != nil {
		c.Close()
	}
}

// client returns the Redis client, or ErrRedis before Redis was reached.
func (e *Engine) client() (rueidis.Client, error) {
	c := e.redis.get()
	if c == nil {
		return nil, fmt.Errorf("%w: not connected", ErrRedis)
	}
	return c, nil
}

// Forward runs a client's Redis command through the engine's pooled,
// auto-pipelined connections. keyPos lists the indexes of args that are
// keys, so that Redis Cluster routes the command; readOnly commands may be
// retried on network errors. A GET is served from the client-side cache.
// A command that is not readOnly may not write the engine's own keys
// (ReservedKey): it fails with ErrReservedKey before reaching Redis.
// Keys written by a command that is not readOnly bypass the local cache
// for a while, so the writer reads its own write, and the Notifier hears
// of them before Forward returns. Redis's answer, error replies included,
// is the Reply; err is the engine's own failure.
func (e *Engine) Forward(ctx context.Context, args []string, keyPos []int, readOnly bool) (reply Reply, err error) {
	if err := e.refuseReserved(args, keyPos, readOnly); err != nil {
		return reply, err // the engine's own keys (see reserved.go)
	}
	c, err := e.client()
	if err != nil {
		return reply, err
	}
	defer func() {
		// rueidis panics when a cluster command's keys span slots; Redis
		// Cluster answers CROSSSLOT, and so do we.
		if p := recover(); p != nil {
			err = fmt.Errorf("CROSSSLOT Keys in request don't hash to the same slot")
		}
	}()
	var res rueidis.RedisResult
	isGet := len(args) == 2 && len(keyPos) == 1 && strings.EqualFold(args[0], "GET")
	var onReplica bool
	if isGet {
		res, _ = e.read(ctx, c, args[1]) // served from the client-side cache
	} else if readOnly {
		res, onReplica = e.forwardToReplica(ctx, args, keyPos)
	}
	if !isGet && !onReplica {
		cmd, written := e.passthrough(c, args, keyPos, readOnly)
		res = c.Do(ctx, cmd)
		if len(written) > 0 {
			// Whether it succeeded or not, the write may have changed them.
			e.notify(written...)
		}
	}
	msg, err := res.ToMessage()
	if _, isReply := rueidis.IsRedisErr(err); err != nil && !isReply && !rueidis.IsRedisNil(err) {
		return reply, fmt.Errorf("%w: %v", ErrRedis, err)
	}
	switch {
	case isGet && msg.IsNil(): // the hot path: a GET answers a bulk or a null
		return Reply{Kind: ReplyNull}, nil
	case isGet && msg.IsString():
		v, _ := msg.ToString()
		return Reply{Kind: ReplyBulk, Str: v}, nil
	}
	return replyOf(&msg), nil
}

// passthrough builds a client's command with its keys marked, and marks
// the keys of a write as written (see writeMarks) and returns them.
func (e *Engine) passthrough(c rueidis.Client, args []string, keyPos []int, readOnly bool) (cmd rueidis.Completed, written []string) {
	isKey := make([]bool, len(args))
	for _, p := range keyPos {
		isKey[p] = true
	}
	b := c.B().Arbitrary(args[0])
	keys := make([]string, 0, len(keyPos))
	for i := 1; i < len(args); i++ {
		if isKey[i] {
			b = b.Keys(args[i])
			keys = append(keys, args[i])
		} else {
			b = b.Args(args[i])
		}
	}
	if readOnly {
		return b.ReadOnly(), nil
	}
	e.bypass.mark(keys...)
	return b.Build(), keys
}
