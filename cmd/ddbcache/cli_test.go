package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// TestUsageErrors checks that a mistake on the command line prints one
// line with a hint to run --help and exits 2, not the whole help and 1.
func TestUsageErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag after the command", []string{"serve", "--bogus"}, "ddbcache: unknown flag -bogus (run 'ddbcache serve --help')"},
		{"unknown flag before the command", []string{"--bogus", "serve"}, "ddbcache: unknown flag -bogus (run 'ddbcache --help')"},
		{"no command", nil, "ddbcache: no command given (serve, check-config, get, put, invalidate, stats, bench) (run 'ddbcache --help')"},
		{"unknown command", []string{"srve"}, `ddbcache: unknown command "srve" (run 'ddbcache --help')`},
		{"missing arguments", []string{"get", "profile"}, "ddbcache: get takes NAMESPACE KEY [SORTKEY] (run 'ddbcache get --help')"},
		{"flag without its value", []string{"check-config", "--max-conns"}, "ddbcache: flag needs an argument: -max-conns (run 'ddbcache check-config --help')"},
		{"arguments to check-config", []string{"check-config", "x"}, "ddbcache: check-config takes no arguments (run 'ddbcache check-config --help')"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, code := run(t, nil, tc.args...)
			if code != 2 || out != "" || stderr != tc.want+"\n" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and %q", code, out, stderr, tc.want)
			}
		})
	}
}

// TestHelpAndVersion checks that serve --help lists the settings with
// their defaults and variables, and --version names version, commit and Go.
func TestHelpAndVersion(t *testing.T) {
	out, _, code := run(t, nil, "serve", "--help")
	for _, want := range []string{"--config FILE", "--max-conns value", "(default: 4096)", "[$DDBCACHE_MAX_CONNS]", "--namespace value", "(default: 5m)"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("serve --help (exit %d) lacks %q:\n%s", code, want, out)
		}
	}
	out, _, code = run(t, nil, "--version")
	if re := regexp.MustCompile(`^ddbcache \S+ \(commit \S+, go1\.\d+`); code != 0 || !re.MatchString(out) {
		t.Errorf("--version: exit %d, %q", code, out)
	}
}

// TestCheckConfig runs check-config on good and bad configurations.
func TestCheckConfig(t *testing.T) {
	good, dir := writeConfig(t, goodNamespace)
	pw := filepath.Join(dir, "password")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		code int
		out  string // stdout on success, stderr on failure
	}{
		{"good file", []string{"check-config", "--config", good}, 0, "ddbcache: configuration " + good + " OK: 1 namespaces\n"},
		{"good file, flag before the command", []string{"--config", good, "check-config"}, 0, " OK: 1 namespaces\n"},
		{"password from a file", []string{"check-config", "--config", good, "--password-file", pw}, 0, " OK: "},
		{"no namespaces", []string{"check-config"}, 1, "no namespaces configured"},
		{"bad flag value", []string{"check-config", "--config", good, "--timeout", "0s"}, 1, `ddbcache: config: limits.timeout "0s": want > 0 (from --timeout)`},
		{"password and its file", []string{"check-config", "--config", good, "--password", "x", "--password-file", pw}, 1, "listen.password and listen.password_file are both set"},
		{"missing password file", []string{"check-config", "--config", good, "--redis-password-file", filepath.Join(dir, "nope")}, 1, "redis.password_file: open"},
		{"secret not echoed", []string{"check-config", "--config", good, "--aws-secret-access-key-file", pw, "--aws-secret-access-key", "hunter2"}, 1, "dynamodb.secret_access_key and dynamodb.secret_access_key_file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, code := run(t, nil, tc.args...)
			got := out
			if tc.code != 0 {
				got = stderr
			}
			if code != tc.code || !strings.Contains(got, tc.out) || strings.Count(got, "\n") != 1 {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and one line with %q", code, out, stderr, tc.code, tc.out)
			}
			if strings.Contains(stderr, "hunter2") || strings.Contains(stderr, "s3cret") {
				t.Errorf("a secret is in the message: %q", stderr)
			}
		})
	}
}

// TestServeConfigAfterCommand runs the daemon as unit files write it,
// `ddbcache serve --config F`, with its password from a file; then
// `ddbcache stats` with no namespace, and invalidate with sort keys.
func TestServeConfigAfterCommand(t *testing.T) {
	f := enginetest.New(t)
	dir := testenv.ShortDir(t)
	socket, pw := filepath.Join(dir, "ddbcache.sock"), filepath.Join(dir, "password")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _ := writeConfig(t, fmt.Sprintf("redis: { addrs: [%q] }\ndynamodb: { endpoint: %q }\nlisten: { unix: %q, password_file: %q }\n",
		f.Redis.Addr, f.Proxy.URL, socket, pw)+goodNamespace+"  events: { table: events, partition_key: account, sort_key: seq }\n")
	startDaemonArgs(t, []string{"serve", "--config", cfg}, socket)
	ctx := testenv.Context(t)
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: socket, Protocol: 2, DisableIdentity: true, Password: "s3cret"})
	defer c.Close()
	if v, err := c.Ping(ctx).Result(); err != nil || v != "PONG" {
		t.Fatalf("PING with the file's password: %q, %v", v, err)
	}

	t.Run("stats needs no namespace", func(t *testing.T) {
		out, stderr, code := run(t, nil, "stats", "--unix", socket, "--password-file", pw)
		if code != 0 || !strings.HasPrefix(out, "{") {
			t.Errorf("exit %d, out %q, stderr %q", code, out, stderr)
		}
	})
	t.Run("invalidate takes key/sort-key pairs", func(t *testing.T) {
		for _, k := range []string{"events:42:7", "events:42:8", "events:43:7"} {
			if err := f.RDB.Set(ctx, k, "{}", 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
		out, stderr, code := run(t, nil, "invalidate", "--config", cfg, "events", "42", "7", "43", "7")
		if code != 0 || strings.TrimSpace(out) != "2" {
			t.Fatalf("exit %d, out %q, stderr %q", code, out, stderr)
		}
		if n := f.RDB.Exists(ctx, "events:42:7", "events:42:8", "events:43:7").Val(); n != 1 {
			t.Errorf("%d of the three keys remain, want 1 (events:42:8)", n)
		}
		_, stderr, code = run(t, nil, "invalidate", "--config", cfg, "events", "42")
		if code != 2 || !strings.Contains(stderr, "KEY SORTKEY pairs") {
			t.Errorf("odd arguments: exit %d, stderr %q", code, stderr)
		}
	})
}

// TestStatsNoDaemon: `ddbcache stats` with no daemon on the socket says
// so in one line and exits 1, at once. go-redis, left to itself, retried
// the dial three times and logged each failure to stderr first: four
// lines of "connection pool: failed to dial after 5 attempts" above the
// error, a second later.
func TestStatsNoDaemon(t *testing.T) {
	sock := filepath.Join(testenv.ShortDir(t), "none.sock")
	out, stderr, code := run(t, nil, "stats", "--unix", sock)
	want := fmt.Sprintf("ddbcache: stats from %s: dial unix %s: connect: no such file or directory\n", sock, sock)
	if code != 1 || out != "" || stderr != want {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, stderr, want)
	}
}
