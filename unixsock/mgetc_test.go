package unixsock_test

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/ddbcache/ddbcache/internal/enginetest"
)

// mgetc sends `DDB MGETC args…` on c and returns the reply: the error
// line, or the flat array's elements (bulks as themselves, nil as "nil",
// integers as ":N").
func mgetc(t *testing.T, r *bufio.Reader, c net.Conn, args ...string) (elems []string, errLine string) {
	t.Helper()
	req := fmt.Sprintf("*%d\r\n$3\r\nDDB\r\n$5\r\nMGETC\r\n", 2+len(args))
	for _, a := range args {
		req += fmt.Sprintf("$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	h := readLine(t, r)
	if strings.HasPrefix(h, "-") {
		return nil, h
	}
	n, err := strconv.Atoi(strings.TrimPrefix(h, "*"))
	if err != nil || h[0] != '*' {
		t.Fatalf("DDB MGETC %v: header %q", args, h)
	}
	for range n {
		switch e := readLine(t, r); {
		case e == "$-1":
			elems = append(elems, "nil")
		case strings.HasPrefix(e, "$"):
			elems = append(elems, readLine(t, r))
		case strings.HasPrefix(e, ":"):
			elems = append(elems, e)
		default:
			t.Fatalf("DDB MGETC %v: element %q", args, e)
		}
	}
	return elems, ""
}

// TestMGetC: one flat array of (value, Redis key, max-age) per key in
// request order, tracked values with a max-age > 0, absent ones 0; and
// the arity and namespace errors of DDB MGET under its own name.
func TestMGetC(t *testing.T) {
	_, _, path := setup(t)
	c := dialRaw(t, path)
	r := bufio.NewReader(c)
	getcTracked(t, r, c, "1")
	getcTracked(t, r, c, "2")
	ann, bob := enginetest.UserJSON("1", "Ann"), enginetest.UserJSON("2", "Bob")
	tracked := func(e string) bool {
		n, err := strconv.ParseInt(strings.TrimPrefix(e, ":"), 10, 64)
		return err == nil && n > 0
	}
	cases := []struct {
		name string
		args []string
		want []string // "+" for a max-age > 0
		err  string
	}{
		{"in request order", []string{"profile", "2", "404", "1"},
			[]string{bob, "user_profile:2", "+", "nil", "user_profile:404", ":0", ann, "user_profile:1", "+"}, ""},
		{"one key", []string{"profile", "1"}, []string{ann, "user_profile:1", "+"}, ""},
		{"repeated key", []string{"profile", "404", "404"},
			[]string{"nil", "user_profile:404", ":0", "nil", "user_profile:404", ":0"}, ""},
		{"no key", []string{"profile"}, nil, "-ERR DDB MGETC takes a namespace and at least one key"},
		{"no argument", nil, nil, "-ERR DDB MGETC takes a namespace and at least one key"},
		{"unknown namespace", []string{"nope", "1"}, nil, "-ERR unknown namespace 'nope'"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, errLine := mgetc(t, r, c, tc.args...)
			if errLine != tc.err {
				t.Fatalf("error %q, want %q", errLine, tc.err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("reply %q, want %q", got, tc.want)
			}
			for i, w := range tc.want {
				if w == "+" && !tracked(got[i]) || w != "+" && got[i] != w {
					t.Errorf("element %d: %q, want %q (reply %q)", i, got[i], w, got)
				}
			}
		})
	}
}
