package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"syscall"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/dynamo"
	api "github.com/ddbcache/ddbcache/fcgi"
	"github.com/ddbcache/ddbcache/streams"
	"github.com/ddbcache/ddbcache/tracking"
	"github.com/ddbcache/ddbcache/unixsock"
	"github.com/redis/go-redis/v9"
	"github.com/urfave/cli/v2"
)

// defaultGCPercent is the garbage collector's target when GOGC is not
// set. The daemon's live heap is small (a few MiB besides the client-side
// cache) and net/http/fcgi allocates a 64 KiB buffer for every request:
// with Go's default of 100 the collector ran every few dozen FastCGI
// requests and took a third of the daemon's CPU in scripts/bench-fcgi.sh.
const defaultGCPercent = 400

// drainTimeout bounds the wait for in-flight HTTP and FastCGI requests on shutdown.
const drainTimeout = 10 * time.Second

// newEngine builds the DynamoDB client and the cache engine.
func newEngine(ctx context.Context, s *settings) (*cache.Engine, error) {
	ddb, err := dynamo.New(ctx, s.dynamo)
	if err != nil {
		return nil, err
	}
	s.engine.Loader = ddb
	return cache.New(s.engine)
}

// checkTables logs, at start, each namespace whose table cannot be used:
// otherwise the daemon would start silently and fail only at the first
// lookup of that namespace. /healthz reports them too. The daemon still
// starts: the table may be created later, and other namespaces work.
func checkTables(ctx context.Context, engine *cache.Engine, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	missing := engine.CheckTables(ctx)
	names := make([]string, 0, len(missing))
	for n := range missing {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		log.Error("namespace's table cannot be used; its lookups will fail", "namespace", n, "err", missing[n])
	}
}

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "run the daemon",
		Action: func(c *cli.Context) error {
			s, err := load(c)
			if err != nil {
				return err
			}
			return serve(c.Context, s)
		},
	}
}

// serve runs the fronts until SIGTERM or SIGINT. All fronts share the one
// engine and one set of metrics.
func serve(ctx context.Context, s *settings) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	// One registry of tracking connections: the engine publishes its
	// invalidations to it, the socket subscribes `DDB TRACK` clients.
	reg := tracking.New(tracking.Options{})
	s.engine.Notifier, s.sock.Tracking = reg, reg
	engine, err := newEngine(ctx, s)
	if err != nil {
		return err
	}
	defer engine.Close()
	checkTables(ctx, engine, s.engine.Logger)
	metrics := api.NewMetrics(engine)
	s.sock.Observe = metrics.Observer(api.FrontRESP)
	sock, err := unixsock.Listen(engine, s.sock)
	if err != nil {
		return err
	}
	defer sock.Close()
	stopStreams, err := startStreams(ctx, s, engine)
	if err != nil {
		return err
	}
	defer stopStreams()
	metrics.WatchConns(api.FrontRESP, sock.Conns)
	metrics.WatchTracking(reg.Stats)
	metrics.WatchAuthFailures(sock.AuthFailures)
	errs := make(chan error, 2)
	go func() { errs <- sock.Serve() }()
	var web *api.Server
	if s.web.FCGI != "" || s.web.HTTP != "" {
		s.api.Metrics, s.web.Metrics = metrics, metrics
		handler, err := api.New(engine, s.api)
		if err != nil {
			return err
		}
		if web, err = api.Listen(handler, s.web); err != nil {
			return err
		}
		defer web.Close()
		go func() { errs <- web.Serve() }()
	}
	s.log.Info("ddbcache serving", "unix", s.sock.Path, "tcp", s.sock.TCP, "fcgi", s.web.FCGI, "http", s.web.HTTP,
		"api_prefix", s.api.Prefix, "namespaces", len(s.engine.Namespaces))
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				s.log.Warn("SIGHUP: configuration reload is not supported yet; restart to apply changes")
				continue
			}
			s.log.Info("shutting down", "signal", sig.String())
			sock.Close()
			if web != nil {
				dctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
				if err := web.Shutdown(dctx); err != nil {
					s.log.Warn("HTTP/FastCGI requests still in flight were cut off", "after", drainTimeout, "err", err)
				}
				cancel()
			}
			return nil
		case err := <-errs:
			if err != nil {
				return err
			}
		}
	}
}

// withEngine runs fn with an engine built from the configuration, for the
// one-shot operator commands.
func withEngine(c *cli.Context, fn func(context.Context, *cache.Engine) error) error {
	s, err := load(c)
	if err != nil {
		return err
	}
	engine, err := newEngine(c.Context, s)
	if err != nil {
		return err
	}
	defer engine.Close()
	ctx, cancel := context.WithTimeout(c.Context, 30*time.Second)
	defer cancel()
	return fn(ctx, engine)
}

func getCommand() *cli.Command {
	return &cli.Command{
		Name:      "get",
		Usage:     "print one item's JSON, looked up through the cache",
		ArgsUsage: "NAMESPACE KEY [SORTKEY]",
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 && c.NArg() != 3 {
				return fmt.Errorf("get takes NAMESPACE KEY [SORTKEY]")
			}
			return withEngine(c, func(ctx context.Context, e *cache.Engine) error {
				res, err := e.Get(ctx, c.Args().Get(0), cache.Key{Partition: c.Args().Get(1), Sort: c.Args().Get(2)})
				if err != nil {
					return err
				}
				if res.Value == nil {
					return cli.Exit("not found", 2)
				}
				fmt.Fprintf(c.App.Writer, "%s\n", res.Value)
				return nil
			})
		},
	}
}

func putCommand() *cli.Command {
	return &cli.Command{
		Name:      "put",
		Usage:     "write an item to DynamoDB and invalidate its cache entry",
		ArgsUsage: "NAMESPACE JSON",
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return fmt.Errorf("put takes NAMESPACE JSON")
			}
			return withEngine(c, func(ctx context.Context, e *cache.Engine) error {
				return e.Put(ctx, c.Args().Get(0), []byte(c.Args().Get(1)))
			})
		},
	}
}

func invalidateCommand() *cli.Command {
	return &cli.Command{
		Name:      "invalidate",
		Usage:     "drop cache entries (no DynamoDB write), by key or from a DynamoDB stream event",
		ArgsUsage: "NAMESPACE KEY… | --event FILE",
		Flags: []cli.Flag{&cli.StringFlag{Name: "event", Usage: "a DynamoDB Streams event as AWS Lambda receives it " +
			`({"Records":[{"eventName":"MODIFY","eventSourceARN":…,"dynamodb":{"Keys":…}}]}); - reads standard input`}},
		Action: func(c *cli.Context) error {
			if ev := c.String("event"); ev != "" {
				if c.NArg() != 0 {
					return fmt.Errorf("invalidate --event takes no other arguments")
				}
				body, err := readFileOrStdin(ev)
				if err != nil {
					return err
				}
				return withEngine(c, func(ctx context.Context, e *cache.Engine) error {
					n, err := streams.InvalidateEvent(ctx, e, body)
					if err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "%d\n", n)
					return nil
				})
			}
			if c.NArg() < 2 {
				return fmt.Errorf("invalidate takes NAMESPACE KEY… or --event FILE")
			}
			return withEngine(c, func(ctx context.Context, e *cache.Engine) error {
				var keys []cache.Key
				for _, k := range c.Args().Slice()[1:] {
					keys = append(keys, cache.Key{Partition: k})
				}
				n, err := e.Invalidate(ctx, c.Args().Get(0), keys)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "%d\n", n)
				return nil
			})
		},
	}
}

// readFileOrStdin reads path, or standard input for "-".
func readFileOrStdin(path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(path)
}

func statsCommand() *cli.Command {
	return &cli.Command{
		Name:  "stats",
		Usage: "print a running daemon's counters (DDB STATS on its socket)",
		Action: func(c *cli.Context) error {
			s, err := load(c)
			if err != nil {
				return err
			}
			rdb := redis.NewClient(&redis.Options{Network: "unix", Addr: s.sock.Path, Protocol: 2,
				Password: s.sock.Password, DisableIdentity: true})
			defer rdb.Close()
			out, err := rdb.Do(c.Context, "DDB", "STATS").Text()
			if err != nil {
				return fmt.Errorf("stats from %s: %w", s.sock.Path, err)
			}
			fmt.Fprintln(c.App.Writer, out)
			return nil
		},
	}
}
