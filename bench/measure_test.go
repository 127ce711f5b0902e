package bench

import (
	"os"
	"runtime"
	"testing"
	"time"
)

// TestDaemonCPUResolution: the daemon's CPU over a short round is
// measured to well under a scheduler tick. /proc/PID/stat counts in
// 10 ms ticks, so a round that cost the daemon 3 ms read as 0 or 10 ms
// (CI once failed on a daemon CPU of exactly 0). This test process is
// as multi-threaded as the daemon: busy goroutines on two threads must
// be counted, summed, against getrusage's microsecond count.
func TestDaemonCPUResolution(t *testing.T) {
	for i := range 5 {
		before := processCPU(os.Getpid())
		ruBefore := selfCPU()
		const burn = 3 * time.Millisecond
		done := make(chan struct{})
		for range 2 {
			go func() {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				for start := threadSelfCPU(); threadSelfCPU()-start < burn; {
				}
				done <- struct{}{}
			}()
		}
		<-done
		<-done
		got := processCPU(os.Getpid()).Sub(before)
		want := selfCPU() - ruBefore
		if got < 2*burn*9/10 || got > want+2*time.Millisecond {
			t.Errorf("round %d: measured %v of CPU for two threads burning %v each (getrusage: %v)", i, got, burn, want)
		}
	}
}

// threadSelfCPU is the calling OS thread's CPU time, exact to the
// nanosecond.
func threadSelfCPU() time.Duration {
	d, err := schedstatCPU("/proc/thread-self/schedstat")
	if err != nil {
		panic(err)
	}
	return d
}
