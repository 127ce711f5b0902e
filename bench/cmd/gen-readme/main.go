// Command gen-readme rewrites the performance section of README.md (between
// bench.SectionBegin and bench.SectionEnd) from the `ddbcache bench --json`
// files of a report run and its round-trip benchmark output
// (bench.RoundTripFile). `make bench-report` runs it after the bench:
//
//	go run ./bench/cmd/gen-readme README.md docs/bench
//
// bench's TestReadmeBenchSection fails until the section matches the files.
package main

import (
	"fmt"
	"os"

	"github.com/ddbcache/ddbcache/bench"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: gen-readme README.md REPORT-DIR")
		os.Exit(2)
	}
	if err := rewrite(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintf(os.Stderr, "gen-readme: %v\n", err)
		os.Exit(1)
	}
}

func rewrite(readme, dir string) error {
	cells, rt, err := bench.ReadReportDir(dir)
	if err != nil {
		return err
	}
	doc, err := os.ReadFile(readme)
	if err != nil {
		return err
	}
	out, err := bench.ReplaceSection(string(doc), bench.Markdown(cells, rt))
	if err != nil {
		return err
	}
	return os.WriteFile(readme, []byte(out), 0o644)
}
