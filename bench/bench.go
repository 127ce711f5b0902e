// Package bench is `ddbcache bench`, a load generator that compares the
// client paths to a DynamoDB item side by side — through the daemon
// (ddbcache), the blog pattern without it (direct, and redis-fast from
// forked Perl workers), DynamoDB alone (dynamodb) and forked Perl workers
// through DDBCache::Client (perl, perl-nolocal) — in interleaved rounds, optionally with Redis behind a
// latency-injecting relay (package relay) so that loopback looks like a
// network, and reports latency percentiles, hit ratios by tier, DynamoDB
// reads and capacity, Redis commands per lookup, CPU and memory.
package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/dynamo"
	"github.com/ddbcache/ddbcache/relay"
	"github.com/redis/go-redis/v9"
)

// Env is what the bench takes from the daemon's configuration (the same
// file and global flags as `serve`).
type Env struct {
	RedisAddrs    []string
	RedisUsername string
	RedisPassword string
	Dynamo        dynamo.Options
	Namespaces    []cache.Namespace
	// Socket and SocketPassword reach a running daemon.
	Socket         string
	SocketPassword string
	// ClientCacheMB is the daemon's redis.client_cache_mb, for the record
	// (0: the default).
	ClientCacheMB int
	// Self and GlobalArgs re-execute this binary as `serve` for a daemon
	// of the bench's own (os.Args[0] and the flags before the command).
	Self       string
	GlobalArgs []string
}

// Options are the bench's own flags; see Flags for their meaning.
type Options struct {
	Keys int
	// Batch is the keys of one lookup: 1 a GET, more an MGET (0 means 1).
	Batch       int
	Dist        Distribution
	ZipfS       float64
	ItemSize    int
	WriteRatio  float64
	Concurrency int
	Procs       int
	Duration    time.Duration
	Requests    int
	Warmup      time.Duration
	// LocalWarmupRequests is lookups per worker of the perl target made
	// before the rounds, after the warm-up, so that the rounds measure
	// workers as old as a long-running app's (0: none). See localWarmup.
	LocalWarmupRequests int
	Rounds              int
	Seed                uint64
	Namespace           string
	Targets             []string
	RedisRTT            time.Duration
	SpawnDaemon         bool
	SeedData            bool
	Yes                 bool
	JSON                string
	Plot                string
	PerlLib             string
	// Front is "" (the targets' own clients) or FrontFCGI.
	Front string
	// Out receives the summary; Progress, when not nil, the live line.
	Out      io.Writer
	Progress io.Writer
}

// MaxBatch bounds --batch: BatchGetItem's limit of 100 keys a call, which
// the dynamodb target sends in one request.
const MaxBatch = 100

// batch is the keys of one lookup, at least 1.
func (o *Options) batch() int { return max(o.Batch, 1) }

// Bench is one run: its clients, spawned processes and targets.
type Bench struct {
	opts Options
	env  Env
	item *item

	socket     string        // the daemon the ddbcache and perl targets use
	fcgiSocket string        // the spawned daemon's FastCGI socket, for --front fcgi
	front      *front        // nginx and the Perl app, for --front fcgi
	daemonRDB  *redis.Client // to that daemon, for DDB STATS; nil without such targets
	redisRDB   *redis.Client // straight to Redis, for INFO commandstats and the RTT probe
	daemonPID  int           // the daemon's, 0 when unknown
	spawned    bool          // the daemon is the bench's own
	relay      *relay.Relay
	progress   progress
	targets    []*target
	rtt        RTTReport
	coldNext   atomic.Int64 // keys --dist cold has handed out
	closers    []func()
}

// Run runs the bench and writes its outputs.
func Run(ctx context.Context, env Env, opts Options) error {
	b, err := setup(ctx, env, opts)
	if b != nil {
		defer b.close()
	}
	if err != nil {
		return err
	}
	started := time.Now()
	b.progress.begun = started
	if opts.Requests == 0 {
		b.progress.total = time.Duration(len(b.targets)) * (opts.Warmup + opts.Duration)
	}
	if err := b.runAll(ctx); err != nil {
		return err
	}
	rep := b.report(started)
	if err := rep.WriteTable(opts.Out); err != nil {
		return err
	}
	if opts.JSON != "" {
		if err := rep.WriteJSON(opts.JSON); err != nil {
			return err
		}
	}
	if opts.Plot != "" {
		if err := rep.WritePlot(opts.Plot); err != nil {
			return err
		}
	}
	return nil
}

func (b *Bench) report(started time.Time) *Report {
	o := b.opts
	rep := &Report{Started: started.UTC(), RedisRTT: b.rtt, Settings: Settings{
		Keys: o.Keys, Dist: string(o.Dist), ZipfS: o.ZipfS, ItemSize: o.ItemSize, WriteRatio: o.WriteRatio,
		Concurrency: o.Concurrency, Procs: o.Procs, Duration: o.Duration.String(), Requests: o.Requests,
		Warmup: o.Warmup.String(), LocalWarmupRequests: o.LocalWarmupRequests, Rounds: o.Rounds, Seed: o.Seed, Namespace: o.Namespace, Spawned: b.spawned,
		Front: o.Front, Batch: o.batch(), ClientCacheMB: b.env.ClientCacheMB,
	}}
	for _, t := range b.targets {
		rep.Targets = append(rep.Targets, t.report())
	}
	return rep
}

func (b *Bench) close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
}

func (b *Bench) onClose(f func()) { b.closers = append(b.closers, f) }

// namespace finds the bench's namespace in the configuration.
func namespace(env Env, name string) (cache.Namespace, error) {
	for _, ns := range env.Namespaces {
		if ns.Name == name {
			return ns, nil
		}
	}
	names := make([]string, 0, len(env.Namespaces))
	for _, ns := range env.Namespaces {
		names = append(names, ns.Name)
	}
	return cache.Namespace{}, fmt.Errorf("bench: --namespace %q is not configured (configured: %v)", name, names)
}

// tempDir makes the run's scratch directory, removed at the end. Its
// path is short: it holds the spawned daemon's Unix socket.
func (b *Bench) tempDir() (string, error) {
	dir, err := os.MkdirTemp("", "ddbbench")
	if err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	b.onClose(func() { os.RemoveAll(dir) })
	return dir, nil
}
