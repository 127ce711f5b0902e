package main

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ddbcache/ddbcache/bench"
	"github.com/ddbcache/ddbcache/internal/testenv"
)

// TestBenchEndToEnd runs `ddbcache bench --seed-data` against a real
// redis-server and dynalite, with the relay and a spawned daemon, and
// checks the summary, the JSON (every field) and the SVG.
func TestBenchEndToEnd(t *testing.T) {
	cfg, dir := benchConfig(t)
	jsonOut, svgOut := filepath.Join(dir, "out.json"), filepath.Join(dir, "out.svg")
	const requests = 1000
	stdout, stderr, code := run(t, nil, "--config", cfg, "bench", "--seed-data", "--targets", "ddbcache,direct",
		"--keys", "200", "--dist", "zipf", "--requests", fmt.Sprint(requests), "--rounds", "2", "--warmup", "0",
		"--concurrency", "4", "--write-ratio", "0.02", "--redis-rtt", "250us", "--json", jsonOut, "--plot", svgOut)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr, stdout)
	}
	for _, want := range []string{"redis rtt: requested 250 µs", "throughput/s", "p99.9 µs", "hit daemon memory",
		"dynamodb reads", "read units", "redis cmds/lookup", "daemon cpu s/100k", "redis cpu s/100k", "bench cpu s/100k", "daemon peak rss MiB"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	checkReportJSON(t, jsonOut, requests)
	checkSVG(t, svgOut)
}

// checkReportJSON parses the report and checks that every field of
// every target is present and that the counts add up.
func checkReportJSON(t *testing.T, path string, requests int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Targets []map[string]json.RawMessage `json:"targets"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatalf("JSON does not parse: %v", err)
	}
	var rep bench.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if len(raw.Targets) != 2 || rep.Targets[0].Name != "ddbcache" || rep.Targets[1].Name != "direct" {
		t.Fatalf("targets %+v, want ddbcache and direct", raw.Targets)
	}
	fields := reflect.TypeFor[bench.TargetReport]()
	for i, tr := range raw.Targets {
		for f := range fields.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if _, ok := tr[name]; !ok {
				t.Errorf("target %d lacks field %q", i, name)
			}
		}
	}
	// Every process a lookup costs CPU in is measured: redis-server's
	// (INFO cpu) and the bench's own, where the relay runs.
	for i, tr := range raw.Targets {
		for _, name := range []string{"redis_cpu_s_per_100k", "bench_cpu_s_per_100k"} {
			var v float64
			if err := json.Unmarshal(tr[name], &v); err != nil || v <= 0 {
				t.Errorf("target %d: %s = %s: want a positive CPU time (every lookup went through Redis or the relay)", i, name, tr[name])
			}
		}
	}
	if rep.RedisRTT.RelayedUS <= rep.RedisRTT.DirectUS {
		t.Errorf("RTT through the relay %.0f µs is not above the direct %.0f µs", rep.RedisRTT.RelayedUS, rep.RedisRTT.DirectUS)
	}
	for _, tr := range rep.Targets {
		if tr.Ops != requests || tr.Errors != 0 || tr.P50US <= 0 || tr.P999US < tr.P50US || len(tr.Percentiles) == 0 {
			t.Errorf("%s: ops %d errors %d (%s) p50 %.0f p99.9 %.0f: want %d ops, no errors, ordered percentiles",
				tr.Name, tr.Ops, tr.Errors, tr.FirstError, tr.P50US, tr.P999US, requests)
		}
		// The cache starts cold: each target misses, reads DynamoDB
		// and pays read units for it.
		if tr.DynamoReads == 0 || tr.ReadUnits <= 0 || tr.MissRatio <= 0 {
			t.Errorf("%s: %d DynamoDB reads, %.1f RCU, miss ratio %.3f: want misses of the cold cache counted",
				tr.Name, tr.DynamoReads, tr.ReadUnits, tr.MissRatio)
		}
		if sum := tr.HitClientLocal + tr.HitDaemonMemory + tr.HitRedis + tr.MissRatio; sum < 0.99 || sum > 1.01 {
			t.Errorf("%s: tier ratios sum to %.3f", tr.Name, sum)
		}
		if tr.RedisCmdsPerOp <= 0 || tr.ClientCPU100k <= 0 || tr.ClientPeakMiB <= 0 {
			t.Errorf("%s: redis cmds/lookup %.2f, client CPU %.2f, client RSS %.1f: want all measured",
				tr.Name, tr.RedisCmdsPerOp, tr.ClientCPU100k, tr.ClientPeakMiB)
		}
	}
	if d := rep.Targets[0]; d.DaemonCPU100k <= 0 || d.DaemonPeakMiB <= 0 {
		t.Errorf("ddbcache: daemon CPU %.2f s/100k, RSS %.1f MiB: want the spawned daemon measured", d.DaemonCPU100k, d.DaemonPeakMiB)
	}
}

// checkSVG parses the plot as XML and checks its root is <svg>.
func checkSVG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := xml.NewDecoder(f)
	root := ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" {
		t.Errorf("root element %q, want svg", root)
	}
}

// TestBenchBadOptions: each bad option is refused with one line naming it,
// before anything is contacted.
func TestBenchBadOptions(t *testing.T) {
	cfg, _ := writeConfig(t, "redis: { addrs: [\"127.0.0.1:1\"] }\n"+goodNamespace)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown dist", []string{"--dist", "pareto"}, `--dist "pareto"`},
		{"no keys", []string{"--keys", "0"}, "--keys must be positive"},
		{"bad zipf exponent", []string{"--dist", "zipf", "--zipf-s", "0"}, "--zipf-s must be positive"},
		{"write ratio above 1", []string{"--write-ratio", "1.5"}, "--write-ratio"},
		{"unknown target", []string{"--targets", "ddbcache,memcached"}, `unknown target "memcached"`},
		{"target twice", []string{"--targets", "direct,direct"}, `"direct" twice`},
		{"no concurrency", []string{"--concurrency", "0"}, "--concurrency must be positive"},
		{"no duration", []string{"--duration", "0s"}, "--duration must be positive"},
		{"fewer requests than rounds", []string{"--requests", "2", "--rounds", "5"}, "fewer than --rounds"},
		{"negative rtt", []string{"--redis-rtt", "-1ms"}, "--redis-rtt must not be negative"},
		{"tiny items", []string{"--item-size", "3"}, "--item-size"},
		{"unknown namespace", []string{"--namespace", "orders"}, `--namespace "orders" is not configured`},
		{"seed against AWS", []string{"--seed-data"}, "real AWS DynamoDB"},
		{"unknown flag", []string{"--colour"}, "colour"},
		{"stray argument", []string{"now"}, "no arguments"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := run(t, nil, append([]string{"--config", cfg, "bench"}, tc.args...)...)
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if code == 0 || len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Errorf("exit %d, stderr %q: want a non-zero exit and one line with %q", code, stderr, tc.want)
			}
		})
	}
}

// TestBenchHelpDocumentsEveryFlag: --help names every flag with a usage.
func TestBenchHelpDocumentsEveryFlag(t *testing.T) {
	stdout, _, code := run(t, nil, "bench", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, f := range bench.Flags() {
		name := f.Names()[0]
		if !strings.Contains(stdout, "--"+name) {
			t.Errorf("--help does not mention --%s", name)
		}
		if u, ok := f.(interface{ GetUsage() string }); !ok || u.GetUsage() == "" {
			t.Errorf("--%s has no usage text", name)
		}
	}
}

// TestBenchPerlTargets runs forked Perl workers through DDBCache::Client
// against a spawned daemon, beside the dynamodb target. The workers live
// across the warm-up and the rounds, so their local caches stay warm.
func TestBenchPerlTargets(t *testing.T) {
	rs := testenv.Redis(t)
	dyn := testenv.StartDynalite(t)
	sockDir := testenv.ShortDir(t)
	cfg, dir := writeConfig(t, fmt.Sprintf(`
redis: { addrs: [%q] }
dynamodb: { endpoint: %q }
listen: { unix: %q }
namespaces:
  profile: { table: bench_users, partition_key: user_id, ttl: 1h }
`, rs.Addr, dyn.Endpoint, filepath.Join(sockDir, "unused.sock")))
	jsonOut := filepath.Join(dir, "out.json")
	const requests = 400
	stdout, stderr, code := run(t, nil, "--config", cfg, "bench", "--seed-data", "--spawn-daemon",
		"--targets", "perl,perl-nolocal,dynamodb", "--procs", "2", "--keys", "50", "--dist", "zipf",
		"--requests", fmt.Sprint(requests), "--rounds", "2", "--warmup", "300ms",
		"--perl-lib", filepath.Join(testenv.RepoRoot(), "perl", "lib"), "--json", jsonOut)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr, stdout)
	}
	rep := readReport(t, jsonOut)
	byName := map[string]bench.TargetReport{}
	for _, tr := range rep.Targets {
		byName[tr.Name] = tr
		if tr.Ops != requests || tr.Errors != 0 || tr.ClientCPU100k <= 0 || tr.ClientPeakMiB <= 0 {
			t.Errorf("%s: ops %d, errors %d (%s), client CPU %.2f, RSS %.1f: want %d ops, no errors, usage measured",
				tr.Name, tr.Ops, tr.Errors, tr.FirstError, tr.ClientCPU100k, tr.ClientPeakMiB, requests)
		}
	}
	if p := byName["perl"]; p.HitClientLocal < 0.5 {
		t.Errorf("perl: local hit ratio %.3f over 50 keys after a warm-up, want over half local", p.HitClientLocal)
	}
	if p := byName["perl-nolocal"]; p.HitClientLocal != 0 || p.DaemonCPU100k <= 0 {
		t.Errorf("perl-nolocal: local hit ratio %.3f, daemon CPU %.2f: want 0 and measured", p.HitClientLocal, p.DaemonCPU100k)
	}
	// The warm-up's reads are not counted: at most one read per measured lookup.
	if d := byName["dynamodb"]; d.MissRatio != 1 || d.DynamoReads == 0 || d.DynamoReads > d.Ops {
		t.Errorf("dynamodb: miss ratio %.3f, %d reads for %d operations: want every lookup (and only those) a read",
			d.MissRatio, d.DynamoReads, d.Ops)
	}
}

// TestBenchLocalWarmup: --local-warmup-requests gives each worker of the
// perl target that many lookups of its own before the rounds, in fresh
// key sequences, as a long-running app's workers have done: over 1000
// Zipf keys, 20 000 of them draw nearly every key, so the measured
// lookups hit the local cache almost always (a young worker's 200
// lookups hit it about half the time).
func TestBenchLocalWarmup(t *testing.T) {
	cfg, dir := benchConfig(t)
	jsonOut := filepath.Join(dir, "out.json")
	const requests = 400
	stdout, stderr, code := run(t, nil, "--config", cfg, "bench", "--seed-data", "--spawn-daemon",
		"--targets", "perl", "--procs", "2", "--keys", "1000", "--dist", "zipf", "--requests", fmt.Sprint(requests),
		"--rounds", "2", "--warmup", "0", "--local-warmup-requests", "20000",
		"--perl-lib", filepath.Join(testenv.RepoRoot(), "perl", "lib"), "--json", jsonOut)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr, stdout)
	}
	if !strings.Contains(stdout, "local warm-up: 20000 lookups per perl worker") {
		t.Errorf("summary does not say the workers were warmed:\n%s", stdout)
	}
	rep := readReport(t, jsonOut)
	if rep.Settings.LocalWarmupRequests != 20000 {
		t.Errorf("settings record local warm-up %d, want 20000", rep.Settings.LocalWarmupRequests)
	}
	if p := rep.Targets[0]; p.Ops != requests || p.HitClientLocal < 0.95 {
		t.Errorf("perl: %d ops, local hit ratio %.3f: want %d, and over 95%% after 20 000 lookups a worker over 1000 keys",
			p.Ops, p.HitClientLocal, requests)
	}
}

// benchConfig starts a redis-server and dynalite and writes the
// configuration file the bench tests point `ddbcache bench` at: one
// profile namespace over the bench's seeded table. It returns the file
// and its directory, where a test writes the bench's outputs.
func benchConfig(t *testing.T) (cfg, dir string) {
	t.Helper()
	rs := testenv.Redis(t)
	dyn := testenv.StartDynalite(t)
	sockDir := testenv.ShortDir(t)
	return writeConfig(t, fmt.Sprintf(`
redis: { addrs: [%q] }
dynamodb: { endpoint: %q, region: us-east-1 }
listen: { unix: %q }
namespaces:
  profile: { table: bench_users, partition_key: user_id, redis_key: "user_profile:{user_id}", ttl: 1h }
`, rs.Addr, dyn.Endpoint, filepath.Join(sockDir, "unused.sock")))
}

// TestBenchRedisFastAndBatch runs the redis-fast target (Perl workers,
// Redis::Fast + GetItem) on a cold Redis, so that it both misses and
// hits and counts both, and every target with --batch: one MGET (or
// BatchGetItem) of distinct keys per operation.
func TestBenchRedisFastAndBatch(t *testing.T) {
	perlLib := filepath.Join(testenv.RepoRoot(), "perl", "lib")
	for _, tc := range []struct {
		name    string
		targets string
		batch   int
		warmup  string
	}{
		{"redis-fast misses then hits", "redis-fast,direct", 1, "0s"},
		{"batch of 10", "ddbcache,perl,redis-fast,direct,dynamodb", 10, "300ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, dir := benchConfig(t)
			jsonOut := filepath.Join(dir, "out.json")
			const requests = 200
			stdout, stderr, code := run(t, nil, "--config", cfg, "bench", "--seed-data", "--redis-rtt", "200us",
				"--targets", tc.targets, "--keys", "50", "--dist", "zipf", "--batch", fmt.Sprint(tc.batch),
				"--requests", fmt.Sprint(requests), "--rounds", "2", "--warmup", tc.warmup, "--perl-lib", perlLib, "--json", jsonOut)
			if code != 0 {
				t.Fatalf("exit %d: %s\n%s", code, stderr, stdout)
			}
			rep := readReport(t, jsonOut)
			if rep.Settings.Batch != tc.batch || (tc.batch > 1) != strings.Contains(stdout, "keys/s") {
				t.Errorf("batch %d recorded, keys/s row shown %v: want batch %d", rep.Settings.Batch, strings.Contains(stdout, "keys/s"), tc.batch)
			}
			for _, tr := range rep.Targets {
				if tr.Ops != requests || tr.Errors != 0 {
					t.Errorf("%s: ops %d, errors %d (%s): want %d ops, no errors", tr.Name, tr.Ops, tr.Errors, tr.FirstError, requests)
				}
				switch tr.Name {
				case "redis-fast":
					// 50 keys and no warm-up: the first lookup of each key
					// misses (after a warm-up, all hit Redis).
					cold := tc.warmup == "0s"
					if tr.HitRedis <= 0 || (tr.MissRatio > 0) != cold || (tr.DynamoReads > 0) != cold || (tr.ReadUnits > 0) != cold || tr.ClientCPU100k <= 0 {
						t.Errorf("redis-fast: redis %.3f, miss %.3f, %d reads, %.1f RCU, CPU %.2f: want hits, misses, reads and usage counted",
							tr.HitRedis, tr.MissRatio, tr.DynamoReads, tr.ReadUnits, tr.ClientCPU100k)
					}
					if tc.batch == 1 && tr.RedisCmdsPerOp < 1 {
						t.Errorf("redis-fast: %.2f Redis commands per lookup, want at least the GET", tr.RedisCmdsPerOp)
					}
				case "dynamodb":
					if tc.batch > 1 && tr.DynamoReads != tr.Ops {
						t.Errorf("dynamodb: %d reads for %d operations, want one BatchGetItem each", tr.DynamoReads, tr.Ops)
					}
				case "ddbcache", "perl":
					if tr.MissRatio > 0.5 || tr.HitDaemonMemory+tr.HitRedis+tr.HitClientLocal == 0 {
						t.Errorf("%s: hits memory %.3f, redis %.3f, miss %.3f: want the warmed keys hit", tr.Name, tr.HitDaemonMemory, tr.HitRedis, tr.MissRatio)
					}
				}
			}
		})
	}
}

// readReport parses the report that a bench run wrote with --json.
func readReport(t *testing.T, path string) bench.Report {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rep
}
