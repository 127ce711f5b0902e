package bench

import (
	"strings"
	"testing"
)

// vcell is a synthetic report cell for the verdict tests.
func vcell(name string, s Settings, ts ...TargetReport) NamedReport {
	if s.Dist == "" {
		s.Dist = string(Uniform)
	}
	if s.ItemSize == 0 {
		s.ItemSize = 300
	}
	if s.Procs == 0 {
		s.Procs = 1
	}
	return NamedReport{Name: name, Report: &Report{Settings: s, RedisRTT: RTTReport{RelayedUS: 250}, Targets: ts}}
}

// tr is a target with a median rate and a p99 (µs).
func tr(name string, rate, p99 float64) TargetReport {
	return TargetReport{Name: name, ThroughputMedian: rate, P99US: p99}
}

// TestVerdicts: each row of issue 13's targets table is met, not met or
// not measured according to the cells, and says what it compared.
func TestVerdicts(t *testing.T) {
	zipf8 := Settings{Dist: string(Zipf), Keys: 100_000, Procs: 8}
	cold1 := Settings{Dist: string(Cold), Keys: 100_000}
	cold8 := Settings{Dist: string(Cold), Keys: 100_000, Procs: 8}
	mget := Settings{Dist: string(Zipf), Keys: 1000, Batch: 50}
	large := Settings{Keys: 100, ItemSize: 100_000}
	coldPerl := func(reads, ops int64, p50 float64) TargetReport {
		return TargetReport{Name: TargetPerl, DynamoReads: reads, Ops: ops, P50US: p50}
	}
	mgetPerl := func(rate, redis float64) TargetReport {
		return TargetReport{Name: TargetPerl, ThroughputMedian: rate, HitDaemonMemory: 1 - redis, HitRedis: redis}
	}
	worker := func(rss, local float64) TargetReport {
		return TargetReport{Name: TargetPerl, ClientPeakMiB: rss, LocalCacheMiB: local, DaemonPeakMiB: 70}
	}
	fcgi := func(daemonCPU, appCPU, daemonP99 float64) []TargetReport {
		return []TargetReport{{Name: TargetDDBCache, BackendCPUUSMedian: daemonCPU, P99US: daemonP99},
			{Name: TargetPerlApp, BackendCPUUSMedian: appCPU, P99US: 5000}}
	}
	for _, tc := range []struct {
		name     string
		workload string // the row, by the start of its workload
		cells    []NamedReport
		want     string // met, **not met** or not measured
		measured string // a part of the measured column
	}{
		{"hot met", "hot keys", []NamedReport{vcell("hot-1", Settings{Keys: 100}, tr(TargetPerl, 100_000, 10), tr(TargetRedisFast, 4000, 900))}, "met", "= 25.00×"},
		{"hot not met", "hot keys", []NamedReport{vcell("hot-1", Settings{Keys: 100}, tr(TargetPerl, 60_000, 10), tr(TargetRedisFast, 4000, 900))}, "**not met**", "= 15.00×"},
		{"hot without redis-fast", "hot keys", []NamedReport{vcell("hot-1", Settings{Keys: 100}, tr(TargetPerl, 60_000, 10))}, "not measured", "no perl/redis-fast pair"},
		{"hot 10 KB is not the hot cell", "hot keys", []NamedReport{vcell("hot10k-1", Settings{Keys: 100, ItemSize: 10_000}, tr(TargetPerl, 1, 1), tr(TargetRedisFast, 1, 1))}, "not measured", "no such cell"},
		{"zipf-8 met", "Zipf(0.99) over", []NamedReport{vcell("zipf-8", zipf8, tr(TargetPerl, 30_000, 2000), tr(TargetRedisFast, 5000, 3000))}, "met", "p99 2.00 ms against 3.00 ms"},
		{"zipf-8 p99 higher", "Zipf(0.99) over", []NamedReport{vcell("zipf-8", zipf8, tr(TargetPerl, 30_000, 4000), tr(TargetRedisFast, 5000, 3000))}, "**not met**", "= 6.00×"},
		{"zipf-8 ratio low", "Zipf(0.99) over", []NamedReport{vcell("zipf-8", zipf8, tr(TargetPerl, 20_000, 2000), tr(TargetRedisFast, 5000, 3000))}, "**not met**", "= 4.00×"},
		{"local cache pays in every cell", "Zipf(0.99), default", []NamedReport{
			vcell("zipf-1", Settings{Dist: string(Zipf), Keys: 100_000}, tr(TargetPerl, 8000, 1), tr(TargetPerlNoLocal, 7800, 1)),
			vcell("zipf-8", zipf8, tr(TargetPerl, 24_000, 1), tr(TargetPerlNoLocal, 22_000, 1))}, "met", "zipf-8: perl 24.0k/s"},
		{"local cache loses in one cell", "Zipf(0.99), default", []NamedReport{
			vcell("zipf-1", Settings{Dist: string(Zipf), Keys: 100_000}, tr(TargetPerl, 7000, 1), tr(TargetPerlNoLocal, 7800, 1)),
			vcell("zipf-8", zipf8, tr(TargetPerl, 24_000, 1), tr(TargetPerlNoLocal, 22_000, 1))}, "**not met**", "= 0.90×"},
		{"round trip is a Go benchmark", "round trip", nil, "not measured", "-bench RoundTrip"},
		{"memory met", "memory", []NamedReport{vcell("hot100k-1", large, worker(90, 64))}, "met", "bound 94 MiB"},
		{"memory worker over", "memory", []NamedReport{vcell("hot100k-1", large, worker(100, 64))}, "**not met**", "largest perl worker 100 MiB"},
		{"memory default local cache", "memory", []NamedReport{vcell("hot-1", Settings{Keys: 100}, worker(20, 0))}, "met", "bound 94 MiB"},
		{"memory daemon over", "memory", []NamedReport{vcell("zipf-8", zipf8, TargetReport{Name: TargetPerl, ClientPeakMiB: 20, DaemonPeakMiB: 250})}, "**not met**", "bound 228 MiB"},
		{"memory bigger client cache", "memory", []NamedReport{vcell("zipf-8", Settings{Dist: string(Zipf), Keys: 100_000, Procs: 8, ClientCacheMB: 512},
			TargetReport{Name: TargetPerl, ClientPeakMiB: 20, DaemonPeakMiB: 250})}, "met", "bound 612 MiB"},
		{"cold met", "cold misses, 1", []NamedReport{vcell("cold-1", cold1, coldPerl(100, 100, 1200), TargetReport{Name: TargetDynamoDB, P50US: 500})}, "met", "p50 1.20 ms against 1.25 ms"},
		{"cold slow", "cold misses, 1", []NamedReport{vcell("cold-1", cold1, coldPerl(100, 100, 1300), TargetReport{Name: TargetDynamoDB, P50US: 500})}, "**not met**", "GetItem 0.50 ms + 3 × 250 µs"},
		{"cold reads twice", "cold misses, 1", []NamedReport{vcell("cold-1", cold1, coldPerl(150, 100, 900), TargetReport{Name: TargetDynamoDB, P50US: 500})}, "**not met**", "150 reads for 100 lookups"},
		{"cold-8 met", "cold misses, 8", []NamedReport{vcell("cold-8", cold8, coldPerl(640, 640, 1))}, "met", "1.00 a key"},
		{"cold-8 extra reads", "cold misses, 8", []NamedReport{vcell("cold-8", cold8, coldPerl(700, 640, 1))}, "**not met**", "1.09 a key"},
		{"mget met", "DDB MGET", []NamedReport{vcell("mget50-1", mget, mgetPerl(3500, 0), tr(TargetRedisFast, 1000, 1))}, "met", "100.0% from the daemon's memory"},
		{"mget from the local cache", "DDB MGET", []NamedReport{vcell("mget50-1", mget, TargetReport{Name: TargetPerl, ThroughputMedian: 3500, HitClientLocal: 1}, tr(TargetRedisFast, 1000, 1))}, "met", "100.0% from its local cache"},
		{"mget slow", "DDB MGET", []NamedReport{vcell("mget50-1", mget, mgetPerl(2000, 0), tr(TargetRedisFast, 1000, 1))}, "**not met**", "= 2.00×"},
		{"mget keys from Redis", "DDB MGET", []NamedReport{vcell("mget50-1", mget, mgetPerl(3500, 0.02), tr(TargetRedisFast, 1000, 1))}, "**not met**", "not all in the daemon's memory"},
		{"100 KB met in both cells", "100 KB", []NamedReport{vcell("hot100k-1", large, tr(TargetPerl, 9000, 1), tr(TargetRedisFast, 2000, 1)),
			vcell("hot100k-8", Settings{Keys: 100, ItemSize: 100_000, Procs: 8}, tr(TargetPerl, 20_000, 1), tr(TargetRedisFast, 6000, 1))}, "met", "hot100k-8"},
		{"100 KB not met", "100 KB", []NamedReport{vcell("hot100k-1", large, tr(TargetPerl, 5000, 1), tr(TargetRedisFast, 2000, 1))}, "**not met**", "= 2.50×"},
		{"fcgi met", "FastCGI", []NamedReport{vcell("fcgi-hot", Settings{Keys: 100, Front: FrontFCGI}, fcgi(100, 500, 3000)...)}, "met", "0.20×"},
		{"fcgi cpu over", "FastCGI", []NamedReport{vcell("fcgi-hot", Settings{Keys: 100, Front: FrontFCGI}, fcgi(150, 500, 3000)...)}, "**not met**", "0.30×"},
		{"fcgi p99 higher", "FastCGI", []NamedReport{vcell("fcgi-hot", Settings{Keys: 100, Front: FrontFCGI}, fcgi(100, 500, 6000)...)}, "**not met**", "p99 6.00 ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := verdicts(tc.cells, nil)
			if len(vs) != 10 {
				t.Fatalf("%d verdicts, want one per row of the targets table (10)", len(vs))
			}
			for _, v := range vs {
				if !strings.HasPrefix(v.workload, tc.workload) {
					continue
				}
				var b strings.Builder
				writeVerdicts(&b, tc.cells, nil)
				if v.word() != tc.want || !strings.Contains(b.String(), tc.measured) {
					t.Errorf("%s: %s (%q), want %s with %q", v.workload, v.word(), v.measured, tc.want, tc.measured)
				}
				return
			}
			t.Fatalf("no verdict row starts with %q", tc.workload)
		})
	}
}
