// Package cache is the cache-aside engine of ddbcache: it looks items up in
// Redis (through rueidis, with client-side caching so hot items are served
// from the daemon's memory), fills misses from a Loader (DynamoDB), caches
// absent items negatively, collapses concurrent misses, and invalidates on
// writes. It knows nothing about sockets or HTTP.
package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ddbcache/ddbcache/valuefmt"
	"github.com/redis/rueidis"
)

// Defaults for Options fields left at their zero value.
const (
	DefaultMaxValueBytes       = 1 << 20
	DefaultLoadTimeout         = 3 * time.Second
	DefaultDegradedConcurrency = 16
	// DefaultWriteBypass is how long after a write the daemon reads the
	// written keys from Redis instead of its local copy. It covers the delay
	// of Redis's tracking invalidation, which may arrive after the write's
	// reply.
	DefaultWriteBypass = 2 * time.Second
)

// Errors returned by the engine. Messages name the problem so the fronts can
// pass them to clients as they are.
var (
	// ErrUnknownNamespace means no namespace has the requested name.
	ErrUnknownNamespace = errors.New("cache: unknown namespace")
	// ErrBadKey means a key is empty, too long, or does not fit the namespace.
	ErrBadKey = errors.New("cache: bad key")
	// ErrBadItem means a document to write is not a JSON object with the key attributes.
	ErrBadItem = errors.New("cache: bad item")
	// ErrTooLarge means a value exceeds Options.MaxValueBytes.
	ErrTooLarge = errors.New("cache: value too large")
	// ErrLoad means DynamoDB could not be read or written.
	ErrLoad = errors.New("cache: DynamoDB request failed")
	// ErrRedis means Redis could not be reached for a command that needs it.
	ErrRedis = errors.New("cache: Redis unavailable")
	// ErrClosed means the engine was closed.
	ErrClosed = errors.New("cache: closed")
	// ErrPending means a write reached DynamoDB but Redis failed before its
	// cache entries were dropped: the write happened, and the invalidation
	// is queued until Redis returns. It is not a failure of the write.
	ErrPending = errors.New("cache: invalidation pending")
)

// Loader reads and writes the items behind the namespaces; dynamo.Client
// implements it. Keys are attribute name → value text; items are JSON
// objects. Get returns (nil, nil) for an item that does not exist, and
// BatchGet returns nil at the places of such items.
type Loader interface {
	Get(ctx context.Context, table string, key map[string]string, consistent bool) ([]byte, error)
	BatchGet(ctx context.Context, table string, keys []map[string]string, consistent bool) ([][]byte, error)
	Put(ctx context.Context, table string, item []byte) error
	Delete(ctx context.Context, table string, key map[string]string) (bool, error)
}

// Options configures an Engine.
type Options struct {
	// Redis says how to reach Redis.
	Redis RedisOptions
	// Loader reads items on misses and performs writes. Required.
	Loader Loader
	// Namespaces are the namespaces served. Names must be unique.
	Namespaces []Namespace
	// MaxValueBytes bounds an item written through Put and a value written
	// through the Redis passthrough; 0 means DefaultMaxValueBytes.
	MaxValueBytes int
	// LoadTimeout bounds one DynamoDB request; 0 means DefaultLoadTimeout.
	LoadTimeout time.Duration
	// DegradedConcurrency bounds DynamoDB reads made while Redis is down;
	// 0 means DefaultDegradedConcurrency.
	DegradedConcurrency int
	// WriteBypass is how long written keys bypass the local cache; 0 means
	// DefaultWriteBypass.
	WriteBypass time.Duration
	// LeaseTTL bounds how long a fill holds a key's lease; 0 means
	// DefaultLeaseTTL. It must exceed LoadTimeout.
	LeaseTTL time.Duration
	// LeaseWait is how long a lookup waits for another daemon's fill before
	// reading DynamoDB itself; 0 means DefaultLeaseWait.
	LeaseWait time.Duration
	// ConsistentWindow is how long after an invalidation fills use
	// ConsistentRead; 0 means DefaultConsistentWindow.
	ConsistentWindow time.Duration
	// ProbeInterval is how often Redis is PINGed to learn whether it is
	// up (see link.go); 0 means DefaultProbeInterval.
	ProbeInterval time.Duration
	// GutterTTL is how long an answer DynamoDB gave while Redis was down
	// is reused (see gutter.go); 0 means DefaultGutterTTL, a negative
	// value turns the gutter off.
	GutterTTL time.Duration
	// GutterSize bounds the gutter's entries; 0 means DefaultGutterSize.
	GutterSize int
	// MaxPending bounds the invalidations queued while Redis is down (see
	// pending.go); 0 means DefaultMaxPending.
	MaxPending int
	// Logger receives warnings; nil means slog.Default().
	Logger *slog.Logger
	// Notifier, when set, hears of every change of a Redis key that this
	// daemon makes or Redis's tracking reports (see Notifier), and lookups
	// say which values it will hear of (Result.Tracked); nil means none.
	Notifier Notifier
	// Hits, when set, hears every lookup answered from the cache (see
	// HitObserver); nil means none.
	Hits HitObserver
}

// Engine is the cache-aside engine. It is safe for concurrent use.
type Engine struct {
	opts Options
	log  *slog.Logger
	// ns is the namespace table, replaced whole by SetNamespaces.
	ns       atomic.Pointer[nsTable]
	maxValue atomic.Int64 // MaxValueBytes, changed by SetLimits
	redis    *redisConn
	// fills and degradedReads collapse concurrent loads (flight.go).
	fills         *flights[[]Result]
	degradedReads *flights[[][]byte]
	// degraded limits DynamoDB reads while Redis is unreachable.
	degraded chan struct{}
	bypass   *writeMarks
	// replicas routes reads to replicas (replica.go); nil when off.
	replicas *replicas
	// tracked says whether values read through the client-side cache are
	// ones the Notifier will hear of: there is a Notifier, and client-side
	// caching (with Redis's tracking) is on.
	tracked bool
	stats   *counters
	tokens  *tokens // lease tokens
	link    *link
	// linkMu serializes a probe's "apply the pending invalidations, then
	// go up" with a write's "queue an invalidation, then go down".
	linkMu  sync.Mutex
	pending *pending
	gutter  *gutter
	dynamo  *dynamoState
	// afterLoad, when set (by tests), runs between a leased fill's DynamoDB
	// read and its store: the window in which a stale set can happen.
	afterLoad func(ns string, k Key)
	// clock, when set (by tests), replaces time.Now for write histories
	// and automatic TTLs (volatility.go).
	clock func() time.Time
	// memo keeps the JSON decoded from tagged values (format.go).
	memo *valuefmt.Memo

	closeOnce sync.Once
	closed    chan struct{}
}

// New validates opts and starts the engine. An unreachable Redis is not an
// error: the engine logs a warning, keeps trying in the background, and
// serves from DynamoDB meanwhile.
func New(opts Options) (*Engine, error) {
	if opts.Loader == nil {
		return nil, errors.New("cache: Options.Loader is required")
	}
	if opts.MaxValueBytes == 0 {
		opts.MaxValueBytes = DefaultMaxValueBytes
	}
	if opts.LoadTimeout == 0 {
		opts.LoadTimeout = DefaultLoadTimeout
	}
	if opts.DegradedConcurrency == 0 {
		opts.DegradedConcurrency = DefaultDegradedConcurrency
	}
	if opts.WriteBypass == 0 {
		opts.WriteBypass = DefaultWriteBypass
	}
	if opts.LeaseTTL == 0 {
		opts.LeaseTTL = max(DefaultLeaseTTL, opts.LoadTimeout+time.Second)
	}
	if opts.LeaseWait == 0 {
		opts.LeaseWait = DefaultLeaseWait
	}
	if opts.ConsistentWindow == 0 {
		opts.ConsistentWindow = DefaultConsistentWindow
	}
	if opts.ProbeInterval == 0 {
		opts.ProbeInterval = DefaultProbeInterval
	}
	if opts.GutterTTL == 0 {
		opts.GutterTTL = DefaultGutterTTL
	}
	if opts.GutterSize == 0 {
		opts.GutterSize = DefaultGutterSize
	}
	if opts.MaxPending == 0 {
		opts.MaxPending = DefaultMaxPending
	}
	if opts.GutterSize < 0 || opts.MaxPending < 0 || opts.ProbeInterval < 0 {
		return nil, errors.New("cache: GutterSize, MaxPending and ProbeInterval must not be negative")
	}
	if opts.LeaseTTL <= opts.LoadTimeout {
		return nil, fmt.Errorf("cache: LeaseTTL (%s) must exceed LoadTimeout (%s)", opts.LeaseTTL, opts.LoadTimeout)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	e := &Engine{
		opts:     opts,
		log:      opts.Logger,
		degraded: make(chan struct{}, opts.DegradedConcurrency),
		bypass:   newWriteMarks(opts.WriteBypass),
		tokens:   newTokens(),
		link:     newLink(opts.Logger),
		pending:  newPending(opts.MaxPending),
		gutter:   newGutter(opts.GutterSize, opts.GutterTTL),
		dynamo:   &dynamoState{log: newTransitions(opts.Logger, "DynamoDB")},
		closed:   make(chan struct{}),
		memo:     newMemo(),
	}
	e.fills, e.degradedReads = newFlights[[]Result](e.closed), newFlights[[][]byte](e.closed)
	e.dynamo.classify, _ = opts.Loader.(FaultClassifier)
	if opts.MaxValueBytes < 0 {
		return nil, fmt.Errorf("cache: MaxValueBytes must not be negative, got %d", opts.MaxValueBytes)
	}
	e.maxValue.Store(int64(opts.MaxValueBytes))
	e.stats = newCounters()
	t, err := buildTable(opts.Namespaces, e.stats)
	if err != nil {
		return nil, err
	}
	e.ns.Store(t)
	var rl *relay
	var onInvalidations func([]rueidis.RedisMessage)
	if opts.Notifier != nil && !opts.Redis.DisableClientCache {
		rl = newRelay(opts.Notifier)
		onInvalidations = rl.onInvalidations
		e.tracked = true
	}
	if e.replicas, err = newReplicas(opts.Redis, e.bypass, e.log); err != nil {
		return nil, err
	}
	if e.replicas != nil && len(opts.Redis.ReplicaAddrs) == 0 {
		opts.Redis.sendToReplicas = e.replicas.toReplica
	}
	r, err := dialRedis(opts.Redis, e.log, e.closed, onInvalidations, e.link.suspect)
	if err != nil {
		return nil, err
	}
	e.redis = r
	if err := e.replicas.dial(opts.Redis, e.closed, onInvalidations); err != nil {
		return nil, err
	}
	go e.replicas.watch(opts.ProbeInterval, e.closed)
	e.link.up.Store(r.get() != nil)
	e.link.log.up = r.get() != nil
	go e.watchRedis()
	if rl != nil {
		go rl.run(e.closed)
	}
	return e, nil
}

// Close stops the engine and closes its Redis connections.
func (e *Engine) Close() {
	e.closeOnce.Do(func() {
		close(e.closed)
		e.redis.close()
		e.replicas.close()
	})
}

// namespace returns the namespace called name.
func (e *Engine) namespace(name string) (*namespace, error) {
	ns, ok := e.nsMap()[name]
	if !ok {
		return nil, fmt.Errorf("%w '%s'", ErrUnknownNamespace, name)
	}
	return ns, nil
}

// NamespaceInfo describes a namespace for `DDB NAMESPACES`.
type NamespaceInfo struct {
	Name         string  `json:"name"`
	Table        string  `json:"table"`
	PartitionKey string  `json:"partition_key"`
	SortKey      string  `json:"sort_key,omitempty"`
	RedisKey     string  `json:"redis_key"`
	TTL          string  `json:"ttl"`
	TTLJitter    float64 `json:"ttl_jitter"`
	NegativeTTL  string  `json:"negative_ttl"`
	StaleIfError string  `json:"stale_if_error"`
}

// Namespaces lists the namespaces, sorted by name.
func (e *Engine) Namespaces() []NamespaceInfo {
	t := e.ns.Load()
	out := make([]NamespaceInfo, 0, len(t.names))
	for _, name := range t.names {
		out = append(out, t.byName[name].info())
	}
	return out
}

// Namespace describes namespace name as the table has it now.
func (e *Engine) Namespace(name string) (NamespaceInfo, bool) {
	ns, ok := e.nsMap()[name]
	if !ok {
		return NamespaceInfo{}, false
	}
	return ns.info(), true
}

// info describes ns for NamespaceInfo.
func (ns *namespace) info() NamespaceInfo {
	ttl := ns.TTL.String()
	if ns.TTLAuto {
		ttl = "auto " + ns.TTLMin.String() + "–" + ns.TTLMax.String()
	}
	return NamespaceInfo{
		Name: ns.Name, Table: ns.Table, PartitionKey: ns.PartitionKey, SortKey: ns.SortKey,
		RedisKey: ns.RedisKey, TTL: ttl, TTLJitter: ns.TTLJitter,
		NegativeTTL: ns.NegativeTTL.String(), StaleIfError: ns.StaleIfError.String(),
	}
}

// HasSortKey reports whether namespace name exists and has a sort key.
func (e *Engine) HasSortKey(name string) (bool, error) {
	ns, err := e.namespace(name)
	if err != nil {
		return false, err
	}
	return ns.SortKey != "", nil
}

// RedisKey returns the Redis key that holds the value of item k of
// namespace name: the namespace's redis_key template filled in. It is the
// key that Notifier hears of.
func (e *Engine) RedisKey(name string, k Key) (string, error) {
	ns, err := e.namespace(name)
	if err != nil {
		return "", err
	}
	if err := ns.check(k); err != nil {
		return "", err
	}
	return ns.redisKey(k), nil
}

// loadContext returns the context of one DynamoDB request. It is detached
// from the caller's cancellation because a singleflight fill serves every
// waiting caller, not just the first.
func (e *Engine) loadContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), e.opts.LoadTimeout)
}

// Notifier returns Options.Notifier.
func (e *Engine) Notifier() Notifier { return e.opts.Notifier }

// MaxValueBytes returns the largest value a client may write now (see
// SetLimits).
func (e *Engine) MaxValueBytes() int { return int(e.maxValue.Load()) }
