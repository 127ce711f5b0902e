package cache

import (
	"encoding/binary"

	"github.com/redis/rueidis"
)

// Reply is Redis's answer to a passthrough command (Forward), in the
// engine's own type so that the fronts relay it without knowing the Redis
// client library. It keeps what the RESP3 reply said that a RESP2 client
// can tell apart: a status from a bulk string, an error's code, a map's
// order, a double's own text.
type Reply struct {
	Kind ReplyKind
	// Str is the text of a status, bulk, error ("ERR …", code first),
	// double (Redis's text: "1.5", "inf"), verbatim string (without its
	// "txt:" format) or big number.
	Str string
	// Int is an integer, or a boolean as 1 or 0.
	Int int64
	// Elems are an array's or set's elements, or a map's keys and values
	// in one flat list, in the order Redis sent them.
	Elems []Reply
}

// ReplyKind is the RESP3 type of a Reply.
type ReplyKind uint8

// Kinds of Reply.
const (
	ReplyNull      ReplyKind = iota // RESP3 has one null; RESP2 $-1 or *-1
	ReplyStatus                     // a simple string: +OK
	ReplyBulk                       // a blob string
	ReplyError                      // a simple or blob error
	ReplyInt                        // an integer
	ReplyDouble                     // a double, as Redis wrote it
	ReplyBool                       // a boolean
	ReplyVerbatim                   // a verbatim string
	ReplyBigNumber                  // a big number
	ReplyArray                      // an array
	ReplyMap                        // a map
	ReplySet                        // a set
)

// errUnrelayable is the Reply for an answer replyOf cannot read.
var errUnrelayable = Reply{Kind: ReplyError, Str: "ERR ddbcache cannot relay this reply"}

// cacheMarshalHeader is the TTL that CacheMarshal writes before the value.
const cacheMarshalHeader = 7

// replyOf converts a rueidis message. RedisMessage hides the RESP3 type
// byte (simple string or bulk, map order) behind accessors, but its
// CacheMarshal form keeps both: each value is its type byte, an 8-byte
// big-endian length (or integer), and its bytes or elements. A form that
// cannot be read (a rueidis format change) gives errUnrelayable, never
// half a reply.
func replyOf(m *rueidis.RedisMessage) Reply {
	buf := m.CacheMarshal(nil)
	if len(buf) < cacheMarshalHeader {
		return errUnrelayable
	}
	r, rest, ok := parseReply(buf[cacheMarshalHeader:])
	if !ok || len(rest) != 0 {
		return errUnrelayable
	}
	return r
}

// kindOf maps RESP3 type bytes, as rueidis keeps them, to kinds.
var kindOf = map[byte]ReplyKind{
	'$': ReplyBulk, '+': ReplyStatus, '-': ReplyError, '!': ReplyError,
	':': ReplyInt, '_': ReplyNull, ',': ReplyDouble, '#': ReplyBool,
	'=': ReplyVerbatim, '(': ReplyBigNumber, '*': ReplyArray, '%': ReplyMap, '~': ReplySet,
}

// parseReply reads the value at the start of b and returns what follows.
func parseReply(b []byte) (Reply, []byte, bool) {
	if len(b) < 9 {
		return Reply{}, nil, false
	}
	kind, known := kindOf[b[0]]
	n, rest := int64(binary.BigEndian.Uint64(b[1:9])), b[9:]
	switch {
	case !known:
		return Reply{}, nil, false
	case kind == ReplyNull:
		return Reply{Kind: kind}, rest, true
	case kind == ReplyInt || kind == ReplyBool:
		return Reply{Kind: kind, Int: n}, rest, true
	case kind == ReplyArray || kind == ReplyMap || kind == ReplySet:
		if n < 0 || n > int64(len(rest)) { // each element takes at least 9 bytes
			return Reply{}, nil, false
		}
		r := Reply{Kind: kind, Elems: make([]Reply, n)}
		for i := range r.Elems {
			var ok bool
			if r.Elems[i], rest, ok = parseReply(rest); !ok {
				return Reply{}, nil, false
			}
		}
		return r, rest, true
	}
	if n < 0 || n > int64(len(rest)) {
		return Reply{}, nil, false
	}
	s := string(rest[:n])
	if kind == ReplyVerbatim && len(s) >= 4 && s[3] == ':' {
		s = s[4:] // "txt:" or "mkd:": RESP2 has no format
	}
	return Reply{Kind: kind, Str: s}, rest[n:], true
}
