package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/fcgi"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/dynamo"
	api "github.com/ddbcache/ddbcache/fcgi"
	"github.com/ddbcache/ddbcache/unixsock"
	"github.com/redis/go-redis/v9"
	"github.com/urfave/cli/v2"
)

// drainTimeout bounds the wait for in-flight HTTP requests on shutdown.
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

// serve runs the fronts until SIGTERM or SIGINT.
func serve(ctx context.Context, s *settings) error {
	engine, err := newEngine(ctx, s)
	if err != nil {
		return err
	}
	defer engine.Close()
	sock, err := unixsock.Listen(engine, s.sock)
	if err != nil {
		return err
	}
	errs := make(chan error, 3)
	go func() { errs <- sock.Serve() }()
	var https []*http.Server
	handler := api.New(engine)
	if s.fcgi != "" {
		ln, err := listenAddr(s.fcgi)
		if err != nil {
			return err
		}
		go func() { errs <- fcgi.Serve(ln, handler) }()
		defer ln.Close()
	}
	if s.http != "" {
		srv := &http.Server{Addr: s.http, Handler: handler, ReadHeaderTimeout: 5 * time.Second}
		https = append(https, srv)
		go func() { errs <- srv.ListenAndServe() }()
	}
	s.log.Info("ddbcache serving", "unix", s.sock.Path, "tcp", s.sock.TCP, "fcgi", s.fcgi, "http", s.http,
		"namespaces", len(s.engine.Namespaces))
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	for {
		select {
		case sig := <-sigs:
			switch sig {
			case syscall.SIGHUP:
				s.log.Warn("SIGHUP: configuration reload is not supported yet; restart to apply changes")
				continue
			default:
				s.log.Info("shutting down", "signal", sig.String())
				sock.Close()
				dctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
				for _, srv := range https {
					_ = srv.Shutdown(dctx)
				}
				cancel()
				return nil
			}
		case err := <-errs:
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				sock.Close()
				return err
			}
		}
	}
}

// listenAddr listens on a Unix socket path (anything with a '/') or a host:port.
func listenAddr(addr string) (net.Listener, error) {
	network := "tcp"
	if strings.Contains(addr, "/") {
		network = "unix"
		_ = os.Remove(addr)
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	if network == "unix" {
		if err := os.Chmod(addr, 0o660); err != nil {
			ln.Close()
			return nil, err
		}
	}
	return ln, nil
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
		Usage:     "drop cache entries (no DynamoDB write)",
		ArgsUsage: "NAMESPACE KEY…",
		Action: func(c *cli.Context) error {
			if c.NArg() < 2 {
				return fmt.Errorf("invalidate takes NAMESPACE KEY…")
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
