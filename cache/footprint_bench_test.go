package cache_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/testenv"
	"github.com/ddbcache/ddbcache/valuefmt"
	"github.com/redis/go-redis/v9"
)

// BenchmarkFormatFootprint measures what each value format costs Redis:
// used_memory and the bytes Redis receives (fills) and sends (reads
// around the client-side cache) per item, for FOOTPRINT_KEYS (default
// 100 000; FOOTPRINT_KEYS_10K for the 10 KB ones) synthetic profiles of about 300 B and 10 KB of JSON. The
// engine fills every key (MGET of 100) on a fresh redis-server per
// format, then a second engine without client-side cache reads them all.
// The items come from profileLoader, which generates them, rather than
// from dynalite: the figures are Redis's, and 1 GB of seeding through
// dynalite would measure dynalite.
//
//	FOOTPRINT_KEYS=100000 FOOTPRINT_KEYS_10K=100000 go test -run '^$' -bench BenchmarkFormatFootprint -benchtime 1x -timeout 60m ./cache
func BenchmarkFormatFootprint(b *testing.B) {
	count := func(env string) int {
		if n, err := strconv.Atoi(os.Getenv(env)); err == nil && n > 0 {
			return n
		}
		return 100_000
	}
	codecs := []struct {
		name  string
		codec valuefmt.Codec
	}{
		{"json", valuefmt.Codec{}},
		{"msgpack", valuefmt.Codec{Format: valuefmt.Msgpack}},
		{"json+zstd", valuefmt.Codec{Compress: true}},
		{"msgpack+zstd", valuefmt.Codec{Format: valuefmt.Msgpack, Compress: true}},
	}
	for _, size := range []int{300, 10_000} {
		keys := count(map[int]string{300: "FOOTPRINT_KEYS", 10_000: "FOOTPRINT_KEYS_10K"}[size])
		for _, c := range codecs {
			b.Run(fmt.Sprintf("%dB/%s", size, c.name), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					footprint(b, keys, size, c.codec)
				}
			})
		}
	}
}

func footprint(b *testing.B, keys, size int, codec valuefmt.Codec) {
	r := testenv.Redis(b)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	b.Cleanup(func() { rdb.Close() })
	ctx := context.Background() // a run outlasts testenv.Context's minute
	loader := &profileLoader{size: size}
	ns := cache.Namespace{Name: "p", Table: "users", PartitionKey: "user_id", RedisKey: "p:{user_id}", TTL: time.Hour, Codec: codec}
	engine := func(uncached bool) *cache.Engine {
		// Generous timeouts: on a loaded machine a slow round trip must
		// not turn into a degraded read that stores nothing.
		e, err := cache.New(cache.Options{
			Redis:  cache.RedisOptions{Addrs: []string{r.Addr}, DisableClientCache: uncached, CommandTimeout: time.Minute},
			Loader: loader, Namespaces: []cache.Namespace{ns}, LoadTimeout: time.Minute, LeaseWait: time.Minute,
			ProbeInterval: time.Hour, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(e.Close)
		return e
	}
	mem0, in0, _ := redisBytes(b, rdb)
	jsonBytes := passes(b, ctx, engine(false), keys, cache.SourceDynamo)
	mem1, in1, out1 := redisBytes(b, rdb)
	passes(b, ctx, engine(true), keys, cache.SourceRedis)
	_, _, out2 := redisBytes(b, rdb)
	if stored := rdb.DBSize(ctx).Val(); stored != int64(keys) {
		b.Fatalf("Redis holds %d keys of %d", stored, keys)
	}
	n := float64(keys)
	b.ReportMetric(n, "items")
	b.ReportMetric(float64(jsonBytes)/n, "json-B/item")
	b.ReportMetric(float64(mem1-mem0)/n, "mem-B/item")
	b.ReportMetric(float64(in1-in0)/n, "in-B/item")
	b.ReportMetric(float64(out2-out1)/n, "out-B/item")
}

// passes looks every key up in MGETs of 100, checks each answer came from
// want, and returns the JSON bytes answered.
func passes(b *testing.B, ctx context.Context, e *cache.Engine, keys int, want cache.Source) int {
	total := 0
	for lo := 0; lo < keys; lo += 100 {
		batch := make([]cache.Key, 0, 100)
		for i := lo; i < min(lo+100, keys); i++ {
			batch = append(batch, cache.Key{Partition: "u" + strconv.Itoa(i)})
		}
		res, err := e.MGet(ctx, "p", batch)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			if r.Source != want || r.Value == nil {
				b.Fatalf("an answer from %s, want %s", r.Source, want)
			}
			total += len(r.Value)
		}
	}
	return total
}

// redisBytes returns used_memory, total_net_input_bytes and
// total_net_output_bytes.
func redisBytes(b *testing.B, rdb *redis.Client) (mem, in, out int64) {
	info, err := rdb.Info(context.Background(), "memory", "stats").Result()
	if err != nil {
		b.Fatal(err)
	}
	field := func(name string) int64 {
		_, rest, _ := strings.Cut(info, "\n"+name+":")
		v, _ := strconv.ParseInt(strings.TrimSpace(strings.SplitN(rest, "\n", 2)[0]), 10, 64)
		return v
	}
	return field("used_memory"), field("total_net_input_bytes"), field("total_net_output_bytes")
}

// profileLoader generates user profiles of about size bytes of JSON, the
// same for a key every time, shaped like DynamoDB items as
// dynamo.ItemToJSON renders them: sorted keys, numbers as their text
// (ids, timestamps, prices with decimals), strings from a vocabulary, and
// for the larger items a list of recent orders.
type profileLoader struct{ size int }

var words = strings.Fields("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november " +
	"oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu red green blue amber " +
	"london paris berlin madrid rome lisbon dublin oslo vienna prague shipped pending returned refunded")

func (l *profileLoader) item(id string) []byte {
	n, _ := strconv.Atoi(strings.TrimPrefix(id, "u"))
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	word := func() string { return words[rng.IntN(len(words))] }
	doc := map[string]any{
		"user_id":    id,
		"name":       word() + " " + word(),
		"email":      "user" + strconv.Itoa(n) + "@example.com",
		"created_at": json.Number(strconv.Itoa(1_600_000_000 + rng.IntN(100_000_000))),
		"karma":      json.Number(strconv.Itoa(rng.IntN(100_000))),
		"balance":    json.Number(fmt.Sprintf("%d.%02d", rng.IntN(10_000), rng.IntN(100))),
		"locale":     "en_GB",
		"plan":       word(),
		"flags":      map[string]any{"beta": rng.IntN(2) == 0, "newsletter": rng.IntN(2) == 0},
		"tags":       []string{word(), word(), word()},
	}
	var orders []any
	for est := len(render(doc)); l.size > 1000 && est < l.size-200; est += 125 { // an order's JSON is about 125 bytes
		orders = append(orders, map[string]any{
			"order_id": json.Number(strconv.Itoa(rng.IntN(1 << 40))),
			"sku":      "SKU-" + strconv.Itoa(rng.IntN(100_000)),
			"qty":      json.Number(strconv.Itoa(1 + rng.IntN(5))),
			"price":    json.Number(fmt.Sprintf("%d.%02d", rng.IntN(500), rng.IntN(100))),
			"status":   word(),
			"ts":       json.Number(strconv.Itoa(1_700_000_000 + rng.IntN(10_000_000))),
			"city":     word(),
		})
		doc["orders"] = orders
	}
	var bio strings.Builder
	for want := l.size - len(render(doc)) - len(`,"bio":""`); bio.Len() < want; {
		bio.WriteString(word())
		bio.WriteByte(' ')
	}
	doc["bio"] = bio.String()
	return render(doc)
}

func render(doc map[string]any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(doc)
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func (l *profileLoader) Get(_ context.Context, _ string, key map[string]string, _ bool) ([]byte, error) {
	return l.item(key["user_id"]), nil
}

func (l *profileLoader) BatchGet(_ context.Context, _ string, keys []map[string]string, _ bool) ([][]byte, error) {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = l.item(k["user_id"])
	}
	return out, nil
}

var errReadOnly = errors.New("profileLoader: read only")

func (l *profileLoader) Put(context.Context, string, []byte) error { return errReadOnly }
func (l *profileLoader) Delete(context.Context, string, map[string]string) (bool, error) {
	return false, errReadOnly
}
