package unixsock_test

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/tracking"
	"github.com/ddbcache/ddbcache/unixsock"
)

// TestStalledClientsAreClosed fills every connection slot with clients
// that stall: half a command sent, a command dribbled a byte at a time,
// or nothing at all. Each is closed after its timeout, and a new client
// is served afterwards.
func TestStalledClientsAreClosed(t *testing.T) {
	f := enginetest.New(t)
	e := f.Engine(t, nil)
	const maxConns = 50
	srv := serve(t, e, unixsock.Options{MaxConns: maxConns,
		IdleTimeout: 400 * time.Millisecond, ReadTimeout: 200 * time.Millisecond})
	path := srv.Addrs()[0].String()
	stalls := []struct {
		name string
		send func(c net.Conn)
	}{
		{"half a multibulk command", func(c net.Conn) { _, _ = io.WriteString(c, "*2\r\n$4\r\nPING\r\n$3\r\nab") }},
		{"half an inline command", func(c net.Conn) { _, _ = io.WriteString(c, "PIN") }},
		{"nothing after a command", func(c net.Conn) { _, _ = io.WriteString(c, "PING\r\n") }},
		{"nothing at all", func(net.Conn) {}},
	}
	var conns []net.Conn
	for i := 0; i < maxConns; i++ {
		c := dialRaw(t, path)
		stalls[i%len(stalls)].send(c)
		conns = append(conns, c)
	}
	// Every slot is taken: the daemon counts each stalled client.
	enginetest.WaitFor(t, "50 counted connections", func() bool { return srv.Conns() == maxConns })
	over := dialRaw(t, path)
	if got := readLine(t, bufio.NewReader(over)); !strings.Contains(got, "max number of clients") {
		t.Fatalf("connection over the limit: %q", got)
	}
	// Each stalled client sees its connection end (the PING one after
	// its +PONG): a read returns EOF well within the test's deadline.
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		rest, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("stalled client %d (%s): %v, want the daemon to close it", i, stalls[i%len(stalls)].name, err)
		}
		if want := map[bool]string{true: "+PONG\r\n", false: ""}[i%len(stalls) == 2]; string(rest) != want {
			t.Errorf("stalled client %d got %q", i, rest)
		}
	}
	enginetest.WaitFor(t, "the slots to be free", func() bool { return srv.Conns() == 0 })
	if got := roundTrip(t, dialRaw(t, path), "PING\r\n"); got != "+PONG" {
		t.Errorf("a new client after the stalled ones: %q", got)
	}
}

// TestTrackingIsExemptFromIdle keeps a DDB TRACK connection open past the
// idle timeout: it is closed only when the client goes.
func TestTrackingIsExemptFromIdle(t *testing.T) {
	_, _, path := setupWith(t, unixsock.Options{IdleTimeout: 100 * time.Millisecond})
	tr := track(t, path)
	idle := dialRaw(t, path)
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(idle); err != nil {
		t.Fatalf("an idle connection was not closed: %v", err)
	}
	// The idle one is gone, so the idle timeout has passed for the
	// tracking one too: it must still be open.
	if got := tr.readNow(t); len(got) != 0 {
		t.Errorf("pushes on a quiet tracking connection: %v", got)
	}
}

// setupWith is setup with server options of the test's choosing.
func setupWith(t *testing.T, opts unixsock.Options) (*enginetest.Fixture, *cache.Engine, string) {
	t.Helper()
	f := enginetest.New(t)
	f.Seed(t, "1", "Ann")
	reg := tracking.New(tracking.Options{})
	e := f.Engine(t, func(o *cache.Options) {
		o.MaxValueBytes = 64 << 10
		o.Notifier = reg
	})
	opts.Tracking = reg
	srv := serve(t, e, opts)
	return f, e, srv.Addrs()[0].String()
}
