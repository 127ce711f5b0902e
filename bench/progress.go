package bench

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progressInterval is how often the live line is redrawn.
const progressInterval = 250 * time.Millisecond

// progress draws one live line ("\r", cleared at the end) on a terminal;
// it does nothing when out is nil (standard error is not a TTY).
type progress struct {
	out   io.Writer
	total time.Duration // expected length of the whole run; 0 when counted in requests
	begun time.Time
}

// start draws target's line until the returned stop is called.
func (p *progress) start(name string, r round, recs *recorders) (stop func()) {
	if p.out == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(progressInterval)
		defer tick.Stop()
		roundStart := time.Now()
		for {
			select {
			case <-done:
				fmt.Fprint(p.out, "\r\033[K")
				return
			case <-tick.C:
				p.draw(name, r, recs, time.Since(roundStart))
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (p *progress) draw(name string, r round, recs *recorders, elapsed time.Duration) {
	h, errs, _ := recs.snapshot()
	phase := "warm-up"
	if r.index >= 0 {
		phase = fmt.Sprintf("round %d", r.index+1)
	}
	left := "?"
	if p.total > 0 {
		left = max(p.total-time.Since(p.begun), 0).Round(time.Second).String()
	}
	rate := float64(h.TotalCount()) / max(elapsed.Seconds(), 1e-3)
	fmt.Fprintf(p.out, "\r\033[K%-12s %-8s %9.0f/s  p99 %s  errors %d  left %s", name, phase, rate,
		(time.Duration(h.ValueAtQuantile(99)) * time.Microsecond).String(), errs, left)
}
