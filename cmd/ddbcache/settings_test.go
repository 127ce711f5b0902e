package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOutOfRangeValues starts `ddbcache serve` with one bad value of a
// setting at a time and wants it refused at once, on one line naming the
// setting. Before the settings table, most of these started a daemon that
// then failed every request (max_value_bytes: -1 refused every PUT,
// max_conns: -1 every client): the deadline turns that into a failure.
func TestOutOfRangeValues(t *testing.T) {
	for _, tc := range outOfRangeCases() {
		t.Run(tc.name, func(t *testing.T) {
			cfg, dir := writeConfig(t, tc.yaml)
			// A socket of its own and an unused Redis: a daemon that
			// wrongly starts stays up until the deadline.
			args := append([]string{"--config", cfg, "--unix", filepath.Join(dir, "s.sock"), "--redis-addr", "127.0.0.1:1"}, tc.args...)
			if strings.Contains(tc.yaml, "unix:") {
				args = append([]string{"--config", cfg, "--redis-addr", "127.0.0.1:1"}, tc.args...)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary, append(args, "serve")...)
			cmd.Env = append(cleanEnv(), tc.env...)
			out, err := cmd.CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("the daemon started with the bad value (killed after 5s): %s", out)
			}
			if err == nil {
				t.Fatalf("exit 0 for a bad value")
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "ddbcache: ") || !strings.Contains(lines[0], tc.want) {
				t.Errorf("output %q, want one line 'ddbcache: …%s…'", out, tc.want)
			}
		})
	}
}

// outOfRangeCase is a configuration with one bad value, from the file
// (yaml), flags (args) or the environment (env); want is the setting the
// error must name.
type outOfRangeCase struct {
	name, yaml string
	args, env  []string
	want       string
}

func outOfRangeCases() []outOfRangeCase {
	ns := func(field string) string {
		return "namespaces:\n  profile: { table: users, partition_key: id, " + field + " }\n"
	}
	return []outOfRangeCase{
		{"no Redis address", "redis: { addrs: [] }\n" + goodNamespace, nil, nil, "redis.addrs"},
		{"negative client cache", "redis: { client_cache_mb: -1 }\n" + goodNamespace, nil, nil, "redis.client_cache_mb"},
		{"zero client cache", "redis: { client_cache_mb: 0 }\n" + goodNamespace, nil, nil, "redis.client_cache_mb"},
		{"negative wait_replicas", "redis: { wait_replicas: -1 }\n" + goodNamespace, nil, nil, "redis.wait_replicas"},
		{"bool that is not", "redis: { disable_client_cache: maybe }\n" + goodNamespace, nil, nil, "redis.disable_client_cache"},
		{"socket mode above 0777", "listen: { unix_mode: \"01777\" }\n" + goodNamespace, nil, nil, "listen.unix_mode"},
		{"socket mode 0", "listen: { unix_mode: \"0\" }\n" + goodNamespace, nil, nil, "listen.unix_mode"},
		{"FastCGI mode not octal", "listen: { fcgi_mode: rw }\n" + goodNamespace, nil, nil, "listen.fcgi_mode"},
		{"API prefix without slash", "listen: { api_prefix: api }\n" + goodNamespace, nil, nil, "listen.api_prefix"},
		{"negative max_conns", "listen: { max_conns: -1 }\n" + goodNamespace, nil, nil, "listen.max_conns"},
		{"zero max_conns", "listen: { max_conns: 0 }\n" + goodNamespace, nil, nil, "listen.max_conns"},
		{"empty username", "listen: { username: \"\" }\n" + goodNamespace, nil, nil, "listen.username"},
		{"negative idle timeout", "listen: { idle_timeout: -1s }\n" + goodNamespace, nil, nil, "listen.idle_timeout"},
		{"negative read timeout", "listen: { read_timeout: -1s }\n" + goodNamespace, nil, nil, "listen.read_timeout"},
		{"negative write timeout", "listen: { write_timeout: -5s }\n" + goodNamespace, nil, nil, "listen.write_timeout"},
		{"no socket at all", "listen: { unix: \"\" }\n" + goodNamespace, nil, nil, "listen.unix"},
		{"negative max_value_bytes", "limits: { max_value_bytes: -1 }\n" + goodNamespace, nil, nil, "limits.max_value_bytes"},
		{"zero max_value_bytes", "limits: { max_value_bytes: 0 }\n" + goodNamespace, nil, nil, "limits.max_value_bytes"},
		{"negative max_keys", "limits: { max_keys: -1 }\n" + goodNamespace, nil, nil, "limits.max_keys"},
		{"zero timeout", "limits: { timeout: 0s }\n" + goodNamespace, nil, nil, "limits.timeout"},
		{"negative timeout", "limits: { timeout: -1s }\n" + goodNamespace, nil, nil, "limits.timeout"},
		{"zero load timeout", "limits: { load_timeout: 0s }\n" + goodNamespace, nil, nil, "limits.load_timeout"},
		{"negative gutter", "limits: { gutter_ttl: -1s }\n" + goodNamespace, nil, nil, "limits.gutter_ttl"},
		{"bad log format", "log: { format: xml }\n" + goodNamespace, nil, nil, "log.format"},
		{"zero ttl", ns("ttl: 0s"), nil, nil, "namespaces.profile.ttl"},
		{"negative ttl", ns("ttl: -1h"), nil, nil, "namespaces.profile.ttl"},
		{"jitter of 1", ns("ttl_jitter: 1"), nil, nil, "namespaces.profile.ttl_jitter"},
		{"negative jitter", ns("ttl_jitter: -0.1"), nil, nil, "namespaces.profile.ttl_jitter"},
		{"negative negative_ttl", ns("negative_ttl: -1s"), nil, nil, "namespaces.profile.negative_ttl"},
		{"negative stale_if_error", ns("stale_if_error: -1m"), nil, nil, "namespaces.profile.stale_if_error"},
		{"stream that is not a bool", ns("stream: maybe"), nil, nil, "namespaces.profile.stream"},
		{"flag: negative max_conns", goodNamespace, []string{"--max-conns", "-1"}, nil, "listen.max_conns"},
		{"env: negative max_value_bytes", goodNamespace, nil, []string{"DDBCACHE_MAX_VALUE_BYTES=-1"}, "limits.max_value_bytes"},
		{"flag: jitter of 150%", goodNamespace, []string{"--namespace", "x:table=t;partition_key=k;ttl_jitter=150%"}, nil, "namespaces.x.ttl_jitter"},
	}
}
