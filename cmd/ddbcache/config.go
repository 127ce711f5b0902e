package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"gopkg.in/yaml.v3"
)

// config is the YAML configuration file (DESIGN.md, "Namespaces").
type config struct {
	Redis struct {
		Addrs              []string `yaml:"addrs"`
		Username           string   `yaml:"username"`
		Password           string   `yaml:"password"`
		ClientCacheMB      int      `yaml:"client_cache_mb"`
		DisableClientCache bool     `yaml:"disable_client_cache"`
		WaitReplicas       int      `yaml:"wait_replicas"`
	} `yaml:"redis"`
	DynamoDB struct {
		Region          string `yaml:"region"`
		Endpoint        string `yaml:"endpoint"`
		AccessKeyID     string `yaml:"access_key_id"`
		SecretAccessKey string `yaml:"secret_access_key"`
		StreamsEndpoint string `yaml:"streams_endpoint"`
	} `yaml:"dynamodb"`
	Listen struct {
		Unix      string `yaml:"unix"`
		UnixMode  string `yaml:"unix_mode"`
		TCP       string `yaml:"tcp"`
		FCGI      string `yaml:"fcgi"`
		FCGIMode  string `yaml:"fcgi_mode"`
		HTTP      string `yaml:"http"`
		APIPrefix string `yaml:"api_prefix"`
		MaxConns  int    `yaml:"max_conns"`
		Password  string `yaml:"password"`
		// Bounds on clients (README, "Limits and hostile input").
		Username     string    `yaml:"username"`
		AllowRemote  bool      `yaml:"allow_remote"`
		IdleTimeout  *duration `yaml:"idle_timeout"`
		ReadTimeout  *duration `yaml:"read_timeout"`
		WriteTimeout *duration `yaml:"write_timeout"`
	} `yaml:"listen"`
	Limits struct {
		MaxValueBytes int      `yaml:"max_value_bytes"`
		Timeout       duration `yaml:"timeout"`
		LoadTimeout   duration `yaml:"load_timeout"`
		// GutterTTL is nil when unset (the default, 1s); 0 turns it off.
		GutterTTL *duration `yaml:"gutter_ttl"`
		MaxKeys   int       `yaml:"max_keys"`
	} `yaml:"limits"`
	Log struct {
		Level  string `yaml:"level"`
		Format string `yaml:"format"`
	} `yaml:"log"`
	Namespaces map[string]nsConfig `yaml:"namespaces"`
}

// nsConfig is one namespace in the configuration file.
type nsConfig struct {
	Table        string   `yaml:"table"`
	PartitionKey string   `yaml:"partition_key"`
	SortKey      string   `yaml:"sort_key"`
	RedisKey     string   `yaml:"redis_key"`
	TTL          duration `yaml:"ttl"`
	TTLJitter    fraction `yaml:"ttl_jitter"`
	NegativeTTL  duration `yaml:"negative_ttl"`
	StaleIfError duration `yaml:"stale_if_error"`
	Format       string   `yaml:"format"`
	Stream       bool     `yaml:"stream"`
}

// Defaults of the daemon's own settings.
const (
	defaultSocket = "/run/ddbcache/ddbcache.sock"
	defaultRedis  = "127.0.0.1:6379"
)

// loadConfig reads a YAML file; unknown keys are errors, so that a typo
// does not silently fall back to a default.
func loadConfig(path string) (*config, error) {
	cfg := &config{}
	if path == "" {
		return cfg, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config %s: %s", path, oneLine(err.Error()))
	}
	return cfg, nil
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// namespaces converts the configured namespaces, sorted by name.
func (c *config) namespaces() ([]cache.Namespace, error) {
	names := make([]string, 0, len(c.Namespaces))
	for n := range c.Namespaces {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]cache.Namespace, 0, len(names))
	for _, n := range names {
		nc := c.Namespaces[n]
		if nc.Format != "" && nc.Format != "json" {
			return nil, fmt.Errorf("config: namespace %q: format %q is not supported (only json)", n, nc.Format)
		}
		out = append(out, cache.Namespace{
			Name: n, Table: nc.Table, PartitionKey: nc.PartitionKey, SortKey: nc.SortKey,
			RedisKey: nc.RedisKey, TTL: time.Duration(nc.TTL), TTLJitter: float64(nc.TTLJitter),
			NegativeTTL: time.Duration(nc.NegativeTTL), StaleIfError: time.Duration(nc.StaleIfError),
		})
	}
	return out, nil
}

// parseNamespaceFlag parses the --namespace form of a namespace:
// "profile:table=users;partition_key=user_id;redis_key=user_profile:{user_id};ttl=1h".
func parseNamespaceFlag(s string) (string, nsConfig, error) {
	name, fields, ok := strings.Cut(s, ":")
	if !ok || name == "" {
		return "", nsConfig{}, fmt.Errorf("--namespace %q: want NAME:field=value;field=value…", s)
	}
	var nc nsConfig
	for _, f := range strings.Split(fields, ";") {
		if f == "" {
			continue
		}
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return "", nsConfig{}, fmt.Errorf("--namespace %s: %q is not field=value", name, f)
		}
		var err error
		switch k {
		case "table":
			nc.Table = v
		case "partition_key":
			nc.PartitionKey = v
		case "sort_key":
			nc.SortKey = v
		case "redis_key":
			nc.RedisKey = v
		case "format":
			nc.Format = v
		case "stream":
			nc.Stream = v == "true" || v == "1" || v == "yes"
		case "ttl":
			err = nc.TTL.parse(v)
		case "ttl_jitter":
			err = nc.TTLJitter.parse(v)
		case "negative_ttl":
			err = nc.NegativeTTL.parse(v)
		case "stale_if_error":
			err = nc.StaleIfError.parse(v)
		default:
			return "", nsConfig{}, fmt.Errorf("--namespace %s: unknown field %q", name, k)
		}
		if err != nil {
			return "", nsConfig{}, fmt.Errorf("--namespace %s: %s: %w", name, k, err)
		}
	}
	return name, nc, nil
}

// duration is a time.Duration written as "1h" or "30s" in YAML.
type duration time.Duration

func (d *duration) parse(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("bad duration %q (want e.g. 30s, 5m, 1h)", s)
	}
	*d = duration(v)
	return nil
}

// UnmarshalYAML reads a duration string.
func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	if err := d.parse(n.Value); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

// fraction is a share written as "10%" or 0.1.
type fraction float64

func (f *fraction) parse(s string) error {
	pct := strings.HasSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		return fmt.Errorf("bad fraction %q (want e.g. 10%% or 0.1)", s)
	}
	if pct {
		v /= 100
	}
	*f = fraction(v)
	return nil
}

// UnmarshalYAML reads "10%" or 0.1.
func (f *fraction) UnmarshalYAML(n *yaml.Node) error {
	if err := f.parse(n.Value); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

// fileMode parses an octal mode such as "0660" of the setting key.
func fileMode(key, s string) (os.FileMode, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o777 {
		return 0, fmt.Errorf("bad %s %q (want octal, e.g. 0660)", key, s)
	}
	return os.FileMode(v), nil
}

// timeout converts an optional "0 means none" timeout setting to the
// packages' convention: 0 the package's default, negative none.
func timeout(key string, d *duration) (time.Duration, error) {
	switch {
	case d == nil:
		return 0, nil
	case *d < 0:
		return 0, fmt.Errorf("config: %s must not be negative (0 means none)", key)
	case *d == 0:
		return -1, nil
	}
	return time.Duration(*d), nil
}

// checkRemote refuses a TCP listen address that other hosts can reach,
// unless listen.allow_remote is set: neither the HTTP API nor RESP
// without a password has any authentication. Unix socket paths (with a
// '/') and "" pass.
func (c *config) checkRemote() error {
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
