// Package conformance is the one table of cases that every front of the
// daemon answers the same way — the RESP socket, the HTTP API (and FastCGI,
// which carries the same handler) and the Perl client — on every Redis
// topology (standalone and cluster), like Plack::Test::Suite's one table
// for every PSGI server and rueidis's run(t, client, …) for single, sentinel
// and cluster. The table is a data file, cases.json, that the Go tests
// (RESP, HTTP, and HTTP over FastCGI) and the Perl tests (the client in
// t/15-conformance.t, nginx, Apache and Plack in t/10 to t/12, through
// t/lib/DDBCache/TestEnv/Conformance.pm) all read, so there is no copy to
// keep in step.
//
// Cases run in order on one fresh daemon per front and topology (state
// carries from case to case: "absent again" is a negative hit); a front runs
// the cases that have its part ("resp" or "http"). A "cluster" part
// overrides the RESP expectation on a cluster, where multi-key commands
// across slots get CROSSSLOT, as Redis Cluster answers.
package conformance

import (
	"crypto/sha256"
	_ "embed" // cases.json
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
)

//go:embed cases.json
var casesJSON []byte

// Table is cases.json.
type Table struct {
	// Seed are the users written into DynamoDB (table users) before the
	// first case.
	Seed  []map[string]string `json:"seed"`
	Cases []Case              `json:"cases"`
}

// Case is one request, with what each front must answer.
type Case struct {
	Name    string `json:"name"`
	RESP    *RESP  `json:"resp"`
	HTTP    *HTTP  `json:"http"`
	Cluster *RESP  `json:"cluster"` // overrides RESP's reply or error on a cluster
}

// RESP is a command and its reply: Reply (JSON null is a nil reply, a
// number an integer, a list an array) or an Error the reply contains, or
// any one of OneOf (a hash's order is Redis's).
type RESP struct {
	Args  []string `json:"args"`
	Reply any      `json:"reply"`
	Error string   `json:"error"`
	OneOf [][]any  `json:"one_of"`
}

// HTTP is a request and its response: Status, and the exact body Reply or
// a JSON error of Code, and X-Cache when XCache is set. A header value's
// ${etag} is the ETag of EtagOf.
type HTTP struct {
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Body    string            `json:"body"`
	Headers map[string]string `json:"headers"`
	Status  int               `json:"status"`
	Reply   string            `json:"reply"`
	Code    string            `json:"code"`
	XCache  string            `json:"xcache"`
	EtagOf  string            `json:"etag_of"`
}

// Load parses the table.
func Load() (*Table, error) {
	var t Table
	if err := json.Unmarshal(casesJSON, &t); err != nil {
		return nil, fmt.Errorf("conformance: cases.json: %w", err)
	}
	return &t, nil
}

// Path is where cases.json is, for the Perl suite's sake.
func Path() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "cases.json")
}

// Expand replaces the table's macros in s: ${big} is 70 KiB of "x" (over
// the tests' max_value_bytes of 64 KiB), ${keys1001} a JSON list of 1001
// keys (over the MGET bound of 1000).
func Expand(s string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	s = strings.ReplaceAll(s, "${big}", strings.Repeat("x", 70<<10))
	return strings.ReplaceAll(s, "${keys1001}", "["+strings.Repeat(`"k",`, 1000)+`"k"]`)
}

// ETag is the ETag the API must send for body, computed independently of
// the fcgi package: the first 16 bytes of its SHA-256, quoted.
func ETag(body string) string {
	sum := sha256.Sum256([]byte(body))
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// For returns c's RESP expectation on topology ("standalone", "cluster").
func (c Case) For(topology string) *RESP {
	if c.RESP == nil || topology != "cluster" || c.Cluster == nil {
		return c.RESP
	}
	r := *c.RESP
	r.Reply, r.Error, r.OneOf = c.Cluster.Reply, c.Cluster.Error, c.Cluster.OneOf
	return &r
}
