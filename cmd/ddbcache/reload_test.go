package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// hupDaemon is a `ddbcache serve` whose configuration file the test
// rewrites and then sends SIGHUP.
type hupDaemon struct {
	*process
	config string
}

// startHUPDaemon starts the binary on config (a file the test may rewrite)
// and waits until socket answers PING.
func startHUPDaemon(t *testing.T, config, socket string, env ...string) *hupDaemon {
	t.Helper()
	return &hupDaemon{process: startDaemonArgs(t, []string{"--config", config, "serve"}, socket, env...), config: config}
}

func (d *hupDaemon) alive(t *testing.T) {
	t.Helper()
	select {
	case <-d.done:
		t.Fatalf("daemon exited: %s", d.stderr)
	default:
	}
}

// reload writes yaml as the configuration, sends SIGHUP and waits for the
// log line that ends the reload (one containing want), returning the log
// written since the signal.
func (d *hupDaemon) reload(t *testing.T, yaml, want string) string {
	t.Helper()
	if err := os.WriteFile(d.config, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	from := len(d.stderr.String())
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var since string
	enginetest.WaitFor(t, "the reload's log line "+want, func() bool {
		d.alive(t)
		since = d.stderr.String()[from:]
		return strings.Contains(since, want)
	})
	return since
}

// reloadConfig is the configuration of TestReload: profile with ttl,
// extra namespaces and listen settings as given.
func reloadConfig(f *enginetest.Fixture, socket, ttl, listen, extra string) string {
	return fmt.Sprintf(`redis: { addrs: [%q] }
dynamodb: { endpoint: %q }
listen: { unix: %q %s }
namespaces:
  profile: { table: users, partition_key: user_id, redis_key: "user_profile:{user_id}", ttl: %s }
%s`, f.Redis.Addr, f.Proxy.URL, socket, listen, ttl, extra)
}

// TestReload sends SIGHUP to the real binary after rewriting its file:
// each step's file applies to the running daemon, or is refused and
// changes nothing. The steps run in order on one daemon, since each one
// starts from what the previous one left.
func TestReload(t *testing.T) {
	f := enginetest.New(t)
	for _, id := range []string{"1", "2", "3", "4", "5"} {
		f.Seed(t, id, "user"+id)
	}
	dir := testenv.ShortDir(t)
	socket, config := filepath.Join(dir, "d.sock"), filepath.Join(dir, "ddbcache.yaml")
	ctx := testenv.Context(t)
	if err := os.WriteFile(config, []byte(reloadConfig(f, socket, "1h", "", "")), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startHUPDaemon(t, config, socket)
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: socket, Protocol: 2, DisableIdentity: true, PoolSize: 1})
	defer c.Close()
	// One connection held open across every reload.
	held := c.Conn()
	defer held.Close()
	get := func(ns, id string) (string, error) { return held.Do(ctx, "DDB", "GET", ns, id).Text() }
	ttlOf := func(key string) time.Duration { return f.RDB.TTL(ctx, key).Val() }
	if v, err := get("profile", "1"); err != nil || v != enginetest.UserJSON("1", "user1") {
		t.Fatalf("before any reload: %q, %v", v, err)
	}
	if got := ttlOf("user_profile:1"); got < 50*time.Minute {
		t.Fatalf("first fill's TTL %s, want about 1h", got)
	}

	steps := reloadSteps(f, dir, socket)
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			logged := d.reload(t, st.yaml, st.wantLog)
			if v, err := get("profile", st.id); err != nil || v != enginetest.UserJSON(st.id, "user"+st.id) {
				t.Fatalf("the held connection after the reload: %q, %v", v, err)
			}
			if got := ttlOf("user_profile:" + st.id); got > st.maxTTL || got < st.maxTTL-time.Minute {
				t.Errorf("fill after the reload has TTL %s, want %s", got, st.maxTTL)
			}
			_, err := get("sturdy", "1")
			if st.sturdy == "" && err != nil || st.sturdy != "" && (err == nil || !strings.Contains(err.Error(), st.sturdy)) {
				t.Errorf("DDB GET sturdy: %v, want error containing %q", err, st.sturdy)
			}
			if strings.Contains(st.wantLog, "not reloaded") && !strings.Contains(logged, "level=ERROR") {
				t.Errorf("a bad file is not logged as an error: %s", logged)
			}
			if st.wantLog == "listen.unix" && (!strings.Contains(logged, "level=ERROR") || !strings.Contains(logged, "need a restart")) {
				t.Errorf("the refusal is not one error line naming listen.unix: %s", logged)
			}
		})
	}
	t.Run("the debug level, the JSON format and the new read timeout are in force", func(t *testing.T) {
		from := len(d.stderr.String())
		nc, err := net.Dial("unix", socket)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if _, err := nc.Write([]byte("*2\r\n$4\r\nPING\r\n")); err != nil { // half a command
			t.Fatal(err)
		}
		enginetest.WaitFor(t, "a debug line", func() bool {
			return strings.Contains(d.stderr.String()[from:], `"level":"DEBUG"`)
		})
	})
}

// reloadStep is one file TestReload writes before a SIGHUP, and what
// must hold after it.
type reloadStep struct {
	name, yaml, wantLog string
	id                  string        // filled after the reload
	maxTTL              time.Duration // its TTL must be at most this, and above maxTTL-1m
	sturdy              string        // "" served, else the error DDB GET sturdy must contain
}

// reloadSteps are TestReload's files, in order.
func reloadSteps(f *enginetest.Fixture, dir, socket string) []reloadStep {
	const sturdy = "  sturdy: { table: users, partition_key: user_id, redis_key: \"sturdy:{user_id}\" }\n"
	return []reloadStep{
		{"a changed TTL, a new namespace and debug logging apply",
			reloadConfig(f, socket, "10m", ", read_timeout: 300ms", sturdy) + "log: { level: debug }\n",
			"configuration reloaded", "2", 10 * time.Minute, ""},
		{"a bad file changes nothing",
			"namespaces: [ this is not a mapping\n", "configuration not reloaded", "3", 10 * time.Minute, ""},
		{"a changed socket path is refused whole",
			reloadConfig(f, filepath.Join(dir, "other.sock"), "5m", ", read_timeout: 300ms", sturdy) + "log: { level: debug }\n",
			"listen.unix", "4", 10 * time.Minute, ""},
		{"a removed namespace is unknown, and the log turns to JSON",
			reloadConfig(f, socket, "20m", ", read_timeout: 300ms", "") + "log: { level: debug, format: json }\n",
			"configuration reloaded", "5", 20 * time.Minute, "unknown namespace"},
	}
}
