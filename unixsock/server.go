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

	"github.com/ddbcache/ddbcache/audit"
	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/sockfile"
	"github.com/ddbcache/ddbcache/tracking"
)

// Defaults for Options fields left at their zero value.
const (
	DefaultMode     = sockfile.DefaultMode
	DefaultMaxConns = 4096
	// DefaultPath is where the daemon's socket lives when none is
	// configured: the systemd unit's RuntimeDirectory. Options.Path has
	// no default (""), the daemon's configuration has this one.
	DefaultPath    = "/run/ddbcache/ddbcache.sock"
	DefaultTimeout = 5 * time.Second
	// DefaultIdleTimeout closes a connection with no command for this
	// long; Perl workers keep theirs open between requests.
	DefaultIdleTimeout = 5 * time.Minute
	// DefaultReadTimeout bounds reading one command from its first byte,
	// so that half-sent commands cannot hold every connection slot.
	DefaultReadTimeout = 10 * time.Second
	// DefaultWriteTimeout bounds writing the replies of a command (and a
	// tracking connection's backlog): a client that stops reading is
	// closed rather than holding its slot.
	DefaultWriteTimeout = 10 * time.Second
	// DefaultMaxKeys bounds the keys of DDB MGET and DDB INVALIDATE, as
	// the HTTP API's _mget.
	DefaultMaxKeys = 1000
	// DefaultUsername is the user of AUTH user password, as in Redis.
	DefaultUsername = "default"
	// commandSlack is what one command may buffer beyond max_value_bytes:
	// its name, keys and headers.
	commandSlack = 64 << 10
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
	// Username is the user AUTH user password must name; "" means
	// DefaultUsername. AUTH password alone means this user.
	Username string
	// IdleTimeout closes a connection that sends no command for this
	// long; 0 means DefaultIdleTimeout, negative none. DDB TRACK
	// connections are exempt.
	IdleTimeout time.Duration
	// ReadTimeout bounds reading one command, from its first byte to its
	// last; 0 means DefaultReadTimeout, negative none.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing replies; 0 means DefaultWriteTimeout,
	// negative none.
	WriteTimeout time.Duration
	// MaxKeys bounds the keys of one DDB MGET, MGETC or INVALIDATE; 0 means
	// DefaultMaxKeys.
	MaxKeys int
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
	// `DDB GETC` and `DDB MGETC` a max-age of 0.
	Tracking *tracking.Registry
	// Audit, when set, is the consistency audit's Stats, which `DDB
	// STATS` reports under "audit"; nil means none.
	Audit func() audit.Stats
}

// Server is a RESP server in front of a cache.Engine.
type Server struct {
	// opts are the options Listen was given (listeners, logger, observer,
	// tracking); cur the ones in force, replaced whole by Reconfigure, from
	// which the fields that can change live are read (see Reconfigure).
	opts   Options
	cur    atomic.Pointer[Options]
	engine *cache.Engine
	log    *slog.Logger
	lns    []net.Listener
	conns  atomic.Int64 // open client connections, tracking ones included
	wg     sync.WaitGroup
	track  trackers
	// authFailures counts failed AUTH attempts, for the metrics.
	authFailures atomic.Int64

	mu      sync.Mutex // guards live and closing
	live    map[*conn]struct{}
	closing bool // set by Close: connections accepted later are closed
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
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	opts = withDefaults(opts)
	if opts.Tracking != nil && engine.Notifier() != cache.Notifier(opts.Tracking) {
		// Its clients would cache values whose changes they never hear of.
		return nil, errors.New("unixsock: Options.Tracking is not the engine's Notifier")
	}
	s := &Server{opts: opts, engine: engine, log: opts.Logger, live: map[*conn]struct{}{}}
	s.cur.Store(&s.opts)
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
	return s, nil
}

// orDefault is d for 0, none (0) for a negative duration, else v.
func orDefault(v, d time.Duration) time.Duration {
	switch {
	case v == 0:
		return d
	case v < 0:
		return 0
	}
	return v
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
	for _, ln := range s.lns {
		s.wg.Add(1)
		go func(ln net.Listener) {
			defer s.wg.Done()
			errs <- s.acceptLoop(ln)
		}(ln)
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

// acceptLoop accepts connections until the listener is closed. A
// temporary failure (out of file descriptors) is retried after a pause
// that grows to a second, as net/http does, rather than spinning.
func (s *Server) acceptLoop(ln net.Listener) error {
	var pause time.Duration
	for {
		nc, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed; retrying", "err", err, "in", pause)
			time.Sleep(pause)
			continue
		}
		pause = 0
		s.accept(nc)
	}
}

// Close stops accepting, closes client connections and removes the socket
// file. Closing the listeners ends Serve even if it has not started yet.
func (s *Server) Close() error {
	s.closeListeners()
	s.mu.Lock()
	s.closing = true
	for c := range s.live {
		c.nc.Close()
	}
	s.mu.Unlock()
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

// AuthFailures returns the number of failed AUTH attempts so far.
func (s *Server) AuthFailures() int64 { return s.authFailures.Load() }

// session is the per-connection state.
type session struct {
	name   string
	authed bool
	id     int64
	// authFailures counts this connection's failed AUTHs, for the delay.
	authFailures int
}

var nextID atomic.Int64

// refusedWriteTimeout bounds writing the refusal to a connection over
// MaxConns.
const refusedWriteTimeout = time.Second

// accept admits a connection within MaxConns and serves it.
func (s *Server) accept(nc net.Conn) {
	if s.conns.Add(1) > int64(s.options().MaxConns) {
		s.conns.Add(-1)
		_ = nc.SetWriteDeadline(time.Now().Add(refusedWriteTimeout))
		_, _ = nc.Write([]byte("-ERR max number of clients reached\r\n"))
		nc.Close()
		return
	}
	c := s.newConn(nc)
	sess := &session{authed: s.options().Password == "", id: nextID.Add(1)}
	c.ctx = sess
	c.rd.authed = sess.authed
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		nc.Close()
		s.conns.Add(-1)
		return
	}
	s.live[c] = struct{}{}
	s.mu.Unlock()
	go s.serveConn(c)
}

// forget removes a connection that ended or was detached from the live set.
func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.live, c)
	s.mu.Unlock()
}
