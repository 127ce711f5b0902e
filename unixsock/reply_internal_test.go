package unixsock

import (
	"bytes"
	"testing"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/tidwall/redcon"
)

func rep(kind cache.ReplyKind, s string) cache.Reply { return cache.Reply{Kind: kind, Str: s} }
func num(kind cache.ReplyKind, n int64) cache.Reply  { return cache.Reply{Kind: kind, Int: n} }
func agg(kind cache.ReplyKind, elems ...cache.Reply) cache.Reply {
	return cache.Reply{Kind: kind, Elems: elems}
}

// TestWriteReplyTypes writes every kind of reply, including those no
// allowlisted command answers today (booleans, verbatim strings, big
// numbers), as Redis would have sent it to a RESP2 client. (The engine's
// conversion from RESP3 is tested in cache.)
func TestWriteReplyTypes(t *testing.T) {
	bulk := func(s string) cache.Reply { return rep(cache.ReplyBulk, s) }
	cases := []struct {
		name  string
		reply cache.Reply
		shape replyShape
		want  string
	}{
		{"status", rep(cache.ReplyStatus, "OK"), shapePlain, "+OK\r\n"},
		{"bulk OK", bulk("OK"), shapePlain, "$2\r\nOK\r\n"},
		{"error keeps its code", rep(cache.ReplyError, "ERR syntax error"), shapePlain, "-ERR syntax error\r\n"},
		{"integer", num(cache.ReplyInt, -7), shapePlain, ":-7\r\n"},
		{"true", num(cache.ReplyBool, 1), shapePlain, ":1\r\n"},
		{"false", num(cache.ReplyBool, 0), shapePlain, ":0\r\n"},
		{"null", cache.Reply{}, shapePlain, "$-1\r\n"},
		{"null array", cache.Reply{}, shapeNullArray, "*-1\r\n"},
		{"double as Redis wrote it", rep(cache.ReplyDouble, "1.5"), shapePlain, "$3\r\n1.5\r\n"},
		{"-inf", rep(cache.ReplyDouble, "-inf"), shapePlain, "$4\r\n-inf\r\n"},
		{"verbatim", rep(cache.ReplyVerbatim, "hello"), shapePlain, "$5\r\nhello\r\n"},
		{"big number", rep(cache.ReplyBigNumber, "3492890328409238509324850943850943825024385"), shapePlain,
			"$43\r\n3492890328409238509324850943850943825024385\r\n"},
		{"set", agg(cache.ReplySet, bulk("a"), bulk("b")), shapePlain, "*2\r\n$1\r\na\r\n$1\r\nb\r\n"},
		{"map keeps its order", agg(cache.ReplyMap, bulk("z"), num(cache.ReplyInt, 1), bulk("a"), num(cache.ReplyInt, 2)), shapePlain,
			"*4\r\n$1\r\nz\r\n:1\r\n$1\r\na\r\n:2\r\n"},
		{"nested null is a bulk null", agg(cache.ReplyArray, cache.Reply{}, bulk("x")), shapeNullArray, "*2\r\n$-1\r\n$1\r\nx\r\n"},
		{"pairs flattened", agg(cache.ReplyArray,
			agg(cache.ReplyArray, bulk("a"), rep(cache.ReplyDouble, "1")),
			agg(cache.ReplyArray, bulk("b"), rep(cache.ReplyDouble, "inf"))), shapePairs,
			"*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\ninf\r\n"},
		{"pairs shape on a flat array", agg(cache.ReplyArray, bulk("a"), bulk("b")), shapePairs, "*2\r\n$1\r\na\r\n$1\r\nb\r\n"},
		{"empty array", agg(cache.ReplyArray), shapePairs, "*0\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			w := redcon.NewWriter(&out)
			writeReply(w, &tc.reply, tc.shape)
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Errorf("got %q, want %q", out.String(), tc.want)
			}
		})
	}
}
