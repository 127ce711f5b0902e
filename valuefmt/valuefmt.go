// Package valuefmt is the encoding of cached items in Redis: plain JSON
// (what legacy code reading the Redis key expects), MessagePack, and
// either of them compressed with zstd. Clients always receive JSON; the
// daemon converts with Encode on a fill and Decode on a read.
//
// Every encoded form but plain JSON starts with a one-byte tag. The tags
// are bytes 0xF5–0xF7, which never occur in UTF-8, so no JSON text can
// start with one: a reader tells the forms apart by the first byte alone,
// whatever format its namespace is configured with now. That is what lets
// a namespace change format while Redis still holds values of the old one.
package valuefmt

import (
	"errors"
	"fmt"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// Tags: the first byte of an encoded value that is not plain JSON.
const (
	TagMsgpack     byte = 0xF5 // MessagePack (see msgpack.go)
	TagZstdJSON    byte = 0xF6 // a zstd frame holding the JSON
	TagZstdMsgpack byte = 0xF7 // a zstd frame holding the MessagePack
)

// Format is how an item's structure is written.
type Format uint8

// Formats.
const (
	// JSON is the item's JSON as DynamoDB's conversion wrote it, untagged.
	JSON Format = iota
	// Msgpack is MessagePack, numbers kept exact (see msgpack.go).
	Msgpack
)

// DefaultCompressMinBytes is Codec.CompressMinBytes's zero value: values
// shorter than this are not worth a zstd frame's 10-odd bytes of header
// and the CPU.
const DefaultCompressMinBytes = 1024

// ErrCorrupt means a tagged value could not be decoded.
var ErrCorrupt = errors.New("valuefmt: corrupt value")

// Codec is one namespace's encoding. Its zero value is plain JSON, which
// Encode returns unchanged.
type Codec struct {
	Format Format
	// Compress turns zstd on for values of at least CompressMinBytes
	// (after the format's encoding).
	Compress bool
	// CompressMinBytes is the threshold; 0 means DefaultCompressMinBytes.
	CompressMinBytes int
}

// Parse builds a Codec from a namespace's settings: format "json" or
// "msgpack", compress "" / "none" or "zstd".
func Parse(format, compress string, minBytes int) (Codec, error) {
	var c Codec
	switch strings.ToLower(format) {
	case "", "json":
	case "msgpack":
		c.Format = Msgpack
	default:
		return Codec{}, fmt.Errorf("valuefmt: format %q: want json or msgpack", format)
	}
	switch strings.ToLower(compress) {
	case "", "none":
	case "zstd":
		c.Compress = true
	default:
		return Codec{}, fmt.Errorf("valuefmt: compress %q: want none or zstd", compress)
	}
	if minBytes < 0 {
		return Codec{}, fmt.Errorf("valuefmt: compress_min_bytes %d must not be negative", minBytes)
	}
	c.CompressMinBytes = minBytes
	return c, nil
}

// Plain reports whether c stores the JSON as it is.
func (c Codec) Plain() bool { return c.Format == JSON && !c.Compress }

// Encode turns doc, an item's JSON, into what Redis stores. When the
// MessagePack form would not decode to exactly doc's bytes (JSON spelled
// in a way the re-encoder does not reproduce), doc is stored as JSON:
// clients must receive byte for byte what a json namespace sends.
// Compression is kept only when it makes the value smaller.
func (c Codec) Encode(doc []byte) []byte {
	if c.Plain() || len(doc) == 0 {
		return doc
	}
	stored := doc // what Redis holds when compression does not pay
	body, ztag := doc, TagZstdJSON
	if c.Format == Msgpack {
		if mp, ok := exactMsgpack(doc); ok {
			stored, body, ztag = mp, mp[1:], TagZstdMsgpack
		}
	}
	minBytes := c.CompressMinBytes
	if minBytes == 0 {
		minBytes = DefaultCompressMinBytes
	}
	if c.Compress && len(body) >= minBytes {
		if z := encoder.EncodeAll(body, []byte{ztag}); len(z) < len(stored) {
			return z
		}
	}
	return stored
}

// exactMsgpack encodes doc as tagged MessagePack and checks that it
// decodes back to doc.
func exactMsgpack(doc []byte) ([]byte, bool) {
	mp, err := toMsgpack(doc)
	if err != nil {
		return nil, false
	}
	back, err := fromMsgpack(mp[1:])
	if err != nil || string(back) != string(doc) {
		return nil, false
	}
	return mp, true
}

// Tagged reports whether raw needs Decode: it is not plain JSON.
func Tagged(raw []byte) bool { return len(raw) > 0 && raw[0] >= TagMsgpack && raw[0] <= TagZstdMsgpack }

// Decode turns a value read from Redis into the item's JSON, whichever
// form it has. Plain JSON is returned as it is (the same slice).
func Decode(raw []byte) ([]byte, error) {
	if !Tagged(raw) {
		return raw, nil
	}
	switch raw[0] {
	case TagMsgpack:
		return fromMsgpack(raw[1:])
	case TagZstdJSON:
		return unzstd(raw[1:])
	}
	mp, err := unzstd(raw[1:])
	if err != nil {
		return nil, err
	}
	return fromMsgpack(mp)
}

// MaxDecodedBytes bounds what a zstd frame may expand to, so a corrupt or
// hostile value in Redis cannot make the daemon allocate without bound.
const MaxDecodedBytes = 64 << 20

// The zstd encoder and decoder are safe for concurrent EncodeAll and
// DecodeAll, and costly to build: one of each for the process.
var (
	encoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	decoder, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(MaxDecodedBytes))
)

func unzstd(frame []byte) ([]byte, error) {
	out, err := decoder.DecodeAll(frame, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: zstd: %w", ErrCorrupt, err)
	}
	return out, nil
}
