// Package testenv starts the real servers that integration tests run
// against — a private redis-server and a dynalite DynamoDB server — on free
// loopback ports, and stops them when the test ends. A missing binary fails
// the test with the command that installs it: a skipped integration test
// would let CI go green while testing nothing.
package testenv

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// readyTimeout bounds how long a server may take to print its ready line.
const readyTimeout = 20 * time.Second

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func listenLocal() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

func portOf(l net.Listener) int { return l.Addr().(*net.TCPAddr).Port }

// RepoRoot returns the repository's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Process is a server started for a test.
type Process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	log  *LogBuffer
}

// Stop kills the process and waits for it to exit. It is safe to call twice.
func (p *Process) Stop() {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

// Pause stops the process with SIGSTOP: its sockets stay open and accept
// connections, but nothing answers, as with a hung or partitioned server.
func (p *Process) Pause() { p.signal(syscall.SIGSTOP) }

// Resume continues a paused process with SIGCONT.
func (p *Process) Resume() { p.signal(syscall.SIGCONT) }

func (p *Process) signal(sig os.Signal) {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(sig)
	}
}

// Log returns what the process printed so far.
func (p *Process) Log() string { return p.log.String() }

// start runs name with args and waits until a line of its output contains
// ready. The process is stopped at the end of the test.
func start(t testing.TB, ready string, name string, args ...string) *Process {
	t.Helper()
	p, err := spawn(ready, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

// spawn is start without a test: it runs name with args and waits until a
// line of its output contains ready, and kills it if it never is. Servers
// shared by every test of a binary (SharedCluster) outlive any one test.
func spawn(ready string, name string, args ...string) (*Process, error) {
	cmd := exec.Command(name, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("testenv: %s: %w", name, err)
	}
	cmd.Stderr = cmd.Stdout
	p := &Process{name: name, cmd: cmd, done: make(chan struct{}), log: &LogBuffer{}}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("testenv: start %s: %w", name, err)
	}
	readyCh := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			p.log.WriteString(line + "\n")
			if !signalled && strings.Contains(line, ready) {
				signalled = true
				close(readyCh)
			}
		}
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
		close(p.done)
	}()
	select {
	case <-readyCh:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("testenv: %s exited before it was ready:\n%s", name, p.Log())
	case <-time.After(readyTimeout):
		p.Stop()
		return nil, fmt.Errorf("testenv: %s not ready after %s:\n%s", name, readyTimeout, p.Log())
	}
}

// LogBuffer is a log or an output that a server or process writes while
// the test reads it: an io.Writer (a slog destination, a command's
// stderr) safe for concurrent use.
type LogBuffer struct {
	mu sync.Mutex // guards b
	b  strings.Builder
}

// Write appends p.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// WriteString appends s.
func (l *LogBuffer) WriteString(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(s)
}

// String returns all that was written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// need returns the path of binary or fails the test saying how to install it.
func need(t testing.TB, binary, install string) string {
	t.Helper()
	path, err := exec.LookPath(binary)
	if err != nil {
		t.Fatalf("testenv: %s not found in PATH; install it with: %s (or run `make deps`)", binary, install)
	}
	return path
}

// RedisServer is a private redis-server.
type RedisServer struct {
	*Process
	// Addr is host:port of the server.
	Addr   string
	port   int
	t      testing.TB
	args   []string      // extra arguments (--replicaof)
	client *redis.Client // of Client
}

// Redis starts a redis-server on a free loopback port with persistence off.
func Redis(t testing.TB) *RedisServer {
	t.Helper()
	r := &RedisServer{port: FreePort(t), t: t}
	r.Addr = fmt.Sprintf("127.0.0.1:%d", r.port)
	r.Start()
	return r
}

// Start starts the server again on the same port after Stop.
func (r *RedisServer) Start() {
	r.t.Helper()
	bin := need(r.t, "redis-server", "apt-get install -y redis-server")
	args := append([]string{"--port", fmt.Sprint(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--logfile", "", "--daemonize", "no", "--protected-mode", "no", "--repl-diskless-sync-delay", "0"}, r.args...)
	r.Process = start(r.t, "Ready to accept connections", bin, args...)
}

// Dynalite is a private dynalite server, a DynamoDB-compatible server in Node.js.
type Dynalite struct {
	*Process
	// Endpoint is the server's URL.
	Endpoint string
	port     int
	t        testing.TB
}

// DynalitePath returns the path of dynalite's cli.js: $DDBCACHE_DYNALITE, or
// the copy `make deps` installs under .deps/.
func DynalitePath() string {
	if p := os.Getenv("DDBCACHE_DYNALITE"); p != "" {
		return p
	}
	return filepath.Join(RepoRoot(), ".deps", "node_modules", "dynalite", "cli.js")
}

// StartDynalite starts dynalite on a free loopback port, in memory, with
// table creation and deletion taking no time.
func StartDynalite(t testing.TB) *Dynalite {
	t.Helper()
	d := &Dynalite{port: FreePort(t), t: t}
	d.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", d.port)
	d.Start()
	return d
}

// Start starts dynalite again on the same port after Stop (with no data).
func (d *Dynalite) Start() {
	d.t.Helper()
	node := need(d.t, "node", "apt-get install -y nodejs npm")
	cli := DynalitePath()
	if _, err := os.Stat(cli); err != nil {
		d.t.Fatalf("testenv: dynalite not found at %s; install it with: npm install --prefix .deps dynalite@4.0.0 (or run `make deps`)", cli)
	}
	d.Process = start(d.t, "Dynalite listening", node, cli, "--port", fmt.Sprint(d.port), "--host", "127.0.0.1",
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")
}

// Context returns a context that ends with the test or after a minute.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// ShortDir returns a fresh directory with a short path, removed at the end
// of the test. Unix socket paths are limited to about 100 bytes, and
// t.TempDir's, which carry the test's name, can be longer.
func ShortDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ddb")
	if err != nil {
		t.Fatalf("testenv: temp dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// Serve runs serve (a server's accept loop) in the background until the
// test ends, then calls stop and checks that serve returned no error.
func Serve(t testing.TB, serve func() error, stop func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- serve() }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}
