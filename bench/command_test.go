package bench

import (
	"strings"
	"testing"
	"time"
)

// TestValidateFrontColdBatch: the options --front fcgi, --dist cold and
// --batch
// refuse what they cannot measure, each with a one-line error naming
// the flag.
func TestValidateFrontColdBatch(t *testing.T) {
	base := func() Options {
		return Options{Keys: 1000, Dist: Uniform, ItemSize: 300, Concurrency: 1, Procs: 1,
			Duration: time.Second, Rounds: 1, Targets: []string{TargetDDBCache}}
	}
	for _, tc := range []struct {
		name   string
		change func(*Options)
		want   string // "" for valid
	}{
		{"fcgi targets", func(o *Options) { o.Front, o.Targets = FrontFCGI, FrontTargets }, ""},
		{"fcgi unknown front", func(o *Options) { o.Front = "cgi" }, `--front "cgi"`},
		{"fcgi direct target", func(o *Options) { o.Front, o.Targets = FrontFCGI, []string{TargetDirect} }, `unknown target "direct"`},
		{"perl-app without front", func(o *Options) { o.Targets = []string{TargetPerlApp} }, `unknown target "perl-app"`},
		{"fcgi writes", func(o *Options) { o.Front, o.WriteRatio = FrontFCGI, 0.1 }, "--write-ratio must be 0"},
		{"cold", func(o *Options) { o.Dist, o.Requests = Cold, 999 }, ""},
		{"cold by duration", func(o *Options) { o.Dist = Cold }, "--dist cold needs --requests"},
		{"cold too few keys", func(o *Options) {
			o.Dist, o.Requests, o.Targets = Cold, 500, []string{TargetDDBCache, TargetDirect}
		}, "--keys 1000 must exceed"},
		{"batch", func(o *Options) { o.Batch = 50 }, ""},
		{"batch of every key", func(o *Options) { o.Batch, o.Keys = 100, 100 }, ""},
		{"batch negative", func(o *Options) { o.Batch = -1 }, "--batch must be 1…100"},
		{"batch above BatchGetItem's limit", func(o *Options) { o.Batch = 101 }, "--batch must be 1…100"},
		{"batch above keys", func(o *Options) { o.Batch, o.Keys = 50, 10 }, "--batch 50 exceeds --keys 10"},
		{"batch writes", func(o *Options) { o.Batch, o.WriteRatio = 2, 0.1 }, "--write-ratio must be 0"},
		{"batch fcgi", func(o *Options) { o.Batch, o.Front, o.Targets = 2, FrontFCGI, FrontTargets }, "does not go with --front"},
		{"cold batch too few keys", func(o *Options) { o.Dist, o.Requests, o.Batch = Cold, 100, 10 }, "× --batch (1000)"},
		{"redis-fast", func(o *Options) { o.Targets = []string{TargetRedisFast} }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base()
			tc.change(&o)
			err := o.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n")):
				t.Fatalf("Validate: %v, want one line with %q", err, tc.want)
			}
		})
	}
}
