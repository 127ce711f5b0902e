package config

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/valuefmt"
)

// Namespace is one namespace of the configuration (DESIGN.md,
// "Namespaces"). Every namespace field can change on reload. The fields
// are described, with their defaults and ranges, by the rows of Fields;
// NegativeTTL 0 means no negative caching (cache.Namespace's -1).
type Namespace struct {
	Table        string
	PartitionKey string
	SortKey      string
	RedisKey     string
	TTL          time.Duration
	TTLJitter    float64
	NegativeTTL  time.Duration
	StaleIfError time.Duration
	Format       string
	Stream       bool
	// Compress and CompressMinBytes are valuefmt's compression settings.
	Compress         string
	CompressMinBytes int
	// TTLMin and TTLMax bound `ttl: auto` (TTL == TTLAuto).
	TTLMin, TTLMax time.Duration
}

// TTLAuto is Namespace.TTL for `ttl: auto`: each value's TTL follows how
// often its item is written, within ttl_min and ttl_max (cache.Namespace.TTLAuto).
const TTLAuto time.Duration = -1

// kindTTL is a duration or "auto".
var kindTTL = kind[time.Duration]{"duration or auto",
	func(s string) (time.Duration, error) {
		if strings.EqualFold(s, "auto") {
			return TTLAuto, nil
		}
		return parseDuration(s)
	},
	func(d time.Duration) string {
		if d == TTLAuto {
			return "auto"
		}
		return formatDuration(d)
	}}

var ttlOrAuto = check[time.Duration]{"≥ 1ms or auto", func(v time.Duration) bool { return v == TTLAuto || v >= time.Millisecond }}

// Field is one row of the namespace fields' table: a key of a namespace
// in the namespaces: map and a field=value of --namespace.
type Field struct {
	// Name is the key ("ttl"); Type, Default, Range and Help are as in
	// Setting.
	Name, Type, Default, Range, Help string

	set   func(n *Namespace, s string) error
	reset func(n *Namespace)
}

// nsRow builds a Field whose value lives at ptr(n), parsed by k.
func nsRow[T any](name, help string, k kind[T], def T, ptr func(*Namespace) *T, ck check[T]) Field {
	return Field{Name: name, Type: k.name, Default: k.format(def), Range: ck.describe, Help: help,
		set: func(n *Namespace, s string) error {
			v, err := parseChecked(k, ck, s)
			if err == nil {
				*ptr(n) = v
			}
			return err
		},
		reset: func(n *Namespace) { *ptr(n) = def },
	}
}

var required = check[string]{"required", func(s string) bool { return s != "" }}

// fields is the namespace fields' table.
var fields = []Field{
	nsRow("table", "the DynamoDB table", kindString, "", func(n *Namespace) *string { return &n.Table }, required),
	nsRow("partition_key", "the table's partition key attribute", kindString, "", func(n *Namespace) *string { return &n.PartitionKey }, required),
	nsRow("sort_key", `the table's sort key attribute; "" = none`, kindString, "", func(n *Namespace) *string { return &n.SortKey }, anyString),
	nsRow("redis_key", `template of the Redis key, e.g. "user_profile:{user_id}"; "" = "NAME:{partition_key}[:{sort_key}]"`, kindString, "",
		func(n *Namespace) *string { return &n.RedisKey }, anyString),
	nsRow("ttl", "how long a value stays in Redis; auto = half the key's observed interval between writes, within ttl_min and ttl_max", kindTTL, cache.DefaultTTL, func(n *Namespace) *time.Duration { return &n.TTL }, ttlOrAuto),
	nsRow("ttl_jitter", "each value lives ttl × (1 ± jitter): 10% or 0.1", kindFrac, 0, func(n *Namespace) *float64 { return &n.TTLJitter }, jitter),
	nsRow("negative_ttl", `how long "no such item" is remembered; 0 = not at all`, kindDur, cache.DefaultNegativeTTL,
		func(n *Namespace) *time.Duration { return &n.NegativeTTL }, nonNegDur),
	nsRow("stale_if_error", "keep a copy this long past ttl, served when DynamoDB fails; 0 = off", kindDur, 0,
		func(n *Namespace) *time.Duration { return &n.StaleIfError }, nonNegDur),
	nsRow("format", "the value's encoding in Redis (clients always get JSON; legacy readers of the key need json)", kindString, "json", func(n *Namespace) *string { return &n.Format }, oneOf("json", "msgpack")),
	nsRow("stream", "consume the table's DynamoDB Stream to invalidate", kindBool, false, func(n *Namespace) *bool { return &n.Stream }, anyBool),
	nsRow("compress", "compress values of at least compress_min_bytes in Redis", kindString, "none", func(n *Namespace) *string { return &n.Compress }, oneOf("none", "zstd")),
	nsRow("compress_min_bytes", "smallest value (after format) that compress applies to", kindInt, valuefmt.DefaultCompressMinBytes,
		func(n *Namespace) *int { return &n.CompressMinBytes }, nonNegInt),
	nsRow("ttl_min", "shortest TTL of ttl: auto", kindDur, cache.DefaultTTLMin, func(n *Namespace) *time.Duration { return &n.TTLMin }, ttlDur),
	nsRow("ttl_max", "longest TTL of ttl: auto (a key never written gets it)", kindDur, cache.DefaultTTLMax, func(n *Namespace) *time.Duration { return &n.TTLMax }, ttlDur),
}

// Fields returns the namespace fields' table.
func Fields() []Field { return append([]Field(nil), fields...) }

// newNamespace is a namespace holding every field's default.
func newNamespace() Namespace {
	var n Namespace
	for _, f := range fields {
		f.reset(&n)
	}
	return n
}

// setField sets the field key of namespace name; the error names both.
func setField(n *Namespace, name, key, value string) error {
	for _, f := range fields {
		if f.Name == key {
			if err := f.set(n, value); err != nil {
				return fmt.Errorf("config: namespaces.%s.%s %q: %w", name, key, value, err)
			}
			return nil
		}
	}
	return fmt.Errorf("config: namespaces.%s: unknown field %q (want one of %s)", name, key, fieldNames())
}

func fieldNames() string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}

// ParseNamespace parses the --namespace form of a namespace,
// "profile:table=users;partition_key=user_id;redis_key=user_profile:{user_id};ttl=1h",
// and adds it to c (replacing one of the same name).
func (c *Config) ParseNamespace(spec string) error {
	name, list, ok := strings.Cut(spec, ":")
	if !ok || name == "" {
		return fmt.Errorf("config: --namespace %q: want NAME:field=value;field=value…", spec)
	}
	n := newNamespace()
	for _, f := range strings.Split(list, ";") {
		if f == "" {
			continue
		}
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return fmt.Errorf("config: --namespace %s: %q is not field=value", name, f)
		}
		if err := setField(&n, name, k, v); err != nil {
			return err
		}
	}
	if err := checkNamespace(name, n); err != nil {
		return err
	}
	c.Namespaces[name] = n
	return nil
}

// checkNamespace checks what no single field can.
func checkNamespace(name string, n Namespace) error {
	for _, f := range []struct{ key, v string }{{"table", n.Table}, {"partition_key", n.PartitionKey}} {
		if f.v == "" {
			return fmt.Errorf("config: namespaces.%s.%s is required", name, f.key)
		}
	}
	if strings.ContainsAny(name, " \t\r\n") {
		return fmt.Errorf("config: namespaces.%s: a name must not contain spaces", name)
	}
	return nil
}

// CacheNamespaces converts the namespaces for cache.Options, sorted by name.
func (c *Config) CacheNamespaces() []cache.Namespace {
	names := make([]string, 0, len(c.Namespaces))
	for n := range c.Namespaces {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]cache.Namespace, 0, len(names))
	for _, name := range names {
		out = append(out, c.cacheNamespace(name, c.Namespaces[name]))
	}
	return out
}

// StreamTables returns the tables of the namespaces with `stream: true`.
func (c *Config) StreamTables() []string {
	seen := map[string]bool{}
	var tables []string
	for _, n := range c.Namespaces {
		if n.Stream && !seen[n.Table] {
			seen[n.Table] = true
			tables = append(tables, n.Table)
		}
	}
	sort.Strings(tables)
	return tables
}
