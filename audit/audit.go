// Package audit is the consistency audit (Meta's Polaris idea): it samples
// the lookups the cache answered, re-reads their items from DynamoDB with
// ConsistentRead, and reports, invalidates and logs every entry that still
// serves a value DynamoDB no longer holds once a grace period has passed.
// It measures the cache's consistency in production instead of assuming it.
//
// The engine tells the Auditor of its hits (cache.HitObserver). Hit keeps
// a hit with probability Options.Sample, at most Options.MaxPerSecond a
// second, in a bounded queue (a full queue drops the sample and counts
// it): the lookup never waits for the audit. Each kept hit is checked so:
//
//  1. Its item is read from DynamoDB with ConsistentRead, and its JSON
//     compared with what the cache served, canonically (key order and
//     number spelling do not matter). Equal: consistent.
//  2. Different: DynamoDB held another item at that moment, a moment
//     after the hit. That alone proves nothing: a write may be on its way
//     (its invalidation lands a moment after DynamoDB took it, or a stream
//     record a second later). So the audit waits Options.Grace and reads
//     the cache entry again, the way a lookup would read it.
//  3. The entry changed meanwhile (a write's invalidation landed): raced.
//     It is still the one served: the item is read from DynamoDB again;
//     if it now equals the served value (changed back) the sample is
//     raced too; otherwise it is inconsistent.
//
// An inconsistent entry is invalidated through the engine's own
// invalidation (so Redis's tracking drops it from every daemon's
// client-side cache, and the Perl clients' local caches hear of it),
// logged at WARN with its namespace and key, and counted.
package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"golang.org/x/time/rate"
)

// Defaults of the audit's settings.
const (
	// DefaultSample audits one hit in a thousand: at a few hundred hits a
	// second per daemon that is a consistent read every few seconds,
	// enough to see a systematic fault within minutes.
	DefaultSample = 0.001
	// DefaultMaxPerSecond caps the audits started per second per daemon,
	// so that a traffic peak cannot turn the audit into a DynamoDB load:
	// a fleet of N daemons reads at most 10·N items a second for it.
	DefaultMaxPerSecond = 10
	// DefaultGrace is how long an entry may lag DynamoDB before it is an
	// inconsistency. It must cover the normal delay of an invalidation:
	// milliseconds for writes through ddbcache, but the Streams consumer
	// polls every second (streams.DefaultPoll) after DynamoDB Streams
	// took its own, usually sub-second, time to publish the record.
	DefaultGrace = 5 * time.Second
	// DefaultQueueSize bounds the hits waiting for their first read, and
	// the mismatches waiting out their grace.
	DefaultQueueSize = 256
	// DefaultTimeout bounds one DynamoDB or Redis request of the audit.
	DefaultTimeout = 3 * time.Second
)

// ErrBadOptions means Options are out of range.
var ErrBadOptions = errors.New("audit: bad options")

// Reader reads an item from DynamoDB (dynamo.Client implements it). The
// audit gets a client of its own, so that its reads and their capacity
// are not counted as the engine's lookups. When it also implements
// cache.CapacityReporter, the capacity its reads consumed is reported.
type Reader interface {
	Get(ctx context.Context, table string, key map[string]string, consistent bool) ([]byte, error)
}

// Cache is what the audit needs of the engine; *cache.Engine implements it.
type Cache interface {
	Namespaces() []cache.NamespaceInfo
	Namespace(name string) (cache.NamespaceInfo, bool)
	Cached(ctx context.Context, ns string, k cache.Key) (cache.Result, bool, error)
	Invalidate(ctx context.Context, ns string, keys []cache.Key) (int, error)
}

// Options configures an Auditor.
type Options struct {
	// Sample is the fraction of hits audited, in [0, 1]; 0 means none (the
	// audit is off, and a hit costs one atomic load).
	Sample float64
	// MaxPerSecond caps the hits audited per second; 0 means
	// DefaultMaxPerSecond.
	MaxPerSecond int
	// Grace is how long a mismatch may last before it is an
	// inconsistency; 0 means DefaultGrace.
	Grace time.Duration
	// QueueSize bounds each of the two queues; 0 means DefaultQueueSize.
	QueueSize int
	// Timeout bounds one request; 0 means DefaultTimeout.
	Timeout time.Duration
	// Reader reads the items. Required.
	Reader Reader
	// Logger receives the inconsistencies; nil means slog.Default().
	Logger *slog.Logger
}

// Check validates the settings of opts that Reconfigure may change.
func (o Options) Check() error {
	if math.IsNaN(o.Sample) || o.Sample < 0 || o.Sample > 1 {
		return fmt.Errorf("%w: sample %v is not in [0, 1]", ErrBadOptions, o.Sample)
	}
	if o.MaxPerSecond < 0 || o.Grace < 0 {
		return fmt.Errorf("%w: max_per_second and grace must not be negative", ErrBadOptions)
	}
	return nil
}

// Auditor samples hits and checks them (see the package comment). It is
// safe for concurrent use.
type Auditor struct {
	opts    Options
	log     *slog.Logger
	sample  atomic.Uint64 // math.Float64bits of Options.Sample
	grace   atomic.Int64  // Options.Grace
	limiter *rate.Limiter
	queue   chan sampled // hits waiting for their first read
	recheck chan suspect // mismatches waiting out their grace
	stats   *counters
	cache   atomic.Pointer[Cache] // set by Start, for Stats

	closeOnce sync.Once
	closed    chan struct{}
	wg        sync.WaitGroup
}

// sampled is a hit kept for the audit.
type sampled struct {
	ns    string
	key   cache.Key
	value []byte // what was served; nil for a negative hit
	at    time.Time
}

// suspect is a sampled hit that DynamoDB disagreed with.
type suspect struct {
	sampled
	due time.Time // when its grace is over
}

// New returns an Auditor; it hears hits at once (queueing them) and
// checks them once Start is called.
func New(opts Options) (*Auditor, error) {
	if opts.Reader == nil {
		return nil, fmt.Errorf("%w: Reader is required", ErrBadOptions)
	}
	if err := opts.Check(); err != nil {
		return nil, err
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	a := &Auditor{
		opts: opts, log: opts.Logger,
		// Full at first: one second's worth of audits may start at once.
		limiter: rate.NewLimiter(rate.Limit(perSecond(opts)), perSecond(opts)),
		queue:   make(chan sampled, opts.QueueSize),
		recheck: make(chan suspect, opts.QueueSize),
		stats:   newCounters(),
		closed:  make(chan struct{}),
	}
	a.Reconfigure(opts)
	return a, nil
}

// Reconfigure changes the sample, the rate cap and the grace (a reload);
// opts must pass Check. Mismatches already waiting keep their grace.
func (a *Auditor) Reconfigure(opts Options) {
	per := perSecond(opts)
	grace := opts.Grace
	if grace == 0 {
		grace = DefaultGrace
	}
	a.limiter.SetLimit(rate.Limit(per))
	a.limiter.SetBurst(per)
	a.grace.Store(int64(grace))
	a.sample.Store(math.Float64bits(opts.Sample))
}

// perSecond is opts.MaxPerSecond, its default filled in.
func perSecond(opts Options) int {
	if opts.MaxPerSecond == 0 {
		return DefaultMaxPerSecond
	}
	return opts.MaxPerSecond
}

// Hit implements cache.HitObserver: it keeps the hit with probability
// Sample, within the rate cap, if the queue has room.
func (a *Auditor) Hit(ns string, k cache.Key, r cache.Result) {
	p := a.sampleNow()
	if p == 0 || rand.Float64() >= p {
		return
	}
	if !a.limiter.Allow() {
		a.stats.skippedRate.Add(1)
		return
	}
	select {
	case a.queue <- sampled{ns: ns, key: k, value: r.Value, at: time.Now()}:
	default:
		a.stats.skippedQueue.Add(1)
	}
}

// Start checks the hits heard, against c, until Close.
func (a *Auditor) Start(c Cache) {
	a.cache.Store(&c)
	a.wg.Add(2)
	go func() { defer a.wg.Done(); a.readLoop(c) }()
	go func() { defer a.wg.Done(); a.recheckLoop(c) }()
}

// Close stops the checks and waits for the one under way.
func (a *Auditor) Close() {
	a.closeOnce.Do(func() { close(a.closed) })
	a.wg.Wait()
}

// readLoop does step 1 of each sampled hit.
func (a *Auditor) readLoop(c Cache) {
	for {
		select {
		case <-a.closed:
			return
		case s := <-a.queue:
			a.first(c, s)
		}
	}
}

// recheckLoop does steps 2 and 3 of each suspect, once its grace is over.
// The suspects come in the order of their due times (one grace for all),
// so waiting for the first is waiting for the earliest.
func (a *Auditor) recheckLoop(c Cache) {
	for {
		select {
		case <-a.closed:
			return
		case s := <-a.recheck:
			t := time.NewTimer(time.Until(s.due))
			select {
			case <-a.closed:
				t.Stop()
				return
			case <-t.C:
			}
			a.confirm(c, s)
		}
	}
}

// sampleNow is the fraction of hits audited now.
func (a *Auditor) sampleNow() float64 { return math.Float64frombits(a.sample.Load()) }
