// Package unixsock serves the ddbcache RESP2 protocol on a Unix socket (and
// optionally on loopback TCP): `DDB …` cache-aside commands, a few
// connection commands as Redis answers them, and an allowlist of Redis
// commands forwarded through the engine's pooled connections. Redis
// clients (redis-cli, redis-benchmark, Redis.pm, Redis::Fast) work
// unchanged.
package unixsock

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/sockfile"
	"github.com/ddbcache/ddbcache/tracking"
	"github.com/tidwall/redcon"
)

// Defaults for Options fields left at their zero value.
const (
	DefaultMode     = sockfile.DefaultMode
	DefaultMaxConns = 4096
	DefaultTimeout  = 5 * time.Second
)

// ErrSocketInUse means another live process serves the socket path.
var ErrSocketInUse = sockfile.ErrInUse

// Options configures a Server.
type Options struct {
	// Path is the Unix socket path; "" means no Unix socket.
	Path string
	// Mode is the socket file's mode; 0 means DefaultMode (0660).
	Mode os.FileMode
	// TCP is a host:port to serve on as well, meant for loopback; "" means none.
	TCP string
	// MaxConns bounds open client connections; 0 means DefaultMaxConns.
	MaxConns int
	// Password, when set, must be given with AUTH before other commands.
	Password string
	// Timeout bounds one command's work in the engine; 0 means DefaultTimeout.
	Timeout time.Duration
	// Logger receives errors; nil means slog.Default().
	Logger *slog.Logger
	// Observe, when set, is called with each command's duration (for the
	// request latency metrics); nil means no timing.
	Observe func(time.Duration)
	// Tracking, when set, enables `DDB TRACK`: it must be the engine's
	// cache.Options.Notifier, so that the engine's invalidations reach the
	// tracking connections. nil means `DDB TRACK` answers an error and
	// `DDB GETC` a max-age of 0.
	Tracking *tracking.Registry
}

// Server is a RESP server in front of a cache.Engine.
type Server struct {
	opts    Options
	engine  *cache.Engine
	log     *slog.Logger
	servers []*redcon.Server // one per listener, made in Listen
	lns     []net.Listener
	conns   atomic.Int64 // open client connections, tracking ones included
	wg      sync.WaitGroup
	track   trackers
}

// Listen opens the configured listeners. A socket file left by a crashed
// daemon is replaced; one that a live process answers on is not.
func Listen(engine *cache.Engine, opts Options) (*Server, error) {
	if opts.Path == "" && opts.TCP == "" {
		return nil, errors.New("unixsock: neither a socket path nor a TCP address to listen on")
	}
	if opts.Mode == 0 {
		opts.Mode = DefaultMode
	}
	if opts.MaxConns == 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Tracking != nil && engine.Notifier() != cache.Notifier(opts.Tracking) {
		// Its clients would cache values whose changes they never hear of.
		return nil, errors.New("unixsock: Options.Tracking is not the engine's Notifier")
	}
	s := &Server{opts: opts, engine: engine, log: opts.Logger}
	if opts.Path != "" {
		ln, err := listenUnix(opts.Path, opts.Mode)
		if err != nil {
			return nil, err
		}
		s.lns = append(s.lns, ln)
	}
	if opts.TCP != "" {
		ln, err := net.Listen("tcp", opts.TCP)
		if err != nil {
			s.closeListeners()
			return nil, fmt.Errorf("unixsock: listen on %s: %w", opts.TCP, err)
		}
		s.lns = append(s.lns, ln)
	}
	for _, ln := range s.lns {
		s.servers = append(s.servers, redcon.NewServerNetwork(ln.Addr().Network(), ln.Addr().String(), s.handle, s.accept, s.closed))
	}
	return s, nil
}

// listenUnix listens on path, replacing a stale socket file.
func listenUnix(path string, mode os.FileMode) (net.Listener, error) {
	ln, err := sockfile.Listen(path, mode)
	if err != nil {
		return nil, fmt.Errorf("unixsock: %w", err)
	}
	return ln, nil
}

// Addrs returns the addresses listened on.
func (s *Server) Addrs() []net.Addr {
	out := make([]net.Addr, len(s.lns))
	for i, ln := range s.lns {
		out[i] = ln.Addr()
	}
	return out
}

// Serve serves all listeners until Close. It returns the first error of a
// listener other than its closing.
func (s *Server) Serve() error {
	errs := make(chan error, len(s.lns))
	for i, ln := range s.lns {
		s.wg.Add(1)
		go func(srv *redcon.Server, ln net.Listener) {
			defer s.wg.Done()
			errs <- srv.Serve(ln)
		}(s.servers[i], ln)
	}
	s.wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return fmt.Errorf("unixsock: serve: %w", err)
		}
	}
	return nil
}

// Close stops accepting, closes client connections and removes the socket
// file. Closing the listeners ends Serve even if it has not started yet.
func (s *Server) Close() error {
	s.closeListeners()
	for _, srv := range s.servers {
		_ = srv.Close()
	}
	s.closeTracking()
	return nil
}

func (s *Server) closeListeners() {
	for _, ln := range s.lns {
		ln.Close()
	}
}

// Conns returns the number of open client connections.
func (s *Server) Conns() int64 { return s.conns.Load() }

// session is the per-connection state.
type session struct {
	name   string
	authed bool
	id     int64
	// tracking is set when DDB TRACK detached the connection; from then
	// on serveTracking owns it.
	tracking bool
}

var nextID atomic.Int64

func (s *Server) accept(conn redcon.Conn) bool {
	if s.conns.Add(1) > int64(s.opts.MaxConns) {
		s.conns.Add(-1)
		_, _ = conn.NetConn().Write([]byte("-ERR max number of clients reached\r\n"))
		return false
	}
	conn.SetContext(&session{authed: s.opts.Password == "", id: nextID.Add(1)})
	return true
}

func (s *Server) closed(conn redcon.Conn, err error) {
	if sess, ok := conn.Context().(*session); ok && sess.tracking {
		return // detached, not closed: serveTracking counts it out
	}
	s.conns.Add(-1)
}
