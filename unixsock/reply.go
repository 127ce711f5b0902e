package unixsock

import (
	"strings"

	"github.com/ddbcache/ddbcache/cache"
)

// The daemon talks RESP3 to Redis (rueidis needs it for client-side
// caching) and RESP2 to its clients, so every passthrough reply is turned
// back into what Redis itself would have sent a RESP2 client. Two kinds of
// difference exist:
//
//   - Encoding, the same for every command: a map becomes a flat array in
//     the order Redis sent it, a set an array, a double a bulk string of
//     Redis's own text ("1.5", "inf", "-inf"), a boolean :1/:0, a verbatim
//     string a bulk without its "txt:" prefix, a big number a bulk. A
//     status (+OK, +string) stays a status and a bulk a bulk, as Redis
//     chose per command; errors keep their code ("ERR", "WRONGTYPE").
//   - Shape, which Redis decides per command and argument (see replyShape):
//     RESP3 has one null where RESP2 has $-1 and *-1, and ZRANGE …
//     WITHSCORES answers [member, score] pairs in RESP3, a flat list in RESP2.
//
// The engine hands the reply over as a cache.Reply, which keeps the RESP3
// type (status or bulk, map order, a double's text); writeReply writes it.

// replyShape is how Redis shapes one command's RESP2 reply where RESP3
// and RESP2 differ by more than encoding.
type replyShape uint8

const (
	// shapePlain: encoding differences only.
	shapePlain replyShape = iota
	// shapeNullArray: a null reply is *-1 (LPOP/RPOP with a count).
	shapeNullArray
	// shapePairs: an array of [member, score] pairs is flattened
	// (ZRANGE … WITHSCORES).
	shapePairs
)

// shapeByCount is the shape of LPOP/RPOP: with a count they answer an
// array, and their null is the null array.
func shapeByCount(args [][]byte) replyShape {
	if len(args) > 2 {
		return shapeNullArray
	}
	return shapePlain
}

// shapeWithScores is the shape of ZRANGE: pairs when WITHSCORES is among
// its options (after key, start and stop).
func shapeWithScores(args [][]byte) replyShape {
	for _, a := range args[min(4, len(args)):] {
		if strings.EqualFold(string(a), "withscores") {
			return shapePairs
		}
	}
	return shapePlain
}

// respWriter is the part of redcon.Conn that relaying uses; redcon.Writer
// has it too, so the conversion can be tested on a buffer.
type respWriter interface {
	WriteString(string)
	WriteBulk([]byte)
	WriteBulkString(string)
	WriteInt64(int64)
	WriteError(string)
	WriteArray(int)
	WriteNull()
	WriteRaw([]byte)
}

// writeReply relays r to a RESP2 client as Redis would have sent it.
func writeReply(conn respWriter, r *cache.Reply, shape replyShape) {
	switch r.Kind {
	case cache.ReplyInt, cache.ReplyBool:
		conn.WriteInt64(r.Int)
	case cache.ReplyNull:
		if shape == shapeNullArray {
			conn.WriteRaw([]byte("*-1\r\n"))
		} else {
			conn.WriteNull()
		}
	case cache.ReplyArray, cache.ReplySet, cache.ReplyMap:
		if shape == shapePairs && isPairs(r.Elems) {
			conn.WriteArray(2 * len(r.Elems))
			for i := range r.Elems {
				writeReply(conn, &r.Elems[i].Elems[0], shapePlain)
				writeReply(conn, &r.Elems[i].Elems[1], shapePlain)
			}
			return
		}
		conn.WriteArray(len(r.Elems))
		for i := range r.Elems {
			writeReply(conn, &r.Elems[i], shapePlain)
		}
	case cache.ReplyStatus:
		conn.WriteString(r.Str)
	case cache.ReplyError:
		conn.WriteError(r.Str)
	default: // bulk, double (Redis's own text), verbatim, big number
		conn.WriteBulkString(r.Str)
	}
}

// isPairs reports whether elems are all arrays of two.
func isPairs(elems []cache.Reply) bool {
	for _, e := range elems {
		if e.Kind != cache.ReplyArray || len(e.Elems) != 2 {
			return false
		}
	}
	return true
}

// writeGet relays the reply of a GET, the hot path (often served from the
// client-side cache): a bulk or a null, and anything else (WRONGTYPE) the
// general way.
func writeGet(conn respWriter, r *cache.Reply) {
	switch r.Kind {
	case cache.ReplyNull:
		conn.WriteNull()
	case cache.ReplyBulk:
		conn.WriteBulkString(r.Str)
	default:
		writeReply(conn, r, shapePlain)
	}
}
