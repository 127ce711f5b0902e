package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ddbcache/ddbcache/daemon"
)

// TestReloadColumnAgreesWithDaemon changes each setting, one at a time, to
// another valid value and checks that daemon.Refused (what a SIGHUP
// refuses) and the table's reload column (Unreloadable, the README's
// column) say the same, without and with a web front. A new setting needs
// an entry in alternatives, or the test fails.
func TestReloadColumnAgreesWithDaemon(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	alternatives := map[string]string{
		"redis.addrs": "127.0.0.1:7000", "redis.username": "u", "redis.password": "p", "redis.password_file": secret,
		"redis.client_cache_mb": "64", "redis.wait_replicas": "1", "redis.disable_client_cache": "true",
		"redis.read_from_replicas": "true", "redis.replica_addrs": "127.0.0.1:7004",
		"dynamodb.region": "eu-west-1", "dynamodb.endpoint": "http://127.0.0.1:8000", "dynamodb.access_key_id": "k",
		"dynamodb.secret_access_key": "s", "dynamodb.secret_access_key_file": secret,
		"dynamodb.streams_endpoint": "http://127.0.0.1:8001",
		"listen.unix":               filepath.Join(dir, "other.sock"), "listen.unix_mode": "0600", "listen.tcp": "127.0.0.1:7001",
		"listen.fcgi": filepath.Join(dir, "other.fcgi"), "listen.fcgi_mode": "0600", "listen.http": "127.0.0.1:7002",
		"listen.api_prefix": "/api", "listen.max_conns": "7", "listen.password": "p", "listen.password_file": secret,
		"listen.username": "u", "listen.idle_timeout": "1m", "listen.read_timeout": "3s", "listen.write_timeout": "3s",
		"limits.max_value_bytes": "1000", "limits.max_keys": "10", "limits.timeout": "2s", "limits.load_timeout": "2s",
		"limits.gutter_ttl": "0s", "log.level": "debug", "log.format": "json",
		"listen.pprof": "true",
		"audit.sample": "0.5", "audit.max_per_second": "3", "audit.grace": "1s",
	}
	// Settings that only check others at start: no daemon option holds them.
	noOption := map[string]bool{"listen.allow_remote": true}
	for _, web := range []string{"", "127.0.0.1:7003"} {
		for _, s := range settings {
			// listen.http is the web front itself in the second round; without
			// a web front the FastCGI socket's mode is a mode of no socket,
			// which the daemon ignores and the table calls a restart (and
			// so is pprof, served on the HTTP listener).
			if noOption[s.Name] || s.Name == "listen.http" && web != "" || (s.Name == "listen.fcgi_mode" || s.Name == "listen.pprof") && web == "" {
				continue
			}
			v, ok := alternatives[s.Name]
			if !ok {
				t.Errorf("%s: no alternative value in this test", s.Name)
				continue
			}
			old, new := agreeBase(t, web), agreeBase(t, web)
			if err := s.Set(new, v); err != nil {
				t.Fatalf("%s = %s: %v", s.Name, v, err)
			}
			if err := new.Resolve(); err != nil {
				t.Fatalf("%s = %s: %v", s.Name, v, err)
			}
			byDaemon := daemon.Refused(old.Options(nil), new.Options(nil))
			byTable := Unreloadable(old, new)
			if (len(byDaemon) > 0) != (len(byTable) > 0) {
				t.Errorf("web %q: changing %s: the daemon refuses %v, the table %v", web, s.Name, byDaemon, byTable)
			}
		}
	}
}

// agreeBase is the defaults with one namespace and, if web is set, a plain
// HTTP front there.
func agreeBase(t *testing.T, web string) *Config {
	t.Helper()
	c := Defaults()
	n := newNamespace()
	n.Table, n.PartitionKey, n.RedisKey = "users", "user_id", "user_profile:{user_id}"
	c.Namespaces["profile"] = n
	c.Listen.HTTP = web
	if err := c.Resolve(); err != nil && !strings.Contains(err.Error(), "no listener") {
		t.Fatal(err)
	}
	return c
}
