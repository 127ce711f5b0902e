package cache_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/dynamo"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
	"github.com/ddbcache/ddbcache/relay"
	"github.com/redis/go-redis/v9"
)

// BenchmarkColdMiss is issue #13's cold-miss target on the engine alone:
// each iteration does, interleaved, one bare GetItem (the SDK client the
// engine loads with, called directly), one Redis PING, and one engine Get
// of a key nobody read before (a cold miss: value read, lease script,
// GetItem, fill script). It reports the median of each, and the engine's
// cold miss over the bare GetItem plus 3 round trips (the target: ≤ 1).
// Each kind of call reads keys of its own, seeded before the timer, so
// that every engine Get is cold and every GetItem finds an item.
func BenchmarkColdMiss(b *testing.B) {
	for _, delay := range []time.Duration{0, 125 * time.Microsecond} {
		b.Run(fmt.Sprintf("relay=%s", delay), func(b *testing.B) { benchColdMiss(b, delay) })
	}
}

func benchColdMiss(b *testing.B, delay time.Duration) {
	f := enginetest.New(b)
	rdb := f.RDB
	if delay > 0 {
		r, err := relay.New(relay.Options{Upstream: f.Redis.Addr, Delay: delay})
		if err != nil {
			b.Fatal(err)
		}
		testenv.Serve(b, r.Serve, func() { _ = r.Close() })
		f.Addrs = []string{r.Addr()}
		rdb = redis.NewClient(&redis.Options{Addr: r.Addr(), Protocol: 2, DisableIdentity: true, PoolSize: 1})
		b.Cleanup(func() { rdb.Close() })
	}
	loader, err := dynamo.New(context.Background(), dynamo.Options{Endpoint: f.DDB.Endpoint, Region: "us-east-1", MaxAttempts: 1})
	if err != nil {
		b.Fatal(err)
	}
	e := f.Engine(b, func(o *cache.Options) { o.Loader = loader })
	ctx := testenv.Context(b)
	api := loader.API()
	// The first calls learn the table's schema and open the connections.
	if _, err := e.Get(ctx, "profile", cache.Key{Partition: "warm"}); err != nil {
		b.Fatal(err)
	}
	prefix := fmt.Sprintf("cold%d-", time.Now().UnixNano())
	seedUsers(b, f, prefix, b.N)
	bare, ping, cold := make([]float64, b.N), make([]float64, b.N), make([]float64, b.N) // µs
	before := e.Stats().Namespaces["profile"]
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := prefix + fmt.Sprint(i)
		start := time.Now()
		out, err := api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("users"),
			Key: map[string]types.AttributeValue{"user_id": &types.AttributeValueMemberS{Value: "b" + id}}})
		bare[i] = micros(time.Since(start))
		if err != nil || out.Item == nil {
			b.Fatalf("bare GetItem of b%s: %v, item %v", id, err, out)
		}
		start = time.Now()
		err = rdb.Ping(ctx).Err()
		ping[i] = micros(time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		res, err := e.Get(ctx, "profile", cache.Key{Partition: "c" + id})
		cold[i] = micros(time.Since(start))
		if err != nil || res.Source != cache.SourceDynamo || res.Value == nil {
			b.Fatalf("Get of c%s: %v, source %v: not a cold miss", id, err, res.Source)
		}
	}
	b.StopTimer()
	if reads := e.Stats().Namespaces["profile"].DynamoReads - before.DynamoReads; reads != int64(b.N) {
		b.Fatalf("%d DynamoDB reads for %d cold misses", reads, b.N)
	}
	mb, mp, mc := median(bare), median(ping), median(cold)
	b.ReportMetric(mb, "bare-µs")
	b.ReportMetric(mp, "rtt-µs")
	b.ReportMetric(mc, "cold-µs")
	b.ReportMetric(mc/(mb+3*mp), "cold/target")
}

func micros(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// seedUsers writes n users b<prefix>i and c<prefix>i into DynamoDB, 25 to
// a BatchWriteItem.
func seedUsers(b *testing.B, f *enginetest.Fixture, prefix string, n int) {
	b.Helper()
	api := f.DDB.Client()
	var reqs []types.WriteRequest
	flush := func() {
		for len(reqs) > 0 {
			out, err := api.BatchWriteItem(context.Background(), &dynamodb.BatchWriteItemInput{
				RequestItems: map[string][]types.WriteRequest{"users": reqs}})
			if err != nil {
				b.Fatal(err)
			}
			reqs = out.UnprocessedItems["users"]
		}
	}
	for i := 0; i < n; i++ {
		for _, kind := range []string{"b", "c"} {
			id := kind + prefix + fmt.Sprint(i)
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{
				"user_id": &types.AttributeValueMemberS{Value: id},
				"name":    &types.AttributeValueMemberS{Value: "N" + id},
			}}})
			if len(reqs) == 25 {
				flush()
			}
		}
	}
	flush()
}
