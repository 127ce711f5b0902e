package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
)

// clockTick is the unit of utime and stime in /proc/PID/stat: USER_HZ,
// 100 on every Linux the daemon runs on (getconf CLK_TCK).
const clockTick = 10 * time.Millisecond

// procUsage is a process's CPU time (all threads) and resident memory.
type procUsage struct {
	cpu time.Duration
	rss int64 // bytes
}

// readUsage reads /proc/PID/stat: fields 14 and 15 are utime and stime in
// clock ticks, field 24 the RSS in pages.
func readUsage(t *testing.T, pid int) procUsage {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("the daemon's /proc stat: %v", err)
	}
	// The command name in parentheses may contain spaces: fields start
	// after its closing parenthesis, at field 3.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	num := func(field int) int64 {
		v, err := strconv.ParseInt(f[field-3], 10, 64)
		if err != nil {
			t.Fatalf("/proc stat field %d: %v", field, err)
		}
		return v
	}
	return procUsage{
		cpu: time.Duration(num(14)+num(15)) * clockTick,
		rss: num(24) * int64(os.Getpagesize()),
	}
}

// idleCPU is the CPU the daemon may use while measured for idleness over
// idleWindow: two clock ticks of runtime housekeeping.
const (
	idleWindow = 300 * time.Millisecond
	idleCPU    = 2 * clockTick
)

// hostileFrame is a frame that once took the daemon down or made it spend
// without bound. send writes it (possibly for long: it runs beside the
// reader of the reply); want is the start of the reply, "" for none.
type hostileFrame struct {
	name      string
	send      func(w io.Writer)
	want      string
	mayClose  bool // the daemon closes after its reply
	keepsOpen bool // the connection must answer PING afterwards
}

func bulkFrame(args ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.String()
}

func sendString(s string) func(io.Writer) {
	return func(w io.Writer) { _, _ = io.WriteString(w, s) }
}

// sendBulk writes a command whose last argument is n bytes of 'x',
// streamed in chunks so that the test itself holds little memory.
func sendBulk(n int, args ...string) func(io.Writer) {
	return func(w io.Writer) {
		var b strings.Builder
		fmt.Fprintf(&b, "*%d\r\n", len(args)+1)
		for _, a := range args {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
		fmt.Fprintf(&b, "$%d\r\n", n)
		if _, err := io.WriteString(w, b.String()); err != nil {
			return
		}
		if streamX(w, n) == nil {
			_, _ = io.WriteString(w, "\r\n")
		}
	}
}

// streamX writes n bytes of 'x'.
func streamX(w io.Writer, n int) error {
	chunk := bytes.Repeat([]byte("x"), 256<<10)
	for n > 0 {
		c := chunk[:min(n, len(chunk))]
		if _, err := w.Write(c); err != nil {
			return err
		}
		n -= len(c)
	}
	return nil
}

// manyKeys writes DDB MGET with n keys.
func manyKeys(n int) func(io.Writer) {
	return func(w io.Writer) {
		bw := bufio.NewWriterSize(w, 64<<10)
		fmt.Fprintf(bw, "*%d\r\n$3\r\nDDB\r\n$4\r\nMGET\r\n$7\r\nprofile\r\n", n+3)
		for i := 0; i < n; i++ {
			k := strconv.Itoa(i)
			fmt.Fprintf(bw, "$%d\r\n%s\r\n", len(k), k)
		}
		_ = bw.Flush()
	}
}

func hostileFrames() []hostileFrame {
	return []hostileFrame{
		{name: "bulk length of 2^63-1", send: sendString("*1\r\n$9223372036854775807\r\nGET\r\n"),
			want: "-ERR Protocol error: invalid bulk length", mayClose: true},
		{name: "multibulk count of 2^63-1", send: sendString("*9223372036854775807\r\n"),
			want: "-ERR Protocol error: invalid multibulk length", mayClose: true},
		{name: "multibulk count of 999999999", send: sendString("*999999999\r\n"),
			want: "-ERR Protocol error: invalid multibulk length", mayClose: true},
		{name: "a claimed million arguments, then nothing", send: sendString("*1048576\r\n$4\r\nPING\r\n")},
		{name: "100 MiB PING argument", send: sendBulk(100<<20, "PING"), want: "-ERR value too large", keepsOpen: true},
		{name: "100 MiB ECHO argument", send: sendBulk(100<<20, "ECHO"), want: "-ERR value too large", keepsOpen: true},
		{name: "64 MiB SET", send: sendBulk(64<<20, "SET", "k"), want: "-ERR value too large", keepsOpen: true},
		{name: "100 MiB inline line without newline", send: func(w io.Writer) { _ = streamX(w, 100<<20) },
			want: "-ERR Protocol error: too big inline request", mayClose: true},
		{name: "DDB MGET of a million keys", send: manyKeys(1_000_000), want: "-ERR", keepsOpen: true},
		{name: "DDB MGET of 1001 keys", send: manyKeys(1001), want: "-ERR DDB MGET takes at most 1000 keys", keepsOpen: true},
	}
}

// TestHostileFrames sends each hostile frame to the real daemon and checks
// that it answers an error (or closes) within ~100 ms of CPU, that its CPU
// use goes back to idle once the client has gone, and that its memory
// comes back within 10 %.
func TestHostileFrames(t *testing.T) {
	f := enginetest.New(t)
	f.Seed(t, "1", "Ann")
	for _, hf := range hostileFrames() {
		t.Run(hf.name, func(t *testing.T) {
			// A daemon of its own: one frame's damage does not hide the
			// next one's, and the memory baseline is the frame's alone.
			socket := filepath.Join(testenv.ShortDir(t), "ddbcache.sock")
			d := startDaemon(t, f, socket)
			pid := d.cmd.Process.Pid
			before := readUsage(t, pid)
			c, err := net.Dial("unix", socket)
			if err != nil {
				t.Fatalf("dial: %v (daemon: %s)", err, d.stderr)
			}
			defer c.Close()
			sent := make(chan struct{})
			// The deadlines bound a test of a daemon that stopped reading
			// or answering; a working one answers in milliseconds.
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			go func() { defer close(sent); hf.send(c) }()
			r := bufio.NewReader(c)
			if hf.want == "" {
				<-sent
				c.Close() // the client leaves mid-frame
			} else if line, err := r.ReadString('\n'); !strings.HasPrefix(line, hf.want) {
				t.Errorf("reply %q, %v; want %q…", strings.TrimRight(line, "\r\n"), err, hf.want)
				c.Close()
			}
			answered := readUsage(t, pid)
			t.Logf("CPU to answer: %v; RSS %d MiB", answered.cpu-before.cpu, answered.rss>>20)
			if used := answered.cpu - before.cpu; used > 100*time.Millisecond+clockTick {
				t.Errorf("the daemon used %v of CPU to answer", used)
			}
			if t.Failed() {
				<-sent
				return
			}
			if hf.keepsOpen {
				<-sent
				if _, err := io.WriteString(c, "PING\r\n"); err != nil {
					t.Fatal(err)
				}
				if pong, err := r.ReadString('\n'); pong != "+PONG\r\n" {
					t.Errorf("PING after the refusal: %q, %v", pong, err)
				}
			} else if hf.mayClose {
				// The end may be EOF or, with unread input, a reset.
				if rest, err := io.ReadAll(r); len(rest) != 0 || isTimeout(err) {
					t.Errorf("after the error: %q, %v; want the connection closed", rest, err)
				}
			}
			c.Close()
			<-sent
			assertIdle(t, pid, d)
			if after := readUsage(t, pid); float64(after.rss) > 1.1*float64(before.rss) {
				t.Errorf("RSS %d MiB after the client left, was %d MiB", after.rss>>20, before.rss>>20)
			}
		})
	}
}

// assertIdle checks that the daemon uses no more than idleCPU over
// idleWindow. The wait is the measurement interval, not a synchronizer:
// the daemon has already answered or seen the client go.
func assertIdle(t *testing.T, pid int, d *process) {
	t.Helper()
	select {
	case <-d.done:
		t.Fatalf("the daemon exited: %s", d.stderr)
	default:
	}
	// The daemon may still be reading what the client sent before it
	// closed: allow it a few windows to become idle.
	var used time.Duration
	for i := 0; i < 5; i++ {
		start := readUsage(t, pid)
		time.Sleep(idleWindow) // the window the CPU is measured over, not a synchronizer
		if used = readUsage(t, pid).cpu - start.cpu; used <= idleCPU {
			return
		}
	}
	t.Errorf("the daemon used %v of CPU in %v after the client left", used, idleWindow)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
