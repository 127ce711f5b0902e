package bench

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// workerScript is the Perl worker; see its header for the protocol.
//
//go:embed worker.pl
var workerScript []byte

// maxPerlOps bounds the operations file of one worker; a longer run
// cycles through it.
const maxPerlOps = 20_000

// perlTarget runs forked Perl workers through DDBCache::Client.
type perlTarget struct {
	local  string // local_cache argument: "default" or "0"
	dir    string // scratch directory: script, ops and latency files
	script string
}

// procUsage is what the workers' processes consumed in one round.
type procUsage struct {
	cpu time.Duration
	rss int64 // the largest worker's peak RSS, bytes
	// elapsed is the longest worker's time from "go" to its last operation.
	elapsed time.Duration
}

// workerReport is the JSON line a worker prints at the end.
type workerReport struct {
	Ops         int64   `json:"ops"`
	Errors      int64   `json:"errors"`
	FirstError  string  `json:"first_error"`
	LocalHits   int64   `json:"local_hits"`
	LocalMisses int64   `json:"local_misses"`
	Seconds     float64 `json:"seconds"`
}

func newPerlTarget(dir string, local bool) (*perlTarget, error) {
	p := &perlTarget{local: "default", dir: dir, script: filepath.Join(dir, "worker.pl")}
	if !local {
		p.local = "0"
	}
	if err := os.WriteFile(p.script, workerScript, 0o644); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	return p, nil
}

// perlWorker is one started worker process.
type perlWorker struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	stdout  *bufio.Reader
	latFile string
}

// run starts opts.Procs workers, releases them together and collects
// their latencies into recs and their local hits into t's counters.
func (p *perlTarget) run(ctx context.Context, b *Bench, t *target, r round, recs *recorders) (procUsage, error) {
	workers := make([]*perlWorker, 0, b.opts.Procs)
	defer func() {
		for _, w := range workers {
			if w.cmd.ProcessState == nil {
				_ = w.cmd.Process.Kill()
				_ = w.cmd.Wait()
			}
		}
	}()
	perWorker := int64(0)
	if r.requests > 0 {
		perWorker = max(r.requests/int64(b.opts.Procs), 1)
	}
	for i := range b.opts.Procs {
		w, err := p.start(ctx, b, r, i, perWorker)
		if err != nil {
			return procUsage{}, err
		}
		workers = append(workers, w)
	}
	for _, w := range workers {
		line, err := w.stdout.ReadString('\n')
		if err == nil && strings.TrimSpace(line) != "ready" {
			err = errors.New("unexpected output")
		}
		if err != nil {
			return procUsage{}, fmt.Errorf("bench: perl worker did not start (%q): %w", line, p.stderrOf(w, err))
		}
	}
	for _, w := range workers {
		_, _ = io.WriteString(w.stdin, "go\n")
	}
	var use procUsage
	for _, w := range workers {
		if err := p.collect(w, t, recs, &use); err != nil {
			return use, err
		}
	}
	return use, nil
}

// start writes worker i's operations and starts it.
func (p *perlTarget) start(ctx context.Context, b *Bench, r round, i int, requests int64) (*perlWorker, error) {
	ch, err := NewChooser(b.opts.Dist, b.opts.Keys, b.opts.ZipfS, seedFor(b.opts.Seed, r, i))
	if err != nil {
		return nil, err
	}
	n := maxPerlOps
	if requests > 0 {
		n = int(min(requests, maxPerlOps))
	}
	var sb strings.Builder
	for range n {
		op := "r"
		k := ch.Next()
		if ch.Write(b.opts.WriteRatio) {
			op = "w"
		}
		sb.WriteString(op + " " + strconv.Itoa(k) + "\n")
	}
	ops := filepath.Join(p.dir, fmt.Sprintf("ops-%d", i))
	if err := os.WriteFile(ops, []byte(sb.String()), 0o644); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	w := &perlWorker{latFile: filepath.Join(p.dir, fmt.Sprintf("lat-%d", i))}
	w.cmd = exec.CommandContext(ctx, "perl", "-I", b.opts.PerlLib, p.script, b.socket, b.item.ns.Name,
		b.item.ns.PartitionKey, strconv.Itoa(b.opts.ItemSize), p.local, ops, w.latFile,
		strconv.FormatFloat(r.duration.Seconds(), 'f', 3, 64), strconv.FormatInt(requests, 10))
	w.cmd.Stderr = &strings.Builder{}
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
	return w, nil
}

// collect waits for a worker and reads its report and latencies.
func (p *perlTarget) collect(w *perlWorker, t *target, recs *recorders, use *procUsage) error {
	line, rerr := w.stdout.ReadString('\n')
	_ = w.stdin.Close()
	werr := w.cmd.Wait()
	if rerr != nil || werr != nil {
		return fmt.Errorf("bench: perl worker failed: %w", p.stderrOf(w, firstErr(werr, rerr)))
	}
	var rep workerReport
	if err := json.Unmarshal([]byte(line), &rep); err != nil {
		return fmt.Errorf("bench: perl worker report %q: %w", line, err)
	}
	lat, err := os.ReadFile(w.latFile)
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
	use.elapsed = max(use.elapsed, time.Duration(rep.Seconds*float64(time.Second)))
	if ru, ok := w.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		use.cpu += rusageCPU(ru)
		use.rss = max(use.rss, ru.Maxrss<<10)
	}
	return nil
}

func (p *perlTarget) stderrOf(w *perlWorker, err error) error {
	msg := strings.TrimSpace(w.cmd.Stderr.(*strings.Builder).String())
	if msg == "" {
		return err
	}
	return fmt.Errorf("%w: %s", err, oneLine(msg))
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
