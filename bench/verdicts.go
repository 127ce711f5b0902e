package bench

import (
	"fmt"
	"strings"

	"github.com/ddbcache/ddbcache/cache"
)

// The bounds of issue 13's targets table, which the README's "Targets"
// list checks against each report run.
const (
	targetHotRatio     = 20   // hot keys, 1 Perl process: perl ≥ 20× redis-fast
	targetZipfRatio    = 5    // Zipf over 100 000 keys, 8 processes: perl ≥ 5× redis-fast
	targetLocalRatio   = 1.0  // Zipf: perl ≥ 1.0× perl-nolocal
	targetMGetRatio    = 3    // MGET of 50 keys: perl ≥ 3× redis-fast
	targetLargeRatio   = 3    // 100 KB items, hot: perl ≥ 3× redis-fast
	targetColdRTTs     = 3    // cold p50 ≤ a bare GetItem + 3 Redis round trips
	targetFCGICPU      = 0.25 // FastCGI: daemon CPU per request ≤ ¼ of the Perl app's
	targetWorkerMiB    = 30   // a Perl worker ≤ its local_cache_bytes + 30 MiB
	targetDaemonMiB    = 100  // the daemon ≤ client_cache_mb + 100 MiB
	targetMGetBatch    = 50   // the MGET cell's keys per operation
	targetZipfKeys     = 100_000
	targetLargeItemMin = 100_000
)

// perlDefaultLocalCacheMiB is DDBCache::Client's default
// local_cache_bytes ($DEFAULT_LOCAL_CACHE_BYTES), for reports written
// before the workers reported it.
const perlDefaultLocalCacheMiB = 64

// verdict is one row of the Targets table: what was measured in the run
// and whether it meets the target; met is nil when the run did not
// measure it.
type verdict struct {
	workload, target, measured string
	met                        *bool
}

func (v verdict) word() string {
	switch {
	case v.met == nil:
		return "not measured"
	case *v.met:
		return "met"
	}
	return "**not met**"
}

func yes(ok bool) *bool { return &ok }

// cellsWhere returns the lookup cells (no --front) that match f.
func cellsWhere(cells []NamedReport, f func(Settings) bool) []NamedReport {
	var out []NamedReport
	for _, c := range cells {
		if c.Settings.Front == "" && f(c.Settings) {
			out = append(out, c)
		}
	}
	return out
}

// ratioVerdict compares target a with target b (median lookups/s) in
// each matching cell: met when every cell's ratio reaches min (and, with
// p99, a's p99 is below b's).
func ratioVerdict(workload, goal string, cells []NamedReport, a, b string, minRatio float64, p99 bool) verdict {
	v := verdict{workload: workload, target: goal}
	var parts []string
	for _, c := range cells {
		ta, ok1 := c.target(a)
		tb, ok2 := c.target(b)
		if !ok1 || !ok2 || tb.medianRate() <= 0 {
			parts = append(parts, fmt.Sprintf("%s: no %s/%s pair to compare", c.Name, a, b))
			continue
		}
		r := ta.medianRate() / tb.medianRate()
		ok := r >= minRatio && (!p99 || ta.P99US < tb.P99US)
		s := fmt.Sprintf("%s: %s %s/s ÷ %s %s/s = %.2f×", c.Name, a, rate(ta.medianRate()), b, rate(tb.medianRate()), r)
		if p99 {
			s += fmt.Sprintf(", p99 %s ms against %s ms", ms(ta.P99US), ms(tb.P99US))
		}
		parts = append(parts, s)
		v.met = yes(ok && (v.met == nil || *v.met))
	}
	v.measured = strings.Join(parts, "; ")
	return v
}

// Verdicts checks every row of issue 13's targets table against the cells.
func verdicts(cells []NamedReport, rt *RoundTrip) []verdict {
	hot := func(s Settings) bool { return s.Dist == string(Uniform) && s.batch() == 1 }
	zipf := func(s Settings) bool {
		return s.Dist == string(Zipf) && s.Keys == targetZipfKeys && s.batch() == 1
	}
	hot1 := cellsWhere(cells, func(s Settings) bool { return hot(s) && s.Procs == 1 && s.ItemSize < 1000 })
	zipf8 := cellsWhere(cells, func(s Settings) bool { return zipf(s) && s.Procs == 8 })
	mget := cellsWhere(cells, func(s Settings) bool { return s.batch() == targetMGetBatch })
	large := cellsWhere(cells, func(s Settings) bool { return hot(s) && s.ItemSize >= targetLargeItemMin })
	out := []verdict{
		ratioVerdict("hot keys, 1 Perl process, default client", fmt.Sprintf("≥ %d× Redis::Fast + Cpanel::JSON::XS", targetHotRatio),
			hot1, TargetPerl, TargetRedisFast, targetHotRatio, false),
		ratioVerdict("Zipf(0.99) over 100 000 keys, default local cache, 8 processes aggregate",
			fmt.Sprintf("≥ %d× Redis::Fast; p99 lower", targetZipfRatio), zipf8, TargetPerl, TargetRedisFast, targetZipfRatio, true),
		roundTripVerdict(rt),
		ratioVerdict("Zipf(0.99), default client vs `local_cache => 0`", "≥ 1.0× at every hit ratio",
			cellsWhere(cells, zipf), TargetPerl, TargetPerlNoLocal, targetLocalRatio, false),
		memoryVerdict(cells),
		coldVerdict(cells),
		coldSharedVerdict(cells),
		mgetVerdict(mget),
		ratioVerdict("100 KB items, hot", fmt.Sprintf("≥ %d× Redis::Fast", targetLargeRatio), large,
			TargetPerl, TargetRedisFast, targetLargeRatio, false),
		fcgiVerdict(cells),
	}
	return out
}

// memoryVerdict: the largest Perl worker (perl target) against its
// local_cache_bytes + 30 MiB, the largest daemon against client_cache_mb
// + 100 MiB, over every lookup cell.
func memoryVerdict(cells []NamedReport) verdict {
	v := verdict{workload: "memory", target: fmt.Sprintf("one Perl worker ≤ its `local_cache_bytes` + %d MiB; daemon RSS ≤ `client_cache_mb` + %d MiB",
		targetWorkerMiB, targetDaemonMiB)}
	var worker, limitW, daemon, limitD float64
	var wCell, dCell string
	for _, c := range cellsWhere(cells, func(Settings) bool { return true }) {
		mb := c.Settings.ClientCacheMB
		if mb == 0 {
			mb = cache.DefaultClientCacheMB
		}
		for _, t := range c.Targets {
			if t.DaemonPeakMiB > daemon {
				daemon, limitD, dCell = t.DaemonPeakMiB, float64(mb+targetDaemonMiB), c.Name
			}
			if t.Name != TargetPerl {
				continue
			}
			lc := t.LocalCacheMiB
			if lc == 0 {
				lc = perlDefaultLocalCacheMiB
			}
			if t.ClientPeakMiB > worker {
				worker, limitW, wCell = t.ClientPeakMiB, lc+targetWorkerMiB, c.Name
			}
		}
	}
	if wCell == "" || dCell == "" {
		return v
	}
	v.measured = fmt.Sprintf("largest perl worker %.0f MiB (%s; bound %.0f MiB), largest daemon %.0f MiB (%s; bound %.0f MiB)",
		worker, wCell, limitW, daemon, dCell, limitD)
	v.met = yes(worker <= limitW && daemon <= limitD)
	return v
}

// coldVerdict: with 1 process, the default client (perl) reads DynamoDB
// once per lookup (every key distinct) and its p50 is within a bare
// GetItem's (the dynamodb target's) + 3 Redis round trips (the relay's).
func coldVerdict(cells []NamedReport) verdict {
	v := verdict{workload: "cold misses, 1 process", target: fmt.Sprintf("DynamoDB reads = distinct keys; p50 ≤ a bare GetItem + %d Redis round trips", targetColdRTTs)}
	for _, c := range cellsWhere(cells, func(s Settings) bool { return s.Dist == string(Cold) && s.Procs == 1 && s.batch() == 1 }) {
		p, ok1 := c.target(TargetPerl)
		d, ok2 := c.target(TargetDynamoDB)
		if !ok1 || !ok2 || p.Ops == 0 {
			continue
		}
		bound := d.P50US + targetColdRTTs*c.RedisRTT.RelayedUS
		v.measured = fmt.Sprintf("%s: perl %d reads for %d lookups of distinct keys; p50 %s ms against %s ms (GetItem %s ms + 3 × %.0f µs)",
			c.Name, p.DynamoReads, p.Ops, ms(p.P50US), ms(bound), ms(d.P50US), c.RedisRTT.RelayedUS)
		if rf, ok := c.target(TargetRedisFast); ok {
			v.measured += fmt.Sprintf("; redis-fast p50 %s ms", ms(rf.P50US))
		}
		v.met = yes(p.DynamoReads == p.Ops && p.P50US <= bound)
		return v
	}
	return v
}

// coldSharedVerdict: with 8 processes, one DynamoDB read per key. The
// cold cells give every lookup its own key, so reads must equal lookups.
func coldSharedVerdict(cells []NamedReport) verdict {
	v := verdict{workload: "cold misses, 8 processes", target: "1 DynamoDB read per key"}
	for _, c := range cellsWhere(cells, func(s Settings) bool { return s.Dist == string(Cold) && s.Procs == 8 && s.batch() == 1 }) {
		p, ok := c.target(TargetPerl)
		if !ok || p.Ops == 0 {
			continue
		}
		v.measured = fmt.Sprintf("%s: perl %d reads for %d keys (%.2f a key; each lookup a distinct key, 8 processes at once)",
			c.Name, p.DynamoReads, p.Ops, float64(p.DynamoReads)/float64(p.Ops))
		v.met = yes(p.DynamoReads == p.Ops)
		return v
	}
	return v
}

// mgetVerdict: DDBCache::Client's mget against Redis::Fast mget + decode,
// and the cell's premise, all keys in the daemon's memory (or nearer: the
// client's local cache, which mget uses since DDB MGETC), from the perl
// target's hit tiers.
func mgetVerdict(cells []NamedReport) verdict {
	v := ratioVerdict("DDB MGET of 50 keys, Zipf, all in the daemon's memory", fmt.Sprintf("≥ %d× Redis::Fast `mget` + decode", targetMGetRatio),
		cells, TargetPerl, TargetRedisFast, targetMGetRatio, false)
	for _, c := range cells {
		if p, ok := c.target(TargetPerl); ok && v.met != nil {
			v.measured += fmt.Sprintf(" (operations of %d keys; perl's keys %.1f%% from its local cache, %.1f%% from the daemon's memory, %.1f%% from Redis, %.1f%% misses)",
				c.Settings.batch(), 100*p.HitClientLocal, 100*p.HitDaemonMemory, 100*p.HitRedis, 100*p.MissRatio)
			if p.HitRedis+p.MissRatio > 0 {
				v.measured += ": not all in the daemon's memory"
				v.met = yes(false)
			}
		}
	}
	return v
}

// fcgiVerdict: the daemon's CPU per request ≤ ¼ of the Perl app's and
// its p99 lower, in every FastCGI cell.
func fcgiVerdict(cells []NamedReport) verdict {
	v := verdict{workload: "FastCGI", target: fmt.Sprintf("daemon CPU/request ≤ %g× the Perl app's; p99 lower", targetFCGICPU)}
	var parts []string
	for _, c := range cells {
		d, ok1 := c.target(TargetDDBCache)
		p, ok2 := c.target(TargetPerlApp)
		if c.Settings.Front == "" || !ok1 || !ok2 || p.medianCPU() <= 0 {
			continue
		}
		r := d.medianCPU() / p.medianCPU()
		parts = append(parts, fmt.Sprintf("%s: %.2f×, p99 %s ms against %s ms", c.Name, r, ms(d.P99US), ms(p.P99US)))
		v.met = yes(r <= targetFCGICPU && d.P99US < p.P99US && (v.met == nil || *v.met))
	}
	v.measured = strings.Join(parts, "; ")
	return v
}

// writeVerdicts writes the Targets table.
func writeVerdicts(b *strings.Builder, cells []NamedReport, rt *RoundTrip) {
	b.WriteString("Targets of issue 13, checked against this run (ratios of median lookups/s between targets of the same cell; " +
		"`perl` is the default client, `redis-fast` the blog's pattern in Perl):\n\n")
	mdRow(b, "workload", "target", "measured", "verdict")
	b.WriteString("|---|---|---|---|\n")
	for _, v := range verdicts(cells, rt) {
		m := v.measured
		if m == "" {
			m = "no such cell in this run"
		}
		mdRow(b, v.workload, v.target, m, v.word())
	}
	b.WriteString("\n")
}
