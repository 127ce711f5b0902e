package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/dynamo"
	api "github.com/ddbcache/ddbcache/fcgi"
	"github.com/ddbcache/ddbcache/unixsock"
	"github.com/urfave/cli/v2"
)

// env names the DDBCACHE_* variable of a setting.
func env(name string) []string { return []string{"DDBCACHE_" + name} }

// globalFlags are the settings of the configuration file, each also a flag
// and an environment variable; flags and variables override the file.
func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "config", Aliases: []string{"c"}, EnvVars: env("CONFIG"), Usage: "YAML configuration `FILE`"},
		&cli.StringSliceFlag{Name: "redis-addr", EnvVars: env("REDIS_ADDRS"), Usage: "Redis host:port (several: Redis Cluster)"},
		&cli.StringFlag{Name: "redis-username", EnvVars: env("REDIS_USERNAME")},
		&cli.StringFlag{Name: "redis-password", EnvVars: env("REDIS_PASSWORD")},
		&cli.IntFlag{Name: "client-cache-mb", EnvVars: env("CLIENT_CACHE_MB"), Usage: "client-side cache per Redis connection, MiB", DefaultText: "128"},
		&cli.IntFlag{Name: "wait-replicas", EnvVars: env("WAIT_REPLICAS"), Usage: "after an invalidation, WAIT for this many replicas of the key's master", DefaultText: "0"},
		&cli.BoolFlag{Name: "disable-client-cache", EnvVars: env("DISABLE_CLIENT_CACHE"), Usage: "for Redis without RESP3/CLIENT TRACKING", DefaultText: "false"},
		&cli.StringFlag{Name: "dynamodb-region", EnvVars: env("DYNAMODB_REGION")},
		&cli.StringFlag{Name: "dynamodb-endpoint", EnvVars: env("DYNAMODB_ENDPOINT"), Usage: "URL of a local DynamoDB-compatible server"},
		&cli.StringFlag{Name: "aws-access-key-id", EnvVars: env("AWS_ACCESS_KEY_ID"), Usage: "static credentials (default: the AWS chain)"},
		&cli.StringFlag{Name: "aws-secret-access-key", EnvVars: env("AWS_SECRET_ACCESS_KEY")},
		&cli.StringFlag{Name: "dynamodb-streams-endpoint", EnvVars: env("DYNAMODB_STREAMS_ENDPOINT"), Usage: "URL of a DynamoDB Streams server (local servers, tests)"},
		&cli.StringFlag{Name: "unix", EnvVars: env("UNIX"), Usage: "RESP Unix socket `PATH` (default " + defaultSocket + ")"},
		&cli.StringFlag{Name: "unix-mode", EnvVars: env("UNIX_MODE"), Usage: "socket file mode, octal (default 0660)"},
		&cli.StringFlag{Name: "tcp", EnvVars: env("TCP"), Usage: "also serve RESP on this loopback host:port"},
		&cli.StringFlag{Name: "fcgi", EnvVars: env("FCGI"), Usage: "FastCGI socket path, or host:port"},
		&cli.StringFlag{Name: "fcgi-mode", EnvVars: env("FCGI_MODE"), Usage: "FastCGI socket file mode, octal (default 0660)"},
		&cli.StringFlag{Name: "http", EnvVars: env("HTTP"), Usage: "plain HTTP host:port (loopback)"},
		&cli.StringFlag{Name: "api-prefix", EnvVars: env("API_PREFIX"), Usage: "a path prefix that means /v1 in the HTTP API, e.g. /api"},
		&cli.IntFlag{Name: "max-conns", EnvVars: env("MAX_CONNS"), Usage: "most open client connections", DefaultText: "4096"},
		&cli.StringFlag{Name: "password", EnvVars: env("PASSWORD"), Usage: "require AUTH with this password on the socket"},
		// Bounds on clients (README, "Limits and hostile input").
		&cli.StringFlag{Name: "username", EnvVars: env("USERNAME"), Usage: "the user of AUTH user password", DefaultText: "default"},
		&cli.BoolFlag{Name: "allow-remote", EnvVars: env("ALLOW_REMOTE"), Usage: "allow TCP listen addresses that are not loopback", DefaultText: "false"},
		&cli.DurationFlag{Name: "idle-timeout", EnvVars: env("IDLE_TIMEOUT"), Usage: "close RESP, HTTP keep-alive and FastCGI connections idle this long (0: never)", DefaultText: "5m"},
		&cli.DurationFlag{Name: "read-timeout", EnvVars: env("READ_TIMEOUT"), Usage: "bound on reading one command or HTTP request (0: none)", DefaultText: "10s"},
		&cli.DurationFlag{Name: "write-timeout", EnvVars: env("WRITE_TIMEOUT"), Usage: "bound on writing replies (0: none)", DefaultText: "10s"},
		&cli.IntFlag{Name: "max-keys", EnvVars: env("MAX_KEYS"), Usage: "most keys of one DDB MGET/INVALIDATE or _mget", DefaultText: "1000"},
		&cli.IntFlag{Name: "max-value-bytes", EnvVars: env("MAX_VALUE_BYTES"), Usage: "largest value a client may write", DefaultText: "1048576"},
		&cli.DurationFlag{Name: "timeout", EnvVars: env("TIMEOUT"), Usage: "bound on one request", DefaultText: "5s"},
		&cli.DurationFlag{Name: "load-timeout", EnvVars: env("LOAD_TIMEOUT"), Usage: "bound on one DynamoDB call", DefaultText: "3s"},
		&cli.DurationFlag{Name: "gutter-ttl", EnvVars: env("GUTTER_TTL"), Usage: "while Redis is down, reuse DynamoDB's answers this long (0 = off)", DefaultText: cache.DefaultGutterTTL.String()},
		&cli.StringSliceFlag{Name: "namespace", EnvVars: env("NAMESPACES"), Usage: "NAME:table=T;partition_key=K;redis_key=…;ttl=1h (repeatable)"},
		&cli.StringFlag{Name: "log-level", EnvVars: env("LOG_LEVEL"), Usage: "debug, info, warn or error (default info)"},
		&cli.StringFlag{Name: "log-format", EnvVars: env("LOG_FORMAT"), Usage: "text or json (default text)"},
	}
}

// settings is everything the commands need, from the file and the flags.
type settings struct {
	cfg    *config
	engine cache.Options
	dynamo dynamo.Options
	sock   unixsock.Options
	api    api.Options
	web    api.ServerOptions
	log    *slog.Logger
}

// load merges the configuration file with flags and environment variables.
func load(c *cli.Context) (*settings, error) {
	cfg, err := loadConfig(c.String("config"))
	if err != nil {
		return nil, err
	}
	str := func(flag string, dst *string) {
		if c.IsSet(flag) {
			*dst = c.String(flag)
		}
	}
	num := func(flag string, dst *int) {
		if c.IsSet(flag) {
			*dst = c.Int(flag)
		}
	}
	if c.IsSet("redis-addr") {
		cfg.Redis.Addrs = c.StringSlice("redis-addr")
	}
	str("redis-username", &cfg.Redis.Username)
	str("redis-password", &cfg.Redis.Password)
	num("client-cache-mb", &cfg.Redis.ClientCacheMB)
	num("wait-replicas", &cfg.Redis.WaitReplicas)
	if c.IsSet("disable-client-cache") {
		cfg.Redis.DisableClientCache = c.Bool("disable-client-cache")
	}
	str("dynamodb-region", &cfg.DynamoDB.Region)
	str("dynamodb-endpoint", &cfg.DynamoDB.Endpoint)
	str("aws-access-key-id", &cfg.DynamoDB.AccessKeyID)
	str("aws-secret-access-key", &cfg.DynamoDB.SecretAccessKey)
	str("dynamodb-streams-endpoint", &cfg.DynamoDB.StreamsEndpoint)
	str("unix", &cfg.Listen.Unix)
	str("unix-mode", &cfg.Listen.UnixMode)
	str("tcp", &cfg.Listen.TCP)
	str("fcgi", &cfg.Listen.FCGI)
	str("fcgi-mode", &cfg.Listen.FCGIMode)
	str("http", &cfg.Listen.HTTP)
	str("api-prefix", &cfg.Listen.APIPrefix)
	num("max-conns", &cfg.Listen.MaxConns)
	str("password", &cfg.Listen.Password)
	// Bounds on clients.
	str("username", &cfg.Listen.Username)
	if c.IsSet("allow-remote") {
		cfg.Listen.AllowRemote = c.Bool("allow-remote")
	}
	for flag, dst := range map[string]**duration{"idle-timeout": &cfg.Listen.IdleTimeout,
		"read-timeout": &cfg.Listen.ReadTimeout, "write-timeout": &cfg.Listen.WriteTimeout} {
		if c.IsSet(flag) {
			d := duration(c.Duration(flag))
			*dst = &d
		}
	}
	num("max-keys", &cfg.Limits.MaxKeys)
	num("max-value-bytes", &cfg.Limits.MaxValueBytes)
	if c.IsSet("timeout") {
		cfg.Limits.Timeout = duration(c.Duration("timeout"))
	}
	if c.IsSet("load-timeout") {
		cfg.Limits.LoadTimeout = duration(c.Duration("load-timeout"))
	}
	if c.IsSet("gutter-ttl") {
		d := duration(c.Duration("gutter-ttl"))
		cfg.Limits.GutterTTL = &d
	}
	str("log-level", &cfg.Log.Level)
	str("log-format", &cfg.Log.Format)
	for _, spec := range c.StringSlice("namespace") {
		name, nc, err := parseNamespaceFlag(spec)
		if err != nil {
			return nil, err
		}
		if cfg.Namespaces == nil {
			cfg.Namespaces = map[string]nsConfig{}
		}
		cfg.Namespaces[name] = nc
	}
	return cfg.settings()
}

// settings validates the merged configuration and derives each package's options.
func (cfg *config) settings() (*settings, error) {
	logger, err := newLogger(cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		return nil, err
	}
	if len(cfg.Redis.Addrs) == 0 {
		cfg.Redis.Addrs = []string{defaultRedis}
	}
	if cfg.Listen.Unix == "" && cfg.Listen.TCP == "" {
		cfg.Listen.Unix = defaultSocket
	}
	mode, err := fileMode("unix_mode", cfg.Listen.UnixMode)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	fcgiMode, err := fileMode("fcgi_mode", cfg.Listen.FCGIMode)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := cfg.checkRemote(); err != nil {
		return nil, err
	}
	var idle, read, write time.Duration
	for _, t := range []struct {
		key string
		d   *duration
		dst *time.Duration
	}{{"idle_timeout", cfg.Listen.IdleTimeout, &idle}, {"read_timeout", cfg.Listen.ReadTimeout, &read}, {"write_timeout", cfg.Listen.WriteTimeout, &write}} {
		if *t.dst, err = timeout("listen."+t.key, t.d); err != nil {
			return nil, err
		}
	}
	nss, err := cfg.namespaces()
	if err != nil {
		return nil, err
	}
	if len(nss) == 0 {
		return nil, fmt.Errorf("config: no namespaces configured (add a namespaces: section or --namespace)")
	}
	return &settings{
		cfg: cfg,
		log: logger,
		engine: cache.Options{
			Redis: cache.RedisOptions{
				Addrs: cfg.Redis.Addrs, Username: cfg.Redis.Username, Password: cfg.Redis.Password,
				ClientCacheMB: cfg.Redis.ClientCacheMB, DisableClientCache: cfg.Redis.DisableClientCache,
				WaitReplicas: cfg.Redis.WaitReplicas,
			},
			Namespaces:    nss,
			MaxValueBytes: cfg.Limits.MaxValueBytes,
			LoadTimeout:   time.Duration(cfg.Limits.LoadTimeout),
			GutterTTL:     gutterTTL(cfg.Limits.GutterTTL),
			Logger:        logger,
		},
		dynamo: dynamo.Options{
			Region: cfg.DynamoDB.Region, Endpoint: cfg.DynamoDB.Endpoint,
			AccessKeyID: cfg.DynamoDB.AccessKeyID, SecretAccessKey: cfg.DynamoDB.SecretAccessKey,
		},
		sock: unixsock.Options{
			Path: cfg.Listen.Unix, Mode: mode, TCP: cfg.Listen.TCP, MaxConns: cfg.Listen.MaxConns,
			Password: cfg.Listen.Password, Timeout: time.Duration(cfg.Limits.Timeout), Logger: logger,
			Username: cfg.Listen.Username, IdleTimeout: idle, ReadTimeout: read, WriteTimeout: write, MaxKeys: cfg.Limits.MaxKeys,
		},
		api: api.Options{Prefix: cfg.Listen.APIPrefix, Timeout: time.Duration(cfg.Limits.Timeout), Logger: logger, MaxKeys: cfg.Limits.MaxKeys},
		web: api.ServerOptions{FCGI: cfg.Listen.FCGI, FCGIMode: fcgiMode, HTTP: cfg.Listen.HTTP, Logger: logger,
			IdleTimeout: idle, ReadTimeout: read, WriteTimeout: httpWriteTimeout(write, time.Duration(cfg.Limits.Timeout))},
	}, nil
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if level != "" {
		if err := lv.UnmarshalText([]byte(level)); err != nil {
			return nil, fmt.Errorf("config: bad log level %q (want debug, info, warn or error)", level)
		}
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "", "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	default:
		return nil, fmt.Errorf("config: bad log format %q (want text or json)", format)
	}
}

// gutterTTL maps the gutter_ttl setting to cache.Options.GutterTTL: unset
// is the default, 0 is off.
func gutterTTL(d *duration) time.Duration {
	switch {
	case d == nil:
		return 0
	case *d <= 0:
		return -1
	}
	return time.Duration(*d)
}

// httpWriteTimeout is the plain HTTP server's WriteTimeout, which runs
// from the end of a request's headers to the end of its response: the
// handler's own bound (limits.timeout) plus the time to write.
func httpWriteTimeout(write, handler time.Duration) time.Duration {
	if write <= 0 {
		return write
	}
	if handler == 0 {
		handler = unixsock.DefaultTimeout
	}
	return handler + write
}
