package fcgi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/fcgi"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ddbcache/ddbcache/internal/sockfile"
	"github.com/ddbcache/ddbcache/metrics"
)

// Defaults for ServerOptions fields left at their zero value.
const (
	DefaultSocketMode = sockfile.DefaultMode
	// readHeaderTimeout bounds reading a plain HTTP request's headers.
	readHeaderTimeout = 5 * time.Second
	// DefaultReadTimeout, DefaultWriteTimeout and DefaultIdleTimeout are
	// the bounds of ServerOptions' fields of those names.
	DefaultReadTimeout  = 10 * time.Second
	DefaultWriteTimeout = 30 * time.Second
	DefaultIdleTimeout  = 5 * time.Minute
)

// ErrSocketInUse means another live process serves the FastCGI socket path.
var ErrSocketInUse = sockfile.ErrInUse

// ServerOptions configures a Server.
type ServerOptions struct {
	// FCGI is where to serve FastCGI: a Unix socket path (anything with a
	// '/') or a host:port, meant for loopback; "" means no FastCGI.
	FCGI string
	// FCGIMode is the FastCGI socket file's mode; 0 means DefaultSocketMode.
	FCGIMode os.FileMode
	// HTTP is a host:port to serve plain HTTP on, meant for loopback; ""
	// means none.
	HTTP string
	// ReadTimeout bounds reading a plain HTTP request, body included; 0
	// means DefaultReadTimeout, negative none.
	ReadTimeout time.Duration
	// WriteTimeout bounds a plain HTTP request from the end of its
	// headers to the end of its response, handler included; 0 means
	// DefaultWriteTimeout, negative none.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive HTTP connection, or a FastCGI
	// connection, that carries no request for this long; 0 means
	// DefaultIdleTimeout, negative none.
	IdleTimeout time.Duration
	// Pprof mounts net/http/pprof at /debug/pprof/ on the HTTP listener
	// (not FastCGI), to profile the daemon; off by default.
	Pprof bool
	// Metrics, when set, records each front's requests and open connections.
	Metrics *metrics.Metrics
	// Logger receives warnings; nil means slog.Default().
	Logger *slog.Logger
}

// Server serves one http.Handler over FastCGI and plain HTTP.
type Server struct {
	fcgiLn    *drainListener // nil without FastCGI
	httpLn    net.Listener   // nil without HTTP
	http      *http.Server
	fcgiH     http.Handler
	httpConns atomic.Int64
	shutting  atomic.Bool
	wg        sync.WaitGroup
}

// Listen opens the configured listeners for h. A FastCGI socket file left
// by a crashed daemon is replaced; one that a live process answers on is not.
func Listen(h http.Handler, opts ServerOptions) (*Server, error) {
	if opts.FCGI == "" && opts.HTTP == "" {
		return nil, errors.New("fcgi: neither a FastCGI nor an HTTP address to listen on")
	}
	if opts.FCGIMode == 0 {
		opts.FCGIMode = DefaultSocketMode
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{fcgiH: h}
	httpH := h
	if m := opts.Metrics; m != nil {
		s.fcgiH = m.Instrument(metrics.FrontFCGI, h)
		httpH = m.Instrument(metrics.FrontHTTP, h)
	}
	if opts.FCGI != "" {
		ln, err := listen(opts.FCGI, opts.FCGIMode, opts.Logger)
		if err != nil {
			return nil, err
		}
		s.fcgiLn = newDrainListener(ln)
		s.fcgiLn.idle = orDefault(opts.IdleTimeout, DefaultIdleTimeout)
		if opts.Metrics != nil {
			opts.Metrics.WatchConns(metrics.FrontFCGI, s.fcgiLn.Conns)
		}
	}
	if opts.HTTP != "" {
		warnIfNotLoopback(opts.Logger, "http", opts.HTTP)
		ln, err := net.Listen("tcp", opts.HTTP)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("fcgi: listen on %s: %w", opts.HTTP, err)
		}
		s.httpLn = ln
		if opts.Pprof {
			httpH = withPprof(httpH)
		}
		s.http = &http.Server{Handler: httpH, ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout:  orDefault(opts.ReadTimeout, DefaultReadTimeout),
			WriteTimeout: orDefault(opts.WriteTimeout, DefaultWriteTimeout),
			IdleTimeout:  orDefault(opts.IdleTimeout, DefaultIdleTimeout),
			ConnState: func(_ net.Conn, st http.ConnState) {
				switch st {
				case http.StateNew:
					s.httpConns.Add(1)
				case http.StateClosed, http.StateHijacked:
					s.httpConns.Add(-1)
				}
			}}
		if opts.Metrics != nil {
			opts.Metrics.WatchConns(metrics.FrontHTTP, s.httpConns.Load)
		}
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

// listen listens on a Unix socket path (anything with a '/') with the
// given mode, or on a host:port.
func listen(addr string, mode os.FileMode, log *slog.Logger) (net.Listener, error) {
	if !strings.Contains(addr, "/") {
		warnIfNotLoopback(log, "fcgi", addr)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("fcgi: listen on %s: %w", addr, err)
		}
		return ln, nil
	}
	ln, err := sockfile.Listen(addr, mode)
	if err != nil {
		return nil, fmt.Errorf("fcgi: %w", err)
	}
	return ln, nil
}

// warnIfNotLoopback logs a warning for a TCP address that is reachable
// from other hosts: the API has no authentication.
func warnIfNotLoopback(log *slog.Logger, what, addr string) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return
	}
	if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
		return
	}
	log.Warn("the API has no authentication; serve it on loopback only", "listen", what, "addr", addr)
}

// FCGIAddr returns the FastCGI listener's address, or nil.
func (s *Server) FCGIAddr() net.Addr {
	if s.fcgiLn == nil {
		return nil
	}
	return s.fcgiLn.Addr()
}

// HTTPAddr returns the HTTP listener's address, or nil.
func (s *Server) HTTPAddr() net.Addr {
	if s.httpLn == nil {
		return nil
	}
	return s.httpLn.Addr()
}

// Serve serves until Shutdown or Close and returns the first error of a
// listener other than its closing.
func (s *Server) Serve() error {
	errs := make(chan error, 2)
	if s.fcgiLn != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			err := fcgi.Serve(s.fcgiLn, s.fcgiH)
			if s.shutting.Load() || errors.Is(err, net.ErrClosed) {
				err = nil
			}
			errs <- err
		}()
	}
	if s.http != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			err := s.http.Serve(s.httpLn)
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			errs <- err
		}()
	}
	s.wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return fmt.Errorf("fcgi: serve: %w", err)
		}
	}
	return nil
}

// Shutdown stops accepting, lets the requests in flight finish (FastCGI
// and HTTP alike), and closes the connections; when ctx ends first, it
// closes them anyway and returns ctx's error. The FastCGI socket file is
// removed.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutting.Store(true)
	var wg sync.WaitGroup
	var fErr, hErr error
	if s.fcgiLn != nil {
		wg.Add(1)
		go func() { defer wg.Done(); fErr = s.fcgiLn.drain(ctx) }()
	}
	if s.http != nil {
		wg.Add(1)
		go func() { defer wg.Done(); hErr = s.http.Shutdown(ctx) }()
	}
	wg.Wait()
	return errors.Join(fErr, hErr)
}

// Close stops the server at once, closing connections with requests in flight.
func (s *Server) Close() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = s.Shutdown(ctx)
	if s.http != nil {
		_ = s.http.Close()
	} else if s.httpLn != nil {
		s.httpLn.Close()
	}
}
