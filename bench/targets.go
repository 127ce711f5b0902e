package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/dynamo"
	"github.com/redis/go-redis/v9"
)

// The targets a bench run can compare.
const (
	TargetDDBCache    = "ddbcache"     // DDB GET through the daemon's socket
	TargetDirect      = "direct"       // the blog pattern: GET, on miss GetItem + SETEX
	TargetDynamoDB    = "dynamodb"     // GetItem every time, no cache
	TargetPerl        = "perl"         // forked Perl workers, DDBCache::Client, local cache on
	TargetPerlNoLocal = "perl-nolocal" // the same with local_cache => 0
	// TargetRedisFast is the blog's pattern from Perl, without ddbcache:
	// forked workers doing Redis::Fast GET + Cpanel::JSON::XS decode, on a
	// miss GetItem over HTTP and SETEX (the baseline of issue 13's targets).
	TargetRedisFast = "redis-fast"
)

// AllTargets lists the target names in their documented order.
var AllTargets = []string{TargetDDBCache, TargetDirect, TargetDynamoDB, TargetPerl, TargetPerlNoLocal, TargetRedisFast}

// perlClient reports whether target n's client is forked Perl workers
// rather than the bench process.
func perlClient(n string) bool {
	return n == TargetPerl || n == TargetPerlNoLocal || n == TargetRedisFast
}

// counters are what a target counts itself, beside the latencies.
type counters struct {
	localHits   atomic.Int64 // served by the client's own memory (Perl local cache)
	redisHits   atomic.Int64 // served by Redis (direct)
	misses      atomic.Int64 // read from DynamoDB (direct, dynamodb)
	notFound    atomic.Int64 // items DynamoDB did not have
	dynamoReads atomic.Int64 // GetItem calls of the bench itself
	rcuMilli    atomic.Int64 // read capacity units × 1000 consumed by them
}

// reset zeroes the counters, after the warm-up.
func (c *counters) reset() {
	for _, v := range []*atomic.Int64{&c.localHits, &c.redisHits, &c.misses, &c.notFound, &c.dynamoReads, &c.rcuMilli} {
		v.Store(0)
	}
}

func (c *counters) addRCU(cc *types.ConsumedCapacity) {
	if cc != nil && cc.CapacityUnits != nil {
		c.rcuMilli.Add(int64(math.Round(*cc.CapacityUnits * 1000)))
	}
}

// opFunc performs one operation on the key indexes keys: a lookup of
// them all (one key, or an MGET of --batch keys), or a write of keys[0]
// (writes come only with --batch 1).
type opFunc func(ctx context.Context, keys []int, write bool) error

// item describes the bench's synthetic items in one namespace.
type item struct {
	ns       cache.Namespace
	size     int
	ttl      time.Duration
	template string
}

func newItem(ns cache.Namespace, size int) (*item, error) {
	if ns.SortKey != "" {
		return nil, fmt.Errorf("bench: namespace %q has a sort key; the bench needs a partition-key-only namespace", ns.Name)
	}
	tpl := ns.RedisKey
	if tpl == "" {
		tpl = ns.Name + ":{" + ns.PartitionKey + "}"
	}
	ttl := ns.TTL
	if ttl == 0 {
		ttl = cache.DefaultTTL
	}
	return &item{ns: ns, size: size, ttl: ttl, template: tpl}, nil
}

// redisKey is the legacy Redis key of key index i, as the daemon names it.
func (it *item) redisKey(i int) string {
	return strings.ReplaceAll(it.template, "{"+it.ns.PartitionKey+"}", KeyName(i))
}

// json is a synthetic item of key index i padded to about size bytes.
func (it *item) json(i int, version int64) []byte {
	head := fmt.Sprintf(`{%q:%q,"version":%d,"data":"`, it.ns.PartitionKey, KeyName(i), version)
	pad := max(it.size-len(head)-2, 1)
	return []byte(head + strings.Repeat("x", pad) + `"}`)
}

// keyAV is the DynamoDB key of index i.
func (it *item) keyAV(i int) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{it.ns.PartitionKey: &types.AttributeValueMemberS{Value: KeyName(i)}}
}

// getItem reads key i from DynamoDB with consumed capacity, and returns
// its JSON (nil when the item does not exist).
func getItem(ctx context.Context, api *dynamodb.Client, it *item, c *counters, i int) ([]byte, error) {
	out, err := api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(it.ns.Table), Key: it.keyAV(i),
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal})
	c.dynamoReads.Add(1)
	if err != nil {
		return nil, fmt.Errorf("bench: GetItem: %w", err)
	}
	c.addRCU(out.ConsumedCapacity)
	if out.Item == nil {
		c.notFound.Add(1)
		return nil, nil
	}
	return dynamo.ItemToJSON(out.Item)
}

// putItem writes a new version of key i to DynamoDB.
func putItem(ctx context.Context, api *dynamodb.Client, it *item, i int) error {
	av, err := dynamo.JSONToItem(it.json(i, time.Now().UnixNano()))
	if err != nil {
		return fmt.Errorf("bench: item: %w", err)
	}
	if _, err := api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(it.ns.Table), Item: av}); err != nil {
		return fmt.Errorf("bench: PutItem: %w", err)
	}
	return nil
}

// ddbcacheOp looks keys up through the daemon: DDB GET, and DDB PUT for writes.
func ddbcacheOp(rdb *redis.Client, it *item) opFunc {
	return func(ctx context.Context, keys []int, write bool) error {
		i := keys[0]
		if write {
			return rdb.Do(ctx, "DDB", "PUT", it.ns.Name, it.json(i, time.Now().UnixNano())).Err()
		}
		if len(keys) > 1 {
			args := append(make([]any, 0, 3+len(keys)), "DDB", "MGET", it.ns.Name)
			for _, k := range keys {
				args = append(args, KeyName(k))
			}
			return rdb.Do(ctx, args...).Err()
		}
		err := rdb.Do(ctx, "DDB", "GET", it.ns.Name, KeyName(i)).Err()
		if errors.Is(err, redis.Nil) {
			return nil
		}
		return err
	}
}

// directOp is the blog's pattern without ddbcache: GET; on a miss GetItem
// and SETEX. A write is PutItem then DEL. A batch is one MGET, then
// GetItem and SETEX for each key it missed.
func directOp(rdb *redis.Client, api *dynamodb.Client, it *item, c *counters) opFunc {
	return func(ctx context.Context, keys []int, write bool) error {
		if len(keys) > 1 {
			return directMGet(ctx, rdb, api, it, c, keys)
		}
		i := keys[0]
		key := it.redisKey(i)
		if write {
			if err := putItem(ctx, api, it, i); err != nil {
				return err
			}
			return rdb.Del(ctx, key).Err()
		}
		_, err := rdb.Get(ctx, key).Bytes()
		if err == nil {
			c.redisHits.Add(1)
			return nil
		}
		if !errors.Is(err, redis.Nil) {
			return err
		}
		return directFill(ctx, rdb, api, it, c, i)
	}
}

// directFill is the blog's miss: GetItem of key i, then SETEX.
func directFill(ctx context.Context, rdb *redis.Client, api *dynamodb.Client, it *item, c *counters, i int) error {
	c.misses.Add(1)
	val, err := getItem(ctx, api, it, c, i)
	if err != nil || val == nil {
		return err
	}
	return rdb.SetEx(ctx, it.redisKey(i), val, it.ttl).Err()
}

// directMGet is the blog's pattern for several keys: MGET, then a
// GetItem and SETEX for each key Redis did not have.
func directMGet(ctx context.Context, rdb *redis.Client, api *dynamodb.Client, it *item, c *counters, keys []int) error {
	rkeys := make([]string, len(keys))
	for j, k := range keys {
		rkeys[j] = it.redisKey(k)
	}
	vals, err := rdb.MGet(ctx, rkeys...).Result()
	if err != nil {
		return err
	}
	for j, v := range vals {
		if v != nil {
			c.redisHits.Add(1)
			continue
		}
		if err := directFill(ctx, rdb, api, it, c, keys[j]); err != nil {
			return err
		}
	}
	return nil
}

// dynamoOp reads DynamoDB every time: GetItem, or one BatchGetItem for
// a batch (--batch ≤ 100, BatchGetItem's limit).
func dynamoOp(api *dynamodb.Client, it *item, c *counters) opFunc {
	return func(ctx context.Context, keys []int, write bool) error {
		if write {
			return putItem(ctx, api, it, keys[0])
		}
		if len(keys) > 1 {
			return batchGetItem(ctx, api, it, c, keys)
		}
		c.misses.Add(1)
		_, err := getItem(ctx, api, it, c, keys[0])
		return err
	}
}

// batchGetItem reads keys from DynamoDB in one BatchGetItem (counted as
// one read, as the daemon counts its own), retrying what DynamoDB left
// unprocessed after a pause that doubles, as AWS asks of throttled
// batches (against a real table a retry at once is throttled again).
func batchGetItem(ctx context.Context, api *dynamodb.Client, it *item, c *counters, keys []int) error {
	avs := make([]map[string]types.AttributeValue, len(keys))
	for j, k := range keys {
		avs[j] = it.keyAV(k)
	}
	req := map[string]types.KeysAndAttributes{it.ns.Table: {Keys: avs}}
	c.misses.Add(int64(len(keys)))
	found := 0
	pause := 10 * time.Millisecond
	for len(req) > 0 {
		out, err := api.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req,
			ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal})
		c.dynamoReads.Add(1)
		if err != nil {
			return fmt.Errorf("bench: BatchGetItem: %w", err)
		}
		for j := range out.ConsumedCapacity {
			c.addRCU(&out.ConsumedCapacity[j])
		}
		found += len(out.Responses[it.ns.Table])
		req = out.UnprocessedKeys
		if len(req) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: BatchGetItem: keys left unprocessed: %w", ctx.Err())
		case <-time.After(pause):
		}
		pause = min(2*pause, time.Second)
	}
	c.notFound.Add(int64(len(keys) - found))
	return nil
}
