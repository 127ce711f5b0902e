package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// binary is the ddbcache executable built once for these tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ddbcache-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "ddbcache")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build ddbcache: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// writeConfig writes a YAML file into a short temp dir and returns its
// path and the dir.
func writeConfig(t *testing.T, yaml string) (string, string) {
	t.Helper()
	dir := testenv.ShortDir(t)
	path := filepath.Join(dir, "ddbcache.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, dir
}

// run runs the binary to completion with a clean DDBCACHE_* environment.
func run(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(cleanEnv(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DDBCACHE_") && !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return env
}

const goodNamespace = `
namespaces:
  profile: { table: users, partition_key: user_id, redis_key: "user_profile:{user_id}", ttl: 1h, ttl_jitter: 10%, negative_ttl: 30s }
`

func TestBadConfigExitsWithOneLineReason(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		args []string
		want string
	}{
		{"unknown top-level key", "bogus: 1\n" + goodNamespace, nil, `unknown setting "bogus"`},
		{"unknown redis key", "redis: { adrs: [x] }\n" + goodNamespace, nil, `unknown setting "redis.adrs"`},
		{"unknown namespace field", "namespaces:\n  profile: { tabel: users, partition_key: id }\n", nil, `unknown field "tabel"`},
		{"bad duration", "namespaces:\n  profile: { table: users, partition_key: id, ttl: soon }\n", nil, `bad duration "soon"`},
		{"bad jitter", "namespaces:\n  profile: { table: users, partition_key: id, ttl_jitter: 150% }\n", nil, `namespaces.profile.ttl_jitter "150%": want [0, 1)`},
		{"missing table", "namespaces:\n  profile: { partition_key: id }\n", nil, "table is required"},
		{"template without key", "namespaces:\n  profile: { table: t, partition_key: id, redis_key: static }\n", nil, "must contain {id}"},
		{"no namespaces", "redis: { addrs: [\"127.0.0.1:1\"] }\n", nil, "no namespaces configured"},
		{"unsupported format", "namespaces:\n  profile: { table: t, partition_key: id, format: xml }\n", nil, `namespaces.profile.format "xml": want json | msgpack`},
		{"bad socket mode", "listen: { unix_mode: rw }\n" + goodNamespace, nil, `listen.unix_mode "rw": bad file mode`},
		{`log.level "loud": want debug | info | warn | error`, "log: { level: loud }\n" + goodNamespace, nil, `log.level "loud": want debug | info | warn | error`},
		{"bad namespace flag", goodNamespace, []string{"--namespace", "x:table=t;color=red"}, `unknown field "color"`},
		{"missing config file", "", []string{"--config", "/nonexistent/ddbcache.yaml"}, "no such file"},
		{"remote HTTP", "listen: { http: \"10.0.0.1:9090\" }\n" + goodNamespace, nil, "listen.http 10.0.0.1:9090 is not a loopback address"},
		{"remote RESP over TCP", "listen: { tcp: \"0.0.0.0:6380\" }\n" + goodNamespace, nil, "listen.tcp 0.0.0.0:6380 is not a loopback address"},
		{"remote FastCGI", "listen: { fcgi: \"[::]:9000\" }\n" + goodNamespace, nil, "listen.fcgi [::]:9000 is not a loopback address"},
		{"remote RESP without a password", "listen: { tcp: \"0.0.0.0:6380\", allow_remote: true }\n" + goodNamespace, nil, "listen.password"},
		{"negative idle timeout", "listen: { idle_timeout: -1s }\n" + goodNamespace, nil, "idle_timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := writeConfig(t, tc.yaml)
			args := append([]string{"--config", cfg}, tc.args...)
			_, stderr, code := run(t, nil, append(args, "serve")...)
			if code == 0 {
				t.Fatalf("exit 0 for a bad config")
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "ddbcache: ") || !strings.Contains(lines[0], tc.want) {
				t.Errorf("stderr %q, want one line 'ddbcache: …%s…'", stderr, tc.want)
			}
		})
	}
}

// process is a running `ddbcache serve`.
type process struct {
	cmd    *exec.Cmd
	socket string
	stderr *testenv.LogBuffer
	done   chan struct{}
}

// startDaemon starts the binary with a config naming the fixture's servers
// and waits until its socket answers PING.
func startDaemon(t *testing.T, f *enginetest.Fixture, socket string, env ...string) *process {
	t.Helper()
	return startDaemonArgs(t, []string{"--config", writeConfigFor(t, f, socket), "serve"}, socket, env...)
}

// spawn starts the binary with args (its socket, if any, at socket) and
// kills it when the test ends; it does not wait for readiness.
func spawn(t *testing.T, args []string, socket string, env ...string) *process {
	t.Helper()
	d := &process{cmd: exec.Command(binary, args...), socket: socket, stderr: &testenv.LogBuffer{}, done: make(chan struct{})}
	d.cmd.Env = append(cleanEnv(), env...)
	d.cmd.Stderr = d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() { _ = d.cmd.Process.Kill(); <-d.done })
	return d
}

// startDaemonArgs starts the binary with args and waits until its socket
// answers PING.
func startDaemonArgs(t *testing.T, args []string, socket string, env ...string) *process {
	t.Helper()
	d := spawn(t, args, socket, env...)
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: socket, Protocol: 2, DisableIdentity: true, MaxRetries: -1})
	defer c.Close()
	enginetest.WaitFor(t, "the daemon's socket", func() bool {
		select {
		case <-d.done:
			t.Fatalf("daemon exited: %s", d.stderr)
		default:
		}
		// A daemon with a password answers NOAUTH: it is up.
		err := c.Ping(context.Background()).Err()
		return err == nil || strings.Contains(err.Error(), "NOAUTH")
	})
	return d
}

func TestServe(t *testing.T) {
	f := enginetest.New(t)
	f.Seed(t, "1", "Ann")
	socket := filepath.Join(testenv.ShortDir(t), "ddbcache.sock")
	ctx := testenv.Context(t)

	d := startDaemon(t, f, socket)
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: socket, Protocol: 2, DisableIdentity: true})
	defer c.Close()
	for i := 0; i < 2; i++ {
		if v, err := c.Do(ctx, "DDB", "GET", "profile", "1").Text(); err != nil || v != enginetest.UserJSON("1", "Ann") {
			t.Fatalf("lookup %d: %q, %v", i, v, err)
		}
	}
	if n := f.Proxy.Count("GetItem"); n != 1 {
		t.Errorf("%d GetItem calls for two lookups, want 1", n)
	}

	t.Run("SIGTERM stops it cleanly and removes the socket", func(t *testing.T) {
		if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case <-d.done:
		case <-time.After(10 * time.Second):
			t.Fatal("daemon still running 10s after SIGTERM")
		}
		if code := d.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("exit code %d after SIGTERM; stderr:\n%s", code, d.stderr)
		}
		if _, err := os.Stat(socket); !os.IsNotExist(err) {
			t.Errorf("socket file left behind: %v", err)
		}
	})
	t.Run("after a crash the stale socket is replaced", func(t *testing.T) {
		d := startDaemon(t, f, socket)
		_ = d.cmd.Process.Kill()
		<-d.done
		if _, err := os.Stat(socket); err != nil {
			t.Fatalf("SIGKILL should leave the socket file: %v", err)
		}
		startDaemon(t, f, socket)
	})
	t.Run("a second daemon does not steal a live socket", func(t *testing.T) {
		startDaemon(t, f, socket)
		_, stderr, code := run(t, nil, "--config", writeConfigFor(t, f, socket), "serve")
		if code == 0 || !strings.Contains(stderr, "socket in use") {
			t.Errorf("second daemon: exit %d, stderr %q", code, stderr)
		}
	})
}

// writeConfigFor writes a config naming the fixture's servers and socket.
func writeConfigFor(t *testing.T, f *enginetest.Fixture, socket string) string {
	t.Helper()
	cfg, _ := writeConfig(t, fmt.Sprintf("redis: { addrs: [%q] }\ndynamodb: { endpoint: %q }\nlisten: { unix: %q }\n",
		f.Redis.Addr, f.Proxy.URL, socket)+goodNamespace)
	return cfg
}

// TestGetCommand runs `ddbcache get` with settings from flags and
// environment variables, and with Redis unreachable (a warning, not a
// failure: the item comes from DynamoDB).
func TestGetCommand(t *testing.T) {
	f := enginetest.New(t)
	f.Seed(t, "1", "Ann")
	env := []string{
		"DDBCACHE_DYNAMODB_ENDPOINT=" + f.Proxy.URL,
		"DDBCACHE_NAMESPACES=profile:table=users;partition_key=user_id;redis_key=user_profile:{user_id}",
	}
	t.Run("through Redis", func(t *testing.T) {
		out, stderr, code := run(t, append(env, "DDBCACHE_REDIS_ADDRS="+f.Redis.Addr), "get", "profile", "1")
		if code != 0 || strings.TrimSpace(out) != enginetest.UserJSON("1", "Ann") {
			t.Fatalf("exit %d, out %q, stderr %q", code, out, stderr)
		}
		if v := f.RDB.Get(context.Background(), "user_profile:1").Val(); v != enginetest.UserJSON("1", "Ann") {
			t.Errorf("get did not fill Redis: %q", v)
		}
	})
	t.Run("absent item exits 2", func(t *testing.T) {
		_, stderr, code := run(t, append(env, "DDBCACHE_REDIS_ADDRS="+f.Redis.Addr), "get", "profile", "404")
		if code != 2 || !strings.Contains(stderr, "not found") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("Redis unreachable is a warning", func(t *testing.T) {
		port := testenv.FreePort(t)
		out, stderr, code := run(t, append(env, fmt.Sprintf("DDBCACHE_REDIS_ADDRS=127.0.0.1:%d", port)), "get", "profile", "1")
		if code != 0 || strings.TrimSpace(out) != enginetest.UserJSON("1", "Ann") {
			t.Fatalf("exit %d, out %q, stderr %q", code, out, stderr)
		}
		if !strings.Contains(stderr, "WARN") || !strings.Contains(stderr, "Redis unreachable") {
			t.Errorf("no warning about Redis: %q", stderr)
		}
	})
	t.Run("flags override the file", func(t *testing.T) {
		cfg, _ := writeConfig(t, "redis: { addrs: [\"127.0.0.1:1\"] }\n"+goodNamespace)
		out, stderr, code := run(t, nil, "--config", cfg, "--redis-addr", f.Redis.Addr,
			"--dynamodb-endpoint", f.Proxy.URL, "get", "profile", "1")
		if code != 0 || strings.TrimSpace(out) != enginetest.UserJSON("1", "Ann") || strings.Contains(stderr, "unreachable") {
			t.Errorf("exit %d, out %q, stderr %q", code, out, stderr)
		}
	})
}

// TestInvalidateEventCommand feeds `ddbcache invalidate --event` the JSON
// a Lambda receives from a DynamoDB stream.
func TestInvalidateEventCommand(t *testing.T) {
	f := enginetest.New(t)
	f.Seed(t, "1", "Ann")
	ctx := testenv.Context(t)
	env := []string{
		"DDBCACHE_DYNAMODB_ENDPOINT=" + f.Proxy.URL,
		"DDBCACHE_REDIS_ADDRS=" + f.Redis.Addr,
		"DDBCACHE_NAMESPACES=profile:table=users;partition_key=user_id;redis_key=user_profile:{user_id}",
	}
	if _, stderr, code := run(t, env, "get", "profile", "1"); code != 0 {
		t.Fatalf("get: %s", stderr)
	}
	event, _ := writeConfig(t, `{"Records":[{"eventName":"MODIFY",
 "eventSourceARN":"arn:aws:dynamodb:us-east-1:123456789012:table/users/stream/2026-11-25T00:00:00.000",
 "dynamodb":{"Keys":{"user_id":{"S":"1"}},"SequenceNumber":"1","StreamViewType":"KEYS_ONLY"}}]}`)
	out, stderr, code := run(t, env, "invalidate", "--event", event)
	if code != 0 || strings.TrimSpace(out) != "1" {
		t.Fatalf("invalidate --event: exit %d, out %q, stderr %q", code, out, stderr)
	}
	if n := f.RDB.Exists(ctx, "user_profile:1").Val(); n != 0 {
		t.Error("the event's item is still cached")
	}
	bad, _ := writeConfig(t, `{"Records":[{"eventName":"MODIFY"}]}`)
	if _, stderr, code := run(t, env, "invalidate", "--event", bad); code == 0 || !strings.Contains(stderr, "bad stream event") {
		t.Errorf("malformed event: exit %d, stderr %q", code, stderr)
	}
}
