package unixsock

import (
	"context"
	"sync"
	"time"
)

// lazyDeadline is the context of one command: context.WithTimeout's
// meaning, but its timer is started only when something waits on Done.
// Most commands are hits served from the engine's memory, which never
// wait, and context.WithTimeout cost them 3 allocations and a runtime
// timer started and stopped (the largest part of the RESP front's own
// work per hit in BenchmarkRoundTrip's profile). A lookup that goes to
// Redis or DynamoDB calls Done (rueidis, the AWS SDK, context.WithTimeout
// of a child) and gets the same timer as before.
type lazyDeadline struct {
	deadline time.Time
	mu       sync.Mutex
	done     chan struct{} // nil until Done is first called
	timer    *time.Timer
	err      error
}

// newLazyDeadline returns a context that ends timeout from now, and its
// cancel function, which must be called when the command is done.
func newLazyDeadline(timeout time.Duration) (*lazyDeadline, context.CancelFunc) {
	c := &lazyDeadline{deadline: time.Now().Add(timeout)}
	return c, c.cancel
}

func (c *lazyDeadline) Deadline() (time.Time, bool) { return c.deadline, true }
func (c *lazyDeadline) Value(any) any               { return nil }

// Done starts the timer on first use.
func (c *lazyDeadline) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		if c.err != nil { // canceled, or past the deadline, already
			close(c.done)
		} else if d := time.Until(c.deadline); d <= 0 {
			c.endLocked(context.DeadlineExceeded)
		} else {
			c.timer = time.AfterFunc(d, func() { c.end(context.DeadlineExceeded) })
		}
	}
	return c.done
}

// Err is nil until the context ends, also when no one asked for Done.
func (c *lazyDeadline) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil && !time.Now().Before(c.deadline) {
		c.endLocked(context.DeadlineExceeded)
	}
	return c.err
}

func (c *lazyDeadline) cancel() { c.end(context.Canceled) }

func (c *lazyDeadline) end(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.endLocked(err)
}

// endLocked ends the context with err once: the first end wins.
func (c *lazyDeadline) endLocked(err error) {
	if c.err != nil {
		return
	}
	c.err = err
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.done != nil {
		close(c.done)
	}
}
