// Package config is the daemon's settings, declared once: one table
// (Settings, and Fields for a namespace) gives each setting its YAML path,
// flag, DDBCACHE_* variable, type, default (the owning package's
// constant), valid range, help text and whether it can change on reload.
// The YAML loader (Load), the environment (ApplyEnv), cmd/ddbcache's flags
// and --help, and the README's tables (Markdown, gen-readme) are all made
// from it; Options turns a Config into daemon.Options.
package config

import (
	"os"
	"time"

	"github.com/ddbcache/ddbcache/audit"
	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/unixsock"
)

// Config is the daemon's configuration: the file, then the environment,
// then the flags, each over the defaults of the settings table. Its
// fields are reached only through the table's rows (Settings); a test
// checks that every field has exactly one row. Each field holds its
// setting's value as given, defaults filled in: 0 of a "0 means none"
// timeout is 0 here (Options turns it into the packages' -1).
type Config struct {
	// File is the configuration file read, "" for none.
	File  string
	Redis struct {
		Addrs              []string
		Username           string
		Password           string
		PasswordFile       string
		ClientCacheMB      int
		DisableClientCache bool
		WaitReplicas       int
		ReadFromReplicas   bool
		ReplicaAddrs       []string
	}
	DynamoDB struct {
		Region              string
		Endpoint            string
		AccessKeyID         string
		SecretAccessKey     string
		SecretAccessKeyFile string
		StreamsEndpoint     string
	}
	Listen struct {
		Unix         string
		UnixMode     os.FileMode
		TCP          string
		FCGI         string
		FCGIMode     os.FileMode
		HTTP         string
		APIPrefix    string
		MaxConns     int
		Password     string
		PasswordFile string
		Username     string
		AllowRemote  bool
		IdleTimeout  time.Duration
		ReadTimeout  time.Duration
		WriteTimeout time.Duration
		Pprof        bool
	}
	Limits struct {
		MaxValueBytes int
		MaxKeys       int
		Timeout       time.Duration
		LoadTimeout   time.Duration
		GutterTTL     time.Duration
	}
	Audit struct {
		Sample       float64
		MaxPerSecond int
		Grace        time.Duration
	}
	Log struct {
		Level  string
		Format string
	}
	// Namespaces by name (the namespaces: map, --namespace).
	Namespaces map[string]Namespace
}

// Defaults of the daemon's own settings, which no package owns.
const (
	DefaultLogLevel  = "info"
	DefaultLogFormat = "text"
)

// reload and restart say whether a row can change on SIGHUP.
const (
	reload  = true
	restart = false
)

// restartsWeb notes on a reloadable row that the plain HTTP server's
// timeouts it also sets (with listen.http or listen.fcgi) cannot change
// on a running http.Server: then a change needs a restart.
func restartsWeb(s Setting) Setting {
	s.ReloadNote, s.webRestart = "RESP; web front: restart", true
	return s
}

// settings is the table. Defaults come from the owning package's
// constants; "0 means none" timeouts are stored as 0 here and turned
// into the packages' "negative means none" by Options.
var settings = []Setting{
	withEnv("DDBCACHE_REDIS_ADDRS", listRow("redis.addrs", "redis-addr", "Redis host:port (repeat the flag, or commas); several: Redis Cluster",
		[]string{cache.DefaultRedisAddr}, func(c *Config) *[]string { return &c.Redis.Addrs }, restart)),
	row("redis.username", "redis-username", "Redis ACL user", kindString, "", func(c *Config) *string { return &c.Redis.Username }, anyString, restart),
	secret(row("redis.password", "redis-password", "Redis password", kindString, "", func(c *Config) *string { return &c.Redis.Password }, anyString, restart)),
	row("redis.password_file", "redis-password-file", "file holding the Redis password (instead of redis.password)", kindString, "",
		func(c *Config) *string { return &c.Redis.PasswordFile }, anyString, restart),
	row("redis.client_cache_mb", "client-cache-mb", "client-side cache of the whole daemon, MiB, shared by its Redis connections; the daemon's soft memory limit is this + 64 MiB unless GOMEMLIMIT is set", kindInt, cache.DefaultClientCacheMB,
		func(c *Config) *int { return &c.Redis.ClientCacheMB }, positiveInt, restart),
	row("redis.wait_replicas", "wait-replicas", "after an invalidation, WAIT for this many replicas of the key's master; 0 = no WAIT", kindInt, cache.DefaultWaitReplicas,
		func(c *Config) *int { return &c.Redis.WaitReplicas }, nonNegInt, restart),
	row("redis.read_from_replicas", "read-from-replicas", "send reads to replicas (cluster: each master's; standalone: redis.replica_addrs); a daemon's own writes are read from the primary", kindBool, false,
		func(c *Config) *bool { return &c.Redis.ReadFromReplicas }, anyBool, restart),
	anyRange(listRow("redis.replica_addrs", "redis-replica-addr", "replicas of a standalone primary, host:port (repeat the flag, or commas), read with redis.read_from_replicas",
		nil, func(c *Config) *[]string { return &c.Redis.ReplicaAddrs }, restart)),
	row("redis.disable_client_cache", "disable-client-cache", "for Redis without RESP3 / CLIENT TRACKING", kindBool, false,
		func(c *Config) *bool { return &c.Redis.DisableClientCache }, anyBool, restart),

	row("dynamodb.region", "dynamodb-region", `AWS region; "" = the AWS configuration, then us-east-1`, kindString, "",
		func(c *Config) *string { return &c.DynamoDB.Region }, anyString, restart),
	row("dynamodb.endpoint", "dynamodb-endpoint", "URL of a local DynamoDB-compatible server (dynalite, DynamoDB Local)", kindString, "",
		func(c *Config) *string { return &c.DynamoDB.Endpoint }, anyString, restart),
	row("dynamodb.access_key_id", "aws-access-key-id", `static credentials; "" = the standard AWS chain (with an endpoint: "local")`, kindString, "",
		func(c *Config) *string { return &c.DynamoDB.AccessKeyID }, anyString, restart),
	secret(row("dynamodb.secret_access_key", "aws-secret-access-key", "the static credentials' secret", kindString, "",
		func(c *Config) *string { return &c.DynamoDB.SecretAccessKey }, anyString, restart)),
	row("dynamodb.secret_access_key_file", "aws-secret-access-key-file", "file holding the secret (instead of dynamodb.secret_access_key)", kindString, "",
		func(c *Config) *string { return &c.DynamoDB.SecretAccessKeyFile }, anyString, restart),
	row("dynamodb.streams_endpoint", "dynamodb-streams-endpoint", "URL of a DynamoDB Streams server (local servers, tests)", kindString, "",
		func(c *Config) *string { return &c.DynamoDB.StreamsEndpoint }, anyString, restart),

	row("listen.unix", "unix", `RESP Unix socket path; "" = none (then listen.tcp is required)`, kindString, unixsock.DefaultPath,
		func(c *Config) *string { return &c.Listen.Unix }, anyString, restart),
	row("listen.unix_mode", "unix-mode", "the socket file's mode", kindMode, unixsock.DefaultMode,
		func(c *Config) *os.FileMode { return &c.Listen.UnixMode }, socketMode, restart),
	row("listen.tcp", "tcp", "also serve RESP on this loopback host:port", kindString, "",
		func(c *Config) *string { return &c.Listen.TCP }, anyString, restart),
	row("listen.fcgi", "fcgi", "FastCGI (the HTTP API): a socket path or a loopback host:port", kindString, "",
		func(c *Config) *string { return &c.Listen.FCGI }, anyString, restart),
	row("listen.fcgi_mode", "fcgi-mode", "the FastCGI socket file's mode", kindMode, unixsock.DefaultMode,
		func(c *Config) *os.FileMode { return &c.Listen.FCGIMode }, socketMode, restart),
	row("listen.http", "http", "the HTTP API as plain HTTP on loopback, and /metrics", kindString, "",
		func(c *Config) *string { return &c.Listen.HTTP }, anyString, restart),
	row("listen.pprof", "pprof", "serve net/http/pprof at /debug/pprof/ on listen.http, to profile the daemon", kindBool, false,
		func(c *Config) *bool { return &c.Listen.Pprof }, anyBool, restart),
	row("listen.api_prefix", "api-prefix", "a path prefix that also means /v1, e.g. /api", kindString, "",
		func(c *Config) *string { return &c.Listen.APIPrefix }, check[string]{`"" or /…`, func(s string) bool { return s == "" || s[0] == '/' }}, reload),
	row("listen.max_conns", "max-conns", "most open client connections", kindInt, unixsock.DefaultMaxConns,
		func(c *Config) *int { return &c.Listen.MaxConns }, positiveInt, reload),
	secret(row("listen.password", "password", "clients must AUTH with this password when set", kindString, "",
		func(c *Config) *string { return &c.Listen.Password }, anyString, reload)),
	row("listen.password_file", "password-file", "file holding listen.password (instead of listen.password)", kindString, "",
		func(c *Config) *string { return &c.Listen.PasswordFile }, anyString, reload),
	row("listen.username", "username", "the user of AUTH user password", kindString, unixsock.DefaultUsername,
		func(c *Config) *string { return &c.Listen.Username }, check[string]{"not empty", func(s string) bool { return s != "" }}, reload),
	row("listen.allow_remote", "allow-remote", "allow tcp/http/fcgi on non-loopback addresses; remote RESP then needs a password", kindBool, false,
		func(c *Config) *bool { return &c.Listen.AllowRemote }, anyBool, restart),
	restartsWeb(row("listen.idle_timeout", "idle-timeout", "close RESP, HTTP keep-alive and FastCGI connections idle this long; 0 = never", kindDur, unixsock.DefaultIdleTimeout,
		func(c *Config) *time.Duration { return &c.Listen.IdleTimeout }, nonNegDur, reload)),
	restartsWeb(row("listen.read_timeout", "read-timeout", "bound on reading one RESP command or HTTP request; 0 = none", kindDur, unixsock.DefaultReadTimeout,
		func(c *Config) *time.Duration { return &c.Listen.ReadTimeout }, nonNegDur, reload)),
	restartsWeb(row("listen.write_timeout", "write-timeout", "bound on writing replies (plain HTTP: after limits.timeout); 0 = none", kindDur, unixsock.DefaultWriteTimeout,
		func(c *Config) *time.Duration { return &c.Listen.WriteTimeout }, nonNegDur, reload)),

	row("limits.max_value_bytes", "max-value-bytes", "largest argument of any command, DDB PUT item or forwarded value", kindInt, cache.DefaultMaxValueBytes,
		func(c *Config) *int { return &c.Limits.MaxValueBytes }, positiveInt, reload),
	row("limits.max_keys", "max-keys", "most keys of one DDB MGET / DDB INVALIDATE / _mget", kindInt, unixsock.DefaultMaxKeys,
		func(c *Config) *int { return &c.Limits.MaxKeys }, positiveInt, reload),
	restartsWeb(row("limits.timeout", "timeout", "bound on one client request", kindDur, unixsock.DefaultTimeout,
		func(c *Config) *time.Duration { return &c.Limits.Timeout }, positiveDur, reload)),
	row("limits.load_timeout", "load-timeout", "bound on one DynamoDB call", kindDur, cache.DefaultLoadTimeout,
		func(c *Config) *time.Duration { return &c.Limits.LoadTimeout }, positiveDur, restart),
	row("limits.gutter_ttl", "gutter-ttl", "while Redis is down, reuse DynamoDB's answers this long; 0 = off", kindDur, cache.DefaultGutterTTL,
		func(c *Config) *time.Duration { return &c.Limits.GutterTTL }, nonNegDur, reload),

	row("audit.sample", "audit-sample", "share of cache hits re-read from DynamoDB (ConsistentRead) by the consistency audit; 0 = off", kindFrac, audit.DefaultSample,
		func(c *Config) *float64 { return &c.Audit.Sample }, fraction, reload),
	row("audit.max_per_second", "audit-max-per-second", "most hits audited a second (each a consistent read; a mismatch costs a second)", kindInt, audit.DefaultMaxPerSecond,
		func(c *Config) *int { return &c.Audit.MaxPerSecond }, positiveInt, reload),
	row("audit.grace", "audit-grace", "how long an entry may lag DynamoDB before the audit calls it inconsistent (and invalidates it)", kindDur, audit.DefaultGrace,
		func(c *Config) *time.Duration { return &c.Audit.Grace }, positiveDur, reload),

	row("log.level", "log-level", "least severe level logged", kindString, DefaultLogLevel,
		func(c *Config) *string { return &c.Log.Level }, oneOf("debug", "info", "warn", "error"), reload),
	row("log.format", "log-format", "log line format", kindString, DefaultLogFormat,
		func(c *Config) *string { return &c.Log.Format }, oneOf("text", "json"), reload),
}

// Settings returns the settings table, in the order of the README.
func Settings() []Setting { return append([]Setting(nil), settings...) }

// Lookup returns the row of the setting with the YAML path name.
func Lookup(name string) (Setting, bool) {
	for _, s := range settings {
		if s.Name == name {
			return s, true
		}
	}
	return Setting{}, false
}

// Defaults returns a Config holding every setting's default.
func Defaults() *Config {
	c := &Config{Namespaces: map[string]Namespace{}}
	for _, s := range settings {
		s.reset(c)
	}
	return c
}
