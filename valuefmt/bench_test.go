package valuefmt

import (
	"strconv"
	"strings"
	"testing"
)

// benchDoc is a profile of about size bytes, shaped like the engine's
// test items (numbers, a set, one long string).
func benchDoc(size int) []byte {
	return []byte(`{"big":123456789012345678901234567890,"bio":"` + strings.Repeat("Zoë <likes> DynamoDB & Redis. ", size/31+1) +
		`","ratio":0.125,"tags":["a","b"],"user_id":"u1","visits":42}`)
}

// BenchmarkCodec is the cost of a fill's Encode and of one Decode (a hit
// that is not in the memo), per format and size.
//
//	go test -run '^$' -bench BenchmarkCodec ./valuefmt
func BenchmarkCodec(b *testing.B) {
	for _, size := range []int{300, 10_000} {
		doc := benchDoc(size)
		for name, c := range map[string]Codec{"json": {}, "msgpack": {Format: Msgpack}, "zstd": {Compress: true}, "msgpack+zstd": {Format: Msgpack, Compress: true}} {
			enc := c.Encode(doc)
			b.Run(strconv.Itoa(size)+"B/"+name+"/encode", func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					c.Encode(doc)
				}
			})
			b.Run(strconv.Itoa(size)+"B/"+name+"/decode", func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if _, err := Decode(enc); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
