package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchFrontFCGI runs `ddbcache bench --front fcgi` through a real
// nginx to the spawned daemon and to the blog-pattern Perl app under
// plackup -s FCGI, both behind the relay, and checks that every request
// succeeded and that each backend's processes and CPU were measured.
// It needs nginx and plackup with the app's modules (make deps); the
// bench's error says how to install what is missing.
func TestBenchFrontFCGI(t *testing.T) {
	cfg, dir := benchConfig(t)
	jsonOut := filepath.Join(dir, "out.json")
	const requests, workers = 1000, 2
	stdout, stderr, code := run(t, nil, "--config", cfg, "bench", "--front", "fcgi", "--seed-data",
		"--keys", "50", "--requests", fmt.Sprint(requests), "--rounds", "2", "--warmup", "0",
		"--concurrency", "4", "--procs", fmt.Sprint(workers), "--redis-rtt", "250us", "--json", jsonOut)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr, stdout)
	}
	for _, want := range []string{"perl-app", "backend cpu µs/request", "nginx cpu µs/request", "backend peak rss MiB"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	rep := readReport(t, jsonOut)
	if rep.Settings.Front != "fcgi" || len(rep.Targets) != 2 {
		t.Fatalf("front %q, %d targets: want fcgi and ddbcache, perl-app", rep.Settings.Front, len(rep.Targets))
	}
	// The daemon is one process; the app a manager and its workers.
	wantProcs := map[string]int{"ddbcache": 1, "perl-app": 1 + workers}
	for _, tr := range rep.Targets {
		if tr.Ops != requests || tr.Errors != 0 {
			t.Errorf("%s: %d ops, %d errors (%s): want %d, none", tr.Name, tr.Ops, tr.Errors, tr.FirstError, requests)
		}
		if tr.BackendCPUUS <= 0 || tr.BackendPeakMiB <= 0 || tr.BackendProcs != wantProcs[tr.Name] {
			t.Errorf("%s: backend CPU %.1f µs/request, RSS %.1f MiB, %d processes: want measured, %d processes",
				tr.Name, tr.BackendCPUUS, tr.BackendPeakMiB, tr.BackendProcs, wantProcs[tr.Name])
		}
		if sum := tr.HitClientLocal + tr.HitDaemonMemory + tr.HitRedis + tr.MissRatio; sum < 0.99 || sum > 1.01 {
			t.Errorf("%s: tier ratios sum to %.3f: want every lookup's source counted", tr.Name, sum)
		}
	}
}
