package config

import (
	"strings"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/valuefmt"
)

// TestFormatAndAutoTTLReachTheEngine: the namespace fields of value
// formats and ttl: auto become cache.Namespace's, and what the engine
// refuses is refused by the configuration too.
// jsonCodec is the default: json, compress_min_bytes's default kept for
// a later compress: zstd.
var jsonCodec = valuefmt.Codec{CompressMinBytes: valuefmt.DefaultCompressMinBytes}

func TestFormatAndAutoTTLReachTheEngine(t *testing.T) {
	cases := []struct {
		spec    string
		want    cache.Namespace // only the fields below are compared
		invalid string          // part of Resolve's error; "" for none
	}{
		{"p:table=users;partition_key=id", cache.Namespace{TTL: time.Hour, Codec: jsonCodec}, ""},
		{"p:table=users;partition_key=id;format=msgpack;compress=zstd;compress_min_bytes=200",
			cache.Namespace{TTL: time.Hour, Codec: valuefmt.Codec{Format: valuefmt.Msgpack, Compress: true, CompressMinBytes: 200}}, ""},
		{"p:table=users;partition_key=id;ttl=auto", cache.Namespace{TTLAuto: true, TTLMin: 10 * time.Second, TTLMax: time.Hour, Codec: jsonCodec}, ""},
		{"p:table=users;partition_key=id;ttl=AUTO;ttl_min=1s;ttl_max=1m", cache.Namespace{TTLAuto: true, TTLMin: time.Second, TTLMax: time.Minute, Codec: jsonCodec}, ""},
		{"p:table=users;partition_key=id;ttl=auto;ttl_min=1h;ttl_max=1m", cache.Namespace{}, "ttl_min ≤ ttl_max"},
	}
	for _, tc := range cases {
		t.Run(tc.spec, func(t *testing.T) {
			c := Defaults()
			if err := c.ParseNamespace(tc.spec); err != nil {
				t.Fatal(err)
			}
			err := c.Resolve()
			if tc.invalid != "" {
				if err == nil || !strings.Contains(err.Error(), tc.invalid) {
					t.Fatalf("Resolve: %v, want an error with %q", err, tc.invalid)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := c.CacheNamespaces()[0]
			if got.TTL != tc.want.TTL || got.TTLAuto != tc.want.TTLAuto || got.TTLMin != tc.want.TTLMin ||
				got.TTLMax != tc.want.TTLMax || got.Codec != tc.want.Codec {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
