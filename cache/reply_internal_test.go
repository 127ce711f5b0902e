package cache

import (
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/redis/rueidis"
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

// TestReplyOf converts every RESP3 type, including those no allowlisted
// command answers today (booleans, verbatim strings, big numbers, blob
// errors), through a message that rueidis itself decodes.
func TestReplyOf(t *testing.T) {
	bulk := func(s string) Reply { return Reply{Kind: ReplyBulk, Str: s} }
	cases := []struct {
		name  string
		value []byte
		want  Reply
	}{
		{"status", str3('+', "OK"), Reply{Kind: ReplyStatus, Str: "OK"}},
		{"bulk", str3('$', "OK"), bulk("OK")},
		{"error keeps its code", str3('-', "ERR syntax error"), Reply{Kind: ReplyError, Str: "ERR syntax error"}},
		{"blob error", str3('!', "SYNTAX invalid"), Reply{Kind: ReplyError, Str: "SYNTAX invalid"}},
		{"integer", v3(':', -7), Reply{Kind: ReplyInt, Int: -7}},
		{"true", v3('#', 1), Reply{Kind: ReplyBool, Int: 1}},
		{"null", v3('_', 0), Reply{Kind: ReplyNull}},
		{"double as Redis wrote it", str3(',', "inf"), Reply{Kind: ReplyDouble, Str: "inf"}},
		{"verbatim loses its format", str3('=', "txt:hello"), Reply{Kind: ReplyVerbatim, Str: "hello"}},
		{"big number", str3('(', "34928903284092385093"), Reply{Kind: ReplyBigNumber, Str: "34928903284092385093"}},
		{"set", v3('~', 2, str3('$', "a"), str3('$', "b")), Reply{Kind: ReplySet, Elems: []Reply{bulk("a"), bulk("b")}}},
		{"map keeps its order", v3('%', 4, str3('$', "z"), v3(':', 1), str3('$', "a"), v3(':', 2)),
			Reply{Kind: ReplyMap, Elems: []Reply{bulk("z"), {Kind: ReplyInt, Int: 1}, bulk("a"), {Kind: ReplyInt, Int: 2}}}},
		{"nested", v3('*', 2, v3('_', 0), v3('*', 1, str3('$', "x"))),
			Reply{Kind: ReplyArray, Elems: []Reply{{Kind: ReplyNull}, {Kind: ReplyArray, Elems: []Reply{bulk("x")}}}}},
		{"empty array", v3('*', 0), Reply{Kind: ReplyArray, Elems: []Reply{}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var m rueidis.RedisMessage
			if err := m.CacheUnmarshalView(append(make([]byte, cacheMarshalHeader), tc.value...)); err != nil {
				t.Fatal(err)
			}
			if got := replyOf(&m); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestParseReplyRefusesMalformed: a buffer parseReply cannot read (a
// change of rueidis's format) gives no reply rather than half of one.
func TestParseReplyRefusesMalformed(t *testing.T) {
	for name, b := range map[string][]byte{
		"short":           {'$', 0, 0},
		"unknown type":    v3('?', 0),
		"string too long": v3('$', 10, []byte("abc")),
		"missing element": v3('*', 2, str3('$', "a")),
		"huge count":      v3('*', 1<<40),
	} {
		t.Run(name, func(t *testing.T) {
			if r, _, ok := parseReply(b); ok {
				t.Errorf("parsed %+v", r)
			}
		})
	}
}
