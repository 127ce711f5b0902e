package valuefmt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// The MessagePack form of an item's JSON, and back.
//
// Objects become maps with their members in the JSON's order (DynamoDB's
// conversion sorts them, and the JSON clients receive must not change);
// strings, booleans, null and arrays map one to one. Numbers must stay
// exact, and DynamoDB's N holds up to 38 digits: an integer whose text is
// the canonical decimal of an int64 becomes a MessagePack integer (the
// compact case: ids, counters, timestamps); any other number (a
// fraction, an exponent, a 30-digit N, "-0") becomes the extension type
// extNumber holding its decimal text as written. Floats are never used,
// so no number passes through float64.

// extNumber is the MessagePack extension type of a number kept as its
// decimal text.
const extNumber int8 = 1

// maxDepth bounds the nesting the decoder follows, so that a hostile
// value cannot exhaust the stack. DynamoDB allows 32 levels.
const maxDepth = 256

// node is a parsed JSON value, its object members in order.
type node struct {
	kind byte   // '{', '[', '"', '0' (number), 't', 'f', 'n'
	text string // a string's value or a number's text
	keys []string
	kids []node
}

// toMsgpack parses doc and returns its MessagePack form, tagged.
func toMsgpack(doc []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	root, err := parseNode(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("valuefmt: data after the JSON value")
	}
	var buf bytes.Buffer
	buf.Grow(len(doc))
	buf.WriteByte(TagMsgpack)
	enc := msgpack.NewEncoder(&buf)
	if err := encodeNode(enc, &buf, root); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func parseNode(dec *json.Decoder, depth int) (node, error) {
	if depth > maxDepth {
		return node{}, errors.New("valuefmt: JSON nested too deep")
	}
	tok, err := dec.Token()
	if err != nil {
		return node{}, fmt.Errorf("valuefmt: %w", err)
	}
	switch t := tok.(type) {
	case json.Delim:
		n := node{kind: byte(t)}
		for dec.More() {
			if t == '{' {
				k, err := dec.Token()
				if err != nil {
					return node{}, fmt.Errorf("valuefmt: %w", err)
				}
				n.keys = append(n.keys, k.(string))
			}
			kid, err := parseNode(dec, depth+1)
			if err != nil {
				return node{}, err
			}
			n.kids = append(n.kids, kid)
		}
		_, err := dec.Token() // the closing delimiter
		return n, err
	case string:
		return node{kind: '"', text: t}, nil
	case json.Number:
		return node{kind: '0', text: string(t)}, nil
	case bool:
		if t {
			return node{kind: 't'}, nil
		}
		return node{kind: 'f'}, nil
	}
	return node{kind: 'n'}, nil
}

func encodeNode(enc *msgpack.Encoder, buf *bytes.Buffer, n node) error {
	switch n.kind {
	case '{':
		if err := enc.EncodeMapLen(len(n.kids)); err != nil {
			return err
		}
		for i, kid := range n.kids {
			if err := enc.EncodeString(n.keys[i]); err != nil {
				return err
			}
			if err := encodeNode(enc, buf, kid); err != nil {
				return err
			}
		}
		return nil
	case '[':
		if err := enc.EncodeArrayLen(len(n.kids)); err != nil {
			return err
		}
		for _, kid := range n.kids {
			if err := encodeNode(enc, buf, kid); err != nil {
				return err
			}
		}
		return nil
	case '"':
		return enc.EncodeString(n.text)
	case '0':
		if i, err := strconv.ParseInt(n.text, 10, 64); err == nil && strconv.FormatInt(i, 10) == n.text {
			return enc.EncodeInt(i)
		}
		if err := enc.EncodeExtHeader(extNumber, len(n.text)); err != nil {
			return err
		}
		buf.WriteString(n.text)
		return nil
	case 't', 'f':
		return enc.EncodeBool(n.kind == 't')
	}
	return enc.EncodeNil()
}

// fromMsgpack renders MessagePack written by toMsgpack (without its tag)
// as compact JSON, the way DynamoDB's conversion writes it (HTML
// characters not escaped).
func fromMsgpack(body []byte) ([]byte, error) {
	d := msgpack.NewDecoder(bytes.NewReader(body))
	out, err := appendValue(d, make([]byte, 0, 2*len(body)), 0)
	if err != nil {
		return nil, fmt.Errorf("%w: msgpack: %w", ErrCorrupt, err)
	}
	if _, err := d.PeekCode(); err != io.EOF {
		return nil, fmt.Errorf("%w: msgpack: data after the value", ErrCorrupt)
	}
	return out, nil
}

func appendValue(d *msgpack.Decoder, out []byte, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, errors.New("nested too deep")
	}
	c, err := d.PeekCode()
	if err != nil {
		return nil, err
	}
	switch {
	case c == msgpcode.Nil:
		return append(out, "null"...), d.DecodeNil()
	case c == msgpcode.True || c == msgpcode.False:
		b, err := d.DecodeBool()
		return strconv.AppendBool(out, b), err
	case msgpcode.IsFixedNum(c) || (c >= msgpcode.Uint8 && c <= msgpcode.Int64):
		i, err := d.DecodeInt64()
		return strconv.AppendInt(out, i, 10), err
	case msgpcode.IsString(c):
		s, err := d.DecodeString()
		return appendString(out, s), err
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		return appendMap(d, out, depth)
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err := d.DecodeArrayLen()
		if err != nil {
			return nil, err
		}
		out = append(out, '[')
		for i := range n {
			if i > 0 {
				out = append(out, ',')
			}
			if out, err = appendValue(d, out, depth+1); err != nil {
				return nil, err
			}
		}
		return append(out, ']'), nil
	case msgpcode.IsExt(c):
		return appendNumber(d, out)
	}
	return nil, fmt.Errorf("unexpected code %#x", c)
}

func appendMap(d *msgpack.Decoder, out []byte, depth int) ([]byte, error) {
	n, err := d.DecodeMapLen()
	if err != nil {
		return nil, err
	}
	out = append(out, '{')
	for i := range n {
		if i > 0 {
			out = append(out, ',')
		}
		k, err := d.DecodeString()
		if err != nil {
			return nil, err
		}
		out = append(appendString(out, k), ':')
		if out, err = appendValue(d, out, depth+1); err != nil {
			return nil, err
		}
	}
	return append(out, '}'), nil
}

// appendNumber appends an extNumber's text, after checking that it is a
// JSON number: a value from Redis must not inject other JSON.
func appendNumber(d *msgpack.Decoder, out []byte) ([]byte, error) {
	id, n, err := d.DecodeExtHeader()
	if err != nil {
		return nil, err
	}
	if id != extNumber || n == 0 || n > 1024 {
		return nil, fmt.Errorf("unexpected extension %d of %d bytes", id, n)
	}
	text := make([]byte, n)
	if err := d.ReadFull(text); err != nil {
		return nil, err
	}
	if c := text[0]; (c != '-' && (c < '0' || c > '9')) || !json.Valid(text) {
		return nil, fmt.Errorf("extension number %q is not a JSON number", text)
	}
	return append(out, text...), nil
}

// appendString appends s as a JSON string, escaped as encoding/json does
// with SetEscapeHTML(false). Most strings need no escaping and are copied.
func appendString(out []byte, s string) []byte {
	if plainString(s) {
		out = append(out, '"')
		out = append(out, s...)
		return append(out, '"')
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return append(out, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}

// plainString reports whether encoding/json writes s between quotes
// unchanged: no control characters, quotes or backslashes, valid UTF-8
// without U+2028 and U+2029 (which it escapes).
func plainString(s string) bool {
	ascii := true
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case b < 0x20 || b == '"' || b == '\\':
			return false
		case b == 0xE2 && i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xA8 || s[i+2] == 0xA9):
			return false
		case b >= 0x80:
			ascii = false
		}
	}
	return ascii || utf8.ValidString(s)
}

// Number is a number kept as its decimal text: the extension type
// extNumber. It is registered with the msgpack library, so a Go program
// that imports this package decodes stored values with msgpack.Unmarshal
// alone (into any, a number of this type comes out as *Number).
type Number string

// MarshalMsgpack returns the number's text, the extension's payload.
func (n *Number) MarshalMsgpack() ([]byte, error) { return []byte(*n), nil }

// UnmarshalMsgpack takes the extension's payload as the number's text.
func (n *Number) UnmarshalMsgpack(b []byte) error {
	*n = Number(b)
	return nil
}

func init() { msgpack.RegisterExt(extNumber, (*Number)(nil)) }
