package unixsock_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
	"github.com/ddbcache/ddbcache/tracking"
	"github.com/ddbcache/ddbcache/unixsock"
)

// pushTimeout bounds the wait for a push that Redis's tracking causes:
// it arrives within milliseconds, so only a missing push waits this long.
const pushTimeout = 10 * time.Second

// push is one `invalidate` push: keys, or a flush.
type push struct {
	keys  []string
	flush bool
}

// tracker is the client side of a tracking connection.
type tracker struct {
	conn    net.Conn
	pending []byte // bytes read but not yet a whole push
}

// track opens a connection and sends DDB TRACK, which must answer +OK.
func track(t *testing.T, path string) *tracker {
	t.Helper()
	c := dialRaw(t, path)
	if _, err := c.Write([]byte("*2\r\n$3\r\nDDB\r\n$5\r\nTRACK\r\n")); err != nil {
		t.Fatal(err)
	}
	ok := make([]byte, 5)
	_ = c.SetReadDeadline(time.Now().Add(pushTimeout))
	if _, err := io.ReadFull(c, ok); err != nil || string(ok) != "+OK\r\n" {
		t.Fatalf("DDB TRACK: %q, %v", ok, err)
	}
	return &tracker{conn: c}
}

// readNow returns the pushes that have arrived, without waiting: one
// non-blocking read(2) of the socket.
func (tr *tracker) readNow(t *testing.T) []push {
	t.Helper()
	raw, err := tr.conn.(*net.UnixConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	var n int
	var rerr error
	err = raw.Read(func(fd uintptr) bool {
		n, rerr = syscall.Read(int(fd), buf)
		return true // never wait for readiness
	})
	switch {
	case err != nil:
		t.Fatal(err)
	case errors.Is(rerr, syscall.EAGAIN):
		n = 0
	case rerr != nil:
		t.Fatalf("read: %v", rerr)
	case n == 0:
		t.Fatal("tracking connection closed")
	}
	tr.pending = append(tr.pending, buf[:n]...)
	return tr.parse(t)
}

// waitFor reads pushes until one satisfies ok, for at most pushTimeout.
func (tr *tracker) waitFor(t *testing.T, what string, ok func(push) bool) {
	t.Helper()
	buf := make([]byte, 64<<10)
	deadline := time.Now().Add(pushTimeout)
	for {
		for _, p := range tr.parse(t) {
			if ok(p) {
				return
			}
		}
		_ = tr.conn.SetReadDeadline(deadline)
		n, err := tr.conn.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		tr.pending = append(tr.pending, buf[:n]...)
	}
}

// parse takes the whole pushes off pending.
func (tr *tracker) parse(t *testing.T) []push {
	t.Helper()
	var out []push
	for len(tr.pending) > 0 {
		p, n, err := parsePush(tr.pending)
		if err != nil {
			t.Fatalf("bad push in %q: %v", tr.pending, err)
		}
		if n == 0 {
			break // incomplete
		}
		out = append(out, p)
		tr.pending = tr.pending[n:]
	}
	return out
}

// parsePush parses one push at the start of b, returning how many bytes
// it took (0 if b holds only a part of it).
func parsePush(b []byte) (push, int, error) {
	const header = "*2\r\n$10\r\ninvalidate\r\n"
	if len(b) < len(header) {
		if !strings.HasPrefix(header, string(b)) {
			return push{}, 0, errors.New("not a push header")
		}
		return push{}, 0, nil
	}
	if string(b[:len(header)]) != header {
		return push{}, 0, errors.New("not a push header")
	}
	pos := len(header)
	line := func() (string, bool) {
		i := strings.Index(string(b[pos:]), "\r\n")
		if i < 0 {
			return "", false
		}
		l := string(b[pos : pos+i])
		pos += i + 2
		return l, true
	}
	l, ok := line()
	if !ok {
		return push{}, 0, nil
	}
	if l == "*-1" {
		return push{flush: true}, pos, nil
	}
	n, err := strconv.Atoi(strings.TrimPrefix(l, "*"))
	if err != nil || n < 1 || l[0] != '*' {
		return push{}, 0, fmt.Errorf("array header %q", l)
	}
	var p push
	for i := 0; i < n; i++ {
		l, ok := line()
		if !ok {
			return push{}, 0, nil
		}
		size, err := strconv.Atoi(strings.TrimPrefix(l, "$"))
		if err != nil || l[0] != '$' {
			return push{}, 0, fmt.Errorf("bulk header %q", l)
		}
		if len(b) < pos+size+2 {
			return push{}, 0, nil
		}
		p.keys = append(p.keys, string(b[pos:pos+size]))
		pos += size + 2
	}
	return p, pos, nil
}

func hasKey(key string) func(push) bool {
	return func(p push) bool { return slices.Contains(p.keys, key) }
}

// getc sends DDB GETC on c and returns its reply.
func getc(t *testing.T, r *bufio.Reader, c net.Conn, args ...string) (value any, key string, maxAge int64) {
	t.Helper()
	req := fmt.Sprintf("*%d\r\n$3\r\nDDB\r\n$4\r\nGETC\r\n", 2+len(args))
	for _, a := range args {
		req += fmt.Sprintf("$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	if h := readLine(t, r); h != "*3" {
		t.Fatalf("DDB GETC %v: %q, want *3", args, h)
	}
	switch h := readLine(t, r); {
	case h == "$-1":
		value = nil
	case strings.HasPrefix(h, "$"):
		value = readLine(t, r)
	default:
		t.Fatalf("value %q", h)
	}
	if h := readLine(t, r); !strings.HasPrefix(h, "$") {
		t.Fatalf("key %q", h)
	}
	key = readLine(t, r)
	h := readLine(t, r)
	maxAge, err := strconv.ParseInt(strings.TrimPrefix(h, ":"), 10, 64)
	if err != nil || h[0] != ':' {
		t.Fatalf("max-age %q", h)
	}
	return value, key, maxAge
}

// getcTracked repeats DDB GETC until the daemon tracks the value.
func getcTracked(t *testing.T, r *bufio.Reader, c net.Conn, id string) {
	t.Helper()
	// The fill's own SET invalidates the nil that the first read cached,
	// asynchronously; until that invalidation arrived a read is answered
	// untracked (max-age 0).
	enginetest.WaitFor(t, "a tracked DDB GETC of user "+id, func() bool {
		_, _, maxAge := getc(t, r, c, "profile", id)
		return maxAge > 0
	})
}

func TestGetC(t *testing.T) {
	_, _, path := setup(t)
	c := dialRaw(t, path)
	r := bufio.NewReader(c)
	ann := enginetest.UserJSON("1", "Ann")
	v, key, maxAge := getc(t, r, c, "profile", "1")
	if v != ann || key != "user_profile:1" || maxAge != 0 {
		t.Errorf("fresh item: %v, %q, max-age %d; want %s, user_profile:1, 0 (filled from DynamoDB)", v, key, maxAge, ann)
	}
	// Tracked once Redis's invalidation of the nil the first read cached
	// has reached the daemon (the fill's SET causes it).
	enginetest.WaitFor(t, "a tracked DDB GETC", func() bool {
		v, key, maxAge = getc(t, r, c, "profile", "1")
		return maxAge > 0
	})
	if v != ann || key != "user_profile:1" || maxAge <= 0 || maxAge > int64(time.Hour/time.Millisecond)*11/10 {
		t.Errorf("tracked read: %v, %q, max-age %d; want %s, user_profile:1, 0 < max-age ≤ 1h+10%%", v, key, maxAge, ann)
	}
	v, key, maxAge = getc(t, r, c, "profile", "404")
	if v != nil || key != "user_profile:404" || maxAge != 0 {
		t.Errorf("absent item: %v, %q, %d", v, key, maxAge)
	}
	if v, _, maxAge = getc(t, r, c, "profile", "404"); v != nil || maxAge != 0 {
		t.Errorf("negative entry: %v, max-age %d; want nil, 0", v, maxAge)
	}
}

// TestWritesPushBeforeReplying: when a writer has its reply, the
// invalidation is already on every tracking connection; the tracker reads
// it without waiting.
func TestWritesPushBeforeReplying(t *testing.T) {
	_, _, path := setup(t)
	tr := track(t, path)
	w := dialRaw(t, path)
	wr := bufio.NewReader(w)
	getcTracked(t, wr, w, "1")
	cases := []struct {
		name  string
		req   []string
		reply string
		key   string
	}{
		{"DDB PUT", []string{"DDB", "PUT", "profile", `{"user_id":"1","name":"Ann 2"}`}, "+OK", "user_profile:1"},
		{"DDB PUT of a new item", []string{"DDB", "PUT", "profile", `{"user_id":"5","name":"Eve"}`}, "+OK", "user_profile:5"},
		{"DDB DEL", []string{"DDB", "DEL", "profile", "2"}, ":1", "user_profile:2"},
		{"DDB INVALIDATE", []string{"DDB", "INVALIDATE", "profile", "5", "6"}, ":0", "user_profile:6"},
		{"DDB PUT sort-key item", []string{"DDB", "PUT", "events", `{"account":7,"seq":1}`}, "+OK", "events:7:1"},
		{"passthrough SET", []string{"SET", "user_profile:1", "legacy"}, "+OK", "user_profile:1"},
		{"passthrough DEL", []string{"DEL", "user_profile:1", "other"}, ":1", "other"},
		{"passthrough HSET", []string{"HSET", "h", "f", "v"}, ":1", "h"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var req strings.Builder
			fmt.Fprintf(&req, "*%d\r\n", len(tc.req))
			for _, a := range tc.req {
				fmt.Fprintf(&req, "$%d\r\n%s\r\n", len(a), a)
			}
			if got := roundTrip(t, w, req.String()); got != tc.reply {
				t.Fatalf("reply %q, want %q", got, tc.reply)
			}
			if !slices.ContainsFunc(tr.readNow(t), hasKey(tc.key)) {
				t.Errorf("the writer has its reply, and the tracker does not have the push of %s", tc.key)
			}
		})
	}
}

// TestChangesInRedisArePushed: a change made in Redis behind the daemon's
// back (another daemon, a legacy writer) reaches the tracker through
// Redis's tracking of the daemon's reads.
func TestChangesInRedisArePushed(t *testing.T) {
	f, _, path := setup(t)
	ctx := testenv.Context(t)
	tr := track(t, path)
	c := dialRaw(t, path)
	r := bufio.NewReader(c)
	cases := []struct {
		name   string
		id     string
		change func(key string) error
	}{
		{"SET", "1", func(key string) error { return f.RDB.Set(ctx, key, `{"user_id":"1"}`, time.Hour).Err() }},
		{"DEL", "2", func(key string) error { return f.RDB.Del(ctx, key).Err() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			getcTracked(t, r, c, tc.id)
			key := "user_profile:" + tc.id
			if err := tc.change(key); err != nil {
				t.Fatal(err)
			}
			tr.waitFor(t, "the push of "+key, hasKey(key))
		})
	}
	t.Run("lost Redis connections flush", func(t *testing.T) {
		getcTracked(t, r, c, "1")
		if err := f.RDB.Do(ctx, "CLIENT", "KILL", "TYPE", "normal").Err(); err != nil {
			t.Fatal(err)
		}
		tr.waitFor(t, "the flush push", func(p push) bool { return p.flush })
	})
}

func TestTrackingConnection(t *testing.T) {
	f := enginetest.New(t)
	f.Seed(t, "1", "Ann")
	reg := tracking.New(tracking.Options{})
	e := f.Engine(t, func(o *cache.Options) { o.Notifier = reg })
	ctx := testenv.Context(t)

	t.Run("a command on it closes it", func(t *testing.T) {
		srv := serve(t, e, unixsock.Options{Tracking: reg})
		tr := track(t, srv.Addrs()[0].String())
		if _, err := tr.conn.Write([]byte("PING\r\n")); err != nil {
			t.Fatal(err)
		}
		expectEOF(t, tr.conn)
		enginetest.WaitFor(t, "the tracking connection counted out", func() bool { return srv.Conns() == 0 })
	})
	t.Run("a command pipelined after DDB TRACK closes it after +OK", func(t *testing.T) {
		srv := serve(t, e, unixsock.Options{Tracking: reg})
		c := dialRaw(t, srv.Addrs()[0].String())
		if _, err := c.Write([]byte("PING\r\nDDB TRACK\r\nPING\r\n")); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(pushTimeout))
		got, err := io.ReadAll(c)
		if err != nil || string(got) != "+PONG\r\n+OK\r\n" {
			t.Errorf("read %q, %v; want +PONG, +OK, then EOF", got, err)
		}
	})
	t.Run("counts against the connection limit", func(t *testing.T) {
		srv := serve(t, e, unixsock.Options{Tracking: reg, MaxConns: 2})
		path := srv.Addrs()[0].String()
		tr := track(t, path)
		if got := roundTrip(t, dialRaw(t, path), "PING\r\n"); got != "+PONG" {
			t.Fatalf("second connection: %q", got)
		}
		over := dialRaw(t, path)
		_ = over.SetReadDeadline(time.Now().Add(pushTimeout))
		if got := readLine(t, bufio.NewReader(over)); !strings.Contains(got, "max number of clients") {
			t.Errorf("third connection got %q", got)
		}
		if n := srv.Conns(); n != 2 {
			t.Errorf("Conns() = %d, want 2", n)
		}
		tr.conn.Close()
		enginetest.WaitFor(t, "the tracking connection's slot freed", func() bool { return srv.Conns() < 2 })
		if got := roundTrip(t, dialRaw(t, path), "PING\r\n"); got != "+PONG" {
			t.Errorf("after the tracker left: %q", got)
		}
	})
	t.Run("server close ends it", func(t *testing.T) {
		srv, err := unixsock.Listen(e, unixsock.Options{Path: socketPath(t), Tracking: reg})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- srv.Serve() }()
		tr := track(t, srv.Addrs()[0].String())
		srv.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		expectEOF(t, tr.conn)
		if n := srv.Conns(); n != 0 {
			t.Errorf("Conns() = %d after Close", n)
		}
	})
	t.Run("stats", func(t *testing.T) {
		srv := serve(t, e, unixsock.Options{Tracking: reg})
		path := srv.Addrs()[0].String()
		track(t, path)
		out, err := client(t, path).Do(ctx, "DDB", "STATS").Text()
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			Clients    *int                      `json:"tracking_clients"`
			Pushed     *int64                    `json:"invalidations_pushed"`
			Namespaces map[string]map[string]any `json:"namespaces"`
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil || st.Clients == nil || *st.Clients < 1 || st.Pushed == nil || st.Namespaces["profile"] == nil {
			t.Errorf("DDB STATS = %s (%v); want tracking_clients ≥ 1, invalidations_pushed and the namespaces", out, err)
		}
	})
	t.Run("not enabled", func(t *testing.T) {
		srv := serve(t, e, unixsock.Options{})
		c := client(t, srv.Addrs()[0].String()).Conn()
		defer c.Close()
		if err := c.Do(ctx, "DDB", "TRACK").Err(); err == nil || !strings.Contains(err.Error(), "not enabled") {
			t.Errorf("DDB TRACK without a registry: %v", err)
		}
		// The engine tracks the value from the second read on, but
		// without a registry nobody would hear of its changes.
		for i := 0; i < 3; i++ {
			got, err := c.Do(ctx, "DDB", "GETC", "profile", "1").Slice()
			if err != nil || len(got) != 3 || got[2] != int64(0) {
				t.Errorf("DDB GETC without a registry: %v, %v; want max-age 0", got, err)
			}
		}
	})
	t.Run("a registry that is not the engine's is refused", func(t *testing.T) {
		_, err := unixsock.Listen(e, unixsock.Options{Path: socketPath(t), Tracking: tracking.New(tracking.Options{})})
		if err == nil || !strings.Contains(err.Error(), "not the engine's Notifier") {
			t.Errorf("Listen = %v", err)
		}
	})
}

func expectEOF(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(pushTimeout))
	n, err := io.Copy(io.Discard, c)
	if err != nil || n != 0 {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection still open after %s", pushTimeout)
		}
		if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, os.ErrClosed) {
			t.Errorf("read %d bytes, %v; want the end of the connection", n, err)
		}
	}
}
