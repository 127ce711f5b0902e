package unixsock

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// readAll reads every command of in, authenticated, with a 1 KiB argument
// limit, and returns them as strings joined by '|', then the error that
// ended the reading ("" for the end of input).
func readAll(in string, authed bool) (cmds []string, end string) {
	r := newReader(strings.NewReader(in), 1024, 1024+commandSlack)
	r.authed = authed
	for {
		cmd, err := r.readCommand()
		var refused *refusedError
		switch {
		case errors.As(err, &refused):
			cmds = append(cmds, "refused: "+refused.msg)
			continue
		case errors.Is(err, io.EOF):
			return cmds, ""
		case err != nil:
			return cmds, err.Error()
		}
		var parts []string
		for _, a := range cmd.Args {
			parts = append(parts, string(a))
		}
		cmds = append(cmds, strings.Join(parts, "|"))
	}
}

func TestReader(t *testing.T) {
	big := strings.Repeat("x", 2000)
	cases := []struct {
		name   string
		in     string
		unauth bool
		want   []string
		end    string
	}{
		{"multibulk", "*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n", false, []string{"ECHO|hi"}, ""},
		{"pipeline of both kinds", "*1\r\n$4\r\nPING\r\nPING x\r\n*1\r\n$4\r\nQUIT\r\n", false, []string{"PING", "PING|x", "QUIT"}, ""},
		{"binary argument", "*2\r\n$3\r\nSET\r\n$4\r\na\r\nb\r\n", false, []string{"SET|a\r\nb"}, ""},
		{"empty multibulks are skipped", "*0\r\n*-1\r\nPING\r\n", false, []string{"PING"}, ""},
		{"bulk length of 2^63-1", "*1\r\n$9223372036854775807\r\nGET\r\n", false, nil, "Protocol error: invalid bulk length"},
		{"bulk length over 512 MiB", "*1\r\n$536870913\r\n", false, nil, "Protocol error: invalid bulk length"},
		{"negative bulk length", "*1\r\n$-1\r\n", false, nil, "Protocol error: invalid bulk length"},
		{"bulk length with a plus", "*1\r\n$+4\r\nPING\r\n", false, nil, "Protocol error: invalid bulk length"},
		{"bulk without its CRLF", "*1\r\n$4\r\nPINGxx", false, nil, "Protocol error: invalid bulk length"},
		{"multibulk count of 2^63-1", "*9223372036854775807\r\n", false, nil, "Protocol error: invalid multibulk length"},
		{"multibulk count of 999999999", "*999999999\r\n", false, nil, "Protocol error: invalid multibulk length"},
		{"multibulk count overflowing int64", "*99999999999999999999\r\n", false, nil, "Protocol error: invalid multibulk length"},
		{"multibulk count without CR", "*1\n", false, nil, "Protocol error: invalid multibulk length"},
		{"not a bulk", "*1\r\n:4\r\n", false, nil, "Protocol error: expected '$', got ':'"},
		{"claimed million arguments, then the end", "*1048576\r\n$4\r\nPING\r\n", false, nil, "unexpected EOF"},
		{"argument over max_value_bytes is refused, the connection goes on",
			"*2\r\n$4\r\nPING\r\n$2000\r\n" + big + "\r\nPING\r\n", false,
			[]string{"refused: ERR value too large: argument of 2000 bytes exceeds max_value_bytes (1024)", "PING"}, ""},
		{"unauthenticated multibulk", "*11\r\n", true, nil, "Protocol error: unauthenticated multibulk length"},
		{"unauthenticated bulk", "*1\r\n$16385\r\n", true, nil, "Protocol error: unauthenticated bulk length"},
		{"inline too big", strings.Repeat("x", maxInline+1), false, nil, "Protocol error: too big inline request"},
		{"inline just fits", "ECHO" + strings.Repeat(" a", (maxInline-8)/2) + "\r\n", false, []string{"ECHO" + strings.Repeat("|a", (maxInline-8)/2)}, ""},
		{"inline argument over max_value_bytes", "ECHO " + big + "\r\nPING\r\n", false,
			[]string{"refused: ERR value too large: argument of 2000 bytes exceeds max_value_bytes (1024)", "PING"}, ""},
		{"inline unbalanced", "ECHO \"a\r\n", false, nil, "Protocol error: unbalanced quotes in request"},
		{"inline NUL ends the line", "ECHO a\x00b c\r\n", false, []string{"ECHO|a"}, ""},
		{"inline quotes and escapes", "SET \"a\\x41\\n\" 'b\\'c' d\"e f\"\r\n", false, []string{"SET|aA\n|b'c|de f"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, end := readAll(tc.in, !tc.unauth)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || end != tc.end {
				t.Errorf("got %.200q, end %q; want %.200q, end %q", got, end, tc.want, tc.end)
			}
		})
	}
}

// TestReaderBuffersOnlyWhatArrives announces a large bulk and sends a few
// bytes: the reader must not have allocated the announced size.
func TestReaderBuffersOnlyWhatArrives(t *testing.T) {
	r := newReader(strings.NewReader("*2\r\n$3\r\nSET\r\n$1000000\r\nabc"), 1<<20, 1<<20+commandSlack)
	r.authed = true
	if _, err := r.readCommand(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v", err)
	}
	if cap(r.scratch) > 2*bulkChunk {
		t.Errorf("scratch of %d bytes for 3 bytes sent", cap(r.scratch))
	}
}

// FuzzReader feeds the reader arbitrary bytes: it must never panic,
// never hand out a command larger than its budget, and every command
// must survive being written as a multibulk and read back.
func FuzzReader(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		const maxArg = 4096
		r := newReader(bytes.NewReader(in), maxArg, maxArg+commandSlack)
		r.authed = len(in) > 0 && in[0]&1 == 0 // both kinds of client
		for i := 0; i < 1000; i++ {
			cmd, err := r.readCommand()
			if err != nil {
				return
			}
			size := 0
			var again bytes.Buffer
			fmt.Fprintf(&again, "*%d\r\n", len(cmd.Args))
			for _, a := range cmd.Args {
				if len(a) > maxArg {
					t.Fatalf("argument of %d bytes over the limit of %d", len(a), maxArg)
				}
				size += len(a) + argOverhead
				fmt.Fprintf(&again, "$%d\r\n%s\r\n", len(a), a)
			}
			if size > maxArg+commandSlack || len(cmd.Args) == 0 {
				t.Fatalf("command of %d args, %d bytes", len(cmd.Args), size)
			}
			back := newReader(&again, maxArg, maxArg+commandSlack)
			back.authed = true
			got, err := back.readCommand()
			if err != nil && len(cmd.Args) <= unauthMultibulk || err == nil && fmt.Sprint(got.Args) != fmt.Sprint(cmd.Args) {
				t.Fatalf("round trip of %q: %q, %v", cmd.Args, got.Args, err)
			}
		}
	})
}

// fuzzSeeds are the frames of issue 10 and ordinary traffic: the seeds
// of FuzzReader (FuzzServer has its own copy in testdata/fuzz).
func fuzzSeeds() []string {
	return []string{
		"*1\r\n$9223372036854775807\r\nGET\r\n",
		"*9223372036854775807\r\n",
		"*999999999\r\n",
		"*1048576\r\n$4\r\nPING\r\n",
		"*2\r\n$4\r\nPING\r\n$104857600\r\nxxxxxxxx",
		"*2\r\n$4\r\nECHO\r\n$104857600\r\nxxxxxxxx",
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$67108864\r\nxxxxxxxx",
		strings.Repeat("x", 70000),
		"*1000003\r\n$3\r\nDDB\r\n$4\r\nMGET\r\n$7\r\nprofile\r\n$1\r\n1\r\n$1\r\n2\r\n",
		"*2\r\n$4\r\nPING\r\n$3\r\nab",
		"PING\r\nQUIT\r\nSET afterquit 1\r\n",
		"ECHO\t\"a\\x41\\n\" 'b\\'c' d\"e f\"\r\n",
		"ECHO \"unbalanced\r\n",
		"AUTH default wrong\r\nAUTH x y z w\r\n",
		"*4\r\n$3\r\nDDB\r\n$3\r\nGET\r\n$7\r\nprofile\r\n$1\r\n1\r\n",
		"*2\r\n$3\r\nDDB\r\n$5\r\nTRACK\r\nPING\r\n",
		"*0\r\n*-1\r\n\r\n",
		"*1\r\n$x\r\n",
	}
}
