package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestSources checks the order: defaults, then the file, then the
// environment; and that a namespace reads the same from YAML as from
// --namespace.
func TestSources(t *testing.T) {
	path := writeFile(t, "c.yaml", `
listen: { max_conns: 10, idle_timeout: 0 }
limits: { timeout: 2s }
namespaces:
  profile: { table: users, partition_key: user_id, redis_key: "user_profile:{user_id}", ttl: 2h, ttl_jitter: 10%, negative_ttl: 0, stream: true }
`)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DDBCACHE_TIMEOUT": "7s", "DDBCACHE_REDIS_ADDRS": "a:1, b:2"}
	if err := c.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if c.Listen.MaxConns != 10 || c.Listen.IdleTimeout != 0 || c.Limits.Timeout != 7*time.Second ||
		!reflect.DeepEqual(c.Redis.Addrs, []string{"a:1", "b:2"}) || c.Limits.MaxKeys != 1000 {
		t.Errorf("merged %+v %+v %+v", c.Listen, c.Limits, c.Redis)
	}
	flag := Defaults()
	if err := flag.ParseNamespace("profile:table=users;partition_key=user_id;redis_key=user_profile:{user_id};ttl=2h;ttl_jitter=0.1;negative_ttl=0;stream=yes"); err != nil {
		t.Fatal(err)
	}
	if c.Namespaces["profile"] != flag.Namespaces["profile"] {
		t.Errorf("YAML %+v, --namespace %+v", c.Namespaces["profile"], flag.Namespaces["profile"])
	}
	o := c.Options(nil)
	if o.Socket.IdleTimeout >= 0 || o.Engine.Namespaces[0].NegativeTTL >= 0 || !reflect.DeepEqual(o.Streams.Tables, []string{"users"}) {
		t.Errorf("0 must mean none: idle %v, negative_ttl %v; streams %v", o.Socket.IdleTimeout, o.Engine.Namespaces[0].NegativeTTL, o.Streams.Tables)
	}
}

// TestSecretFiles checks *_file: read without its newline, exclusive
// with the setting itself.
func TestSecretFiles(t *testing.T) {
	pw := writeFile(t, "pw", "s3cret\n")
	empty := writeFile(t, "empty", "\n")
	cases := []struct {
		name string
		set  map[string]string
		want string // "" for success
	}{
		{"listen password from a file", map[string]string{"listen.password_file": pw}, ""},
		{"redis password from a file", map[string]string{"redis.password_file": pw}, ""},
		{"AWS secret from a file", map[string]string{"dynamodb.secret_access_key_file": pw}, ""},
		{"both set", map[string]string{"listen.password_file": pw, "listen.password": "x"}, "listen.password and listen.password_file are both set"},
		{"empty file", map[string]string{"redis.password_file": empty}, "redis.password_file " + empty + " is empty"},
		{"missing file", map[string]string{"dynamodb.secret_access_key_file": pw + ".nope"}, "dynamodb.secret_access_key_file: open"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Defaults()
			for k, v := range tc.set {
				s, _ := Lookup(k)
				if err := s.Set(c, v); err != nil {
					t.Fatal(err)
				}
			}
			err := c.Resolve()
			if tc.want == "" {
				if err != nil || c.Listen.Password+c.Redis.Password+c.DynamoDB.SecretAccessKey != "s3cret" {
					t.Errorf("%v; passwords %q %q %q", err, c.Listen.Password, c.Redis.Password, c.DynamoDB.SecretAccessKey)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v, want %q", err, tc.want)
			}
		})
	}
}

// TestUnreloadable checks that only the settings a running daemon cannot
// take are named, in table order.
func TestUnreloadable(t *testing.T) {
	old, new := Defaults(), Defaults()
	for k, v := range map[string]string{
		"log.level": "debug", "limits.timeout": "9s", "listen.password": "p", "redis.addrs": "10.0.0.1:6379", "listen.unix": "/tmp/x.sock",
	} {
		s, _ := Lookup(k)
		if err := s.Set(new, v); err != nil {
			t.Fatal(err)
		}
	}
	new.Namespaces["profile"] = newNamespace()
	if got, want := Unreloadable(old, new), []string{"redis.addrs", "listen.unix"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Unreloadable %v, want %v", got, want)
	}
	if got := Changed(old, new); len(got) != 6 || got[len(got)-1] != "namespaces" {
		t.Errorf("Changed %v", got)
	}
	if got := Unreloadable(old, Defaults()); len(got) != 0 {
		t.Errorf("no change: %v", got)
	}
	// With a web front, its http.Server's timeouts cannot change.
	old.Listen.HTTP, new.Listen.HTTP = "127.0.0.1:9090", "127.0.0.1:9090"
	if got, want := Unreloadable(old, new), []string{"redis.addrs", "listen.unix", "limits.timeout"}; !reflect.DeepEqual(got, want) {
		t.Errorf("with a web front: Unreloadable %v, want %v", got, want)
	}
}

// TestLoadErrorsNameTheLine checks the file's errors: unknown keys and
// bad values, with the path and line.
func TestLoadErrorsNameTheLine(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"unknown section", "bogus: 1\n", `line 1: unknown setting "bogus"`},
		{"unknown key", "redis:\n  adrs: [x]\n", `line 2: unknown setting "redis.adrs"`},
		{"bad value", "listen:\n  max_conns: -1\n", `line 2: listen.max_conns "-1": want ≥ 1`},
		{"section as a value", "listen: 3\n", "line 1: listen must be a mapping"},
		{"list as a scalar", "limits: { timeout: [1s] }\n", "limits.timeout must be a single value"},
		{"unknown namespace field", "namespaces:\n  p: { tabel: x }\n", `line 2: namespaces.p: unknown field "tabel"`},
		{"missing partition key", "namespaces:\n  p: { table: x }\n", "namespaces.p.partition_key is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "c.yaml", tc.yaml)
			_, err := Load(path)
			if err == nil || !strings.HasPrefix(err.Error(), "config: "+path+" ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v, want config: %s …%s", err, path, tc.want)
			}
		})
	}
}
