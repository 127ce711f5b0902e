package main

// The README is the first thing a new user runs. These tests keep it true:
// every repo file it names exists, the binary its examples call is the one
// `make build` writes, and the blocks marked <!-- readme-test --> run,
// against a daemon configured as `make demo` configures it, and print what
// the README shows.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// repoRoot is the repository, seen from this package's directory.
const repoRoot = "../.."

// readmeMarker, on the line before a fence, marks the block as runnable.
// An HTML comment, so that the rendered README looks the same.
const readmeMarker = "<!-- readme-test -->"

// fence is one fenced block of the README.
type fence struct {
	info   string   // the info string: sh, console, perl…
	line   int      // 1-based line of the opening fence
	marked bool     // preceded by readmeMarker
	body   []string // the lines between the fences
}

// readReadme returns the README's lines.
func readReadme(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatalf("readme: %v", err)
	}
	return strings.Split(string(b), "\n")
}

// splitFences returns the fenced blocks and the lines outside them (the
// prose, with fenced lines blanked so that line numbers stay).
func splitFences(lines []string) ([]fence, []string) {
	var fences []fence
	prose := make([]string, len(lines))
	var cur *fence
	for i, l := range lines {
		switch {
		case cur == nil && strings.HasPrefix(l, "```"):
			cur = &fence{info: strings.TrimPrefix(l, "```"), line: i + 1,
				marked: i > 0 && strings.TrimSpace(lines[i-1]) == readmeMarker}
		case cur != nil && strings.TrimSpace(l) == "```":
			fences = append(fences, *cur)
			cur = nil
		case cur != nil:
			cur.body = append(cur.body, l)
		default:
			prose[i] = l
		}
	}
	return fences, prose
}

var (
	inlineCode = regexp.MustCompile("`([^`]+)`")
	mdLink     = regexp.MustCompile(`\]\(([^)\s]+)\)`)
)

// pathCandidates returns the words of s that look like repo-relative
// paths: they contain a slash and their first segment is a top-level
// entry of the repository (so `/v1/{ns}`, `.demo/…` and URLs are not).
func pathCandidates(s string, top map[string]bool) []string {
	var out []string
	for _, w := range strings.Fields(s) {
		w = strings.Trim(w, `"'(),;:.`)
		w = strings.TrimPrefix(strings.TrimPrefix(w, "-I"), "./")
		first, _, ok := strings.Cut(w, "/")
		if !ok || !top[first] || strings.ContainsAny(w, "{}$=") {
			continue
		}
		out = append(out, w)
	}
	return out
}

// pathExists reports whether a README path names something in the repo:
// `faults/*.t` is a glob, and `t/…` or `bench-0…` a prefix.
func pathExists(p string) bool {
	if i := strings.Index(p, "…"); i >= 0 {
		p = p[:i] + "*"
	}
	matches, err := filepath.Glob(filepath.Join(repoRoot, p))
	return err == nil && len(matches) > 0
}

// TestReadmeFilesExist checks every repo path the README names, in inline
// code, links and fenced blocks.
func TestReadmeFilesExist(t *testing.T) {
	entries, err := os.ReadDir(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	top := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			top[e.Name()] = true
		}
	}
	lines := readReadme(t)
	fences, prose := splitFences(lines)
	var checked int
	check := func(line int, text string) {
		for _, p := range pathCandidates(text, top) {
			checked++
			if !pathExists(p) {
				t.Errorf("README.md:%d names %s, which does not exist", line, p)
			}
		}
	}
	for i, l := range prose {
		for _, m := range inlineCode.FindAllStringSubmatch(l, -1) {
			check(i+1, m[1])
		}
		for _, m := range mdLink.FindAllStringSubmatch(l, -1) {
			check(i+1, m[1])
		}
	}
	for _, f := range fences {
		for j, l := range f.body {
			check(f.line+1+j, l)
		}
	}
	if checked < 20 {
		t.Errorf("only %d paths found in the README: the extraction is broken", checked)
	}
}

// makeBin returns the binary path the Makefile's build target writes.
func makeBin(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^BIN\s*:=\s*(\S+)$`).FindSubmatch(b)
	if m == nil || !regexp.MustCompile(`(?m)^build:\n\t.*-o \$\(BIN\)`).Match(b) {
		t.Fatal("Makefile: no `BIN := …` with a build target writing -o $(BIN)")
	}
	return string(m[1])
}

// shellCommands returns the commands of a console block (the `$ ` lines,
// with their continuation lines) and, for each, the output shown under it.
func shellCommands(f fence) (cmds, outputs []string) {
	for _, l := range f.body {
		switch {
		case strings.HasPrefix(l, "$ "):
			cmds, outputs = append(cmds, strings.TrimPrefix(l, "$ ")), append(outputs, "")
		case len(cmds) > 0 && strings.HasSuffix(cmds[len(cmds)-1], `\`):
			cmds[len(cmds)-1] += "\n" + l
		case len(cmds) > 0:
			outputs[len(outputs)-1] += l + "\n"
		}
	}
	return cmds, outputs
}

// TestReadmeBinaryPath checks that every example calling the daemon's
// binary calls it where `make build` puts it.
func TestReadmeBinaryPath(t *testing.T) {
	bin := makeBin(t)
	fences, _ := splitFences(readReadme(t))
	var seen int
	for _, f := range fences {
		if f.info != "console" && f.info != "sh" {
			continue
		}
		cmds, _ := shellCommands(f)
		if f.info == "sh" {
			cmds = f.body
		}
		for _, c := range cmds {
			words := strings.Fields(c)
			if len(words) == 0 || filepath.Base(words[0]) != "ddbcache" {
				continue
			}
			seen++
			if words[0] != bin {
				t.Errorf("README.md block at line %d runs %q; make build writes %s", f.line, words[0], bin)
			}
		}
	}
	if seen == 0 {
		t.Error("no README example runs the binary: nothing checked")
	}
}

// demoConfig is scripts/demo.sh's configuration, for the fixture's servers.
const demoConfig = `redis:    { addrs: [%q] }
dynamodb: { region: us-east-1, endpoint: %q }
listen:   { unix: %q, unix_mode: "0660" }
namespaces:
  profile:
    table: users
    partition_key: user_id
    redis_key: "user_profile:{user_id}"
    ttl: 1h
    ttl_jitter: 10%%
    negative_ttl: 30s
    stale_if_error: 5m
    format: json
`

// startDemo starts a daemon laid out as `make demo` leaves it, in a
// fresh directory: .demo/ddbcache.yaml, .demo/ddbcache.sock, bin/ddbcache
// and profiles 1–9 as scripts/demo.sh seeds them. It returns the directory.
func startDemo(t *testing.T) string {
	t.Helper()
	f := enginetest.New(t)
	dir := testenv.ShortDir(t)
	demo := filepath.Join(dir, ".demo")
	sock := filepath.Join(demo, "ddbcache.sock")
	cfg := filepath.Join(demo, "ddbcache.yaml")
	bin := filepath.Join(dir, makeBin(t))
	for _, d := range []string{demo, filepath.Dir(bin)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(binary, bin); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(demoConfig, f.Redis.Addr, f.Proxy.URL, sock)), 0o644); err != nil {
		t.Fatal(err)
	}
	startDaemonArgs(t, []string{"--config", cfg, "serve"}, sock)
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: sock, Protocol: 2, DisableIdentity: true})
	defer c.Close()
	for n := 1; n <= 9; n++ {
		item := fmt.Sprintf(`{"user_id":"%d","name":"User %d","email":"user%d@example.com","plan":"free"}`, n, n, n)
		if err := c.Do(context.Background(), "DDB", "PUT", "profile", item).Err(); err != nil {
			t.Fatalf("seed profile %d: %v", n, err)
		}
	}
	return dir
}

// consolePreamble makes redis-cli print as it does on a terminal (the
// README shows a terminal), though the test's stdout is a pipe.
const consolePreamble = "redis-cli() { command redis-cli --no-raw \"$@\"; }\n"

// TestReadmeExamples runs the README's marked blocks against the demo:
// each console command with bash -e (exit 0, and the output shown), and
// each Perl snippet with perl -Iperl/lib under strict and fatal warnings.
func TestReadmeExamples(t *testing.T) {
	fences, _ := splitFences(readReadme(t))
	dir := startDemo(t)
	lib, err := filepath.Abs(filepath.Join(repoRoot, "perl", "lib"))
	if err != nil {
		t.Fatal(err)
	}
	var ran int
	for _, f := range fences {
		if !f.marked {
			continue
		}
		switch f.info {
		case "console":
			cmds, outputs := shellCommands(f)
			for i, c := range cmds {
				ran++
				got := runIn(t, dir, nil, "bash", "-e", "-c", consolePreamble+c)
				if want := outputs[i]; want != "" && got != want {
					t.Errorf("README.md:%d: %s\n got: %s\nwant: %s", f.line, c, got, want)
				}
			}
		case "perl":
			ran++
			script := filepath.Join(dir, fmt.Sprintf("readme-%d.pl", f.line))
			if err := os.WriteFile(script, []byte(strings.Join(f.body, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			env := []string{"DDBCACHE_SOCKET=" + filepath.Join(dir, ".demo", "ddbcache.sock")}
			runIn(t, dir, env, "perl", "-I"+lib, "-Mstrict", "-Mwarnings=FATAL,all", script)
			checkPerlPut(t, dir)
		default:
			t.Errorf("README.md:%d: a marked block of kind %q: the test runs console and perl", f.line, f.info)
		}
	}
	if ran < 5 {
		t.Errorf("ran %d README examples; the README marks fewer than expected", ran)
	}
}

// runIn runs a command in dir and returns its stdout; a non-zero exit
// fails the test with stderr.
func runIn(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Errorf("%s %s: %v\nstdout: %s\nstderr: %s", name, strings.Join(args, " "), err, o.String(), e.String())
	}
	return o.String()
}

// checkPerlPut checks what the README's Perl snippet wrote: its literal
// 'Zoë' must reach DynamoDB as text, which takes the snippet's `use utf8`
// (without it the bytes are taken as Latin-1 and stored as "ZoÃ«").
func checkPerlPut(t *testing.T, dir string) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: filepath.Join(dir, ".demo", "ddbcache.sock"),
		Protocol: 2, DisableIdentity: true})
	defer c.Close()
	got, err := c.Do(context.Background(), "DDB", "GET", "profile", "42").Text()
	if want := `{"name":"Zoë","user_id":"42"}`; err != nil || got != want {
		t.Errorf("after the README's Perl snippet, DDB GET profile 42 = %q, %v; want %s", got, err, want)
	}
}
