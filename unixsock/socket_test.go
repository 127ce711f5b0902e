package unixsock_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
	"github.com/ddbcache/ddbcache/unixsock"
)

func TestSocketFile(t *testing.T) {
	f := enginetest.New(t)
	e := f.Engine(t, nil)

	t.Run("default mode is 0660", func(t *testing.T) {
		srv := serve(t, e, unixsock.Options{})
		fi, err := os.Stat(srv.Addrs()[0].String())
		if err != nil || fi.Mode().Perm() != 0o660 || fi.Mode()&os.ModeSocket == 0 {
			t.Errorf("socket mode %v, %v; want socket 0660", fi.Mode(), err)
		}
	})
	t.Run("configured mode", func(t *testing.T) {
		srv := serve(t, e, unixsock.Options{Mode: 0o600})
		fi, err := os.Stat(srv.Addrs()[0].String())
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("socket mode %v, %v; want 0600", fi.Mode(), err)
		}
	})
	t.Run("stale socket of a crashed daemon is replaced", func(t *testing.T) {
		path := socketPath(t)
		ln, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		ln.(*net.UnixListener).SetUnlinkOnClose(false) // as if the process died
		ln.Close()
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("stale socket not left behind: %v", err)
		}
		srv := serve(t, e, unixsock.Options{Path: path})
		if pong := client(t, srv.Addrs()[0].String()).Ping(testenv.Context(t)).Val(); pong != "PONG" {
			t.Errorf("PING on the replaced socket = %q", pong)
		}
	})
	t.Run("live socket is not stolen", func(t *testing.T) {
		srv := serve(t, e, unixsock.Options{})
		_, err := unixsock.Listen(e, unixsock.Options{Path: srv.Addrs()[0].String()})
		if !errors.Is(err, unixsock.ErrSocketInUse) {
			t.Fatalf("second Listen: err = %v, want ErrSocketInUse", err)
		}
		if pong := client(t, srv.Addrs()[0].String()).Ping(testenv.Context(t)).Val(); pong != "PONG" {
			t.Errorf("first server no longer answers: %q", pong)
		}
	})
	t.Run("a regular file is not replaced", func(t *testing.T) {
		path := socketPath(t)
		if err := os.WriteFile(path, []byte("precious"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := unixsock.Listen(e, unixsock.Options{Path: path}); err == nil || !strings.Contains(err.Error(), "not a socket") {
			t.Errorf("err = %v, want 'not a socket'", err)
		}
	})
}

func TestConnectionLimitAndAuth(t *testing.T) {
	f := enginetest.New(t)
	e := f.Engine(t, nil)
	ctx := testenv.Context(t)

	t.Run("connections over the limit are refused with a reason", func(t *testing.T) {
		srv := serve(t, e, unixsock.Options{MaxConns: 2})
		path := srv.Addrs()[0].String()
		var conns []net.Conn
		for i := 0; i < 2; i++ {
			c := dialRaw(t, path)
			conns = append(conns, c)
			if got := roundTrip(t, c, "PING\r\n"); got != "+PONG" {
				t.Fatalf("connection %d: %q", i, got)
			}
		}
		over := dialRaw(t, path)
		if got := readLine(t, bufio.NewReader(over)); !strings.Contains(got, "max number of clients") {
			t.Errorf("third connection got %q", got)
		}
		conns[0].Close()
		enginetest.WaitFor(t, "a freed connection slot", func() bool { return srv.Conns() < 2 })
		if got := roundTrip(t, dialRaw(t, path), "PING\r\n"); got != "+PONG" {
			t.Errorf("after a close: %q", got)
		}
	})
	t.Run("password", func(t *testing.T) {
		srv := serve(t, e, unixsock.Options{Password: "s3cret"})
		c := client(t, srv.Addrs()[0].String()).Conn()
		defer c.Close()
		if err := c.Do(ctx, "DDB", "GET", "profile", "1").Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
			t.Errorf("before AUTH: %v, want NOAUTH", err)
		}
		if err := c.Do(ctx, "AUTH", "wrong").Err(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
			t.Errorf("wrong password: %v", err)
		}
		if err := c.Do(ctx, "AUTH", "s3cret").Err(); err != nil {
			t.Fatalf("AUTH: %v", err)
		}
		if pong := c.Ping(ctx).Val(); pong != "PONG" {
			t.Errorf("after AUTH: %q", pong)
		}
	})
}

func TestPipelineAndInline(t *testing.T) {
	f, _, path := setup(t)
	_ = f
	c := dialRaw(t, path)
	var req strings.Builder
	const n = 100
	for i := 0; i < n; i++ {
		fmt.Fprintf(&req, "*4\r\n$3\r\nDDB\r\n$3\r\nGET\r\n$7\r\nprofile\r\n$1\r\n%d\r\n", 1+i%2)
	}
	req.WriteString("PING\r\n") // an inline command, as redis-benchmark sends
	if _, err := c.Write([]byte(req.String())); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	for i := 0; i < n; i++ {
		if h := readLine(t, r); !strings.HasPrefix(h, "$") {
			t.Fatalf("reply %d: %q", i, h)
		}
		want := enginetest.UserJSON(fmt.Sprint(1+i%2), map[int]string{0: "Ann", 1: "Bob"}[i%2])
		if body := readLine(t, r); body != want {
			t.Fatalf("reply %d: %q, want %q", i, body, want)
		}
	}
	if got := readLine(t, r); got != "+PONG" {
		t.Errorf("inline PING: %q", got)
	}
}

// TestRedisTools drives the socket with redis-cli and redis-benchmark, the
// operators' tools.
func TestRedisTools(t *testing.T) {
	_, _, path := setup(t)
	for _, bin := range []string{"redis-cli", "redis-benchmark"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found; install it with: apt-get install -y redis-tools (or run `make deps`)", bin)
		}
	}
	out, err := exec.Command("redis-cli", "-s", path, "DDB", "GET", "profile", "1").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != enginetest.UserJSON("1", "Ann") {
		t.Errorf("redis-cli DDB GET: %q, %v", out, err)
	}
	out, err = exec.Command("redis-cli", "-s", path, "FLUSHALL").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "unknown command 'FLUSHALL'") {
		t.Errorf("redis-cli FLUSHALL: %q, %v", out, err)
	}
	out, err = exec.Command("redis-benchmark", "-s", path, "-t", "ping,get,set", "-q", "-n", "2000", "-c", "10").CombinedOutput()
	if err != nil {
		t.Fatalf("redis-benchmark: %v\n%s", err, out)
	}
	for _, test := range []string{"PING_INLINE", "PING_MBULK", "SET", "GET"} {
		if !strings.Contains(string(out), test+": ") || !strings.Contains(string(out), "requests per second") {
			t.Errorf("redis-benchmark did not complete %s:\n%s", test, out)
		}
	}
	if strings.Contains(strings.ToLower(string(out)), "error") && !strings.Contains(string(out), "Could not fetch server CONFIG") {
		t.Errorf("redis-benchmark reported errors:\n%s", out)
	}
}

func TestBadProtocolKeepsServing(t *testing.T) {
	f := enginetest.New(t)
	e := f.Engine(t, func(o *cache.Options) {})
	srv := serve(t, e, unixsock.Options{})
	path := srv.Addrs()[0].String()
	c := dialRaw(t, path)
	// A bulk length that is not a number: the protocol itself is broken,
	// so this connection ends, with an error; others are unaffected.
	if _, err := c.Write([]byte("*1\r\n$x\r\n")); err != nil {
		t.Fatal(err)
	}
	if got := readLine(t, bufio.NewReader(c)); !strings.HasPrefix(got, "-ERR") {
		t.Errorf("broken protocol: %q, want an error", got)
	}
	if got := roundTrip(t, dialRaw(t, path), "PING\r\n"); got != "+PONG" {
		t.Errorf("server after a broken client: %q", got)
	}
}

func dialRaw(t *testing.T, path string) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func roundTrip(t *testing.T, c net.Conn, req string) string {
	t.Helper()
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	return readLine(t, bufio.NewReader(c))
}

func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read reply: %v (got %q)", err, line)
	}
	return strings.TrimRight(line, "\r\n")
}
