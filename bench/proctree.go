package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procTree is a process and its children, such as a FastCGI process
// manager and its workers: what a backend costs is all of them.
type procTree struct{ root int }

// procTimes reads pid's /proc/PID/stat: its parent, and its CPU time
// with that of its reaped children (utime+stime+cutime+cstime), so that
// a worker that exited during a round still counts.
func procTimes(pid int) (ppid int, cpu time.Duration, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("bench: %w", err)
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 15 {
		return 0, 0, fmt.Errorf("bench: /proc/%d/stat: too few fields", pid)
	}
	// After the name: state ppid … utime(12) stime(13) cutime(14) cstime(15), 1-based from state.
	ppid, _ = strconv.Atoi(f[1])
	var ticks int64
	for _, v := range f[11:15] {
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return ppid, time.Duration(ticks) * time.Second / clockTicks, nil
}

// pids returns the root and its live children (one level: the process
// managers the bench starts do not nest).
func (p procTree) pids() []int {
	if p.root <= 0 {
		return nil
	}
	out := []int{p.root}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == p.root {
			continue
		}
		if ppid, _, err := procTimes(pid); err == nil && ppid == p.root {
			out = append(out, pid)
		}
	}
	return out
}

// cpu is the tree's CPU time so far.
func (p procTree) cpu() time.Duration {
	var total time.Duration
	for _, pid := range p.pids() {
		if _, c, err := procTimes(pid); err == nil {
			total += c
		}
	}
	return total
}

// resetPeak restarts every process's peak RSS.
func (p procTree) resetPeak() {
	for _, pid := range p.pids() {
		resetPeakRSS(pid)
	}
}

// peakRSS is the sum of the processes' peaks, bytes: an upper bound of
// the tree's peak (the processes need not peak together).
func (p procTree) peakRSS() (total int64, procs int) {
	for _, pid := range p.pids() {
		total += peakRSS(pid)
		procs++
	}
	return total, procs
}

// child is a server process the bench started, its output in a log file.
type child struct {
	name   string
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

func startChild(name string, cmd *exec.Cmd, log string) (*child, error) {
	f, err := os.Create(log)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	c := &child{name: name, cmd: cmd, log: log, exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start %s: %w", name, err)
	}
	go func() { _ = cmd.Wait(); close(c.exited) }()
	return c, nil
}

func (c *child) tree() procTree { return procTree{root: c.cmd.Process.Pid} }

func (c *child) hasExited() bool {
	select {
	case <-c.exited:
		return true
	default:
		return false
	}
}

// logTail is the end of the child's output, on one line.
func (c *child) logTail() string {
	data, _ := os.ReadFile(c.log)
	s := oneLine(string(data))
	if len(s) > 400 {
		s = "…" + s[len(s)-400:]
	}
	return filepath.Base(c.log) + ": " + s
}

// stop sends SIGTERM to the child, SIGKILL after 10 s, then SIGKILL to
// any of its children left behind (a process manager's workers).
func (c *child) stop() {
	kids := c.tree().pids()[1:]
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	for _, pid := range kids {
		if ppid, _, err := procTimes(pid); err == nil && (ppid == c.cmd.Process.Pid || ppid == 1) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// frontUsage is what a --front fcgi target's backend and nginx consumed
// over the measured rounds.
type frontUsage struct {
	backendCPU time.Duration
	nginxCPU   time.Duration
	// backendRSS is the largest round's sum of the backend processes'
	// peaks, bytes; backendProcs how many processes that was.
	backendRSS   int64
	backendProcs int
}

// frontSnap is the CPU counters at the start of a round.
type frontSnap struct{ backend, nginx time.Duration }

// frontBefore reads the counters and restarts the peaks before a round.
func (t *target) frontBefore() frontSnap {
	if t.backend.root <= 0 {
		return frontSnap{}
	}
	t.backend.resetPeak()
	return frontSnap{backend: t.backend.cpu(), nginx: t.frontProc.cpu()}
}

// frontAfter adds a measured round's usage since s and returns the
// backend's CPU in it.
func (t *target) frontAfter(s frontSnap) time.Duration {
	if t.backend.root <= 0 {
		return 0
	}
	u := &t.res.front
	cpu := t.backend.cpu() - s.backend
	u.backendCPU += cpu
	u.nginxCPU += t.frontProc.cpu() - s.nginx
	rss, n := t.backend.peakRSS()
	if rss > u.backendRSS {
		u.backendRSS, u.backendProcs = rss, n
	}
	return cpu
}
