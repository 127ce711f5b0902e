package cache

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// TestFlights: concurrent loads of a key share one flight, and flights
// one after another run on the runner of the first rather than on a new
// goroutine each (whose stack would grow again for every DynamoDB call).
func TestFlights(t *testing.T) {
	closed := make(chan struct{})
	defer close(closed)
	t.Run("one flight for concurrent callers", func(t *testing.T) {
		g := newFlights[int](closed)
		release := make(chan struct{})
		var calls int
		fs := make([]*flight[int], 5)
		for i := range fs {
			fs[i] = g.do("k", func() (int, error) { calls++; <-release; return 42, nil })
		}
		close(release)
		for _, f := range fs {
			<-f.done
			if f.val != 42 || f.err != nil || f != fs[0] {
				t.Fatalf("flight %p: %d, %v; want the first flight's 42", f, f.val, f.err)
			}
		}
		if calls != 1 {
			t.Errorf("fn ran %d times, want 1", calls)
		}
	})
	t.Run("errors reach every caller", func(t *testing.T) {
		g := newFlights[int](closed)
		boom := errors.New("boom")
		f := g.do("k", func() (int, error) { return 0, boom })
		<-f.done
		if !errors.Is(f.err, boom) {
			t.Fatalf("err %v, want boom", f.err)
		}
	})
	t.Run("sequential flights reuse a runner", func(t *testing.T) {
		g := newFlights[int](closed)
		const n = 100
		for i := range n {
			f := g.do("k", func() (int, error) { return i, nil })
			<-f.done
			if f.val != i {
				t.Fatalf("flight %d answered %d", i, f.val)
			}
		}
		// The waiter may ask for the next flight in the instant before
		// the runner parks again; a new goroutine a flight is n.
		if r := g.runners.Load(); r > n/4 {
			t.Errorf("%d runners started for %d sequential flights, want few", r, n)
		}
	})
	t.Run("a closed engine stops its runners", func(t *testing.T) {
		stop := make(chan struct{})
		g := newFlights[int](stop)
		var wg sync.WaitGroup
		wg.Add(1)
		f := g.do("k", func() (int, error) { wg.Done(); return 1, nil })
		<-f.done
		wg.Wait()
		close(stop)
		deadline := time.Now().Add(5 * time.Second)
		for { // the runner, stopped, no longer takes flights: a new one starts
			before := g.runners.Load()
			<-g.do("k", func() (int, error) { return 2, nil }).done
			if g.runners.Load() > before {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the runner still takes flights 5 s after the engine closed")
			}
		}
	})
}
