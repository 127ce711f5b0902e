package unixsock

import (
	"fmt"
	"testing"
)

func TestKeyPositions(t *testing.T) {
	cases := []struct {
		cmd   string
		nargs int
		want  string
		arity bool
	}{
		{"get", 2, "[1]", true},
		{"set", 5, "[1]", true},
		{"mget", 4, "[1 2 3]", true},
		{"mset", 5, "[1 3]", true},
		{"mset", 4, "[1 3]", false},
		{"del", 3, "[1 2]", true},
		{"hset", 4, "[1]", true},
		{"hset", 3, "[1]", false},
		{"setex", 4, "[1]", true},
		{"setex", 5, "[1]", false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/%d", tc.cmd, tc.nargs), func(t *testing.T) {
			sp, ok := allowlist[tc.cmd]
			if !ok {
				t.Fatalf("%s not allowlisted", tc.cmd)
			}
			if got := fmt.Sprint(sp.keyPositions(tc.nargs)); got != tc.want {
				t.Errorf("key positions %s, want %s", got, tc.want)
			}
			if sp.arityOK(tc.nargs) != tc.arity {
				t.Errorf("arityOK(%d) = %v, want %v", tc.nargs, !tc.arity, tc.arity)
			}
		})
	}
	for _, refused := range []string{"flushall", "flushdb", "config", "keys", "scan", "eval", "multi", "subscribe", "blpop", "shutdown", "debug"} {
		if _, ok := allowlist[refused]; ok {
			t.Errorf("%s must not be allowlisted", refused)
		}
	}
}
