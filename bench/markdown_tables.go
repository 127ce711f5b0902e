package bench

import (
	"fmt"
	"strings"
)

// writeLookupTables writes throughput and latency, then cost, one row
// per cell and one column per target.
func writeLookupTables(b *strings.Builder, cells []NamedReport) {
	names := targetsOf(cells)
	head := append([]string{"workload", "clients"}, names...)
	sep := strings.Repeat("---|", len(head))
	b.WriteString("Lookups per second (median of the rounds) · p50 · p99 (ms, over all rounds)")
	for _, c := range cells {
		if n := c.Settings.batch(); n > 1 {
			fmt.Fprintf(b, "; in an MGET cell a lookup is one operation of %d keys (keys/s = %d × lookups/s), "+
				"and the cost below is per operation", n, n)
			break
		}
	}
	b.WriteString(":\n\n")
	mdRow(b, head...)
	b.WriteString("|" + sep + "\n")
	for _, c := range cells {
		out := []string{workload(c.Settings), fmt.Sprint(c.Settings.Procs)}
		for _, n := range names {
			t, ok := c.target(n)
			if !ok {
				out = append(out, "–")
				continue
			}
			s := fmt.Sprintf("%s · %s · %s", rate(t.medianRate()), ms(t.P50US), ms(t.P99US))
			if t.Errors > 0 {
				s += fmt.Sprintf(" (%d errors)", t.Errors)
			}
			out = append(out, s)
		}
		mdRow(b, out...)
	}
	b.WriteString("\nCost per lookup: CPU µs (client + daemon + redis-server, and the bench process's relay for the Perl " +
		"targets; the Go targets' client is the bench process, relay included; DynamoDB's not counted) · Redis " +
		"commands · DynamoDB reads; then peak RSS (MiB) of the daemon and of the largest Perl worker:\n\n")
	mdRow(b, append(head, "daemon RSS", "Perl worker RSS")...)
	b.WriteString("|" + sep + "---|---|\n")
	for _, c := range cells {
		out := []string{workload(c.Settings), fmt.Sprint(c.Settings.Procs)}
		var daemonRSS, perlRSS float64
		for _, n := range names {
			t, ok := c.target(n)
			if !ok {
				out = append(out, "–")
				continue
			}
			cpu := (t.ClientCPU100k + t.DaemonCPU100k + t.RedisCPU100k) * 10 // s per 100k → µs per lookup
			if perlClient(n) {
				cpu += t.BenchCPU100k * 10 // the relay; a Go target's client already is the bench
			}
			reads := 0.0
			if t.Ops > 0 {
				reads = float64(t.DynamoReads) / float64(t.Ops)
			}
			out = append(out, fmt.Sprintf("%.0f · %.2f · %.2f", cpu, t.RedisCmdsPerOp, reads))
			daemonRSS = max(daemonRSS, t.DaemonPeakMiB)
			if n == TargetPerl || n == TargetPerlNoLocal {
				perlRSS = max(perlRSS, t.ClientPeakMiB)
			}
		}
		mdRow(b, append(out, fmt.Sprintf("%.0f", daemonRSS), fmt.Sprintf("%.0f", perlRSS))...)
	}
	b.WriteString("\n")
}

// writeFrontTable writes the FastCGI comparison: the daemon's endpoint
// against the blog-pattern Perl app behind the same nginx.
func writeFrontTable(b *strings.Builder, cells []NamedReport) {
	b.WriteString("FastCGI through nginx (`ddbcache bench --front fcgi`): the daemon's endpoint against the " +
		"blog-pattern Perl app (`plackup -s FCGI`, Redis `GET` → on a miss `GetItem` → `SETEX`), both through the " +
		"relay to the same Redis. CPU is that of the backend's processes (the daemon; the app's manager and all its " +
		"workers, reaped children included) per request, from `/proc/PID/stat`; requests/s and backend CPU are " +
		"medians of the rounds (the whole run's CPU in parentheses):\n\n")
	mdRow(b, "workload", "connections", "backend", "requests/s", "p50", "p99", "backend CPU µs/request",
		"nginx CPU µs/request", "backend RSS MiB (processes)")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	var verdicts []string
	for _, c := range cells {
		for _, t := range c.Targets {
			name := "ddbcache daemon"
			if t.Name == TargetPerlApp {
				name = fmt.Sprintf("Perl app, %d workers", max(t.BackendProcs-1, 0))
			}
			mdRow(b, workload(c.Settings), fmt.Sprint(c.Settings.Concurrency), name, rate(t.medianRate()),
				ms(t.P50US), ms(t.P99US), fmt.Sprintf("%.0f (%.0f)", t.medianCPU(), t.BackendCPUUS), fmt.Sprintf("%.0f", t.NginxCPUUS),
				fmt.Sprintf("%.0f (%d)", t.BackendPeakMiB, t.BackendProcs))
		}
		d, ok1 := c.target(TargetDDBCache)
		p, ok2 := c.target(TargetPerlApp)
		if ok1 && ok2 && p.medianCPU() > 0 {
			ratio := d.medianCPU() / p.medianCPU()
			met := "met"
			if ratio > 0.25 || d.P99US >= p.P99US {
				met = "**not met**"
			}
			verdicts = append(verdicts, fmt.Sprintf("- %s: the daemon's CPU per request is %.2f× the Perl app's, "+
				"its p99 %s ms against %s ms (target ≤ 0.25× and lower: %s).", workload(c.Settings), ratio,
				ms(d.P99US), ms(p.P99US), met))
		}
	}
	b.WriteString("\n" + strings.Join(verdicts, "\n") + "\n\n")
}

// writePlots embeds the plot of the largest Zipf cell and of the first
// FastCGI cell, and links every other.
func writePlots(b *strings.Builder, cells []NamedReport) {
	var shown []string
	pick := func(f func(NamedReport) bool) {
		for i := len(cells) - 1; i >= 0; i-- {
			if f(cells[i]) {
				shown = append(shown, cells[i].Name)
				fmt.Fprintf(b, "![%s: %s](docs/bench/%s.svg)\n\n", cells[i].Name, workload(cells[i].Settings), cells[i].Name)
				return
			}
		}
	}
	pick(func(c NamedReport) bool { return c.Settings.Front == "" && c.Settings.Dist == string(Zipf) })
	pick(func(c NamedReport) bool { return c.Settings.Front != "" })
	var links []string
	for _, c := range cells {
		if !contains(shown, c.Name) {
			links = append(links, fmt.Sprintf("[%s](docs/bench/%s.svg)", c.Name, c.Name))
		}
	}
	if len(links) > 0 {
		b.WriteString("Latency curves of the other cells: " + strings.Join(links, " · ") + ".\n")
	}
}

// ReplaceSection returns doc with what lies between SectionBegin and
// SectionEnd replaced by section.
func ReplaceSection(doc, section string) (string, error) {
	i := strings.Index(doc, SectionBegin)
	j := strings.Index(doc, SectionEnd)
	if i < 0 || j < i {
		return "", fmt.Errorf("bench: the README lacks the markers %q … %q in that order", SectionBegin, SectionEnd)
	}
	return doc[:i+len(SectionBegin)] + "\n" + section + doc[j:], nil
}

// medianRate is the median throughput of the rounds, or the whole run's
// for a report written before the bench kept rounds.
func (t TargetReport) medianRate() float64 {
	if t.ThroughputMedian > 0 {
		return t.ThroughputMedian
	}
	return t.Throughput
}

// medianCPU is the backend's median CPU µs per request over the rounds,
// or the whole run's.
func (t TargetReport) medianCPU() float64 {
	if t.BackendCPUUSMedian > 0 {
		return t.BackendCPUUSMedian
	}
	return t.BackendCPUUS
}
