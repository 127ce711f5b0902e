package unixsock

import (
	"encoding/binary"
	"strings"
	"sync"

	"github.com/redis/rueidis"
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
// rueidis's RedisMessage hides the RESP3 type byte (simple string or bulk,
// map order) behind accessors, but its CacheMarshal form keeps both: each
// value is its type byte, an 8-byte big-endian length (or integer), and
// its bytes or elements. writeReply walks that form.

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

// RESP3 type bytes, as rueidis keeps them.
const (
	typeBlobString     = '$'
	typeSimpleString   = '+'
	typeSimpleErr      = '-'
	typeBlobErr        = '!'
	typeInteger        = ':'
	typeNull           = '_'
	typeFloat          = ','
	typeBool           = '#'
	typeVerbatimString = '='
	typeBigNumber      = '('
	typeArray          = '*'
	typeMap            = '%'
	typeSet            = '~'
)

// cacheMarshalHeader is the TTL that CacheMarshal writes before the value.
const cacheMarshalHeader = 7

// maxPooledReply bounds the buffers kept for reuse, so that one huge reply
// does not pin its memory.
const maxPooledReply = 64 << 10

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

var replyBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// writeReply relays m to a RESP2 client as Redis would have sent it.
func writeReply(conn respWriter, m *rueidis.RedisMessage, shape replyShape) {
	bp := replyBuffers.Get().(*[]byte)
	buf := m.CacheMarshal((*bp)[:0])
	if len(buf) < cacheMarshalHeader {
		conn.WriteError("ERR ddbcache cannot relay this reply")
	} else if _, ok := relay(conn, buf[cacheMarshalHeader:], shape); !ok {
		// Nothing was written for a value relay could not read: the
		// reply is either whole or this error.
		conn.WriteError("ERR ddbcache cannot relay this reply")
	}
	if cap(buf) <= maxPooledReply {
		*bp = buf[:0]
		replyBuffers.Put(bp)
	}
}

// relay writes the value at the start of b and returns what follows it.
// Values are checked before anything is written, so a malformed buffer
// (a rueidis format change) writes nothing and reports false.
func relay(conn respWriter, b []byte, shape replyShape) ([]byte, bool) {
	if _, ok := skip(b); !ok {
		return nil, false
	}
	return write(conn, b, shape), true
}

// header splits a value into its type, length and the bytes after the header.
func header(b []byte) (typ byte, n int64, rest []byte, ok bool) {
	if len(b) < 9 {
		return 0, 0, nil, false
	}
	return b[0], int64(binary.BigEndian.Uint64(b[1:9])), b[9:], true
}

// skip returns what follows the value at the start of b, checking its form.
func skip(b []byte) ([]byte, bool) {
	typ, n, rest, ok := header(b)
	if !ok {
		return nil, false
	}
	switch typ {
	case typeInteger, typeNull, typeBool:
		return rest, true
	case typeArray, typeMap, typeSet:
		for i := int64(0); i < n; i++ {
			if rest, ok = skip(rest); !ok {
				return nil, false
			}
		}
		return rest, true
	case typeBlobString, typeSimpleString, typeSimpleErr, typeBlobErr, typeFloat, typeVerbatimString, typeBigNumber:
		if n < 0 || n > int64(len(rest)) {
			return nil, false
		}
		return rest[n:], true
	}
	return nil, false
}

// write writes the (checked) value at the start of b and returns what
// follows it.
func write(conn respWriter, b []byte, shape replyShape) []byte {
	typ, n, rest, _ := header(b)
	switch typ {
	case typeInteger:
		conn.WriteInt64(n)
		return rest
	case typeBool:
		conn.WriteInt64(n)
		return rest
	case typeNull:
		if shape == shapeNullArray {
			conn.WriteRaw([]byte("*-1\r\n"))
		} else {
			conn.WriteNull()
		}
		return rest
	case typeArray, typeSet, typeMap:
		count := int(n) // of a map, keys and values: rueidis keeps them in one flat list
		if shape == shapePairs && isPairs(rest, count) {
			conn.WriteArray(2 * count)
			for i := 0; i < count; i++ {
				_, _, rest, _ = header(rest) // the pair's own header
				rest = write(conn, rest, shapePlain)
				rest = write(conn, rest, shapePlain)
			}
			return rest
		}
		conn.WriteArray(count)
		for i := 0; i < count; i++ {
			rest = write(conn, rest, shapePlain)
		}
		return rest
	}
	s, rest := rest[:n], rest[n:]
	switch typ {
	case typeSimpleString:
		conn.WriteString(string(s))
	case typeSimpleErr, typeBlobErr:
		conn.WriteError(string(s))
	case typeVerbatimString:
		if len(s) >= 4 && s[3] == ':' {
			s = s[4:] // "txt:" or "mkd:": RESP2 has no format
		}
		conn.WriteBulk(s)
	default: // blob string, double (Redis's own text), big number
		conn.WriteBulk(s)
	}
	return rest
}

// isPairs reports whether the count values at the start of b are all
// arrays of two.
func isPairs(b []byte, count int) bool {
	for i := 0; i < count; i++ {
		typ, n, _, _ := header(b)
		if typ != typeArray || n != 2 {
			return false
		}
		b, _ = skip(b)
	}
	return true
}

// writeGet relays the reply of a GET, the hot path (often served from the
// client-side cache), without copying it: GET answers a bulk or a null,
// and anything else (WRONGTYPE) goes the general way.
func writeGet(conn respWriter, m *rueidis.RedisMessage) {
	switch {
	case m.IsNil():
		conn.WriteNull()
	case m.IsString():
		v, _ := m.ToString()
		conn.WriteBulkString(v)
	default:
		writeReply(conn, m, shapePlain)
	}
}
