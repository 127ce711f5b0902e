package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sys/unix"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat's CPU times; it is
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// procCPU returns the user+system CPU time of process pid from /proc.
func procCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after its closing parenthesis (field 3 onwards).
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: /proc/%d/stat: too few fields", pid)
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// threadCPU returns the CPU time of pid's main thread in nanoseconds
// from /proc/PID/schedstat: exact for a single-threaded process such as
// a Perl worker, where /proc/PID/stat counts in 10 ms ticks.
func threadCPU(pid int) (time.Duration, error) {
	if d, err := schedstatCPU(fmt.Sprintf("/proc/%d/schedstat", pid)); err == nil {
		return d, nil
	}
	return procCPU(pid)
}

// schedstatCPU reads the first field of a schedstat file: the thread's
// time on a CPU, in nanoseconds.
func schedstatCPU(path string) (time.Duration, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0, fmt.Errorf("bench: %s: empty", path)
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bench: %s: %w", path, err)
	}
	return time.Duration(ns), nil
}

// processClock reads pid's process CPU-time clock, the clock
// clock_getcpuclockid(3) names: clock id ^pid<<3 | CPUCLOCK_SCHED.
func processClock(pid int) (time.Duration, error) {
	const cpuclockSched = 2
	var ts unix.Timespec
	if err := unix.ClockGettime(int32(^pid<<3|cpuclockSched), &ts); err != nil {
		return 0, fmt.Errorf("bench: CPU clock of pid %d: %w", pid, err)
	}
	return time.Duration(ts.Nano()), nil
}

// cpuSample is a multi-threaded process's CPU time, thread by thread.
// The daemon's CPU over a round is often a few milliseconds, which
// /proc/PID/stat's 10 ms ticks round to 0 or 10; the threads' schedstat
// files count nanoseconds. A thread that exits between two samples loses
// its last stretch; Go's runtime keeps its threads, so that is rare.
type cpuSample struct {
	threads map[int]time.Duration
	ticks   time.Duration // the CPU clock's total, or /proc/PID/stat's when neither it nor schedstat can be read
}

// processCPU samples pid's CPU time: from its CPU-time clock when the
// kernel lets this process read it, else per thread from schedstat, else
// in ticks. The clock is exact: the kernel sums every thread's runtime up
// to now, exited threads and the running stretch included, where a
// schedstat file lags by the running stretch (a sum over two running
// threads read 2-5 ms over getrusage in TestDaemonCPUResolution under
// -race).
func processCPU(pid int) cpuSample {
	if d, err := processClock(pid); err == nil {
		return cpuSample{ticks: d}
	}
	dir := fmt.Sprintf("/proc/%d/task", pid)
	entries, err := os.ReadDir(dir)
	s := cpuSample{threads: map[int]time.Duration{}}
	for _, e := range entries {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if d, err := schedstatCPU(dir + "/" + e.Name() + "/schedstat"); err == nil {
			s.threads[tid] = d
		}
	}
	if err != nil || len(s.threads) == 0 {
		s.threads = nil
		s.ticks, _ = procCPU(pid)
	}
	return s
}

// Sub is the CPU time spent between before and s: each thread's own
// difference, a thread new since before counted whole.
func (s cpuSample) Sub(before cpuSample) time.Duration {
	if s.threads == nil || before.threads == nil {
		return max(s.ticks-before.ticks, 0)
	}
	var d time.Duration
	for tid, t := range s.threads {
		d += t - before.threads[tid]
	}
	return d
}

// selfCPU returns this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return rusageCPU(&ru)
}

func rusageCPU(ru *syscall.Rusage) time.Duration {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS returns the peak resident set (VmHWM) of pid in bytes.
func peakRSS(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// resetPeakRSS restarts pid's VmHWM from its current RSS (Linux ≥ 4.0),
// so that each round measures its own peak. Failure leaves the peak since
// the process started, which is still an upper bound.
func resetPeakRSS(pid int) {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// redisCalls sums INFO commandstats calls, leaving out INFO itself (the
// bench's own probes).
func redisCalls(ctx context.Context, rdb *redis.Client) (int64, error) {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return 0, fmt.Errorf("bench: INFO commandstats: %w", err)
	}
	var total int64
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") || name == "cmdstat_info" {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
		n, _ := strconv.ParseInt(calls, 10, 64)
		total += n
	}
	return total, nil
}

// redisCPU is redis-server's user+system CPU time from INFO cpu
// (microsecond resolution), so that the report counts what the Redis
// round trips of each target cost the machine too: on a shared host
// redis-server competes for the same cores as the clients.
func redisCPU(ctx context.Context, rdb *redis.Client) (time.Duration, error) {
	info, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return 0, fmt.Errorf("bench: INFO cpu: %w", err)
	}
	var total time.Duration
	for _, line := range strings.Split(info, "\n") {
		name, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || (name != "used_cpu_sys" && name != "used_cpu_user") {
			continue
		}
		sec, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: INFO cpu: %s: %w", name, err)
		}
		total += time.Duration(sec * float64(time.Second))
	}
	return total, nil
}

// daemonStats reads DDB STATS and returns namespace ns's counters.
func daemonStats(ctx context.Context, rdb *redis.Client, ns string) (cache.NamespaceStats, error) {
	out, err := rdb.Do(ctx, "DDB", "STATS").Text()
	if err != nil {
		return cache.NamespaceStats{}, fmt.Errorf("bench: DDB STATS: %w", err)
	}
	var st cache.Stats
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return cache.NamespaceStats{}, fmt.Errorf("bench: DDB STATS: %w", err)
	}
	return st.Namespaces[ns], nil
}

// statsDelta is after − before, counter by counter.
func statsDelta(after, before cache.NamespaceStats) cache.NamespaceStats {
	return cache.NamespaceStats{
		HitsLocal: after.HitsLocal - before.HitsLocal, HitsRedis: after.HitsRedis - before.HitsRedis,
		Misses: after.Misses - before.Misses, NegativeHits: after.NegativeHits - before.NegativeHits,
		Stale: after.Stale - before.Stale, DynamoReads: after.DynamoReads - before.DynamoReads,
		DynamoWrites: after.DynamoWrites - before.DynamoWrites, Errors: after.Errors - before.Errors,
		LeaseWaits: after.LeaseWaits - before.LeaseWaits, ReadUnits: after.ReadUnits - before.ReadUnits,
		WriteUnits: after.WriteUnits - before.WriteUnits,
	}
}

// socketPeerPID returns the pid of the process serving the Unix socket
// at path (SO_PEERCRED), or 0 when it cannot tell.
func socketPeerPID(path string) int {
	c, err := net.Dial("unix", path)
	if err != nil {
		return 0
	}
	defer c.Close()
	raw, err := c.(*net.UnixConn).SyscallConn()
	if err != nil {
		return 0
	}
	pid := 0
	_ = raw.Control(func(fd uintptr) {
		if cred, err := syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED); err == nil {
			pid = int(cred.Pid)
		}
	})
	if _, err := procCPU(pid); pid <= 0 || err != nil {
		return 0
	}
	return pid
}
