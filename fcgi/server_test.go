package fcgi_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/fcgi"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/fcgiclient"
	"github.com/ddbcache/ddbcache/internal/testenv"
)

// socketPath returns a socket path in a fresh short temp dir.
func socketPath(t testing.TB) string {
	t.Helper()
	return filepath.Join(testenv.ShortDir(t), "fcgi.sock")
}

// serveWeb starts a Server for h and stops it at the end of the test.
func serveWeb(t testing.TB, h http.Handler, opts fcgi.ServerOptions) *fcgi.Server {
	t.Helper()
	srv, err := fcgi.Listen(h, opts)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Serve(t, srv.Serve, srv.Close)
	return srv
}

// TestFastCGIParams sends the same lookup with the params nginx, Apache's
// mod_proxy_fcgi and Plack::App::FCGIDispatcher send (as captured from
// the real servers with the deploy/ configs): all must reach the same
// route and get the same bytes.
func TestFastCGIParams(t *testing.T) {
	a := setup(t, nil)
	h, err := fcgi.New(a.engine, fcgi.Options{Prefix: "/api", Metrics: a.metrics})
	if err != nil {
		t.Fatal(err)
	}
	sock := socketPath(t)
	serveWeb(t, h, fcgi.ServerOptions{FCGI: sock, Metrics: a.metrics})
	ann := enginetest.UserJSON("1", "Ann")
	cases := []struct {
		name   string
		params map[string]string
	}{
		{"nginx fastcgi_params", cgiParams("GET", "/api/profile/1?x=1",
			"SCRIPT_NAME", "/api/profile/1", "DOCUMENT_URI", "/api/profile/1", "QUERY_STRING", "x=1")},
		{"Apache ProxyPass /api/ fcgi://localhost/", cgiParams("GET", "/api/profile/1",
			"SCRIPT_NAME", "/api/profile/1", "SCRIPT_FILENAME", "proxy:fcgi://localhost/profile/1", "CONTEXT_PREFIX", "")},
		{"Plack mount /api", cgiParams("GET", "/api/profile/1", "SCRIPT_NAME", "/api", "PATH_INFO", "/profile/1")},
		{"no REQUEST_URI: SCRIPT_NAME + PATH_INFO", cgiParams("GET", "", "SCRIPT_NAME", "/api", "PATH_INFO", "/profile/1")},
		{"canonical /v1", cgiParams("GET", "/v1/profile/1", "SCRIPT_NAME", "/v1/profile/1")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := fcgiRequest(t, "unix", sock, tc.params, "")
			if r.status != 200 || r.body != ann || r.header.Get("X-Cache") == "" || r.header.Get("ETag") != etag(ann) {
				t.Errorf("status %d, body %q, headers %v", r.status, r.body, r.header)
			}
		})
	}
	t.Run("PUT with a body, then GET", func(t *testing.T) {
		doc := `{"user_id":"7","name":"Eve"}`
		r := fcgiRequest(t, "unix", sock, cgiParams("PUT", "/api/profile/7", "CONTENT_LENGTH", fmtLen(doc),
			"CONTENT_TYPE", "application/json"), doc)
		if r.status != 204 {
			t.Fatalf("PUT: %d %q", r.status, r.body)
		}
		r = fcgiRequest(t, "unix", sock, cgiParams("GET", "/api/profile/7"), "")
		if r.status != 200 || r.body != `{"name":"Eve","user_id":"7"}` {
			t.Errorf("GET after PUT: %d %q", r.status, r.body)
		}
	})
	t.Run("error status through CGI", func(t *testing.T) {
		r := fcgiRequest(t, "unix", sock, cgiParams("GET", "/api/nope/1"), "")
		if r.status != 404 || !strings.Contains(r.body, `"code":"unknown_namespace"`) {
			t.Errorf("%d %q", r.status, r.body)
		}
	})
}

// TestShutdownDrains starts a FastCGI request that blocks in the handler,
// shuts the server down, and checks that no new connection is accepted,
// that Shutdown waits, and that the request in flight gets its whole
// response before the connection closes.
func TestShutdownDrains(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	body := strings.Repeat("x", 200<<10) // several FastCGI records
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = w.Write([]byte(body))
	})
	sock := socketPath(t)
	srv, err := fcgi.Listen(h, fcgi.ServerOptions{FCGI: sock, HTTP: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	got := make(chan response, 1)
	go func() { got <- fcgiRequest(t, "unix", sock, cgiParams("GET", "/slow"), "") }()
	<-entered
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	enginetest.WaitFor(t, "the listener to close", func() bool {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	default:
	}
	close(release)
	r := <-got
	if r.status != 200 || r.body != body {
		t.Errorf("in-flight request: status %d, %d bytes of %d", r.status, len(r.body), len(body))
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket file left behind: %v", err)
	}
}

// TestShutdownDeadline checks that a request that does not finish in
// time is cut off when the drain's context ends.
func TestShutdownDeadline(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { close(entered); <-release })
	sock := socketPath(t)
	srv := serveWeb(t, h, fcgi.ServerOptions{FCGI: sock})
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(fcgiclient.EncodeRequest(cgiParams("GET", "/stuck"), "")); err != nil {
		t.Fatal(err)
	}
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want the deadline", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 64)); err == nil {
		t.Errorf("read %d bytes from a connection that should be closed", n)
	}
}

// TestSocketFile checks the socket's mode, that a stale socket file is
// replaced, and that a live one is not taken over.
func TestSocketFile(t *testing.T) {
	h := http.NotFoundHandler()
	sock := socketPath(t)
	srv := serveWeb(t, h, fcgi.ServerOptions{FCGI: sock, FCGIMode: 0o600})
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, %v; want 0600", fi.Mode(), err)
	}
	if _, err := fcgi.Listen(h, fcgi.ServerOptions{FCGI: sock}); !errors.Is(err, fcgi.ErrSocketInUse) {
		t.Errorf("second Listen on a live socket: %v", err)
	}
	_ = srv
	stale := socketPath(t)
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	srv2 := serveWeb(t, h, fcgi.ServerOptions{FCGI: stale})
	if srv2.FCGIAddr() == nil {
		t.Error("no FastCGI listener on the stale socket path")
	}
	if _, err := fcgi.Listen(h, fcgi.ServerOptions{}); err == nil {
		t.Error("Listen without addresses succeeded")
	}
}

// TestManagementRecords: the replies net/http/fcgi writes outside any
// request — FCGI_GET_VALUES_RESULT to a web server's FCGI_GET_VALUES, and
// FCGI_UNKNOWN_TYPE to a record type it does not know — reach the web
// server at once. The connection's write buffer held them until an
// END_REQUEST that, for a management record, never comes: the web
// server waited forever.
func TestManagementRecords(t *testing.T) {
	a := setup(t, nil)
	h, err := fcgi.New(a.engine, fcgi.Options{Prefix: "/api", Metrics: a.metrics})
	if err != nil {
		t.Fatal(err)
	}
	sock := socketPath(t)
	serveWeb(t, h, fcgi.ServerOptions{FCGI: sock, Metrics: a.metrics})
	const wait = 5 * time.Second // far above a reply's microseconds; before the fix, none came
	cases := []struct {
		name string
		// ask sends the record(s) and reads the reply.
		ask func(c *fcgiclient.Conn) error
	}{
		{"GET_VALUES", func(c *fcgiclient.Conn) error {
			v, err := c.GetValues(wait, "FCGI_MPXS_CONNS")
			if err == nil && v["FCGI_MPXS_CONNS"] == "" {
				err = errors.New("no FCGI_MPXS_CONNS in the reply")
			}
			return err
		}},
		{"an unknown record type inside a request", func(c *fcgiclient.Conn) error {
			begin := fcgiclient.EncodeRecord(1, 2, []byte{0, 1, 1, 0, 0, 0, 0, 0}) // responder, keep-conn
			if err := c.Send(begin, fcgiclient.EncodeRecord(42, 2, nil)); err != nil {
				return err
			}
			typ, id, content, err := c.ReadRecord(wait)
			if err == nil && (typ != 11 || id != 0 || len(content) == 0 || content[0] != 42) {
				err = fmt.Errorf("reply type %d, request %d, content %v; want UNKNOWN_TYPE (11) naming 42", typ, id, content)
			}
			// End request 2 (empty params and stdin) so the connection is clean for the next case.
			if err == nil {
				err = c.Send(fcgiclient.EncodeRecord(4, 2, nil), fcgiclient.EncodeRecord(5, 2, nil))
			}
			for err == nil && typ != 3 {
				typ, _, _, err = c.ReadRecord(wait)
			}
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := fcgiclient.Dial("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := tc.ask(c); err != nil {
				t.Fatal(err)
			}
			r, err := c.Do(cgiParams("GET", "/api/profile/1"), "")
			if err != nil || r.Status != 200 {
				t.Fatalf("a request after it on the same connection: %v %+v", err, r)
			}
		})
	}
}
