package metrics_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/ddbcache/ddbcache/internal/testenv"
)

// deployFiles are the shipped monitoring files whose expressions name
// the daemon's metrics.
var deployFiles = []string{"deploy/prometheus/ddbcache-alerts.yaml", "deploy/grafana/ddbcache.json"}

// TestAlertRulesCheck runs `promtool check rules` on the shipped alerts.
func TestAlertRulesCheck(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: install it with `apt-get install prometheus` (or run `make deps`)")
	}
	out, err := exec.Command(promtool, "check", "rules", filepath.Join(testenv.RepoRoot(), deployFiles[0])).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

// metricName matches the daemon's metric names in an expression.
var metricName = regexp.MustCompile(`\bddbcache_[a-z_]+\b`)

// TestDeployMetricsExist: every metric the dashboard and the alert rules
// query is in a real scrape of a running daemon (a histogram's _bucket,
// _count and _sum series count as its family), so a renamed metric
// cannot leave a silent panel or an alert that never fires.
func TestDeployMetricsExist(t *testing.T) {
	r := start(t)
	r.workload(t)
	fams := r.scrape(t)
	for _, f := range deployFiles {
		body, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), f))
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]bool{}
		for _, n := range metricName.FindAllString(string(body), -1) {
			names[n] = true
		}
		if len(names) < 5 {
			t.Errorf("%s names only %d metrics", f, len(names))
		}
		var missing []string
		for n := range names {
			family := n
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				if base, ok := strings.CutSuffix(n, suffix); ok && fams[base] != nil {
					family = base
				}
			}
			if fams[family] == nil {
				missing = append(missing, n)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("%s queries metrics /metrics does not have: %v", f, missing)
		}
	}
}
