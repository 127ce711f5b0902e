package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// daemonStartTimeout bounds how long a spawned daemon may take to answer PING.
const daemonStartTimeout = 20 * time.Second

// overridden are the global flags a spawned daemon gets from the bench
// instead of from the user's command line: its Redis is the relay, its
// socket is private, and it serves nothing else.
var overridden = []string{"redis-addr", "unix", "tcp", "fcgi", "http"}

// daemonArgs is the command line of a spawned `ddbcache serve`: the
// user's global flags less the overridden ones, then the bench's. A
// non-empty fcgiSocket also serves FastCGI there (for --front fcgi).
func daemonArgs(global []string, redisAddr, socket, fcgiSocket string) []string {
	var out []string
	for i := 0; i < len(global); i++ {
		name, _, hasValue := strings.Cut(strings.TrimLeft(global[i], "-"), "=")
		if !strings.HasPrefix(global[i], "-") || !contains(overridden, name) {
			out = append(out, global[i])
			continue
		}
		if !hasValue {
			i++ // skip the flag's value
		}
	}
	return append(out, "--redis-addr", redisAddr, "--unix", socket, "--tcp=", "--fcgi="+fcgiSocket, "--http=", "serve")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// spawnedDaemon is a `ddbcache serve` the bench started for itself.
type spawnedDaemon struct {
	cmd    *exec.Cmd
	socket string
	fcgi   string // its FastCGI socket, "" when it serves none
	stderr *strings.Builder
	exited chan struct{}
}

// spawnDaemon re-executes this binary as `ddbcache serve` with its
// Redis at redisAddr and its socket in dir (and with fcgi, a FastCGI
// socket there too), and waits until it answers.
func spawnDaemon(ctx context.Context, self string, global []string, redisAddr, dir string, fcgi bool) (*spawnedDaemon, error) {
	d := &spawnedDaemon{socket: filepath.Join(dir, "ddbcache.sock"), stderr: &strings.Builder{}, exited: make(chan struct{})}
	if fcgi {
		d.fcgi = filepath.Join(dir, "fcgi.sock")
	}
	d.cmd = exec.Command(self, daemonArgs(global, redisAddr, d.socket, d.fcgi)...)
	d.cmd.Stdout = d.stderr
	d.cmd.Stderr = d.stderr
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start daemon: %w", err)
	}
	go func() { _ = d.cmd.Wait(); close(d.exited) }()
	rdb := redis.NewClient(&redis.Options{Network: "unix", Addr: d.socket, Protocol: 2, DisableIdentity: true,
		MaxRetries: -1})
	defer rdb.Close()
	deadline := time.Now().Add(daemonStartTimeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := rdb.Ping(pctx).Err()
		cancel()
		if err == nil {
			return d, nil
		}
		select {
		case <-d.exited:
			return nil, fmt.Errorf("bench: the spawned daemon exited: %s", oneLine(d.stderr.String()))
		case <-ctx.Done():
			d.stop()
			return nil, ctx.Err()
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, fmt.Errorf("bench: the spawned daemon did not answer within %s: %w", daemonStartTimeout, err)
		}
	}
}

// pid is the daemon's process id.
func (d *spawnedDaemon) pid() int { return d.cmd.Process.Pid }

// stop sends SIGTERM, and SIGKILL if the daemon has not exited in 10 s.
func (d *spawnedDaemon) stop() {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
}

// pidSelf is this process's id.
func pidSelf() int { return os.Getpid() }

// errNoRelayCluster refuses --redis-rtt with several Redis addresses:
// Cluster redirects name the nodes' real addresses, which would bypass
// a relay.
var errNoRelayCluster = errors.New("bench: --redis-rtt needs a single Redis address (Redis Cluster redirects would bypass the relay)")
