package cache

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ddbcache/ddbcache/valuefmt"
)

// Defaults for Namespace fields left at their zero value.
const (
	DefaultTTL         = time.Hour
	DefaultNegativeTTL = 30 * time.Second
)

// Namespace maps a short name used by clients to a DynamoDB table and says
// how its items are cached.
type Namespace struct {
	// Name is what clients say: `DDB GET profile 42`.
	Name string
	// Table is the DynamoDB table.
	Table string
	// PartitionKey is the table's partition key attribute.
	PartitionKey string
	// SortKey is the table's sort key attribute; "" means the table has none.
	SortKey string
	// RedisKey is the template of the value's Redis key, with the key
	// attributes in braces: "user_profile:{user_id}". "" means
	// "<Name>:{<PartitionKey>}" (plus ":{<SortKey>}" when there is one).
	RedisKey string
	// TTL is how long a value stays in Redis; 0 means DefaultTTL.
	TTL time.Duration
	// TTLJitter spreads expiries: each value lives TTL × (1 ± TTLJitter),
	// chosen uniformly, so items filled together do not expire together.
	// 0 means no jitter; it must be below 1.
	TTLJitter float64
	// NegativeTTL is how long "this item does not exist" is remembered;
	// 0 means DefaultNegativeTTL, a negative value disables negative caching.
	NegativeTTL time.Duration
	// StaleIfError is how long past TTL a value may still be served when
	// DynamoDB fails; 0 disables it. It keeps a second copy of each value.
	StaleIfError time.Duration
	// Codec is how values are stored in Redis (package valuefmt); its zero
	// value is plain JSON, which legacy code reading the key understands.
	// Whatever it is, values of every form are read (see format.go).
	Codec valuefmt.Codec
	// TTLAuto makes each value's TTL follow how often its item is written
	// (see volatility.go), within [TTLMin, TTLMax]; TTL is then set to
	// TTLMax, which bounds the life of a client-side copy.
	TTLAuto bool
	// TTLMin and TTLMax bound an automatic TTL; 0 means DefaultTTLMin and
	// DefaultTTLMax.
	TTLMin, TTLMax time.Duration
}

// namespace is a validated Namespace with its key template compiled.
type namespace struct {
	Namespace
	parts []templatePart
	// stats are the counters of the namespace's name, shared by every
	// table that has it (set by buildTable).
	stats *nsCounters
	// coldLast says that the last lookup of the namespace was a cold
	// miss: the next speculates on one (speculate.go).
	coldLast atomic.Bool
}

// templatePart is a literal piece of a Redis key template or, when attr is
// set, the place of a key attribute's value.
type templatePart struct {
	literal string
	attr    string
}

// compile validates ns and fills in defaults.
func compile(ns Namespace) (*namespace, error) {
	if ns.Name == "" {
		return nil, errors.New("cache: namespace without a name")
	}
	if strings.ContainsAny(ns.Name, " \t\r\n") {
		return nil, fmt.Errorf("cache: namespace %q: name must not contain spaces", ns.Name)
	}
	if ns.Table == "" {
		return nil, fmt.Errorf("cache: namespace %q: table is required", ns.Name)
	}
	if ns.PartitionKey == "" {
		return nil, fmt.Errorf("cache: namespace %q: partition_key is required", ns.Name)
	}
	if ns.TTL == 0 {
		ns.TTL = DefaultTTL
	}
	if ns.TTL < time.Millisecond {
		return nil, fmt.Errorf("cache: namespace %q: ttl %s is too short", ns.Name, ns.TTL)
	}
	if ns.TTLJitter < 0 || ns.TTLJitter >= 1 {
		return nil, fmt.Errorf("cache: namespace %q: ttl_jitter must be in [0, 1), got %g", ns.Name, ns.TTLJitter)
	}
	if ns.NegativeTTL == 0 {
		ns.NegativeTTL = DefaultNegativeTTL
	}
	if ns.StaleIfError < 0 {
		return nil, fmt.Errorf("cache: namespace %q: stale_if_error must not be negative", ns.Name)
	}
	if ns.RedisKey == "" {
		ns.RedisKey = ns.Name + ":{" + ns.PartitionKey + "}"
		if ns.SortKey != "" {
			ns.RedisKey += ":{" + ns.SortKey + "}"
		}
	}
	if err := checkAutoTTL(&ns); err != nil {
		return nil, err
	}
	parts, err := parseTemplate(ns)
	if err != nil {
		return nil, err
	}
	return &namespace{Namespace: ns, parts: parts}, nil
}

// parseTemplate splits a Redis key template into literals and attribute
// places, and checks that every key attribute appears (otherwise two items
// would share one Redis key).
func parseTemplate(ns Namespace) ([]templatePart, error) {
	var parts []templatePart
	seen := map[string]bool{}
	rest := ns.RedisKey
	for rest != "" {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			parts = append(parts, templatePart{literal: rest})
			break
		}
		if open > 0 {
			parts = append(parts, templatePart{literal: rest[:open]})
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("cache: namespace %q: redis_key %q has an unclosed '{'", ns.Name, ns.RedisKey)
		}
		attr := rest[open+1 : open+end]
		if attr != ns.PartitionKey && (ns.SortKey == "" || attr != ns.SortKey) {
			return nil, fmt.Errorf("cache: namespace %q: redis_key %q names {%s}, which is not a key attribute of the namespace", ns.Name, ns.RedisKey, attr)
		}
		seen[attr] = true
		parts = append(parts, templatePart{attr: attr})
		rest = rest[open+end+1:]
	}
	if !seen[ns.PartitionKey] {
		return nil, fmt.Errorf("cache: namespace %q: redis_key %q must contain {%s}", ns.Name, ns.RedisKey, ns.PartitionKey)
	}
	if ns.SortKey != "" && !seen[ns.SortKey] {
		return nil, fmt.Errorf("cache: namespace %q: redis_key %q must contain {%s}", ns.Name, ns.RedisKey, ns.SortKey)
	}
	return parts, nil
}

// Key identifies one item of a namespace by its key values as text.
type Key struct {
	Partition string
	Sort      string
}

// maxKeyBytes bounds a key value; DynamoDB allows 2048 bytes for a
// partition key and 1024 for a sort key.
const maxKeyBytes = 2048

// check validates k against the namespace's key schema.
func (ns *namespace) check(k Key) error {
	if k.Partition == "" {
		return fmt.Errorf("%w: empty key", ErrBadKey)
	}
	if ns.SortKey == "" && k.Sort != "" {
		return fmt.Errorf("%w: namespace '%s' has no sort key", ErrBadKey, ns.Name)
	}
	if ns.SortKey != "" && k.Sort == "" {
		return fmt.Errorf("%w: namespace '%s' needs a sort key (%s)", ErrBadKey, ns.Name, ns.SortKey)
	}
	for _, v := range []string{k.Partition, k.Sort} {
		if len(v) > maxKeyBytes {
			return fmt.Errorf("%w: key of %d bytes exceeds %d", ErrBadKey, len(v), maxKeyBytes)
		}
		// Braces would change the Redis Cluster hash tag, so the value and
		// its lease could land in different slots.
		if strings.ContainsAny(v, "{}") {
			return fmt.Errorf("%w: key must not contain '{' or '}'", ErrBadKey)
		}
	}
	return nil
}

// redisKey renders the value key of k: "user_profile:42".
func (ns *namespace) redisKey(k Key) string {
	var b strings.Builder
	for _, p := range ns.parts {
		switch {
		case p.attr == "":
			b.WriteString(p.literal)
		case p.attr == ns.PartitionKey:
			b.WriteString(k.Partition)
		default:
			b.WriteString(k.Sort)
		}
	}
	return b.String()
}

// dynamoKey is k as the loader wants it: attribute name → value text.
func (ns *namespace) dynamoKey(k Key) map[string]string {
	m := map[string]string{ns.PartitionKey: k.Partition}
	if ns.SortKey != "" {
		m[ns.SortKey] = k.Sort
	}
	return m
}

// ttl returns the namespace TTL with its jitter applied.
func (ns *namespace) ttl() time.Duration { return ns.jitter(ns.TTL) }

// jitter applies the namespace's jitter to ttl.
func (ns *namespace) jitter(ttl time.Duration) time.Duration {
	if ns.TTLJitter == 0 {
		return ttl
	}
	f := 1 + ns.TTLJitter*(2*rand.Float64()-1)
	return time.Duration(float64(ttl) * f)
}

// Keys derived from a value key. They put the value key in a hash tag so
// that in Redis Cluster they live in the value's slot: "user_profile:42"
// hashes its whole name, "{user_profile:42}:neg" hashes "user_profile:42".
func negKey(vk string) string   { return "{" + vk + "}:neg" }
func staleKey(vk string) string { return "{" + vk + "}:stale" }

// Validate reports what New would refuse in ns, without connecting to
// anything: `ddbcache check-config` checks a file with it.
func (ns Namespace) Validate() error {
	_, err := compile(ns)
	return err
}
