package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/ddbcache/ddbcache/cache"
)

// round is the load one target gets in one round: a duration, or a
// number of operations when requests > 0.
type round struct {
	index    int // 0-based; -1 is the warm-up
	target   int // the target's place in the run's list, for its seed
	duration time.Duration
	requests int64
}

// result accumulates a target's measurements over its rounds.
type result struct {
	hist     *hdrhistogram.Histogram
	errors   int64
	firstErr string
	elapsed  time.Duration
	// daemon is the sum of the daemon's counter deltas over the rounds.
	daemon     cache.NamespaceStats
	redisCalls int64
	clientCPU  time.Duration
	daemonCPU  time.Duration
	// redisCPU is redis-server's CPU over the rounds; benchCPU the bench
	// process's own: the relay's (with --redis-rtt) and, for a Go target,
	// the client's too (then it is clientCPU).
	redisCPU  time.Duration
	benchCPU  time.Duration
	clientRSS int64 // peak over the rounds, bytes
	daemonRSS int64
	front     frontUsage // with --front fcgi
	rounds    []roundFigures
}

// roundFigures are one measured round's, for the medians over rounds:
// they resist a round that another load on the machine slowed down.
type roundFigures struct {
	ops        int64
	elapsed    time.Duration
	backendCPU time.Duration
}

// target is one compared client path and its results.
type target struct {
	name  string
	index int         // its place in Bench.targets
	op    opFunc      // the Go targets' operation; nil for Perl
	perl  *perlTarget // the Perl targets
	// backend and frontProc are, with --front fcgi, the processes
	// answering this target's requests and nginx; zero otherwise.
	backend   procTree
	frontProc procTree
	ctr       counters
	res       result
	// localCacheBytes is the Perl workers' local cache bound, as they
	// report it (0 for none, or for a Go target).
	localCacheBytes int64
}

// seedFor derives a worker's seed from the run's, the round and the
// target. Every target draws from the same distribution, but its own
// sequence: the targets share the daemon's memory and Redis, and with
// one sequence for all, whichever ran later in a round found the tail
// keys that the one before had just loaded (in the Zipf cells perl-nolocal,
// behind perl in 4 rounds of 5, did a third fewer Redis reads a lookup).
// A run is still reproducible: the same --seed draws the same sequences.
func seedFor(seed uint64, r round, worker int) uint64 {
	return seed*1_000_003 + uint64(r.index+1)*7919 + uint64(r.target)*104_729 + uint64(worker)
}

// runGo runs one round of a Go target with opts.Concurrency goroutines.
func (b *Bench) runGo(ctx context.Context, t *target, r round, recs *recorders) error {
	var (
		wg   sync.WaitGroup
		left atomic.Int64
	)
	left.Store(r.requests)
	deadline := time.Now().Add(r.duration)
	for w := range b.opts.Concurrency {
		ch, err := b.chooser(r, w)
		if err != nil {
			return err
		}
		rec := recs.add()
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys := make([]int, 0, b.opts.batch())
			for ctx.Err() == nil {
				if r.requests > 0 {
					if left.Add(-1) < 0 {
						return
					}
				} else if !time.Now().Before(deadline) {
					return
				}
				keys = ch.NextN(b.opts.batch(), keys)
				write := ch.Write(b.opts.WriteRatio)
				start := time.Now()
				err := t.op(ctx, keys, write)
				rec.record(time.Since(start), err)
			}
		}()
	}
	wg.Wait()
	return ctx.Err()
}

// runRound runs target t for one round and, unless it is the warm-up,
// adds its measurements to t.res.
func (b *Bench) runRound(ctx context.Context, t *target, r round) error {
	before, err := b.measure(ctx)
	if err != nil {
		return err
	}
	recs := &recorders{}
	stop := b.progress.start(t.name, r, recs)
	fb := t.frontBefore()
	start := time.Now()
	var perlUsage procUsage
	if t.perl != nil {
		perlUsage, err = t.perl.run(ctx, b, t, r, recs)
	} else {
		err = b.runGo(ctx, t, r, recs)
	}
	elapsed := time.Since(start)
	if t.perl != nil {
		// The workers' own clocks, from "go" to their last operation:
		// forking and loading the operations are not the load.
		elapsed = perlUsage.elapsed
	}
	stop()
	if err != nil {
		return err
	}
	after, err := b.measure(ctx)
	if err != nil {
		return err
	}
	if r.index < 0 {
		return nil
	}
	backendCPU := t.frontAfter(fb)
	h, errs, first := recs.snapshot()
	res := &t.res
	res.hist.Merge(h)
	res.rounds = append(res.rounds, roundFigures{ops: h.TotalCount(), elapsed: elapsed, backendCPU: backendCPU})
	res.errors += errs
	if res.firstErr == "" {
		res.firstErr = first
	}
	res.elapsed += elapsed
	d := statsDelta(after.daemon, before.daemon)
	res.daemon = addStats(res.daemon, d)
	res.redisCalls += after.redisCalls - before.redisCalls
	res.daemonCPU += after.daemonCPU.Sub(before.daemonCPU)
	res.redisCPU += after.redisCPU - before.redisCPU
	res.benchCPU += after.selfCPU - before.selfCPU
	res.daemonRSS = max(res.daemonRSS, after.daemonRSS)
	if t.perl != nil {
		res.clientCPU += perlUsage.cpu
		res.clientRSS = max(res.clientRSS, perlUsage.rss)
	} else {
		res.clientCPU += after.selfCPU - before.selfCPU
		res.clientRSS = max(res.clientRSS, after.selfRSS)
	}
	return nil
}

func addStats(a, d cache.NamespaceStats) cache.NamespaceStats {
	a.HitsLocal += d.HitsLocal
	a.HitsRedis += d.HitsRedis
	a.Misses += d.Misses
	a.NegativeHits += d.NegativeHits
	a.Stale += d.Stale
	a.DynamoReads += d.DynamoReads
	a.DynamoWrites += d.DynamoWrites
	a.Errors += d.Errors
	a.LeaseWaits += d.LeaseWaits
	a.ReadUnits += d.ReadUnits
	a.WriteUnits += d.WriteUnits
	return a
}

// snapshot is the state of the counters the bench reads from outside
// the targets, taken before and after each round.
type snapshot struct {
	daemon     cache.NamespaceStats
	redisCalls int64
	redisCPU   time.Duration
	daemonCPU  cpuSample
	daemonRSS  int64
	selfCPU    time.Duration
	selfRSS    int64
}

// measure takes a snapshot. Peak RSS counters are read and then reset,
// so the next snapshot's peak is that of the round in between.
func (b *Bench) measure(ctx context.Context) (snapshot, error) {
	var s snapshot
	var err error
	if b.daemonRDB != nil {
		if s.daemon, err = daemonStats(ctx, b.daemonRDB, b.opts.Namespace); err != nil {
			return s, err
		}
	}
	if s.redisCalls, err = redisCalls(ctx, b.redisRDB); err != nil {
		return s, err
	}
	if s.redisCPU, err = redisCPU(ctx, b.redisRDB); err != nil {
		return s, err
	}
	if b.daemonPID > 0 {
		s.daemonCPU = processCPU(b.daemonPID)
		s.daemonRSS = peakRSS(b.daemonPID)
		if b.spawned {
			// A daemon of the user's keeps its peak since it started.
			resetPeakRSS(b.daemonPID)
		}
	}
	s.selfCPU = selfCPU()
	s.selfRSS = peakRSS(pidSelf())
	resetPeakRSS(pidSelf())
	return s, nil
}

// runAll warms every target up, then runs the interleaved rounds: in
// round k the targets take turns starting with target k mod n, so that
// a machine that slows down or speeds up during the run affects all alike.
func (b *Bench) runAll(ctx context.Context) error {
	// A cold workload has nothing to warm up: it would use up keys.
	if b.opts.Warmup > 0 && b.opts.Dist != Cold {
		for _, t := range b.targets {
			if err := b.runRound(ctx, t, round{index: -1, target: t.index, duration: b.opts.Warmup}); err != nil {
				return fmt.Errorf("bench: warm-up of %s: %w", t.name, err)
			}
			t.ctr.reset()
		}
	}
	if err := b.localWarmup(ctx); err != nil {
		return err
	}
	n := len(b.targets)
	for k := range b.opts.Rounds {
		r := round{index: k, duration: b.opts.Duration / time.Duration(b.opts.Rounds)}
		if b.opts.Requests > 0 {
			r.requests = max(int64(b.opts.Requests/b.opts.Rounds), 1)
		}
		for j := range n {
			t := b.targets[(k+j)%n]
			r.target = t.index
			if err := b.runRound(ctx, t, r); err != nil {
				return fmt.Errorf("bench: %s, round %d: %w", t.name, k+1, err)
			}
		}
	}
	return nil
}

// chooser is worker w's key chooser for round r.
func (b *Bench) chooser(r round, w int) (*Chooser, error) {
	if b.opts.Dist == Cold {
		return ColdChooser(b.opts.Keys, seedFor(b.opts.Seed, r, w), &b.coldNext)
	}
	return NewChooser(b.opts.Dist, b.opts.Keys, b.opts.ZipfS, seedFor(b.opts.Seed, r, w))
}

// localWarmup gives each worker of the Perl targets with a local cache
// LocalWarmupRequests lookups before the rounds. A worker of a
// long-running app has done many thousands; one forked for a run of a
// few seconds has done a few thousand, and under Zipf over many keys its
// local cache is young (a hit ratio of about 0.5 where an old one has
// 0.8). It runs in rounds of at most maxPerlOps lookups a worker, each a
// new key sequence (negative round indexes: unmeasured, and seeded apart
// from the measured rounds), since a worker cycles through one round's
// operations.
func (b *Bench) localWarmup(ctx context.Context) error {
	if b.opts.LocalWarmupRequests <= 0 || b.opts.Dist == Cold {
		return nil
	}
	for _, t := range b.targets {
		if t.perl == nil || t.perl.client != perlClientDDBCache || t.perl.local == "0" {
			continue
		}
		for i, left := 0, b.opts.LocalWarmupRequests; left > 0; i++ {
			n := min(left, maxPerlOps/b.opts.batch())
			r := round{index: -2 - i, target: t.index, requests: int64(n) * int64(b.opts.Procs)}
			if err := b.runRound(ctx, t, r); err != nil {
				return fmt.Errorf("bench: local warm-up of %s: %w", t.name, err)
			}
			left -= n
		}
		t.ctr.reset()
	}
	return nil
}
