package bench

import (
	"slices"
	"testing"
)

// TestDaemonArgs: the spawned daemon keeps the user's global flags but
// gets the bench's Redis address and socket, whichever form the user's
// flags took.
func TestDaemonArgs(t *testing.T) {
	tail := []string{"--redis-addr", "127.0.0.1:9", "--unix", "/tmp/x/s", "--tcp=", "--fcgi=", "--http=", "serve"}
	for _, tc := range []struct {
		name   string
		global []string
		keep   []string
	}{
		{"none", nil, nil},
		{"config kept", []string{"--config", "c.yaml", "-c", "d.yaml"}, []string{"--config", "c.yaml", "-c", "d.yaml"}},
		{"redis dropped", []string{"--redis-addr", "10.0.0.1:6379", "--log-level", "warn"}, []string{"--log-level", "warn"}},
		{"equals form dropped", []string{"--redis-addr=a:1", "--unix=/run/s", "--http", "127.0.0.1:1"}, nil},
		{"single dash dropped", []string{"-fcgi", "/run/f", "--namespace", "p:table=t"}, []string{"--namespace", "p:table=t"}},
		{"bool kept", []string{"--disable-client-cache", "--tcp", "127.0.0.1:7"}, []string{"--disable-client-cache"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := daemonArgs(tc.global, "127.0.0.1:9", "/tmp/x/s", "")
			if want := append(slices.Clone(tc.keep), tail...); !slices.Equal(got, want) {
				t.Errorf("daemonArgs(%q) = %q, want %q", tc.global, got, want)
			}
		})
	}
}

// TestDaemonArgsFCGI: with --front fcgi the spawned daemon serves FastCGI
// on the bench's socket, whatever the user's flags said.
func TestDaemonArgsFCGI(t *testing.T) {
	got := daemonArgs([]string{"--fcgi", "/run/f"}, "127.0.0.1:9", "/tmp/x/s", "/tmp/x/f")
	want := []string{"--redis-addr", "127.0.0.1:9", "--unix", "/tmp/x/s", "--tcp=", "--fcgi=/tmp/x/f", "--http=", "serve"}
	if !slices.Equal(got, want) {
		t.Errorf("daemonArgs = %q, want %q", got, want)
	}
}
