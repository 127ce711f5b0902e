package cache

import (
	"sync"
	"sync/atomic"
	"time"
)

// runnerIdle is how long a flight runner waits for the next flight
// before it exits.
const runnerIdle = 30 * time.Second

// flights collapses concurrent loads of the same key into one flight, as
// golang.org/x/sync/singleflight's DoChan does, so that each caller can
// stop waiting when its own ctx ends while the flight goes on for the
// others. Unlike DoChan, which starts a goroutine per flight, it runs
// flights on runners that outlive them. A fill's DynamoDB call runs the
// SDK's deep middleware stack; on a new goroutine the stack grows from
// 8 KiB to that depth by copying itself several times, every miss: about
// 100 µs a cold miss on the 2-core machine (BenchmarkColdMiss), 9 % of
// the daemon's CPU under a cold load. A runner keeps its grown stack
// from one flight to the next (until the GC shrinks an idle one).
//
// The zero value is not usable: see newFlights.
type flights[T any] struct {
	mu    sync.Mutex            // guards calls
	calls map[string]*flight[T] // the flights running, by key
	// idle hands a flight to a runner parked waiting for one; a send
	// succeeds only when one is.
	idle chan func()
	// closed stops the parked runners (the engine's).
	closed <-chan struct{}
	// runners counts the runners started, for tests.
	runners atomic.Int64
}

// flight is one load and, once done is closed, its answer.
type flight[T any] struct {
	done chan struct{}
	val  T
	err  error
}

func newFlights[T any](closed <-chan struct{}) *flights[T] {
	return &flights[T]{calls: map[string]*flight[T]{}, idle: make(chan func()), closed: closed}
}

// do returns the flight of key, starting fn as that flight unless one is
// running. fn runs to its end whoever waits for it: it must bound
// itself.
func (g *flights[T]) do(key string, fn func() (T, error)) *flight[T] {
	f, _ := g.lead(key, fn)
	return f
}

// lead is do, and says whether fn was started (false: the caller joined
// a flight already running).
func (g *flights[T]) lead(key string, fn func() (T, error)) (*flight[T], bool) {
	g.mu.Lock()
	if f := g.calls[key]; f != nil {
		g.mu.Unlock()
		return f, false
	}
	f := &flight[T]{done: make(chan struct{})}
	g.calls[key] = f
	g.mu.Unlock()
	g.run(func() {
		f.val, f.err = fn()
		g.mu.Lock()
		delete(g.calls, key)
		g.mu.Unlock()
		close(f.done)
	})
	return f, true
}

// run runs job on a parked runner, or on a new one when none is parked.
func (g *flights[T]) run(job func()) {
	select {
	case g.idle <- job:
	default:
		g.runners.Add(1)
		go g.runner(job)
	}
}

// runner runs job, then the flights handed to it, until none comes for
// runnerIdle or the engine closes.
func (g *flights[T]) runner(job func()) {
	t := time.NewTimer(runnerIdle)
	defer t.Stop()
	for {
		job()
		t.Reset(runnerIdle)
		select {
		case job = <-g.idle:
		case <-t.C:
			return
		case <-g.closed:
			return
		}
	}
}
