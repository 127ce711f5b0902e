package relay

import (
	"context"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/internal/testenv"
	"github.com/redis/go-redis/v9"
)

func startRelay(t *testing.T, upstream string, delay time.Duration) *Relay {
	t.Helper()
	r, err := New(Options{Upstream: upstream, Delay: delay})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Serve(t, r.Serve, func() { _ = r.Close() })
	return r
}

func client(t *testing.T, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true, PoolSize: 1})
	t.Cleanup(func() { c.Close() })
	return c
}

// medianPing is the median PING round trip over n tries.
func medianPing(t *testing.T, c *redis.Client, n int) time.Duration {
	t.Helper()
	ctx := testenv.Context(t)
	var d []time.Duration
	for range n {
		start := time.Now()
		if err := c.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		d = append(d, time.Since(start))
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[n/2]
}

// TestRelayRTT: a round trip through the relay costs about 2×Delay more
// than the direct one. The bounds are generous: the machine is shared.
func TestRelayRTT(t *testing.T) {
	rs := testenv.Redis(t)
	direct := medianPing(t, client(t, rs.Addr), 200)
	for _, tc := range []struct {
		name  string
		delay time.Duration
	}{
		{"125us each way", 125 * time.Microsecond},
		{"1ms each way", time.Millisecond},
		{"none", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startRelay(t, rs.Addr, tc.delay)
			got := medianPing(t, client(t, r.Addr()), 200) - direct
			want := 2 * tc.delay
			t.Logf("direct %s, added %s, want %s", direct, got, want)
			if (want > 0 && got < want*9/10) || got > want*3+time.Millisecond {
				t.Errorf("relay added %s to a round trip, want about %s", got, want)
			}
		})
	}
}

// TestRelayPipelineOrder: a pipeline of 2000 ECHOs through the relay
// comes back complete and in order, and takes about one delayed round
// trip, not one per command.
func TestRelayPipelineOrder(t *testing.T) {
	rs := testenv.Redis(t)
	const delay = 5 * time.Millisecond
	r := startRelay(t, rs.Addr, delay)
	c := client(t, r.Addr())
	ctx := context.Background()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	pipe := c.Pipeline()
	const n = 2000
	cmds := make([]*redis.StringCmd, n)
	for i := range n {
		cmds[i] = pipe.Echo(ctx, fmt.Sprintf("m%d-%s", i, string(make([]byte, i%300))))
	}
	start := time.Now()
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	for i, cmd := range cmds {
		if want := fmt.Sprintf("m%d-%s", i, string(make([]byte, i%300))); cmd.Val() != want {
			t.Fatalf("reply %d is %.20q, want %.20q", i, cmd.Val(), want)
		}
	}
	if took < 2*delay || took > 40*delay {
		t.Errorf("pipeline of %d took %s, want about one round trip of %s", n, took, 2*delay)
	}
}

func TestRelayOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"no upstream", Options{}},
		{"negative delay", Options{Upstream: "127.0.0.1:1", Delay: -time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.opts); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// pings sends n inline PINGs to c in one write and reads their n
// +PONG replies: a pipeline of n, as raw bytes so that no client library
// adds commands of its own (go-redis sends HELLO on each new connection).
func pings(c net.Conn, n int) error {
	if _, err := c.Write([]byte(strings.Repeat("PING\r\n", n))); err != nil {
		return err
	}
	return pongs(c, n)
}

// pongs reads n +PONG replies from c.
func pongs(c net.Conn, n int) error {
	want := strings.Repeat("+PONG\r\n", n)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if string(got) != want {
		return fmt.Errorf("replies %q, want %q", got, want)
	}
	return nil
}

// TestRelayTurns: Turns counts the round trips callers wait for one after
// the other, over all connections: a pipeline is one, sequential commands
// are one each, on one connection or several.
func TestRelayTurns(t *testing.T) {
	rs := testenv.Redis(t)
	r := startRelay(t, rs.Addr, time.Millisecond)
	var a, b net.Conn
	for _, c := range []*net.Conn{&a, &b} {
		var err error
		if *c, err = net.Dial("tcp", r.Addr()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { (*c).Close() })
	}
	for _, tc := range []struct {
		name string
		run  func() error
		want int64
	}{
		{"one command", func() error { return pings(a, 1) }, 1},
		{"three in sequence", func() error {
			for range 3 {
				if err := pings(a, 1); err != nil {
					return err
				}
			}
			return nil
		}, 3},
		{"a pipeline of three", func() error { return pings(a, 3) }, 1},
		{"one on each connection in sequence", func() error {
			if err := pings(a, 1); err != nil {
				return err
			}
			return pings(b, 1)
		}, 2},
		{"one on each connection at once", func() error {
			if _, err := a.Write([]byte("PING\r\n")); err != nil {
				return err
			}
			if err := pings(b, 1); err != nil {
				return err
			}
			return pongs(a, 1)
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := r.Turns()
			if err := tc.run(); err != nil {
				t.Fatal(err)
			}
			if got := r.Turns() - before; got != tc.want {
				t.Errorf("%d turns, want %d", got, tc.want)
			}
		})
	}
}
