package unixsock

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/redis/rueidis"
	"github.com/tidwall/redcon"
)

// v3 builds a value in rueidis's CacheMarshal form: type byte, 8-byte
// length (or integer), then the bytes or the elements.
func v3(typ byte, n int64, body ...[]byte) []byte {
	b := make([]byte, 9)
	b[0] = typ
	binary.BigEndian.PutUint64(b[1:], uint64(n))
	for _, x := range body {
		b = append(b, x...)
	}
	return b
}

func str3(typ byte, s string) []byte { return v3(typ, int64(len(s)), []byte(s)) }

// TestWriteReplyTypes converts every RESP3 type, including those no
// allowlisted command answers today (booleans, verbatim strings, big
// numbers, blob errors), through a message that rueidis itself decodes.
func TestWriteReplyTypes(t *testing.T) {
	cases := []struct {
		name  string
		value []byte
		shape replyShape
		want  string
	}{
		{"status", str3('+', "OK"), shapePlain, "+OK\r\n"},
		{"bulk OK", str3('$', "OK"), shapePlain, "$2\r\nOK\r\n"},
		{"error keeps its code", str3('-', "ERR syntax error"), shapePlain, "-ERR syntax error\r\n"},
		{"blob error", str3('!', "SYNTAX invalid"), shapePlain, "-SYNTAX invalid\r\n"},
		{"integer", v3(':', -7), shapePlain, ":-7\r\n"},
		{"true", v3('#', 1), shapePlain, ":1\r\n"},
		{"false", v3('#', 0), shapePlain, ":0\r\n"},
		{"null", v3('_', 0), shapePlain, "$-1\r\n"},
		{"null array", v3('_', 0), shapeNullArray, "*-1\r\n"},
		{"double as Redis wrote it", str3(',', "1.5"), shapePlain, "$3\r\n1.5\r\n"},
		{"inf", str3(',', "inf"), shapePlain, "$3\r\ninf\r\n"},
		{"-inf", str3(',', "-inf"), shapePlain, "$4\r\n-inf\r\n"},
		{"verbatim loses its format", str3('=', "txt:hello"), shapePlain, "$5\r\nhello\r\n"},
		{"big number", str3('(', "3492890328409238509324850943850943825024385"), shapePlain,
			"$43\r\n3492890328409238509324850943850943825024385\r\n"},
		{"set", v3('~', 2, str3('$', "a"), str3('$', "b")), shapePlain, "*2\r\n$1\r\na\r\n$1\r\nb\r\n"},
		{"map keeps its order", v3('%', 4, str3('$', "z"), v3(':', 1), str3('$', "a"), v3(':', 2)), shapePlain,
			"*4\r\n$1\r\nz\r\n:1\r\n$1\r\na\r\n:2\r\n"},
		{"nested null is a bulk null", v3('*', 2, v3('_', 0), str3('$', "x")), shapeNullArray, "*2\r\n$-1\r\n$1\r\nx\r\n"},
		{"pairs flattened", v3('*', 2, v3('*', 2, str3('$', "a"), str3(',', "1")), v3('*', 2, str3('$', "b"), str3(',', "inf"))), shapePairs,
			"*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\ninf\r\n"},
		{"pairs shape on a flat array", v3('*', 2, str3('$', "a"), str3('$', "b")), shapePairs, "*2\r\n$1\r\na\r\n$1\r\nb\r\n"},
		{"empty array", v3('*', 0), shapePairs, "*0\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var m rueidis.RedisMessage
			if err := m.CacheUnmarshalView(append(make([]byte, cacheMarshalHeader), tc.value...)); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			w := redcon.NewWriter(&out)
			writeReply(w, &m, tc.shape)
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Errorf("got %q, want %q", out.String(), tc.want)
			}
		})
	}
}

// TestRelayRefusesMalformed: a buffer relay cannot read (a change of
// rueidis's format) writes nothing rather than half a reply.
func TestRelayRefusesMalformed(t *testing.T) {
	for name, b := range map[string][]byte{
		"short":           {'$', 0, 0},
		"unknown type":    v3('?', 0),
		"string too long": v3('$', 10, []byte("abc")),
		"missing element": v3('*', 2, str3('$', "a")),
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			w := redcon.NewWriter(&out)
			if _, ok := relay(w, b, shapePlain); ok {
				t.Error("relay accepted it")
			}
			_ = w.Flush()
			if out.Len() != 0 {
				t.Errorf("wrote %q", out.String())
			}
		})
	}
}
