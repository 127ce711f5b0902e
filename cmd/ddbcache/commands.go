package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	sdnotify "github.com/coreos/go-systemd/v22/daemon"
	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/daemon"
	"github.com/ddbcache/ddbcache/dynamo"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"
	"github.com/urfave/cli/v2"
)

// newEngine builds the DynamoDB client and the cache engine.
func newEngine(ctx context.Context, s *settings) (*cache.Engine, error) {
	opts := s.daemonOptions()
	ddb, err := dynamo.New(ctx, opts.Dynamo)
	if err != nil {
		return nil, err
	}
	opts.Engine.Loader = ddb
	return cache.New(opts.Engine)
}

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "run the daemon (SIGHUP reloads the configuration, SIGTERM stops)",
		Action: func(c *cli.Context) error {
			s, err := load(c)
			if err != nil {
				return err
			}
			return serve(c.Context, s, func() (*settings, error) { return load(c) })
		},
	}
}

// serve runs the daemon until SIGTERM or SIGINT; every signal is handled
// in this one switch. SIGHUP re-reads the configuration with reread, as
// at start, and reloads the daemon with it.
func serve(ctx context.Context, s *settings, reread func() (*settings, error)) error {
	d, err := daemon.New(ctx, s.daemonOptions())
	if err != nil {
		return err
	}
	log := d.Logger()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	ran := make(chan error, 1)
	go func() { ran <- d.Run() }()
	notify(log, sdnotify.SdNotifyReady) // every listener is open: New opened them
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				reload(d, reread)
				continue
			}
			log.Info("shutting down", "signal", sig.String())
			notify(log, sdnotify.SdNotifyStopping)
			if err := d.Shutdown(context.Background()); err != nil {
				log.Warn("shutdown", "err", err)
			}
			return <-ran
		case err := <-ran:
			notify(log, sdnotify.SdNotifyStopping)
			_ = d.Shutdown(context.Background())
			return err
		}
	}
}

// reload re-reads the configuration and applies it to d. A file that does
// not load, or one that changes settings that need a restart, changes
// nothing: the error is logged (Reload logs what it refused and what it
// changed) and the daemon goes on as it was.
func reload(d *daemon.Daemon, reread func() (*settings, error)) {
	log := d.Logger()
	notify(log, reloadingState())
	defer notify(log, sdnotify.SdNotifyReady)
	s, err := reread()
	if err != nil {
		log.Error("SIGHUP: configuration not reloaded; the running configuration stays", "err", oneLine(err.Error()))
		return
	}
	_ = d.Reload(s.daemonOptions()) // logged by Reload
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
				return usageErrorf(c, "get takes NAMESPACE KEY [SORTKEY]")
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
				return usageErrorf(c, "put takes NAMESPACE JSON")
			}
			return withEngine(c, func(ctx context.Context, e *cache.Engine) error {
				return e.Put(ctx, c.Args().Get(0), []byte(c.Args().Get(1)))
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
			// One attempt, and go-redis's own log lines off: the one
			// error this command prints says what failed.
			logging.Disable()
			opts := &redis.Options{Network: "unix", Addr: s.cfg.Listen.Unix, Protocol: 2,
				Username: s.cfg.Listen.Username, Password: s.cfg.Listen.Password, DisableIdentity: true,
				MaxRetries: -1, DialerRetries: 1}
			if opts.Addr == "" {
				opts.Network, opts.Addr = "tcp", s.cfg.Listen.TCP
			}
			rdb := redis.NewClient(opts)
			defer rdb.Close()
			out, err := rdb.Do(c.Context, "DDB", "STATS").Text()
			if err != nil {
				return fmt.Errorf("stats from %s: %w", opts.Addr, err)
			}
			fmt.Fprintln(c.App.Writer, out)
			return nil
		},
	}
}
