package unixsock

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
)

// rawConn is a RESP2 connection that hands back each reply's exact bytes,
// so that two servers' answers can be compared byte for byte. No client
// library stands between: go-redis would hide the very differences
// (status or bulk, $-1 or *-1) that a Perl client sees.
type rawConn struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

// dialRaw connects to network/addr, closed at the end of the test.
func dialRaw(t testing.TB, network, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatalf("dial %s %s: %v", network, addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, conn: c, r: bufio.NewReader(c)}
}

// do sends args as a RESP array and returns the reply's bytes.
func (c *rawConn) do(args ...string) string {
	c.t.Helper()
	buf := []byte("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		buf = append(buf, "$"+strconv.Itoa(len(a))+"\r\n"+a+"\r\n"...)
	}
	_ = c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.conn.Write(buf); err != nil {
		c.t.Fatalf("send %q: %v", args, err)
	}
	reply, err := readReply(c.r)
	if err != nil {
		c.t.Fatalf("reply to %q: %v (read so far %q)", args, err, reply)
	}
	return string(reply)
}

// readReply reads one RESP2 reply and returns it as it came. A RESP3 type
// byte is an error: a RESP2 client would not understand it.
func readReply(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadBytes('\n')
	if err != nil {
		return line, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return line, fmt.Errorf("malformed line %q", line)
	}
	switch line[0] {
	case '+', '-', ':':
		return line, nil
	case '$':
		n, err := strconv.Atoi(string(line[1 : len(line)-2]))
		if err != nil || n < -1 {
			return line, fmt.Errorf("bad bulk length %q", line)
		}
		if n == -1 {
			return line, nil
		}
		body := make([]byte, n+2)
		if _, err := io.ReadFull(r, body); err != nil {
			return line, err
		}
		return append(line, body...), nil
	case '*':
		n, err := strconv.Atoi(string(line[1 : len(line)-2]))
		if err != nil || n < -1 {
			return line, fmt.Errorf("bad array length %q", line)
		}
		out := line
		for i := 0; i < n; i++ {
			elem, err := readReply(r)
			out = append(out, elem...)
			if err != nil {
				return out, err
			}
		}
		return out, nil
	}
	return line, fmt.Errorf("type byte %q is not RESP2", line[0])
}

// fixture is a daemon on real Redis and dynalite: its socket path, the
// engine, and the servers.
type fixture struct {
	*enginetest.Fixture
	engine *cache.Engine
	sock   string
}

// newFixture starts the servers, an engine (mod may adjust its options)
// and a socket server.
func newFixture(t *testing.T, mod func(*cache.Options)) *fixture {
	t.Helper()
	f := enginetest.New(t)
	e := f.Engine(t, mod)
	path := filepath.Join(testenv.ShortDir(t), "ddbcache.sock")
	srv, err := Listen(e, Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Serve(t, srv.Serve, func() { _ = srv.Close() })
	return &fixture{Fixture: f, engine: e, sock: path}
}

// sortedAllowlist returns the allowlisted command names in order, so that
// tests run them in a stable order.
func sortedAllowlist() []string {
	names := make([]string, 0, len(allowlist))
	for name := range allowlist {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
