package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/ddbcache/ddbcache/audit"
	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/daemon"
	"github.com/ddbcache/ddbcache/dynamo"
	api "github.com/ddbcache/ddbcache/fcgi"
	"github.com/ddbcache/ddbcache/unixsock"
	"github.com/ddbcache/ddbcache/valuefmt"
)

// ErrNoNamespaces means a daemon was configured without namespaces: only
// serve and the commands that look items up need them.
var ErrNoNamespaces = errors.New("config: no namespaces configured (add a namespaces: section or --namespace)")

// Resolve reads the *_file secrets into their settings and checks what
// no single row can: a secret and its file both set, no listener, a
// listener other hosts can reach. It is called once every source is
// applied, and again on reload (a secret file may have changed).
func (c *Config) Resolve() error {
	for _, f := range []struct {
		name      string
		val, file *string
	}{
		{"redis.password", &c.Redis.Password, &c.Redis.PasswordFile},
		{"listen.password", &c.Listen.Password, &c.Listen.PasswordFile},
		{"dynamodb.secret_access_key", &c.DynamoDB.SecretAccessKey, &c.DynamoDB.SecretAccessKeyFile},
	} {
		if *f.file == "" {
			continue
		}
		if *f.val != "" {
			return fmt.Errorf("config: %s and %s_file are both set; set one", f.name, f.name)
		}
		b, err := os.ReadFile(*f.file)
		if err != nil {
			return fmt.Errorf("config: %s_file: %w", f.name, err)
		}
		if *f.val = strings.TrimRight(string(b), "\r\n"); *f.val == "" {
			return fmt.Errorf("config: %s_file %s is empty", f.name, *f.file)
		}
	}
	if c.Listen.Unix == "" && c.Listen.TCP == "" {
		return fmt.Errorf("config: listen.unix and listen.tcp are both empty: the daemon would have no socket")
	}
	for name, n := range c.Namespaces {
		if err := c.cacheNamespace(name, n).Validate(); err != nil {
			return fmt.Errorf("config: namespaces.%s: %w", name, err)
		}
	}
	return c.checkRemote()
}

func (c *Config) cacheNamespace(name string, n Namespace) cache.Namespace {
	neg := n.NegativeTTL
	if neg == 0 {
		neg = -1 // cache: negative means no negative caching
	}
	ns := cache.Namespace{
		Name: name, Table: n.Table, PartitionKey: n.PartitionKey, SortKey: n.SortKey, RedisKey: n.RedisKey,
		TTL: n.TTL, TTLJitter: n.TTLJitter, NegativeTTL: neg, StaleIfError: n.StaleIfError,
	}
	if n.TTL == TTLAuto {
		ns.TTL, ns.TTLAuto, ns.TTLMin, ns.TTLMax = 0, true, n.TTLMin, n.TTLMax
	}
	// The rows' checks admit only what Parse accepts.
	ns.Codec, _ = valuefmt.Parse(n.Format, n.Compress, n.CompressMinBytes)
	return ns
}

// RequireNamespaces returns ErrNoNamespaces when there are none.
func (c *Config) RequireNamespaces() error {
	if len(c.Namespaces) == 0 {
		return ErrNoNamespaces
	}
	return nil
}

// checkRemote refuses a TCP listen address that other hosts can reach,
// unless listen.allow_remote is set: neither the HTTP API nor RESP
// without a password has any authentication. Unix socket paths (with a
// '/') and "" pass.
func (c *Config) checkRemote() error {
	l := &c.Listen
	for _, a := range []struct{ key, addr string }{{"tcp", l.TCP}, {"http", l.HTTP}, {"fcgi", l.FCGI}} {
		if a.addr == "" || strings.Contains(a.addr, "/") || isLoopback(a.addr) || l.AllowRemote {
			continue
		}
		return fmt.Errorf("config: listen.%s %s is not a loopback address; set listen.allow_remote: true to serve other hosts", a.key, a.addr)
	}
	if l.AllowRemote && l.TCP != "" && !isLoopback(l.TCP) && l.Password == "" {
		return fmt.Errorf("config: listen.tcp %s serves other hosts: set listen.password", l.TCP)
	}
	return nil
}

// isLoopback reports whether host:port names a loopback host only.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// Logger returns the logger log.level and log.format ask for, writing to w.
func (c *Config) Logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogOptions().Level}
	if strings.EqualFold(c.Log.Format, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// none maps a "0 means none" setting to the packages' "negative means
// none" (their 0 means their default).
func none(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// LogOptions is the daemon's log level and format.
func (c *Config) LogOptions() daemon.LogOptions {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(c.Log.Level)) // checked by its row
	return daemon.LogOptions{Level: lv, Format: c.Log.Format}
}

// Options derives the daemon's options; c must have been Resolved. The
// daemon builds its own logger from Log (so that a reload can change it)
// and hands it to every part; logger is the parts' logger when they are
// used without a daemon (the one-shot commands).
func (c *Config) Options(logger *slog.Logger) daemon.Options {
	idle, read, write := none(c.Listen.IdleTimeout), none(c.Listen.ReadTimeout), none(c.Listen.WriteTimeout)
	return daemon.Options{
		Engine: cache.Options{
			Redis: cache.RedisOptions{
				Addrs: c.Redis.Addrs, Username: c.Redis.Username, Password: c.Redis.Password,
				ClientCacheMB: c.Redis.ClientCacheMB, DisableClientCache: c.Redis.DisableClientCache,
				WaitReplicas:     c.Redis.WaitReplicas,
				ReadFromReplicas: c.Redis.ReadFromReplicas, ReplicaAddrs: c.Redis.ReplicaAddrs,
			},
			Namespaces:    c.CacheNamespaces(),
			MaxValueBytes: c.Limits.MaxValueBytes,
			LoadTimeout:   c.Limits.LoadTimeout,
			GutterTTL:     none(c.Limits.GutterTTL),
			Logger:        logger,
		},
		Dynamo: c.Dynamo(),
		Socket: unixsock.Options{
			Path: c.Listen.Unix, Mode: c.Listen.UnixMode, TCP: c.Listen.TCP, MaxConns: c.Listen.MaxConns,
			Password: c.Listen.Password, Username: c.Listen.Username, Timeout: c.Limits.Timeout, Logger: logger,
			IdleTimeout: idle, ReadTimeout: read, WriteTimeout: write, MaxKeys: c.Limits.MaxKeys,
		},
		API: api.Options{Prefix: c.Listen.APIPrefix, Timeout: c.Limits.Timeout, Logger: logger, MaxKeys: c.Limits.MaxKeys},
		Web: api.ServerOptions{FCGI: c.Listen.FCGI, FCGIMode: c.Listen.FCGIMode, HTTP: c.Listen.HTTP, Pprof: c.Listen.Pprof, Logger: logger,
			IdleTimeout: idle, ReadTimeout: read, WriteTimeout: httpWriteTimeout(write, c.Limits.Timeout)},
		Streams: daemon.StreamOptions{Tables: c.StreamTables(), Endpoint: c.DynamoDB.StreamsEndpoint},
		Audit:   audit.Options{Sample: c.Audit.Sample, MaxPerSecond: c.Audit.MaxPerSecond, Grace: c.Audit.Grace},
		Log:     c.LogOptions(),
	}
}

// Dynamo is the DynamoDB client's options.
func (c *Config) Dynamo() dynamo.Options {
	return dynamo.Options{
		Region: c.DynamoDB.Region, Endpoint: c.DynamoDB.Endpoint,
		AccessKeyID: c.DynamoDB.AccessKeyID, SecretAccessKey: c.DynamoDB.SecretAccessKey,
	}
}

// httpWriteTimeout is the plain HTTP server's WriteTimeout, which runs
// from the end of a request's headers to the end of its response: the
// handler's own bound (limits.timeout) plus the time to write.
func httpWriteTimeout(write, handler time.Duration) time.Duration {
	if write <= 0 {
		return write
	}
	return handler + write
}
