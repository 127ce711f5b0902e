package valuefmt

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// docs are JSON items as dynamo.ItemToJSON writes them (compact, sorted,
// HTML not escaped), covering what the MessagePack form must keep exact.
var docs = map[string]string{
	"empty":        `{}`,
	"profile":      `{"age":42,"name":"Ann","tags":["a","b"],"user_id":"7"}`,
	"30-digit N":   `{"big":123456789012345678901234567890,"id":1}`,
	"38-digit N":   `{"n":-0.00000000000000000000000000000000000001,"m":99999999999999999999999999999999999999}`,
	"int64 edges":  `{"max":9223372036854775807,"min":-9223372036854775808,"over":9223372036854775808}`,
	"fractions":    `{"a":1.5,"b":-0.25,"c":1e+21,"d":-0,"e":0.1}`,
	"nested":       `{"a":{"b":{"c":[1,[2,[3,{"d":null}]]]}},"t":true,"f":false}`,
	"escapes":      `{"s":"quote \" backslash \\ nl \n tab \t ctl \u0001"}`,
	"html":         `{"s":"<a href=\"x\">&amp;</a>"}`,
	"unicode":      `{"s":"Zoë — 日本語 🎉","sep":"\u2028\u2029"}`,
	"key order":    `{"z":1,"a":2,"m":3}`,
	"empty values": `{"a":"","b":[],"c":{}}`,
}

func codecs() map[string]Codec {
	return map[string]Codec{
		"json":           {},
		"msgpack":        {Format: Msgpack},
		"json+zstd":      {Compress: true, CompressMinBytes: 1},
		"msgpack+zstd":   {Format: Msgpack, Compress: true, CompressMinBytes: 1},
		"zstd threshold": {Format: Msgpack, Compress: true},
	}
}

func TestRoundTrip(t *testing.T) {
	big := `{"bio":"` + strings.Repeat("lorem ipsum dolor sit amet ", 400) + `","id":1}`
	all := map[string]string{"10 KB": big}
	for k, v := range docs {
		all[k] = v
	}
	for cname, c := range codecs() {
		for dname, doc := range all {
			t.Run(cname+"/"+dname, func(t *testing.T) {
				enc := c.Encode([]byte(doc))
				if c.Plain() && string(enc) != doc {
					t.Fatalf("json codec changed the value: %q", enc)
				}
				got, err := Decode(enc)
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if string(got) != doc {
					t.Fatalf("round trip:\n got %s\nwant %s", got, doc)
				}
			})
		}
	}
}

func TestEncodedForm(t *testing.T) {
	big := []byte(`{"bio":"` + strings.Repeat("lorem ipsum dolor sit amet ", 400) + `","id":1}`)
	cases := []struct {
		name    string
		codec   Codec
		doc     []byte
		tag     int // -1: plain JSON
		smaller bool
	}{
		{"json stays JSON", Codec{}, []byte(docs["profile"]), -1, false},
		{"msgpack is tagged and smaller", Codec{Format: Msgpack}, []byte(docs["profile"]), int(TagMsgpack), true},
		{"30-digit N as msgpack", Codec{Format: Msgpack}, []byte(docs["30-digit N"]), int(TagMsgpack), false},
		{"below the threshold not compressed", Codec{Compress: true}, []byte(docs["profile"]), -1, false},
		{"10 KB json compressed", Codec{Compress: true}, big, int(TagZstdJSON), true},
		{"10 KB msgpack compressed", Codec{Format: Msgpack, Compress: true}, big, int(TagZstdMsgpack), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			enc := tc.codec.Encode(tc.doc)
			if tc.tag < 0 {
				if Tagged(enc) || !bytes.Equal(enc, tc.doc) {
					t.Fatalf("want the JSON unchanged, got %q", enc)
				}
				return
			}
			if enc[0] != byte(tc.tag) {
				t.Fatalf("tag %#x, want %#x", enc[0], tc.tag)
			}
			if tc.smaller && len(enc) >= len(tc.doc) {
				t.Fatalf("%d bytes encoded, JSON is %d", len(enc), len(tc.doc))
			}
		})
	}
}

// A document whose JSON the re-encoder would spell differently (spaces,
// an escaped '/') is kept as JSON rather than served changed.
func TestInexactKeptAsJSON(t *testing.T) {
	for _, doc := range []string{`{ "a": 1 }`, `{"a":"\/"}`, `{"a":"\u00e9"}`} {
		enc := Codec{Format: Msgpack}.Encode([]byte(doc))
		if string(enc) != doc {
			t.Errorf("%s: stored %q, want the JSON as it is", doc, enc)
		}
	}
}

func TestCorrupt(t *testing.T) {
	cases := map[string][]byte{
		"msgpack truncated":   {TagMsgpack, 0x82, 0xa1, 'a'},
		"msgpack trailing":    {TagMsgpack, 0x80, 0x80},
		"msgpack float":       {TagMsgpack, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0},
		"ext not a number":    append([]byte{TagMsgpack, 0xc7, 3, byte(extNumber)}, `"x"`...),
		"ext of another type": {TagMsgpack, 0xd4, 9, '1'},
		"zstd garbage":        {TagZstdJSON, 1, 2, 3, 4},
		"zstd msgpack empty":  {TagZstdMsgpack},
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			if got, err := Decode(raw); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decode = %q, %v; want ErrCorrupt", got, err)
			}
		})
	}
}

func TestParse(t *testing.T) {
	cases := []struct {
		format, compress string
		want             Codec
		bad              bool
	}{
		{"json", "", Codec{}, false},
		{"msgpack", "zstd", Codec{Format: Msgpack, Compress: true}, false},
		{"JSON", "none", Codec{}, false},
		{"xml", "", Codec{}, true},
		{"json", "gzip", Codec{}, true},
	}
	for _, tc := range cases {
		got, err := Parse(tc.format, tc.compress, 0)
		if (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
			t.Errorf("Parse(%q, %q) = %+v, %v", tc.format, tc.compress, got, err)
		}
	}
}

func FuzzRoundTrip(f *testing.F) {
	for _, d := range docs {
		f.Add([]byte(d))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		for name, c := range codecs() {
			enc := c.Encode(doc)
			got, err := Decode(enc)
			if Tagged(doc) {
				continue // not JSON: a tagged input is not a document
			}
			if err != nil || !bytes.Equal(got, doc) {
				t.Fatalf("%s: %q → %q → %q, %v", name, doc, enc, got, err)
			}
		}
	})
}
