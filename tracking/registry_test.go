package tracking_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/tracking"
)

// readTimeout bounds every read in these tests; a push that is written
// arrives at once, so only a broken registry ever waits this long.
const readTimeout = 10 * time.Second

// pair returns the two ends of a connected Unix socket pair: the daemon's
// end, to subscribe, and the client's end, to read pushes from.
func pair(t *testing.T) (daemon, client net.Conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	conn := func(fd int) net.Conn {
		f := os.NewFile(uintptr(fd), "socketpair")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatalf("FileConn: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	return conn(fds[0]), conn(fds[1])
}

// subscribe subscribes the daemon's end of a new pair and reads the
// greeting from the client's end.
func subscribe(t *testing.T, r *tracking.Registry) (*tracking.Subscriber, net.Conn) {
	t.Helper()
	d, c := pair(t)
	sub, err := r.Subscribe(d, []byte("+OK\r\n"))
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if got := readN(t, c, 5); got != "+OK\r\n" {
		t.Fatalf("greeting %q, want +OK", got)
	}
	return sub, c
}

func readN(t *testing.T, c net.Conn, n int) string {
	t.Helper()
	buf := make([]byte, n)
	_ = c.SetReadDeadline(time.Now().Add(readTimeout))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read %d bytes: %v (got %q)", n, err, buf)
	}
	return string(buf)
}

func TestPushFraming(t *testing.T) {
	cases := []struct {
		name  string
		keys  []string // to invalidate, unless flush
		flush bool
		want  string
	}{
		{"one key", []string{"user_profile:42"}, false,
			"*2\r\n$10\r\ninvalidate\r\n*1\r\n$15\r\nuser_profile:42\r\n"},
		{"several keys", []string{"a", "bc", "{user_profile:7}:neg"}, false,
			"*2\r\n$10\r\ninvalidate\r\n*3\r\n$1\r\na\r\n$2\r\nbc\r\n$20\r\n{user_profile:7}:neg\r\n"},
		{"binary-safe key", []string{"k\r\n\x00é"}, false,
			"*2\r\n$10\r\ninvalidate\r\n*1\r\n$6\r\nk\r\n\x00é\r\n"},
		{"empty key", []string{""}, false,
			"*2\r\n$10\r\ninvalidate\r\n*1\r\n$0\r\n\r\n"},
		{"flush", nil, true,
			"*2\r\n$10\r\ninvalidate\r\n*-1\r\n"},
	}
	r := tracking.New(tracking.Options{})
	_, c := subscribe(t, r)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.flush {
				r.Flush()
			} else {
				r.Invalidate(tc.keys)
			}
			if got := readN(t, c, len(tc.want)); got != tc.want {
				t.Errorf("push = %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("no keys push nothing", func(t *testing.T) {
		r.Invalidate(nil)
		r.Invalidate([]string{})
		r.Invalidate([]string{"next"})
		want := "*2\r\n$10\r\ninvalidate\r\n*1\r\n$4\r\nnext\r\n"
		if got := readN(t, c, len(want)); got != want {
			t.Errorf("after empty invalidations, read %q, want only %q", got, want)
		}
	})
	if st := r.Stats(); st.Clients != 1 || st.InvalidationsPushed != 5 || st.FlushesPushed != 1 || st.Dropped != 0 {
		t.Errorf("stats %+v, want 1 client, 5 key pushes, 1 flush, none dropped", st)
	}
}

func TestEverySubscriberGetsEveryPush(t *testing.T) {
	r := tracking.New(tracking.Options{})
	var clients []net.Conn
	for i := 0; i < 3; i++ {
		_, c := subscribe(t, r)
		clients = append(clients, c)
	}
	r.Invalidate([]string{"k"})
	want := "*2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"
	for i, c := range clients {
		if got := readN(t, c, len(want)); got != want {
			t.Errorf("subscriber %d: %q", i, got)
		}
	}
}

func TestClose(t *testing.T) {
	r := tracking.New(tracking.Options{})
	sub, c := subscribe(t, r)
	_, other := subscribe(t, r)
	if err := sub.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := sub.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if n := r.Stats().Clients; n != 1 {
		t.Errorf("%d clients after a Close, want 1", n)
	}
	r.Invalidate([]string{"k"})
	_ = c.SetReadDeadline(time.Now().Add(readTimeout))
	if n, err := c.Read(make([]byte, 64)); err != io.EOF {
		t.Errorf("closed subscriber's client read %d bytes, %v; want EOF", n, err)
	}
	want := "*2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"
	if got := readN(t, other, len(want)); got != want {
		t.Errorf("the other subscriber: %q", got)
	}
}

// TestSubscriberThatStopsReading: a client that does not read fills its
// socket buffer; the push that no longer fits within the write timeout
// closes that client, and the others are served on.
func TestSubscriberThatStopsReading(t *testing.T) {
	r := tracking.New(tracking.Options{WriteTimeout: 2 * time.Millisecond})
	_, stuck := subscribe(t, r)
	_, reader := subscribe(t, r)
	big := []string{strings.Repeat("x", 64<<10)}
	want := len(big[0]) + len("*2\r\n$10\r\ninvalidate\r\n*1\r\n$65536\r\n\r\n")
	var read int64
	for i := 0; r.Stats().Dropped == 0; i++ {
		if i == 1000 {
			t.Fatalf("64 MiB pushed to a client that does not read, and it was not dropped")
		}
		r.Invalidate(big)
		if got := readN(t, reader, want); !strings.HasSuffix(got, "xxx\r\n") {
			t.Fatalf("reading subscriber got a broken push")
		}
		read += int64(want)
	}
	if st := r.Stats(); st.Clients != 1 || st.Dropped != 1 {
		t.Errorf("stats %+v, want 1 client left, 1 dropped", st)
	}
	// The stuck client finds what fitted in its buffer, then the end.
	_ = stuck.SetReadDeadline(time.Now().Add(readTimeout))
	n, err := io.Copy(io.Discard, stuck)
	if err != nil || n == 0 || n > read {
		t.Errorf("stuck client read %d bytes then %v; want some (at most %d) then EOF", n, err, read)
	}
}

// TestPushThatFitsIsNotTimed: a push that fits in the socket buffer is
// written without a deadline, so a subscriber that reads is never dropped
// because the publisher was descheduled (here: a timeout that has always
// passed already by the time of the write).
func TestPushThatFitsIsNotTimed(t *testing.T) {
	r := tracking.New(tracking.Options{WriteTimeout: time.Nanosecond})
	_, c := subscribe(t, r)
	want := len("*2\r\n$10\r\ninvalidate\r\n*1\r\n$14\r\nuser_profile:1\r\n")
	for i := 0; i < 100; i++ {
		r.Invalidate([]string{"user_profile:1"})
		if got := readN(t, c, want); !strings.HasSuffix(got, "user_profile:1\r\n") {
			t.Fatalf("push %d: %q", i, got)
		}
	}
	if st := r.Stats(); st.Clients != 1 || st.Dropped != 0 || st.InvalidationsPushed != 100 {
		t.Errorf("stats %+v, want 1 client, 0 dropped, 100 pushed", st)
	}
}

// TestConcurrentPushesDoNotInterleave: pushes from many goroutines reach
// a client as whole frames.
func TestConcurrentPushesDoNotInterleave(t *testing.T) {
	r := tracking.New(tracking.Options{WriteTimeout: time.Second})
	_, c := subscribe(t, r)
	const writers, each = 8, 200
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if i%50 == 0 {
					r.Flush()
					continue
				}
				r.Invalidate([]string{fmt.Sprintf("w%d", w), strings.Repeat("k", i)})
			}
		}(w)
	}
	_ = c.SetReadDeadline(time.Now().Add(readTimeout))
	br := bufio.NewReader(c)
	for n := 0; n < writers*each; n++ {
		if err := readPush(br); err != nil {
			t.Fatalf("push %d: %v", n, err)
		}
	}
	wg.Wait()
}

// readPush reads one push and checks its framing.
func readPush(br *bufio.Reader) error {
	header := make([]byte, len("*2\r\n$10\r\ninvalidate\r\n"))
	if _, err := io.ReadFull(br, header); err != nil {
		return err
	}
	if string(header) != "*2\r\n$10\r\ninvalidate\r\n" {
		return fmt.Errorf("header %q", header)
	}
	line, err := br.ReadString('\n')
	if err != nil {
		return err
	}
	if line == "*-1\r\n" {
		return nil
	}
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(line, "*"), "\r\n"))
	if err != nil || n < 1 {
		return fmt.Errorf("array header %q", line)
	}
	for i := 0; i < n; i++ {
		line, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		size, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(line, "$"), "\r\n"))
		if err != nil {
			return fmt.Errorf("bulk header %q", line)
		}
		body := make([]byte, size+2)
		if _, err := io.ReadFull(br, body); err != nil {
			return err
		}
		if !bytes.HasSuffix(body, []byte("\r\n")) {
			return errors.New("bulk without CRLF")
		}
	}
	return nil
}

func TestSubscribeOnClosedConnection(t *testing.T) {
	r := tracking.New(tracking.Options{})
	d, _ := pair(t)
	d.Close()
	if _, err := r.Subscribe(d, []byte("+OK\r\n")); err == nil {
		t.Fatal("Subscribe on a closed connection succeeded")
	}
	if n := r.Stats().Clients; n != 0 {
		t.Errorf("%d clients after a failed Subscribe", n)
	}
}
