package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRoundTripVerdict: the round-trip row reads BenchmarkRoundTrip's
// x-canned from `go test -bench` output and is met only when every run
// reaches 0.85.
func TestRoundTripVerdict(t *testing.T) {
	const head = "goos: linux\ngoarch: amd64\npkg: github.com/ddbcache/ddbcache/unixsock\ncpu: test\n"
	line := func(x string) string {
		return "BenchmarkRoundTrip-2   \t   45000\t     20000 ns/op\t     17000 canned-ns\t     19000 daemon-ns\t" + x + " x-canned\n"
	}
	for _, tc := range []struct {
		name, output   string
		want, measured string
		parseErr       bool
	}{
		{name: "every run met", output: head + line("0.91") + line("0.94") + line("0.93") + "PASS\n", want: "met", measured: "0.91×, 0.94×, 0.93× in its 3 runs"},
		{name: "one run low", output: head + line("0.91") + line("0.84") + line("0.93"), want: "**not met**", measured: "0.84×"},
		{name: "other benchmarks only", output: head + "BenchmarkSocketHit-2 \t 1000\t 30000 ns/op\n", parseErr: true},
		{name: "no file", want: "not measured", measured: "-bench RoundTrip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rt *RoundTrip
			if tc.output != "" {
				path := filepath.Join(t.TempDir(), RoundTripFile)
				if err := os.WriteFile(path, []byte(tc.output), 0o644); err != nil {
					t.Fatal(err)
				}
				var err error
				rt, err = ReadRoundTrip(path)
				if (err != nil) != tc.parseErr {
					t.Fatalf("ReadRoundTrip: %v, want an error: %v", err, tc.parseErr)
				}
				if tc.parseErr {
					return
				}
			}
			v := roundTripVerdict(rt)
			if v.word() != tc.want || !strings.Contains(v.measured, tc.measured) {
				t.Errorf("%s (%q), want %s with %q", v.word(), v.measured, tc.want, tc.measured)
			}
			var found bool
			for _, w := range verdicts(nil, rt) {
				found = found || (w.workload == v.workload && w.word() == v.word())
			}
			if !found {
				t.Errorf("verdicts does not carry the round-trip row %q", v.word())
			}
		})
	}
}
