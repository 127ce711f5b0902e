package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/config"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// TestShippedConfig checks that deploy/ddbcache.yaml loads.
func TestShippedConfig(t *testing.T) {
	cfg, err := config.Load(filepath.Join(testenv.RepoRoot(), "deploy", "ddbcache.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Resolve(); err != nil {
		t.Fatal(err)
	}
	o := cfg.Options(nil)
	if o.Web.FCGI != "/run/ddbcache/fcgi.sock" || o.Web.FCGIMode != 0o660 || o.API.Prefix != "/api" || o.Web.HTTP == "" {
		t.Errorf("listen settings %+v %+v", o.Web, o.API)
	}
}

// gate is a DynamoDB endpoint in front of the fixture's that can hold
// requests, so a test can have a request in flight for as long as it wants.
type gate struct {
	url     string
	mu      sync.Mutex // guards holding
	holding bool
	held    chan struct{} // receives a value when a request is held
	release chan struct{} // closed to let held requests through
}

func newGate(t *testing.T, target string) *gate {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{held: make(chan struct{}, 16), release: make(chan struct{})}
	proxy := httputil.NewSingleHostReverseProxy(u)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		hold := g.holding
		g.mu.Unlock()
		if hold {
			g.held <- struct{}{}
			<-g.release
		}
		proxy.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	g.url = "http://" + ln.Addr().String()
	return g
}

func (g *gate) hold() {
	g.mu.Lock()
	g.holding = true
	g.mu.Unlock()
}

// TestServeHTTPAndFastCGI runs `ddbcache serve` with the FastCGI socket,
// plain HTTP and an API prefix; checks that the fronts share counters;
// then sends SIGTERM while an HTTP request waits on DynamoDB: the request
// must still get its answer, and the daemon exit 0 and remove the sockets.
func TestServeHTTPAndFastCGI(t *testing.T) {
	f := enginetest.New(t)
	f.Seed(t, "1", "Ann")
	f.Seed(t, "2", "Bob")
	g := newGate(t, f.Proxy.URL)
	dir := testenv.ShortDir(t)
	socket, fsock := filepath.Join(dir, "ddbcache.sock"), filepath.Join(dir, "fcgi.sock")
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg, _ := writeConfig(t, fmt.Sprintf(`redis: { addrs: [%q] }
dynamodb: { endpoint: %q }
listen: { unix: %q, fcgi: %q, fcgi_mode: "0640", http: %q, api_prefix: /api }
limits: { timeout: 10s, load_timeout: 8s }
`, f.Redis.Addr, g.url, socket, fsock, httpAddr)+goodNamespace)
	d := spawn(t, []string{"--config", cfg, "serve"}, socket)
	get := func(path string) (int, string) {
		res, err := http.Get("http://" + httpAddr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	enginetest.WaitFor(t, "the daemon's HTTP listener", func() bool {
		select {
		case <-d.done:
			t.Fatalf("daemon exited: %s", d.stderr)
		default:
		}
		code, _ := get("/healthz")
		return code == 200
	})
	if code, body := get("/api/profile/1"); code != 200 || body != enginetest.UserJSON("1", "Ann") {
		t.Fatalf("GET /api/profile/1: %d %s", code, body)
	}
	if fi, err := os.Stat(fsock); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("FastCGI socket: %v, %v; want mode 0640", fi, err)
	}
	rdb := redis.NewClient(&redis.Options{Network: "unix", Addr: socket, Protocol: 2, DisableIdentity: true})
	defer rdb.Close()
	if v, err := rdb.Do(context.Background(), "DDB", "GET", "profile", "1").Text(); err != nil || v != enginetest.UserJSON("1", "Ann") {
		t.Fatalf("DDB GET: %q, %v", v, err)
	}
	_, metrics := get("/metrics")
	for _, want := range []string{
		`ddbcache_lookups_total{namespace="profile",result="miss"} 1`,
		`ddbcache_client_connections{front="resp"} 1`,
		`ddbcache_client_connections{front="fcgi"} 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(metrics, `ddbcache_request_duration_seconds_count{front="resp"} 0`) ||
		!strings.Contains(metrics, `ddbcache_request_duration_seconds_count{front="resp"}`) {
		t.Error("/metrics has no RESP command durations")
	}
	hits := strings.Contains(metrics, `ddbcache_lookups_total{namespace="profile",result="local"} 1`) ||
		strings.Contains(metrics, `ddbcache_lookups_total{namespace="profile",result="redis"} 1`)
	if !hits {
		t.Errorf("the socket's hit is not in /metrics:\n%s", metrics)
	}

	g.hold()
	type answer struct {
		code int
		body string
	}
	got := make(chan answer, 1)
	go func() { c, b := get("/api/profile/2"); got <- answer{c, b} }()
	<-g.held
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	enginetest.WaitFor(t, "the daemon to stop accepting", func() bool {
		c, err := net.Dial("tcp", httpAddr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	close(g.release)
	if a := <-got; a.code != 200 || a.body != enginetest.UserJSON("2", "Bob") {
		t.Errorf("request in flight at SIGTERM: %d %s", a.code, a.body)
	}
	select {
	case <-d.done:
	case <-time.After(15 * time.Second):
		t.Fatal("daemon still running 15s after SIGTERM")
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d; stderr:\n%s", code, d.stderr)
	}
	for _, p := range []string{socket, fsock} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left behind: %v", p, err)
		}
	}
}
