package cache_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
	"github.com/ddbcache/ddbcache/valuefmt"
	"github.com/vmihailenco/msgpack/v5"
)

// formatNamespaces are namespaces on table users, one per value format,
// beside enginetest's json "profile".
var formatNamespaces = []cache.Namespace{
	{Name: "mp", Table: "users", PartitionKey: "user_id", RedisKey: "mp:{user_id}", TTL: time.Hour,
		Codec: valuefmt.Codec{Format: valuefmt.Msgpack}},
	{Name: "zj", Table: "users", PartitionKey: "user_id", RedisKey: "zj:{user_id}", TTL: time.Hour,
		Codec: valuefmt.Codec{Compress: true}},
	{Name: "zm", Table: "users", PartitionKey: "user_id", RedisKey: "zm:{user_id}", TTL: time.Hour,
		Codec: valuefmt.Codec{Format: valuefmt.Msgpack, Compress: true}},
	// mpjson reads mp's keys as a json namespace: mp after a change back to json.
	{Name: "mpjson", Table: "users", PartitionKey: "user_id", RedisKey: "mp:{user_id}", TTL: time.Hour},
}

func formatEngine(t *testing.T, f *enginetest.Fixture) *cache.Engine {
	return f.Engine(t, func(o *cache.Options) {
		o.Namespaces = append(append([]cache.Namespace(nil), enginetest.Namespaces...), formatNamespaces...)
	})
}

// seedItem writes user id with a 30-digit N, a fraction and a string of
// about pad bytes.
func seedItem(t *testing.T, f *enginetest.Fixture, id string, pad int) { seedItemB(t, f, id, pad) }

func seedItemB(t testing.TB, f *enginetest.Fixture, id string, pad int) {
	f.DDB.PutItem(t, "users", map[string]types.AttributeValue{
		"user_id": &types.AttributeValueMemberS{Value: id},
		"big":     &types.AttributeValueMemberN{Value: "123456789012345678901234567890"},
		"ratio":   &types.AttributeValueMemberN{Value: "0.125"},
		"visits":  &types.AttributeValueMemberN{Value: "42"},
		"bio":     &types.AttributeValueMemberS{Value: strings.Repeat("Zoë <likes> DynamoDB & Redis. ", pad/30+1)},
		"tags":    &types.AttributeValueMemberSS{Value: []string{"a", "b"}},
	})
}

func TestFormatsAnswerTheSameJSON(t *testing.T) {
	f := enginetest.New(t)
	e := formatEngine(t, f)
	ctx := testenv.Context(t)
	for _, id := range []string{"small", "large"} {
		seedItem(t, f, id, map[string]int{"small": 100, "large": 10_000}[id])
	}
	cases := []struct {
		ns, key string
		id      string
		tag     byte // the first byte Redis holds
		smaller bool // than the JSON
	}{
		{"mp", "mp:small", "small", valuefmt.TagMsgpack, true},
		{"mp", "mp:large", "large", valuefmt.TagMsgpack, false},
		{"zj", "zj:small", "small", '{', false},
		{"zj", "zj:large", "large", valuefmt.TagZstdJSON, true},
		{"zm", "zm:large", "large", valuefmt.TagZstdMsgpack, true},
	}
	for _, tc := range cases {
		t.Run(tc.ns+"/"+tc.id, func(t *testing.T) {
			want, err := e.Get(ctx, "profile", cache.Key{Partition: tc.id})
			if err != nil || !strings.Contains(string(want.Value), `"big":123456789012345678901234567890`) {
				t.Fatalf("json namespace: %s, %v", want.Value, err)
			}
			for i, src := range []string{"fill", "hit"} {
				got, err := e.Get(ctx, tc.ns, cache.Key{Partition: tc.id})
				if err != nil || string(got.Value) != string(want.Value) {
					t.Fatalf("%s of %s: %s (%v)\nwant %s", src, tc.ns, got.Value, err, want.Value)
				}
				if wantSrc := []cache.Source{cache.SourceDynamo, cache.SourceRedis}[i]; got.Source != wantSrc {
					t.Errorf("%s from %s, want %s", src, got.Source, wantSrc)
				}
			}
			raw, err := f.RDB.Get(ctx, tc.key).Bytes()
			if err != nil || raw[0] != tc.tag {
				t.Fatalf("Redis holds %.20q, %v; want first byte %#x", raw, err, tc.tag)
			}
			if tc.smaller && len(raw) >= len(want.Value) {
				t.Errorf("Redis holds %d bytes, the JSON is %d", len(raw), len(want.Value))
			}
			if tc.tag == valuefmt.TagMsgpack {
				var item map[string]any // decoded by the library alone
				err := msgpack.Unmarshal(raw[1:], &item)
				if big, _ := item["big"].(*valuefmt.Number); err != nil || item["user_id"] != tc.id || item["visits"] != int8(42) ||
					big == nil || *big != "123456789012345678901234567890" {
					t.Errorf("Redis's value is not MessagePack of the item: %v, %v", item, err)
				}
			}
		})
	}
}

func TestFormatMigration(t *testing.T) {
	f := enginetest.New(t)
	e := formatEngine(t, f)
	ctx := testenv.Context(t)
	seedItem(t, f, "m", 100)
	want, err := e.Get(ctx, "profile", cache.Key{Partition: "m"})
	if err != nil {
		t.Fatal(err)
	}
	fromDynamo := f.Proxy.Count("GetItem")
	steps := []struct {
		name   string
		setup  func(t *testing.T)
		ns     string
		source cache.Source
	}{
		{"an old JSON value is read by a msgpack namespace", func(t *testing.T) {
			f.RDB.Set(ctx, "mp:m", want.Value, time.Hour)
		}, "mp", cache.SourceRedis},
		{"a msgpack value is read by a json namespace", func(t *testing.T) {
			if _, err := e.Invalidate(ctx, "mp", []cache.Key{{Partition: "m"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.Get(ctx, "mp", cache.Key{Partition: "m"}); err != nil { // fills MessagePack
				t.Fatal(err)
			}
			if raw, _ := f.RDB.Get(ctx, "mp:m").Bytes(); len(raw) == 0 || raw[0] != valuefmt.TagMsgpack {
				t.Fatalf("the fill stored %.20q", raw)
			}
			fromDynamo++
		}, "mpjson", cache.SourceRedis},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.setup(t)
			got, err := e.Get(ctx, s.ns, cache.Key{Partition: "m"})
			if err != nil || string(got.Value) != string(want.Value) || got.Source != s.source {
				t.Fatalf("%s from %s (%v), want %s from %s", got.Value, got.Source, err, want.Value, s.source)
			}
			if n := f.Proxy.Count("GetItem"); n != fromDynamo {
				t.Errorf("%d GetItem calls, want %d", n, fromDynamo)
			}
		})
	}
	t.Run("a corrupt value is answered from DynamoDB", func(t *testing.T) {
		f.RDB.Set(ctx, "mp:m", "\xf5\xc1garbage", time.Hour)
		before := e.Stats().RedisErrors
		got, err := e.Get(ctx, "mp", cache.Key{Partition: "m"})
		if err != nil || string(got.Value) != string(want.Value) || got.Source != cache.SourceDynamo {
			t.Fatalf("%s from %s (%v)", got.Value, got.Source, err)
		}
		if e.Stats().RedisErrors <= before {
			t.Error("the corrupt value was not counted as a Redis error")
		}
	})
}
