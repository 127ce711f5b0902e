package bench

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ddbcache/ddbcache/internal/testenv"
)

// update rewrites the golden section: go test ./bench -run TestMarkdownDeterministic -update
var update = flag.Bool("update", false, "rewrite testdata/report/section.md")

// fixtureCells reads the fixed reports under testdata/report.
func fixtureCells(t *testing.T) []NamedReport {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "report", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures under testdata/report: %v", err)
	}
	cells, err := ReadReports(paths)
	if err != nil {
		t.Fatal(err)
	}
	return cells
}

// TestMarkdownDeterministic: the section depends on the reports only,
// not on the order of the files, and shows each table's rows.
func TestMarkdownDeterministic(t *testing.T) {
	cells := fixtureCells(t)
	got := Markdown(cells, nil)
	reversed := slices.Clone(cells)
	slices.Reverse(reversed)
	if again := Markdown(reversed, nil); again != got {
		t.Errorf("the section depends on the files' order:\n%s\n---\n%s", got, again)
	}
	for _, want := range []string{
		"| hot: 100 keys, 300 B | 1 |",
		"| Zipf(0.99) over 100 000 keys, 300 B | 8 |",
		"| hot: 100 keys, 300 B | 8 | ddbcache daemon |",
		"Perl app, 4 workers",
		"the daemon's CPU per request is",
		"](docs/bench/zipf-8.svg)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("section lacks %q:\n%s", want, got)
		}
	}
	golden := filepath.Join("testdata", "report", "section.md")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("section differs from %s (if the change is meant: go test ./bench -run TestMarkdownDeterministic -update):\n%s", golden, got)
	}
}

// TestReplaceSection replaces what lies between the markers, so that a
// second run changes nothing, and refuses a document without them.
func TestReplaceSection(t *testing.T) {
	doc := "intro\n" + SectionBegin + "\nold\n" + SectionEnd + "\nrest\n"
	for _, tc := range []struct {
		name, doc, want string
		fails           bool
	}{
		{"replaced", doc, "intro\n" + SectionBegin + "\nnew\n" + SectionEnd + "\nrest\n", false},
		{"empty section", "a\n" + SectionBegin + SectionEnd + "\n", "a\n" + SectionBegin + "\nnew\n" + SectionEnd + "\n", false},
		{"no markers", "intro\n", "", true},
		{"reversed", SectionEnd + "\n" + SectionBegin + "\n", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReplaceSection(tc.doc, "new\n")
			if tc.fails {
				if err == nil {
					t.Fatalf("ReplaceSection = %q, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ReplaceSection = %q, %v; want %q", got, err, tc.want)
			}
			if twice, _ := ReplaceSection(got, "new\n"); twice != got {
				t.Errorf("a second replacement changed the document: %q", twice)
			}
		})
	}
}

// TestReadmeBenchSection: the README's performance section is what
// gen-readme makes of the committed docs/bench/*.json (run `make
// bench-report`, or gen-readme alone after editing the generator).
func TestReadmeBenchSection(t *testing.T) {
	root := testenv.RepoRoot()
	doc, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	cells, rt, err := ReadReportDir(filepath.Join(root, "docs", "bench"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := ReplaceSection(string(doc), Markdown(cells, rt))
	if err != nil {
		t.Fatal(err)
	}
	if want != string(doc) {
		t.Errorf("README.md's performance section is not what docs/bench/*.json gives: " +
			"run go run ./bench/cmd/gen-readme README.md docs/bench")
	}
}
