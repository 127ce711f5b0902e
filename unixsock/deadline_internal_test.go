package unixsock

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestLazyDeadline checks that lazyDeadline keeps context.WithTimeout's
// contract whether or not Done was asked for before it ended.
func TestLazyDeadline(t *testing.T) {
	wait := func(t *testing.T, ch <-chan struct{}) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatal("Done not closed 5s after the context ended")
		}
	}
	cases := []struct {
		name    string
		timeout time.Duration
		run     func(t *testing.T, c *lazyDeadline, cancel context.CancelFunc)
		want    error
	}{
		{"Done first, then the deadline passes", 20 * time.Millisecond, func(t *testing.T, c *lazyDeadline, _ context.CancelFunc) {
			wait(t, c.Done())
		}, context.DeadlineExceeded},
		{"the deadline passes unobserved, then Err", time.Nanosecond, func(t *testing.T, c *lazyDeadline, _ context.CancelFunc) {
			for c.Err() == nil { // a nanosecond: Err turns as soon as the clock moves
			}
			wait(t, c.Done())
		}, context.DeadlineExceeded},
		{"canceled before Done", time.Hour, func(t *testing.T, c *lazyDeadline, cancel context.CancelFunc) {
			cancel()
			wait(t, c.Done())
		}, context.Canceled},
		{"canceled after Done", time.Hour, func(t *testing.T, c *lazyDeadline, cancel context.CancelFunc) {
			ch := c.Done()
			if c.Err() != nil {
				t.Fatalf("Err %v before the end", c.Err())
			}
			cancel()
			wait(t, ch)
		}, context.Canceled},
		{"a child context ends with it", time.Hour, func(t *testing.T, c *lazyDeadline, cancel context.CancelFunc) {
			child, stop := context.WithTimeout(c, time.Hour)
			defer stop()
			cancel()
			wait(t, child.Done())
			if !errors.Is(child.Err(), context.Canceled) {
				t.Fatalf("child's Err %v", child.Err())
			}
		}, context.Canceled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, cancel := newLazyDeadline(tc.timeout)
			defer cancel()
			if d, ok := c.Deadline(); !ok || d.IsZero() {
				t.Fatalf("Deadline %v, %v", d, ok)
			}
			tc.run(t, c, cancel)
			if err := c.Err(); !errors.Is(err, tc.want) {
				t.Fatalf("Err %v, want %v", err, tc.want)
			}
			cancel() // a second end changes nothing
			if err := c.Err(); !errors.Is(err, tc.want) {
				t.Fatalf("after cancel, Err %v, want %v", err, tc.want)
			}
		})
	}
}
