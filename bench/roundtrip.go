package bench

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/perf/benchfmt"
)

// RoundTripFile is the name, in a report directory, of the Go benchmark
// output that measures the round-trip target (roundTripCommand's).
const RoundTripFile = "roundtrip.bench"

// targetRoundTrip is the round-trip target: the daemon's rate of DDB GET
// round trips (local cache off) ≥ 0.85× a canned-reply server's.
const targetRoundTrip = 0.85

// roundTripCommand is the Go benchmark of the round-trip target; `make
// bench-report` runs it and keeps its output as RoundTripFile.
const roundTripCommand = "go test -run - -bench RoundTrip -benchtime 45000x -count 3 ./unixsock/"

// RoundTrip is what BenchmarkRoundTrip (unixsock) measured: x-canned, the
// daemon's round-trip rate as a fraction of a canned-reply server's, of
// each run.
type RoundTrip struct {
	XCanned []float64
}

// ReadRoundTrip parses Go benchmark output (the text `go test -bench`
// prints) for BenchmarkRoundTrip's x-canned metric.
func ReadRoundTrip(path string) (*RoundTrip, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer f.Close()
	var rt RoundTrip
	rd := benchfmt.NewReader(f, path)
	for rd.Scan() {
		res, ok := rd.Result().(*benchfmt.Result)
		if !ok || string(res.Name.Base()) != "RoundTrip" {
			continue
		}
		if x, ok := res.Value("x-canned"); ok {
			rt.XCanned = append(rt.XCanned, x)
		}
	}
	if err := rd.Err(); err != nil {
		return nil, fmt.Errorf("bench: %s: %w", path, err)
	}
	if len(rt.XCanned) == 0 {
		return nil, fmt.Errorf("bench: %s: no BenchmarkRoundTrip result with x-canned", path)
	}
	return &rt, nil
}

// ReadReportDir reads a report directory: every *.json cell, and the
// round-trip benchmark's output when the directory has one (nil when not).
func ReadReportDir(dir string) ([]NamedReport, *RoundTrip, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(paths) == 0 {
		return nil, nil, fmt.Errorf("bench: no %s/*.json: run make bench-report", dir)
	}
	cells, err := ReadReports(paths)
	if err != nil {
		return nil, nil, err
	}
	rt, err := ReadRoundTrip(filepath.Join(dir, RoundTripFile))
	if errors.Is(err, os.ErrNotExist) {
		return cells, nil, nil
	}
	return cells, rt, err
}

// roundTripVerdict: met when every run's x-canned reaches the target.
func roundTripVerdict(rt *RoundTrip) verdict {
	v := verdict{workload: "round trip to the daemon, local cache off",
		target: fmt.Sprintf("≥ %.2f× a canned-reply server on the same socket", targetRoundTrip)}
	if rt == nil {
		v.measured = "a Go benchmark, not in this report: `" + roundTripCommand + "`"
		return v
	}
	xs := make([]string, len(rt.XCanned))
	for i, x := range rt.XCanned {
		xs[i] = fmt.Sprintf("%.2f×", x)
	}
	v.measured = fmt.Sprintf("`%s`: x-canned %s in its %d runs (each the median of 15 interleaved rounds)",
		roundTripCommand, strings.Join(xs, ", "), len(xs))
	v.met = yes(slices.Min(rt.XCanned) >= targetRoundTrip)
	return v
}
