package cache

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// Defaults of the Redis liveness watch.
const (
	// DefaultProbeInterval is how often the engine PINGs Redis to learn
	// whether it is up; a failed command probes at once as well.
	DefaultProbeInterval = 250 * time.Millisecond
	// probeTimeout bounds one PING: a Redis that does not answer within it
	// (hung, paused, partitioned) counts as down.
	probeTimeout = 500 * time.Millisecond
	// quietPeriod rate-limits the transition log lines of a backend that
	// flaps: at most one line per transition kind in this period, and a
	// summary of the transitions it swallowed once the backend settles.
	quietPeriod = 5 * time.Second
)

// link is the engine's view of whether Redis can be used. It is what
// lookups and writes consult before they touch Redis, so that an outage
// costs one failed PING per probe interval instead of one failed command
// per request, and so that a write can be refused before DynamoDB is
// touched.
//
// up is true only while the last probe succeeded AND no invalidation is
// pending (see pending.go): a daemon that owes Redis an invalidation must
// not read Redis, where the value it must drop may still be.
type link struct {
	up    atomic.Bool
	probe chan struct{} // capacity 1: "probe now"
	log   *transitions
}

func newLink(log *slog.Logger) *link {
	return &link{probe: make(chan struct{}, 1), log: newTransitions(log, "Redis")}
}

// suspect asks for a probe at once: a command failed for a reason other
// than a Redis error reply.
func (l *link) suspect() {
	select {
	case l.probe <- struct{}{}:
	default:
	}
}

// redisUp reports whether Redis may be used now.
func (e *Engine) redisUp() bool { return e.link.up.Load() }

// watchRedis probes Redis every Options.ProbeInterval (and when a command
// failed) until the engine closes. Step by step, each probe:
//
//  1. PINGs Redis within probeTimeout; no client yet (never reached) or
//     no answer means down.
//  2. If Redis answers and invalidations are pending, applies them first.
//     Only when all are applied does the link go up: from then on lookups
//     read Redis again, and the values they find there are not ones this
//     daemon owes a drop.
//  3. Logs the transition (WARN when lost, INFO when back), rate-limited.
func (e *Engine) watchRedis() {
	t := time.NewTicker(e.opts.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-e.closed:
			return
		case <-t.C:
		case <-e.link.probe:
		}
		e.probeRedis()
		e.link.log.settle()
		e.dynamo.log.settle()
	}
}

// ping checks that Redis answers. A cluster answers when one of its nodes
// does: rueidis sends a keyless PING to any node it knows, dead ones
// included (a killed master stays in the topology after its failover, a
// dead replica too), and the whole daemon flapped into degraded mode while
// every slot was served. A slot whose master is down shows in that slot's
// own commands: a failed invalidation takes the link down until applied.
func ping(ctx context.Context, c rueidis.Client) error {
	if c.Mode() != rueidis.ClientModeCluster {
		return c.Do(ctx, c.B().Ping().Build()).Error()
	}
	var first error
	for _, n := range c.Nodes() {
		err := n.Do(ctx, n.B().Ping().Build()).Error()
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	if first == nil {
		first = fmt.Errorf("cache: no Redis Cluster node known")
	}
	return first
}

// probeRedis runs one probe (see watchRedis) and sets the link.
func (e *Engine) probeRedis() {
	e.linkMu.Lock()
	defer e.linkMu.Unlock()
	c := e.redis.get()
	if c == nil {
		e.setRedisUp(false, "not reached yet")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	if err := ping(ctx, c); err != nil {
		e.setRedisUp(false, err.Error())
		return
	}
	if err := e.applyPending(ctx, c); err != nil {
		e.setRedisUp(false, "pending invalidations not applied yet: "+err.Error())
		return
	}
	e.setRedisUp(true, "")
}

// setRedisUp sets the link and logs a change. The gutter is emptied when
// Redis comes back: it fills only while Redis is down, and from then on
// Redis and its invalidations are the truth again.
func (e *Engine) setRedisUp(up bool, why string) {
	if e.link.up.Swap(up) == up {
		return
	}
	if up {
		e.gutter.purge()
	}
	e.link.log.change(up, why)
}

// transitions logs a backend's changes between up and down: each change
// once, at WARN when lost and INFO when back. While the backend flaps, a
// change of the same direction as one logged less than quietPeriod ago is
// counted instead, and one summary line follows once the backend has held
// its state for quietPeriod: at most two lines and a summary per period.
type transitions struct {
	log  *slog.Logger
	name string

	mu         sync.Mutex // guards the fields below
	up         bool       // the current state
	since      time.Time  // when up last changed
	lastLog    [2]time.Time
	suppressed int
}

func newTransitions(log *slog.Logger, name string) *transitions {
	return &transitions{log: log, name: name, up: true, since: time.Now()}
}

// change records a change to up; why is the cause of a loss.
func (t *transitions) change(up bool, why string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.up == up {
		return
	}
	now := time.Now()
	was := now.Sub(t.since)
	t.up, t.since = up, now
	dir := boolIndex(up)
	if !t.lastLog[dir].IsZero() && now.Sub(t.lastLog[dir]) < quietPeriod {
		t.suppressed++
		return
	}
	t.lastLog[dir] = now
	if up {
		t.log.Info(t.name+" is reachable again", "down_for", was.Round(time.Millisecond).String())
	} else {
		t.log.Warn(t.name+" is unreachable", "err", why, "was_up_for", was.Round(time.Millisecond).String())
	}
}

// settle logs the summary of swallowed changes once the state has held
// for quietPeriod.
func (t *transitions) settle() {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	if t.suppressed == 0 || now.Sub(t.since) < quietPeriod {
		return
	}
	state, level := "reachable", slog.LevelInfo
	if !t.up {
		state, level = "unreachable", slog.LevelWarn
	}
	t.log.Log(context.Background(), level, t.name+" is "+state+" after flapping", "changes", t.suppressed, "for", now.Sub(t.since).Round(time.Millisecond).String())
	t.suppressed = 0
	t.lastLog[boolIndex(t.up)] = now
}

// state returns the current state.
func (t *transitions) state() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.up
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}
