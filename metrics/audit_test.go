package metrics_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/audit"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	dto "github.com/prometheus/client_model/go"
)

// TestAuditAgrees: once the audit of a daemon that samples every hit has
// judged the workload's hits, every field of `DDB STATS`'s "audit" has
// the value /metrics exports. A field not in the table fails the test.
func TestAuditAgrees(t *testing.T) {
	r := startWith(t, audit.Options{Sample: 1, Grace: 200 * time.Millisecond, MaxPerSecond: 1000})
	r.workload(t)
	// Each sampled hit ends in one verdict, a grace period after the hit.
	// The scrape is compared with DDB STATS read just before and just
	// after it, once those two agree and hold the workload's verdicts: the
	// counters only grow, so the scrape saw the same values. (Two equal
	// STATS before the scrape were not enough: a late verdict could land
	// between them and the scrape.)
	stats := func() audit.Stats {
		raw, err := r.rdb.Do(context.Background(), "DDB", "STATS").Text()
		if err != nil {
			t.Fatal(err)
		}
		var all struct {
			Audit *audit.Stats `json:"audit"`
		}
		if err := json.Unmarshal([]byte(raw), &all); err != nil || all.Audit == nil {
			t.Fatalf("DDB STATS has no audit: %v\n%s", err, raw)
		}
		return *all.Audit
	}
	var st audit.Stats
	var fams map[string]*dto.MetricFamily
	enginetest.WaitFor(t, "the audit's verdicts, unchanged across a scrape", func() bool {
		before := stats()
		fams = r.scrape(t)
		st = stats()
		p := st.Namespaces["profile"]
		return p.Consistent+p.Inconsistent+p.Raced+p.Errors >= 2 && reflect.DeepEqual(before, st)
	})
	for ns, s := range st.Namespaces {
		for _, c := range []struct {
			v      int64
			metric string
			labels []string
		}{
			{s.Consistent, "ddbcache_audit_total", []string{"result", "consistent"}},
			{s.Inconsistent, "ddbcache_audit_total", []string{"result", "inconsistent"}},
			{s.Raced, "ddbcache_audit_total", []string{"result", "raced"}},
			{s.Errors, "ddbcache_audit_total", []string{"result", "error"}},
			{s.DynamoReads, "ddbcache_audit_dynamodb_reads_total", nil},
		} {
			agree(t, fams, ns+"."+c.metric, float64(c.v), c.metric, append([]string{"namespace", ns}, c.labels...)...)
		}
	}
	agree(t, fams, "skipped_rate", float64(st.SkippedRate), "ddbcache_audit_skipped_total", "reason", "rate")
	agree(t, fams, "skipped_queue", float64(st.SkippedQueue), "ddbcache_audit_skipped_total", "reason", "queue")
	agree(t, fams, "oldest_inconsistency_seconds", st.OldestInconsistencySeconds, "ddbcache_audit_oldest_inconsistency_seconds")
	agree(t, fams, "sample", st.Sample, "ddbcache_audit_sample_ratio")
	agree(t, fams, "read_capacity_units", st.ReadUnits["users"], "ddbcache_audit_dynamodb_read_units_total", "table", "users")
	p := st.Namespaces["profile"]
	if p.Consistent < 2 || p.DynamoReads < 2 || st.ReadUnits["users"] < 2 {
		t.Errorf("the workload's hits were not audited: %+v", st)
	}
	// Lookups' DynamoDB counters do not include the audit's reads.
	lookups, _ := sample(fams, "ddbcache_dynamodb_requests_total", "namespace", "profile", "operation", "read")
	if lookups > 5 {
		t.Errorf("ddbcache_dynamodb_requests_total{profile,read} = %v: the audit's %d reads leaked into it", lookups, p.DynamoReads)
	}
}
