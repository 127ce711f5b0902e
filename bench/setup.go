package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/ddbcache/ddbcache/dynamo"
	"github.com/ddbcache/ddbcache/relay"
	"github.com/redis/go-redis/v9"
)

// rttProbes is how many PINGs measure a round trip; the median is reported.
const rttProbes = 200

// setup connects everything a run needs. The returned Bench, even with
// an error, holds what must be closed.
func setup(ctx context.Context, env Env, opts Options) (*Bench, error) {
	ns, err := namespace(env, opts.Namespace)
	if err != nil {
		return nil, err
	}
	it, err := newItem(ns, opts.ItemSize)
	if err != nil {
		return nil, err
	}
	if len(env.RedisAddrs) == 0 {
		return nil, fmt.Errorf("bench: no Redis address configured")
	}
	if opts.RedisRTT > 0 && len(env.RedisAddrs) > 1 {
		return nil, errNoRelayCluster
	}
	if opts.SeedData {
		if err := checkSeed(env.Dynamo.Endpoint, opts.Yes); err != nil {
			return nil, err
		}
	}
	b := &Bench{opts: opts, env: env, item: it}
	if opts.Progress != nil {
		b.progress.out = opts.Progress
	}
	ddb, err := dynamo.New(ctx, env.Dynamo)
	if err != nil {
		return b, err
	}
	api := ddb.API()
	if opts.SeedData {
		if err := seed(ctx, api, it, opts.Keys); err != nil {
			return b, err
		}
	}
	b.redisRDB = b.redisClient(env.RedisAddrs[0], 2)
	clientAddr := env.RedisAddrs[0]
	if opts.RedisRTT > 0 {
		if clientAddr, err = b.startRelay(clientAddr); err != nil {
			return b, err
		}
	}
	if err := b.connectDaemon(ctx, clientAddr); err != nil {
		return b, err
	}
	if err := b.measureRTT(ctx, clientAddr); err != nil {
		return b, err
	}
	return b, b.addTargets(api, clientAddr)
}

func (b *Bench) redisClient(addr string, pool int) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr, Username: b.env.RedisUsername, Password: b.env.RedisPassword,
		Protocol: 2, DisableIdentity: true, PoolSize: pool, MinIdleConns: min(pool, 8)})
	b.onClose(func() { c.Close() })
	return c
}

// startRelay puts a relay with half the RTT each way in front of addr.
func (b *Bench) startRelay(addr string) (string, error) {
	r, err := relay.New(relay.Options{Upstream: addr, Delay: b.opts.RedisRTT / 2})
	if err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	b.relay = r
	go func() { _ = r.Serve() }()
	b.onClose(func() { _ = r.Close() })
	return r.Addr(), nil
}

// needsDaemon reports whether a target talks to the daemon.
func (b *Bench) needsDaemon() bool {
	if b.opts.Front != "" {
		return true
	}
	return slices.ContainsFunc(b.opts.Targets, func(t string) bool {
		return t == TargetDDBCache || t == TargetPerl || t == TargetPerlNoLocal
	})
}

// connectDaemon spawns a daemon behind the relay (with --redis-rtt or
// --spawn-daemon) or uses the configured one, and opens its stats client.
func (b *Bench) connectDaemon(ctx context.Context, redisAddr string) error {
	if !b.needsDaemon() {
		return nil
	}
	b.socket = b.env.Socket
	password := b.env.SocketPassword
	if b.opts.RedisRTT > 0 || b.opts.SpawnDaemon || b.opts.Front != "" {
		dir, err := b.tempDir()
		if err != nil {
			return err
		}
		d, err := spawnDaemon(ctx, b.env.Self, b.env.GlobalArgs, redisAddr, dir, b.opts.Front == FrontFCGI)
		if err != nil {
			return err
		}
		b.onClose(d.stop)
		b.socket, b.fcgiSocket, b.daemonPID, b.spawned = d.socket, d.fcgi, d.pid(), true
	}
	b.daemonRDB = b.unixClient(password, 2)
	if err := b.daemonRDB.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("bench: daemon at %s: %w (start it, or pass --spawn-daemon)", b.socket, err)
	}
	if b.daemonPID == 0 {
		// The user's daemon: its pid from the socket's peer credentials,
		// for CPU and RSS (readable when it runs as the same user, or root).
		b.daemonPID = socketPeerPID(b.socket)
	}
	return nil
}

func (b *Bench) unixClient(password string, pool int) *redis.Client {
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: b.socket, Password: password, Protocol: 2,
		DisableIdentity: true, PoolSize: pool, MinIdleConns: min(pool, 8)})
	b.onClose(func() { c.Close() })
	return c
}

// measureRTT times PINGs straight to Redis and, with a relay, through it.
func (b *Bench) measureRTT(ctx context.Context, clientAddr string) error {
	var err error
	if b.rtt.DirectUS, err = pingMedian(ctx, b.redisRDB); err != nil {
		return err
	}
	if b.relay == nil {
		return nil
	}
	b.rtt.RequestedUS = float64(b.opts.RedisRTT.Microseconds())
	c := b.redisClient(clientAddr, 1)
	return b.calibrate(ctx, c)
}

// calibrateRounds bounds the calibration; calibrateTolerance is the
// error it accepts, as a share of the requested RTT.
const (
	calibrateRounds    = 4
	calibrateTolerance = 0.1
)

// calibrate lowers the relay's delay until a PING through it takes the
// requested RTT: the relay's extra hops and the machine's wake-up latency
// (large on a loaded machine) come on top of the delay it sleeps.
func (b *Bench) calibrate(ctx context.Context, c *redis.Client) error {
	want := float64(b.opts.RedisRTT.Microseconds())
	best, bestOff := b.relay.Delay(), math.Inf(1)
	for range calibrateRounds {
		got, err := pingMedian(ctx, c)
		if err != nil {
			return err
		}
		off := got - want
		if math.Abs(off) < bestOff {
			best, bestOff, b.rtt.RelayedUS = b.relay.Delay(), math.Abs(off), got
		}
		if math.Abs(off) < calibrateTolerance*want {
			break
		}
		// Half the error each way, damped by half again: the
		// measurement is noisy on a shared machine.
		d := b.relay.Delay() - time.Duration(off/4*float64(time.Microsecond))
		b.relay.SetDelay(min(max(d, 0), b.opts.RedisRTT/2))
	}
	// The delay whose measurement came closest is kept, with that measurement.
	b.relay.SetDelay(best)
	b.rtt.DelayEachWayUS = float64(best.Microseconds())
	return nil
}

// pingMedian returns the median PING round trip in microseconds.
func pingMedian(ctx context.Context, c *redis.Client) (float64, error) {
	times := make([]time.Duration, 0, rttProbes)
	for range rttProbes {
		start := time.Now()
		if err := c.Ping(ctx).Err(); err != nil {
			return 0, fmt.Errorf("bench: PING Redis: %w", err)
		}
		times = append(times, time.Since(start))
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	return float64(times[len(times)/2].Nanoseconds()) / 1000, nil
}

// addTargets builds the requested targets in their order.
func (b *Bench) addTargets(api *dynamodb.Client, redisAddr string) error {
	if b.opts.Front == FrontFCGI {
		return b.addFrontTargets(redisAddr)
	}
	var dir string
	if slices.Contains(b.opts.Targets, TargetPerl) || slices.Contains(b.opts.Targets, TargetPerlNoLocal) {
		if _, err := os.Stat(filepath.Join(b.opts.PerlLib, "DDBCache", "Client.pm")); err != nil {
			return fmt.Errorf("bench: --perl-lib %s has no DDBCache/Client.pm (run from the repository root or pass --perl-lib)", b.opts.PerlLib)
		}
	}
	for _, name := range b.opts.Targets {
		t := &target{name: name, index: len(b.targets), res: result{hist: newHistogram()}}
		switch name {
		case TargetDDBCache:
			t.op = ddbcacheOp(b.unixClient(b.env.SocketPassword, b.opts.Concurrency), b.item)
		case TargetDirect:
			t.op = directOp(b.redisClient(redisAddr, b.opts.Concurrency), api, b.item, &t.ctr)
		case TargetDynamoDB:
			t.op = dynamoOp(api, b.item, &t.ctr)
		case TargetPerl, TargetPerlNoLocal, TargetRedisFast:
			if dir == "" {
				var err error
				if dir, err = b.tempDir(); err != nil {
					return err
				}
			}
			var p *perlTarget
			var err error
			if name == TargetRedisFast {
				p, err = b.newRedisFastTarget(dir, redisAddr)
			} else {
				p, err = newPerlTarget(dir, name, perlClientDDBCache, name == TargetPerl, nil)
			}
			if err != nil {
				return err
			}
			t.perl = p
			b.onClose(p.close)
		default:
			return fmt.Errorf("bench: unknown target %q (known: %v)", name, AllTargets)
		}
		b.targets = append(b.targets, t)
	}
	return nil
}
