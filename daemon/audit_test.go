package daemon_test

import (
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/audit"
	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/daemon"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
)

// TestReloadAudit: a reload turns the consistency audit on, off and on
// again: hits are audited exactly while audit.sample is above 0; a bad
// sample is refused and changes nothing.
func TestReloadAudit(t *testing.T) {
	f := enginetest.New(t)
	f.Seed(t, "1", "Ann")
	base := options(f, testenv.ShortDir(t), &testenv.LogBuffer{})
	d := start(t, base)
	on := base
	on.Audit = audit.Options{Sample: 1, MaxPerSecond: 1000, Grace: 100 * time.Millisecond}
	bad := on
	bad.Audit.Sample = 2
	ctx := testenv.Context(t)
	audited := func() int64 { return d.Audit().Stats().Namespaces["profile"].DynamoReads }
	for _, tc := range []struct {
		name    string
		opts    daemon.Options
		refused bool
		audits  bool
	}{
		{"off at start", base, false, false},
		{"on", on, false, true},
		{"sample 2 refused", bad, true, true},
		{"off again", base, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := d.Reload(tc.opts); (err != nil) != tc.refused {
				t.Fatalf("reload: %v, want refused %v", err, tc.refused)
			}
			before := audited()
			for range 3 {
				if _, err := d.Engine().Get(ctx, "profile", cache.Key{Partition: "1"}); err != nil {
					t.Fatal(err)
				}
			}
			if !tc.audits {
				// Hit counts a sampled hit before it returns (queued or
				// skipped); nothing was, so nothing can be read later.
				if st := d.Audit().Stats(); st.Sample != 0 || audited() != before {
					t.Errorf("audit off, but sample %v and %d reads", st.Sample, audited()-before)
				}
				return
			}
			enginetest.WaitFor(t, "the hits' audits", func() bool { return audited() >= before+2 })
		})
	}
}
