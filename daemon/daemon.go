// Package daemon is one running ddbcache: the engine, its fronts (the RESP
// socket, FastCGI and HTTP), the tracking registry, the DynamoDB Streams
// consumers and the metrics, built from one Options and run, reloaded and
// shut down as one. cmd/ddbcache only turns flags and the configuration
// file into Options and signals into calls (nats-server's shape).
package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ddbcache/ddbcache/audit"
	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/dynamo"
	api "github.com/ddbcache/ddbcache/fcgi"
	"github.com/ddbcache/ddbcache/metrics"
	"github.com/ddbcache/ddbcache/streams"
	"github.com/ddbcache/ddbcache/tracking"
	"github.com/ddbcache/ddbcache/unixsock"
)

// DefaultGCPercent is the garbage collector's target when GOGC is not
// set. The daemon's live heap is small (a few MiB besides the client-side
// cache) and net/http/fcgi allocates a 64 KiB buffer for every request:
// with Go's default of 100 the collector ran every few dozen FastCGI
// requests and took a third of the daemon's CPU in scripts/bench-fcgi.sh.
const DefaultGCPercent = 400

// MemoryHeadroom is what the daemon's soft memory limit allows beyond the
// client-side cache's budget (redis.client_cache_mb) when GOMEMLIMIT is
// not set. With DefaultGCPercent the heap may grow to 5× the live heap,
// and the cache is most of that: a daemon with a 32 MiB cache reached
// 224 MiB of RSS in TestClientCacheIsADaemonTotal. The limit makes the
// collector run earlier only once the heap nears budget + headroom, so a
// small daemon keeps the cheap GC and a full cache stays within the
// issue's target of client_cache_mb + 100 MiB.
const MemoryHeadroom = 64 << 20

// DefaultDrainTimeout bounds the wait for in-flight HTTP and FastCGI
// requests on Shutdown when its context has no deadline.
const DefaultDrainTimeout = 10 * time.Second

// tableCheckTimeout bounds the check of the namespaces' tables at start.
const tableCheckTimeout = 5 * time.Second

// Options is everything one daemon is built from. New fills in the wiring
// between the parts (the engine's Loader and Notifier, the fronts'
// observers and metrics); the caller sets only what the operator chose.
type Options struct {
	// Engine configures the cache-aside engine; Loader and Notifier are
	// set by New.
	Engine cache.Options
	// Dynamo configures the DynamoDB client the engine loads through.
	Dynamo dynamo.Options
	// Audit configures the consistency audit (its Reader, a DynamoDB
	// client of its own, and Logger are set by New); Sample 0 is off.
	Audit audit.Options
	// Socket configures the RESP front (Unix socket, optional TCP).
	Socket unixsock.Options
	// API configures the HTTP API handler; Web its FastCGI and HTTP
	// listeners. With neither Web.FCGI nor Web.HTTP set there is no web
	// front.
	API api.Options
	Web api.ServerOptions
	// Streams names the tables whose DynamoDB Streams are consumed; no
	// tables means no consumer.
	Streams StreamOptions
	// Log says how the daemon logs (to standard error); the daemon builds
	// the logger that every part uses, so that Reload can change its level
	// and format.
	Log LogOptions
	// Logger, when set, replaces that logger (tests); Log is then ignored.
	Logger *slog.Logger
}

// StreamOptions selects the DynamoDB Streams consumer.
type StreamOptions struct {
	// Tables are the tables of the namespaces with `stream: true`.
	Tables []string
	// Endpoint is the Streams API URL; "" means AWS's.
	Endpoint string
}

// Daemon is one running ddbcache. New opens every listener; Run serves
// until Shutdown or until a front fails.
type Daemon struct {
	opts Options // as wired by New
	// given are the options New or the last Reload was given, which the
	// next Reload compares with.
	given   Options
	log     *slog.Logger
	logs    *logSwitch // nil when Options.Logger was given
	ctx     context.Context
	reload  sync.Mutex // serializes Reload
	engine  *cache.Engine
	audit   *audit.Auditor
	reg     *tracking.Registry
	metrics *metrics.Metrics
	sock    *unixsock.Server
	web     *api.Server  // nil without a web front
	streams func()       // stops the Streams consumer
	api     *api.Handler // nil without a web front
	// consumer is the Streams consumer running now (nil: none), which the
	// metrics read; a reload may replace it.
	consumer atomic.Pointer[streams.Consumer]

	errs     chan error    // a front's Serve returned
	done     chan struct{} // closed by Shutdown
	shutdown sync.Once
}

// New builds the engine and its fronts and opens every listener, so that
// once it returns clients can connect (their requests are served once Run
// is called). A namespace whose table cannot be used is logged, not fatal:
// the table may be created later, and other namespaces work.
func New(ctx context.Context, opts Options) (_ *Daemon, err error) {
	d := &Daemon{given: opts, ctx: context.WithoutCancel(ctx), errs: make(chan error, 2), done: make(chan struct{}), streams: func() {}}
	if opts.Logger == nil {
		if err := opts.Log.check(); err != nil {
			return nil, err
		}
		d.logs = newLogSwitch(os.Stderr, opts.Log)
		opts.Logger = slog.New(d.logs)
	}
	d.log = opts.Logger
	opts.Engine.Logger, opts.Socket.Logger, opts.API.Logger, opts.Web.Logger = d.log, d.log, d.log, d.log
	d.opts = opts
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(DefaultGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit(opts.Engine.Redis))
	}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	// One registry of tracking connections: the engine publishes its
	// invalidations to it, the socket subscribes `DDB TRACK` clients.
	d.reg = tracking.New(tracking.Options{})
	opts.Engine.Notifier, opts.Socket.Tracking = d.reg, d.reg
	if d.audit, err = newAuditor(ctx, opts); err != nil {
		return nil, err
	}
	opts.Engine.Hits = d.audit
	calls := metrics.NewCalls()
	opts.Dynamo.Observe, opts.Engine.Redis.Observe = calls.Dynamo, calls.Redis
	ddb, err := dynamo.New(ctx, opts.Dynamo)
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	opts.Engine.Loader = ddb
	if d.engine, err = cache.New(opts.Engine); err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	d.audit.Start(d.engine)
	d.checkTables(ctx)
	d.metrics = metrics.New(d.engine)
	d.metrics.WatchAudit(d.audit.Stats)
	opts.Socket.Audit = d.audit.Stats
	d.metrics.WatchCalls(calls)
	d.metrics.WatchStreams(d.streamStats)
	opts.Socket.Observe = d.metrics.Observer(metrics.FrontRESP)
	if d.sock, err = unixsock.Listen(d.engine, opts.Socket); err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	d.metrics.WatchConns(metrics.FrontRESP, d.sock.Conns)
	d.metrics.WatchTracking(d.reg.Stats)
	d.metrics.WatchAuthFailures(d.sock.AuthFailures)
	if err := d.listenWeb(opts); err != nil {
		return nil, err
	}
	if err := d.startStreams(ctx, opts); err != nil {
		return nil, err
	}
	return d, nil
}

// memoryLimit is the soft memory limit of a daemon with Redis options o:
// its client-side cache budget plus MemoryHeadroom.
func memoryLimit(o cache.RedisOptions) int64 {
	mb := o.ClientCacheMB
	switch {
	case o.DisableClientCache:
		mb = 0
	case mb == 0:
		mb = cache.DefaultClientCacheMB
	}
	return int64(mb)<<20 + MemoryHeadroom
}

// newAuditor builds the consistency audit of opts. It reads DynamoDB
// through a client of its own, without the latency observer: its
// consistent reads and their capacity are counted as the audit's
// (ddbcache_audit_*), not as lookups'.
func newAuditor(ctx context.Context, opts Options) (*audit.Auditor, error) {
	reader, err := dynamo.New(ctx, opts.Dynamo)
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	ao := opts.Audit
	ao.Reader, ao.Logger = reader, opts.Logger
	a, err := audit.New(ao)
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	return a, nil
}

// listenWeb opens the FastCGI and HTTP listeners, if any is configured.
func (d *Daemon) listenWeb(opts Options) error {
	if opts.Web.FCGI == "" && opts.Web.HTTP == "" {
		return nil
	}
	opts.API.Metrics, opts.Web.Metrics = d.metrics, d.metrics
	handler, err := api.New(d.engine, opts.API)
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	d.api = handler
	if d.web, err = api.Listen(handler, opts.Web); err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	return nil
}

// startStreams runs a DynamoDB Streams consumer for opts.Streams.Tables
// until the daemon shuts down or a reload changes the tables.
func (d *Daemon) startStreams(ctx context.Context, opts Options) error {
	run, err := d.newStreams(ctx, opts)
	if err != nil {
		return err
	}
	run()
	return nil
}

// newStreams builds the Streams consumer of opts and returns the function
// that starts it (and sets d.streams to stop it); without tables it
// starts nothing. Reload builds the new consumer before it changes
// anything, and starts it only once it applies the new options.
func (d *Daemon) newStreams(ctx context.Context, opts Options) (func(), error) {
	tables := opts.Streams.Tables
	if len(tables) == 0 {
		return func() { d.streams = func() {}; d.consumer.Store(nil) }, nil
	}
	consumer, err := streams.NewConsumer(ctx, opts.Dynamo, streams.Options{
		Tables: tables, Endpoint: opts.Streams.Endpoint, Logger: d.log,
	}, streams.NewCoordinator(d.engine))
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	return func() {
		ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		stopped := make(chan struct{})
		d.consumer.Store(consumer)
		go func() { consumer.Run(ctx); close(stopped) }()
		d.streams = func() { cancel(); <-stopped }
		d.log.Info("consuming DynamoDB Streams", "tables", tables)
	}, nil
}

// streamStats is the running Streams consumer's counters for the
// metrics; zeros without one (the metrics exist either way, so that
// dashboards and alerts see them).
func (d *Daemon) streamStats() metrics.StreamStats {
	c := d.consumer.Load()
	if c == nil {
		return metrics.StreamStats{}
	}
	st := c.Stats()
	return metrics.StreamStats{Records: st.Records, Invalidations: st.Invalidations, Gaps: st.Gaps,
		Errors: st.Errors, ShardsOwned: st.ShardsOwned, LagSeconds: st.Lag.Seconds()}
}

// checkTables logs each namespace whose table cannot be used: otherwise
// the daemon would start silently and fail only at the first lookup of
// that namespace. /healthz reports them too.
func (d *Daemon) checkTables(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, tableCheckTimeout)
	defer cancel()
	missing := d.engine.CheckTables(ctx)
	names := make([]string, 0, len(missing))
	for n := range missing {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		d.log.Error("namespace's table cannot be used; its lookups will fail", "namespace", n, "err", missing[n])
	}
}

// Logger is the daemon's logger (its level and format follow Reload).
func (d *Daemon) Logger() *slog.Logger { return d.log }

// Engine is the daemon's cache engine.
func (d *Daemon) Engine() *cache.Engine { return d.engine }

// Audit is the daemon's consistency audit.
func (d *Daemon) Audit() *audit.Auditor { return d.audit }

// Socket is the daemon's RESP front.
func (d *Daemon) Socket() *unixsock.Server { return d.sock }

// Web is the daemon's FastCGI/HTTP front, or nil when none is configured.
func (d *Daemon) Web() *api.Server { return d.web }

// Run serves every front until Shutdown (then it returns nil) or until a
// front fails (then it returns that front's error; the caller should
// still call Shutdown).
func (d *Daemon) Run() error {
	go func() { d.errs <- d.sock.Serve() }()
	if d.web != nil {
		go func() { d.errs <- d.web.Serve() }()
	}
	d.log.Info("ddbcache serving", "unix", d.opts.Socket.Path, "tcp", d.opts.Socket.TCP, "fcgi", d.opts.Web.FCGI,
		"http", d.opts.Web.HTTP, "api_prefix", d.opts.API.Prefix, "namespaces", len(d.opts.Engine.Namespaces))
	for {
		select {
		case <-d.done:
			return nil
		case err := <-d.errs:
			select {
			case <-d.done:
				return nil // a front stopped because Shutdown closed it
			default:
			}
			if err != nil {
				return fmt.Errorf("daemon: %w", err)
			}
		}
	}
}

// Shutdown stops accepting clients, lets in-flight HTTP and FastCGI
// requests finish until ctx ends (DefaultDrainTimeout when ctx has no
// deadline), stops the Streams consumer and closes the engine. It is safe
// to call more than once and from another goroutine than Run.
func (d *Daemon) Shutdown(ctx context.Context) error {
	var err error
	d.shutdown.Do(func() {
		close(d.done)
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, DefaultDrainTimeout)
			defer cancel()
		}
		if d.sock != nil {
			_ = d.sock.Close()
		}
		if d.web != nil {
			if werr := d.web.Shutdown(ctx); werr != nil {
				err = fmt.Errorf("daemon: HTTP/FastCGI requests still in flight were cut off: %w", werr)
			}
		}
		d.close()
	})
	return err
}

// close releases what New built, in reverse order.
func (d *Daemon) close() {
	d.reload.Lock() // a Reload may be replacing the Streams consumer
	defer d.reload.Unlock()
	d.streams()
	if d.web != nil {
		d.web.Close()
	}
	if d.sock != nil {
		_ = d.sock.Close()
	}
	if d.audit != nil {
		d.audit.Close() // its checks use the engine
	}
	if d.engine != nil {
		d.engine.Close()
	}
}
