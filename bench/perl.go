package bench

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// workerScript is the Perl worker; see its header for the protocol.
//
//go:embed worker.pl
var workerScript []byte

// maxPerlOps bounds the operations file of one worker (divided by
// --batch, down to minPerlBatchOps); a longer run cycles through it.
const (
	maxPerlOps      = 20_000
	minPerlBatchOps = 2_000
)

// The worker's CLIENT argument: which path it measures.
const (
	perlClientDDBCache  = "ddbcache"   // DDBCache::Client
	perlClientRedisFast = "redis-fast" // Redis::Fast + GetItem, the blog's pattern
)

// perlTarget runs forked Perl workers, through DDBCache::Client or the
// blog's pattern on Redis::Fast. The workers are started once and serve
// every round, so that their local caches (and connections) stay warm
// across rounds as an app's would.
type perlTarget struct {
	client  string // perlClientDDBCache or perlClientRedisFast
	local   string // local_cache argument: "default" or "0"
	dir     string // scratch directory: ops and latency files
	script  string
	lib     string // the bench's own Perl modules (DDBBench::Dynamo)
	env     []string
	workers []*perlWorker
}

// procUsage is what the workers' processes consumed in one round.
type procUsage struct {
	cpu time.Duration
	rss int64 // the largest worker's peak RSS, bytes
	// elapsed is the longest worker's time from "go" to its last operation.
	elapsed time.Duration
}

// workerReport is the JSON line a worker prints after each round.
type workerReport struct {
	Ops         int64   `json:"ops"`
	Errors      int64   `json:"errors"`
	FirstError  string  `json:"first_error"`
	LocalHits   int64   `json:"local_hits"`
	LocalMisses int64   `json:"local_misses"`
	Seconds     float64 `json:"seconds"`
	// The redis-fast client's own tiers, DynamoDB reads and read units.
	RedisHits   int64   `json:"redis_hits"`
	Misses      int64   `json:"misses"`
	DynamoReads int64   `json:"dynamo_reads"`
	RCU         float64 `json:"rcu"`
	NotFound    int64   `json:"not_found"`
	// LocalCacheBytes is the local cache's byte bound (DDBCache::Client).
	LocalCacheBytes int64 `json:"local_cache_bytes"`
}

// newPerlTarget writes the worker and the bench's Perl modules under dir
// and returns the target; env is the workers' extra environment (the
// redis-fast client's BENCH_* settings).
func newPerlTarget(dir, name, client string, local bool, env []string) (*perlTarget, error) {
	p := &perlTarget{client: client, local: "default", dir: filepath.Join(dir, name),
		script: filepath.Join(dir, "worker.pl"), env: env}
	if !local {
		p.local = "0"
	}
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if err := os.WriteFile(p.script, workerScript, 0o644); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	var err error
	p.lib, err = writePerlLib(dir)
	return p, err
}

// perlWorker is one started worker process.
type perlWorker struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	cpu    time.Duration // CPU time at the start of the round
}

// run runs one round on the workers (started by the first round),
// releases them together and collects their latencies into recs and
// their local hits into t's counters.
func (p *perlTarget) run(ctx context.Context, b *Bench, t *target, r round, recs *recorders) (procUsage, error) {
	for len(p.workers) < b.opts.Procs {
		w, err := p.start(ctx, b)
		if err != nil {
			return procUsage{}, err
		}
		p.workers = append(p.workers, w)
	}
	perWorker := int64(0)
	if r.requests > 0 {
		perWorker = max(r.requests/int64(b.opts.Procs), 1)
	}
	for i, w := range p.workers {
		if err := p.prepare(b, w, r, i, perWorker); err != nil {
			return procUsage{}, err
		}
	}
	for _, w := range p.workers {
		if err := p.expect(w, "loaded"); err != nil {
			return procUsage{}, err
		}
		w.cpu, _ = threadCPU(w.cmd.Process.Pid)
		resetPeakRSS(w.cmd.Process.Pid)
	}
	for _, w := range p.workers {
		_, _ = io.WriteString(w.stdin, "go\n")
	}
	var use procUsage
	for i, w := range p.workers {
		if err := p.collect(w, p.latFile(i), t, recs, &use); err != nil {
			return use, err
		}
	}
	return use, nil
}

func (p *perlTarget) latFile(i int) string { return filepath.Join(p.dir, fmt.Sprintf("lat-%d", i)) }

// start starts one worker and waits until its client is made.
func (p *perlTarget) start(ctx context.Context, b *Bench) (*perlWorker, error) {
	w := &perlWorker{}
	w.cmd = exec.CommandContext(ctx, "perl", "-I", b.opts.PerlLib, "-I", p.lib, p.script, p.client, b.socket,
		b.item.ns.Name, b.item.ns.PartitionKey, strconv.Itoa(b.opts.ItemSize), p.local)
	w.cmd.Env = append(os.Environ(), p.env...)
	w.cmd.Stderr = &strings.Builder{}
	var err error
	if w.stdin, err = w.cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	w.stdout = bufio.NewReader(out)
	if err := w.cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start perl (install it, e.g. apt-get install -y perl): %w", err)
	}
	if err := p.expect(w, "ready"); err != nil {
		p.stopWorker(w)
		return nil, err
	}
	return w, nil
}

// prepare writes worker i's operations for round r and hands them over.
func (p *perlTarget) prepare(b *Bench, w *perlWorker, r round, i int, requests int64) error {
	ch, err := b.chooser(r, i)
	if err != nil {
		return err
	}
	// A batch's operations hold --batch keys each: fewer of them, so that
	// the file stays small to load.
	n := max(maxPerlOps/b.opts.batch(), minPerlBatchOps)
	if requests > 0 {
		n = int(min(requests, int64(n)))
	}
	var sb strings.Builder
	var keys []int
	for range n {
		op := "r"
		keys = ch.NextN(b.opts.batch(), keys)
		if ch.Write(b.opts.WriteRatio) {
			op = "w"
		}
		sb.WriteString(op + " ")
		for j, k := range keys {
			if j > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(strconv.Itoa(k))
		}
		sb.WriteByte('\n')
	}
	ops := filepath.Join(p.dir, fmt.Sprintf("ops-%d", i))
	if err := os.WriteFile(ops, []byte(sb.String()), 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	_, err = fmt.Fprintf(w.stdin, "round %s %s %s %d\n", ops, p.latFile(i),
		strconv.FormatFloat(r.duration.Seconds(), 'f', 3, 64), requests)
	if err != nil {
		return fmt.Errorf("bench: perl worker: %w", p.stderrOf(w, err))
	}
	return nil
}

// expect reads one line from the worker and checks it is want.
func (p *perlTarget) expect(w *perlWorker, want string) error {
	line, err := w.stdout.ReadString('\n')
	if err == nil && strings.TrimSpace(line) != want {
		err = fmt.Errorf("said %q, not %q", strings.TrimSpace(line), want)
	}
	if err != nil {
		return fmt.Errorf("bench: perl worker: %w", p.stderrOf(w, err))
	}
	return nil
}

// collect reads a worker's report and latencies for the round.
func (p *perlTarget) collect(w *perlWorker, latFile string, t *target, recs *recorders, use *procUsage) error {
	line, err := w.stdout.ReadString('\n')
	if err != nil {
		return fmt.Errorf("bench: perl worker failed: %w", p.stderrOf(w, err))
	}
	var rep workerReport
	if err := json.Unmarshal([]byte(line), &rep); err != nil {
		return fmt.Errorf("bench: perl worker report %q: %w", line, err)
	}
	lat, err := os.ReadFile(latFile)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	rec := recs.add()
	for off := 0; off+8 <= len(lat); off += 8 {
		rec.record(time.Duration(binary.LittleEndian.Uint64(lat[off:])), nil)
	}
	rec.mu.Lock()
	rec.errors += rep.Errors
	if rec.firstErr == "" {
		rec.firstErr = rep.FirstError
	}
	rec.mu.Unlock()
	t.ctr.localHits.Add(rep.LocalHits)
	t.ctr.redisHits.Add(rep.RedisHits)
	t.ctr.misses.Add(rep.Misses)
	t.ctr.dynamoReads.Add(rep.DynamoReads)
	t.ctr.rcuMilli.Add(int64(math.Round(rep.RCU * 1000)))
	t.ctr.notFound.Add(rep.NotFound)
	t.localCacheBytes = rep.LocalCacheBytes
	use.elapsed = max(use.elapsed, time.Duration(rep.Seconds*float64(time.Second)))
	pid := w.cmd.Process.Pid
	if cpu, err := threadCPU(pid); err == nil {
		use.cpu += cpu - w.cpu
	}
	use.rss = max(use.rss, peakRSS(pid))
	return nil
}

// close asks every worker to quit and waits for it.
func (p *perlTarget) close() {
	for _, w := range p.workers {
		p.stopWorker(w)
	}
	p.workers = nil
}

// stopWorker ends a worker: "quit", then SIGKILL if it has not exited in 5 s.
func (p *perlTarget) stopWorker(w *perlWorker) {
	_, _ = io.WriteString(w.stdin, "quit\n")
	_ = w.stdin.Close()
	done := make(chan struct{})
	go func() { _ = w.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = w.cmd.Process.Kill()
		<-done
	}
}

func (p *perlTarget) stderrOf(w *perlWorker, err error) error {
	msg := strings.TrimSpace(w.cmd.Stderr.(*strings.Builder).String())
	if msg == "" {
		return err
	}
	return fmt.Errorf("%w: %s", err, oneLine(msg))
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
