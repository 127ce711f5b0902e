package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of a run, as --json writes it.
type Report struct {
	Started  time.Time `json:"started"`
	Settings Settings  `json:"settings"`
	// RedisRTT is measured with PINGs, direct and through the relay.
	RedisRTT RTTReport      `json:"redis_rtt"`
	Targets  []TargetReport `json:"targets"`
}

// Settings are the workload's options, for the record.
type Settings struct {
	Keys int `json:"keys"`
	// Batch is the keys of one lookup (an MGET above 1; 0 in reports
	// written before --batch: 1). Throughput and latency count
	// operations; keys/s is Batch × the throughput.
	Batch       int     `json:"batch"`
	Dist        string  `json:"dist"`
	ZipfS       float64 `json:"zipf_s"`
	ItemSize    int     `json:"item_size"`
	WriteRatio  float64 `json:"write_ratio"`
	Concurrency int     `json:"concurrency"`
	Procs       int     `json:"procs"`
	Duration    string  `json:"duration"`
	Requests    int     `json:"requests"`
	Warmup      string  `json:"warmup"`
	// LocalWarmupRequests is --local-warmup-requests: the lookups each
	// worker of the perl target made before the rounds besides the
	// warm-up (0: none).
	LocalWarmupRequests int    `json:"local_warmup_requests"`
	Rounds              int    `json:"rounds"`
	Seed                uint64 `json:"seed"`
	Namespace           string `json:"namespace"`
	Spawned             bool   `json:"spawned_daemon"`
	// Front is "fcgi" when the lookups went through nginx (--front).
	Front string `json:"front"`
	// ClientCacheMB is the daemon's redis.client_cache_mb (0: not
	// recorded, the default), for the memory target.
	ClientCacheMB int `json:"client_cache_mb"`
}

// batch is the keys of one lookup, 1 for reports without it.
func (s Settings) batch() int { return max(s.Batch, 1) }

// RTTReport compares Redis round trips with and without the relay.
type RTTReport struct {
	RequestedUS float64 `json:"requested_us"`
	DirectUS    float64 `json:"direct_us"`
	RelayedUS   float64 `json:"relayed_us"`
	// DelayEachWayUS is the relay's delay after calibration.
	DelayEachWayUS float64 `json:"delay_each_way_us"`
}

// TargetReport is one target's figures. Latencies are in microseconds;
// ratios in [0,1]; CPU in seconds per 100 000 lookups; RSS in MiB.
type TargetReport struct {
	Name       string  `json:"name"`
	Ops        int64   `json:"ops"`
	Errors     int64   `json:"errors"`
	FirstError string  `json:"first_error"`
	Seconds    float64 `json:"seconds"`
	Throughput float64 `json:"throughput_per_s"`
	MeanUS     float64 `json:"mean_us"`
	P50US      float64 `json:"p50_us"`
	P95US      float64 `json:"p95_us"`
	P99US      float64 `json:"p99_us"`
	P999US     float64 `json:"p999_us"`
	MaxUS      float64 `json:"max_us"`
	// Hits by tier: the client's own memory (Perl local cache), the
	// daemon's memory (rueidis client-side cache), Redis, and misses
	// read from DynamoDB.
	HitClientLocal  float64 `json:"hit_ratio_client_local"`
	HitDaemonMemory float64 `json:"hit_ratio_daemon_memory"`
	HitRedis        float64 `json:"hit_ratio_redis"`
	MissRatio       float64 `json:"miss_ratio"`
	DynamoReads     int64   `json:"dynamodb_reads"`
	ReadUnits       float64 `json:"read_capacity_units"`
	RedisCmdsPerOp  float64 `json:"redis_commands_per_lookup"`
	ClientCPU100k   float64 `json:"client_cpu_s_per_100k"`
	DaemonCPU100k   float64 `json:"daemon_cpu_s_per_100k"`
	// RedisCPU100k is redis-server's CPU (INFO cpu) and BenchCPU100k the
	// bench process's own (the relay, with --redis-rtt; for a Go target
	// also the client: then it equals ClientCPU100k): with the client's
	// and the daemon's, all the CPU a lookup costs on one machine.
	RedisCPU100k  float64 `json:"redis_cpu_s_per_100k"`
	BenchCPU100k  float64 `json:"bench_cpu_s_per_100k"`
	ClientPeakMiB float64 `json:"client_peak_rss_mib"`
	DaemonPeakMiB float64 `json:"daemon_peak_rss_mib"`
	// LocalCacheMiB is the Perl workers' local_cache_bytes bound, as
	// they report it (0: no local cache, or a Go target).
	LocalCacheMiB float64 `json:"local_cache_bytes_mib"`
	// With --front fcgi: the CPU per request of the processes behind
	// nginx (the daemon, or the Perl app's manager and workers) and of
	// nginx itself, and the backend's memory; zero otherwise.
	BackendCPUUS   float64 `json:"backend_cpu_us_per_request"`
	NginxCPUUS     float64 `json:"nginx_cpu_us_per_request"`
	BackendPeakMiB float64 `json:"backend_peak_rss_mib"`
	BackendProcs   int     `json:"backend_procs"`
	// The medians over the rounds of the throughput and (with --front)
	// of the backend's CPU per request, and each round's throughput.
	ThroughputMedian   float64   `json:"throughput_median_per_s"`
	BackendCPUUSMedian float64   `json:"backend_cpu_us_per_request_median"`
	RoundThroughputs   []float64 `json:"round_throughputs_per_s"`
	// Percentiles is the latency curve that --plot draws.
	Percentiles []Percentile `json:"percentiles"`
}

// Percentile is one point of a latency curve.
type Percentile struct {
	Percentile float64 `json:"percentile"`
	LatencyUS  float64 `json:"latency_us"`
}

// curvePercentiles are the curve's points: evenly spaced on the log
// scale of 1/(1−p), from 0 to 99.999 %, as HdrHistogram plots them.
func curvePercentiles() []float64 {
	var out []float64
	for i := 0; i <= 100; i++ {
		out = append(out, 100*(1-math.Pow(10, -float64(i)/20)))
	}
	return out
}

// report turns a target's results into its figures.
func (t *target) report() TargetReport {
	res := &t.res
	h := res.hist
	r := TargetReport{Name: t.name, Ops: h.TotalCount(), Errors: res.errors, FirstError: res.firstErr,
		Seconds: res.elapsed.Seconds(), MeanUS: h.Mean(),
		P50US: float64(h.ValueAtQuantile(50)), P95US: float64(h.ValueAtQuantile(95)),
		P99US: float64(h.ValueAtQuantile(99)), P999US: float64(h.ValueAtQuantile(99.9)), MaxUS: float64(h.Max()),
		ClientPeakMiB: float64(res.clientRSS) / (1 << 20), DaemonPeakMiB: float64(res.daemonRSS) / (1 << 20),
		LocalCacheMiB: float64(t.localCacheBytes) / (1 << 20)}
	if r.Seconds > 0 {
		r.Throughput = float64(r.Ops) / r.Seconds
	}
	// The daemon counts only what the Perl local cache did not answer.
	local := t.ctr.localHits.Load()
	mem := res.daemon.HitsLocal
	redis := res.daemon.HitsRedis + res.daemon.NegativeHits + t.ctr.redisHits.Load()
	miss := res.daemon.Misses + t.ctr.misses.Load()
	if all := float64(local + mem + redis + miss); all > 0 {
		r.HitClientLocal, r.HitDaemonMemory = float64(local)/all, float64(mem)/all
		r.HitRedis, r.MissRatio = float64(redis)/all, float64(miss)/all
	}
	r.DynamoReads = t.ctr.dynamoReads.Load() + res.daemon.DynamoReads
	r.ReadUnits = float64(t.ctr.rcuMilli.Load())/1000 + res.daemon.ReadUnits
	if r.Ops > 0 {
		per100k := 100_000 / float64(r.Ops)
		r.RedisCmdsPerOp = float64(res.redisCalls) / float64(r.Ops)
		r.ClientCPU100k = res.clientCPU.Seconds() * per100k
		r.DaemonCPU100k = res.daemonCPU.Seconds() * per100k
		r.RedisCPU100k = res.redisCPU.Seconds() * per100k
		r.BenchCPU100k = res.benchCPU.Seconds() * per100k
		r.BackendCPUUS = float64(res.front.backendCPU.Microseconds()) / float64(r.Ops)
		r.NginxCPUUS = float64(res.front.nginxCPU.Microseconds()) / float64(r.Ops)
	}
	r.BackendPeakMiB, r.BackendProcs = float64(res.front.backendRSS)/(1<<20), res.front.backendProcs
	r.RoundThroughputs, r.ThroughputMedian, r.BackendCPUUSMedian = res.roundMedians()
	for _, p := range curvePercentiles() {
		r.Percentiles = append(r.Percentiles, Percentile{Percentile: p, LatencyUS: float64(h.ValueAtQuantile(p))})
	}
	return r
}

// WriteJSON writes the report to path.
func (r *Report) WriteJSON(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}

// WriteTable prints the summary: one column per target.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "workload: %d keys, %s", r.Settings.Keys, r.Settings.Dist)
	if r.Settings.Dist == string(Zipf) {
		fmt.Fprintf(w, "(%g)", r.Settings.ZipfS)
	}
	fmt.Fprintf(w, ", %d B items, %.0f%% writes, concurrency %d, %d Perl procs, %d rounds\n",
		r.Settings.ItemSize, 100*r.Settings.WriteRatio, r.Settings.Concurrency, r.Settings.Procs, r.Settings.Rounds)
	if n := r.Settings.LocalWarmupRequests; n > 0 {
		fmt.Fprintf(w, "local warm-up: %d lookups per perl worker before the rounds (a long-running app's warmed workers)\n", n)
	}
	batch := r.Settings.batch()
	if batch > 1 {
		fmt.Fprintf(w, "batch: %d keys per lookup (one MGET): lookups, throughput, latency, commands and CPU count operations; keys/s = %d × throughput\n",
			batch, batch)
	}
	if r.RedisRTT.RequestedUS > 0 {
		fmt.Fprintf(w, "redis rtt: requested %.0f µs, achieved %.0f µs (direct %.0f µs; relay delay %.0f µs each way after calibration)\n",
			r.RedisRTT.RequestedUS, r.RedisRTT.RelayedUS, r.RedisRTT.DirectUS, r.RedisRTT.DelayEachWayUS)
	} else {
		fmt.Fprintf(w, "redis rtt: %.0f µs (no relay)\n", r.RedisRTT.DirectUS)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(label string, f func(TargetReport) string) {
		cells := []string{label}
		for _, t := range r.Targets {
			cells = append(cells, f(t))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	num := func(format string, f func(TargetReport) float64) func(TargetReport) string {
		return func(t TargetReport) string { return fmt.Sprintf(format, f(t)) }
	}
	pct := func(f func(TargetReport) float64) func(TargetReport) string {
		return num("%.1f%%", func(t TargetReport) float64 { return 100 * f(t) })
	}
	row("target", func(t TargetReport) string { return t.Name })
	row("lookups", num("%.0f", func(t TargetReport) float64 { return float64(t.Ops) }))
	row("throughput/s", num("%.0f", func(t TargetReport) float64 { return t.Throughput }))
	row("median of rounds/s", num("%.0f", func(t TargetReport) float64 { return t.ThroughputMedian }))
	if batch > 1 {
		row("keys/s", num("%.0f", func(t TargetReport) float64 { return t.Throughput * float64(batch) }))
		row("median of rounds keys/s", num("%.0f", func(t TargetReport) float64 { return t.ThroughputMedian * float64(batch) }))
	}
	row("mean µs", num("%.0f", func(t TargetReport) float64 { return t.MeanUS }))
	row("p50 µs", num("%.0f", func(t TargetReport) float64 { return t.P50US }))
	row("p95 µs", num("%.0f", func(t TargetReport) float64 { return t.P95US }))
	row("p99 µs", num("%.0f", func(t TargetReport) float64 { return t.P99US }))
	row("p99.9 µs", num("%.0f", func(t TargetReport) float64 { return t.P999US }))
	row("errors", num("%.0f", func(t TargetReport) float64 { return float64(t.Errors) }))
	row("hit client local", pct(func(t TargetReport) float64 { return t.HitClientLocal }))
	row("hit daemon memory", pct(func(t TargetReport) float64 { return t.HitDaemonMemory }))
	row("hit redis", pct(func(t TargetReport) float64 { return t.HitRedis }))
	row("miss", pct(func(t TargetReport) float64 { return t.MissRatio }))
	row("dynamodb reads", num("%.0f", func(t TargetReport) float64 { return float64(t.DynamoReads) }))
	row("read units", num("%.1f", func(t TargetReport) float64 { return t.ReadUnits }))
	row("redis cmds/lookup", num("%.2f", func(t TargetReport) float64 { return t.RedisCmdsPerOp }))
	row("client cpu s/100k", num("%.2f", func(t TargetReport) float64 { return t.ClientCPU100k }))
	row("daemon cpu s/100k", num("%.2f", func(t TargetReport) float64 { return t.DaemonCPU100k }))
	row("redis cpu s/100k", num("%.2f", func(t TargetReport) float64 { return t.RedisCPU100k }))
	row("bench cpu s/100k", num("%.2f", func(t TargetReport) float64 { return t.BenchCPU100k }))
	row("client peak rss MiB", num("%.1f", func(t TargetReport) float64 { return t.ClientPeakMiB }))
	row("daemon peak rss MiB", num("%.1f", func(t TargetReport) float64 { return t.DaemonPeakMiB }))
	if r.Settings.Front != "" {
		row("backend cpu µs/request", num("%.1f", func(t TargetReport) float64 { return t.BackendCPUUS }))
		row("  median of rounds", num("%.1f", func(t TargetReport) float64 { return t.BackendCPUUSMedian }))
		row("nginx cpu µs/request", num("%.1f", func(t TargetReport) float64 { return t.NginxCPUUS }))
		row("backend peak rss MiB", num("%.1f", func(t TargetReport) float64 { return t.BackendPeakMiB }))
		row("backend processes", num("%.0f", func(t TargetReport) float64 { return float64(t.BackendProcs) }))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	for _, t := range r.Targets {
		if t.FirstError != "" {
			fmt.Fprintf(w, "%s: first error: %s\n", t.Name, t.FirstError)
		}
	}
	return nil
}

// roundMedians returns each round's throughput and the medians over the
// rounds of the throughput and of the backend's CPU µs per request.
func (res *result) roundMedians() (rates []float64, rate, cpuUS float64) {
	var cpus []float64
	for _, f := range res.rounds {
		if f.elapsed > 0 {
			rates = append(rates, float64(f.ops)/f.elapsed.Seconds())
		}
		if f.ops > 0 {
			cpus = append(cpus, float64(f.backendCPU.Microseconds())/float64(f.ops))
		}
	}
	return rates, median(rates), median(cpus)
}

// median is the middle value (the mean of the two middle ones), 0 for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}
