package unixsock_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
	"github.com/ddbcache/ddbcache/unixsock"
)

// replies sends req on a fresh connection to network/addr, half-closes
// nothing, and reads every reply line until the server closes or
// readQuiet passes without more bytes (the server answered everything).
func replies(t *testing.T, network, addr, req string, want int) (lines []string, closed bool) {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	// Read the expected number of reply lines; then one more read shows
	// whether the server closed (EOF) or kept the connection open.
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(lines) < want {
		line, err := r.ReadString('\n')
		if err != nil {
			return lines, true
		}
		lines = append(lines, strings.TrimRight(line, "\r\n"))
	}
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		return lines, true
	}
	line, err := r.ReadString('\n')
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("%q: no answer to PING", req)
		}
		return lines, true
	}
	if line != "+PONG\r\n" {
		lines = append(lines, "after: "+strings.TrimRight(line, "\r\n"))
	}
	return lines, false
}

// TestInlineAsRedis sends the same inline commands to a real redis-server
// and to the daemon: the replies (ECHO shows how a line was split) and
// whether the connection is closed must be the same.
func TestInlineAsRedis(t *testing.T) {
	f := enginetest.New(t)
	e := f.Engine(t, nil)
	srv := serve(t, e, unixsock.Options{})
	path := srv.Addrs()[0].String()
	cases := []struct {
		name string
		req  string
		n    int // reply lines expected (bulk replies are two)
	}{
		{"spaces", "ECHO   a  \r\n", 2},
		{"tabs separate", "ECHO\ta\r\n", 2},
		{"tab inside", "ECHO a\tb\r\n", 1},
		{"double quotes", "ECHO \"a b\"\r\n", 2},
		{"escapes", "ECHO \"\\x41\\x4a\\tz\\\\\\\"\"\r\n", 2},
		{"escape of other character", "ECHO \"\\q\"\r\n", 2},
		{"bad hex is literal", "ECHO \"\\xZZ\"\r\n", 2},
		{"single quotes", "ECHO 'it\\'s'\r\n", 2},
		{"single quotes keep backslashes", "ECHO 'a\\nb'\r\n", 2},
		{"quote inside a token", "ECHO a\"b c\"\r\n", 2},
		{"empty quoted argument", "ECHO \"\"\r\n", 2},
		{"unquoted backslash", "ECHO \\x41\r\n", 2},
		{"unbalanced double quote", "ECHO \"abc\r\n", 1},
		{"unbalanced single quote", "ECHO 'abc\r\n", 1},
		{"closing quote followed by a character", "ECHO \"a\"b\r\n", 1},
		{"newline without carriage return", "ECHO x\nPING\n", 3},
		{"empty lines are skipped", "\r\n\r\nPING\r\n", 1},
		{"vertical tab is not a separator inside", "ECHO a\vb\r\n", 2},
		{"blank line of spaces", "   \r\nPING\r\n", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, wantClosed := replies(t, "tcp", f.Redis.Addr, tc.req, tc.n)
			got, gotClosed := replies(t, "unix", path, tc.req, tc.n)
			if strings.Join(got, "\n") != strings.Join(want, "\n") || gotClosed != wantClosed {
				t.Errorf("%q:\n daemon %q (closed %v)\n redis  %q (closed %v)", tc.req, got, gotClosed, want, wantClosed)
			}
		})
	}
}

// TestNothingRunsAfterQuit pipelines commands after QUIT in one write:
// Redis runs none of them, nor may the daemon.
func TestNothingRunsAfterQuit(t *testing.T) {
	f, _, path := setup(t)
	ctx := testenv.Context(t)
	for _, req := range []string{
		"PING\r\nQUIT\r\nSET afterquit 1\r\n",
		"*1\r\n$4\r\nQUIT\r\n*3\r\n$3\r\nSET\r\n$9\r\nafterquit\r\n$1\r\n1\r\n",
	} {
		c := dialRaw(t, path)
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		all, err := io.ReadAll(c)
		if err != nil || !strings.HasSuffix(string(all), "+OK\r\n") {
			t.Errorf("%q: replies %q, %v; want +OK last, then the end", req, all, err)
		}
	}
	if n := f.RDB.Exists(ctx, "afterquit").Val(); n != 0 {
		t.Error("a command after QUIT ran")
	}
}

// TestAuthUser checks AUTH with a username, as Redis 6's ACL form.
func TestAuthUser(t *testing.T) {
	f := enginetest.New(t)
	e := f.Engine(t, nil)
	srv := serve(t, e, unixsock.Options{Password: "s3cret"})
	path := srv.Addrs()[0].String()
	cases := []struct {
		name string
		auth string
		want string
	}{
		{"password only", "AUTH s3cret\r\n", "+OK"},
		{"default user", "AUTH default s3cret\r\n", "+OK"},
		{"other user", "AUTH bob s3cret\r\n", "-WRONGPASS"},
		{"wrong password", "AUTH default nope\r\n", "-WRONGPASS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := roundTrip(t, dialRaw(t, path), tc.auth); !strings.HasPrefix(got, tc.want) {
				t.Errorf("%q: %q, want %q…", tc.auth, got, tc.want)
			}
		})
	}
}
