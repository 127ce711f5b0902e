package bench

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/ddbcache/ddbcache/dynamo"
)

// ErrRealAWS refuses --seed-data against AWS itself without --yes: it
// creates a table and writes --keys items, which costs money and could
// overwrite real items that happen to share the bench's keys.
var ErrRealAWS = errors.New("bench: --seed-data would create and fill a table in real AWS DynamoDB; " +
	"set dynamodb.endpoint to a local server (dynalite, DynamoDB Local) or pass --yes")

// seedWriters is how many BatchWriteItem calls are in flight while seeding.
const seedWriters = 4

// isRealAWS reports whether endpoint is AWS's: none configured (the SDK's
// default) or a host under amazonaws.com.
func isRealAWS(endpoint string) bool {
	if endpoint == "" {
		return true
	}
	u, err := url.Parse(endpoint)
	host := endpoint
	if err == nil && u.Host != "" {
		host = u.Hostname()
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return host == "amazonaws.com" || strings.HasSuffix(host, ".amazonaws.com") ||
		strings.HasSuffix(host, ".amazonaws.com.cn")
}

// checkSeed refuses seeding real AWS unless yes.
func checkSeed(endpoint string, yes bool) error {
	if isRealAWS(endpoint) && !yes {
		return ErrRealAWS
	}
	return nil
}

// seed creates the namespace's table when it is missing and writes keys
// items of the bench's size.
func seed(ctx context.Context, api *dynamodb.Client, it *item, keys int) error {
	if err := ensureTable(ctx, api, it); err != nil {
		return err
	}
	jobs := make(chan []types.WriteRequest)
	errs := make(chan error, seedWriters)
	var wg sync.WaitGroup
	for range seedWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range jobs {
				if err := writeBatch(ctx, api, it.ns.Table, batch); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var failed error
	batch := make([]types.WriteRequest, 0, 25)
	for i := 0; i < keys && failed == nil; i++ {
		av, err := dynamo.JSONToItem(it.json(i, 0))
		if err != nil {
			failed = fmt.Errorf("bench: item: %w", err)
			break
		}
		batch = append(batch, types.WriteRequest{PutRequest: &types.PutRequest{Item: av}})
		if len(batch) == 25 || i == keys-1 {
			select {
			case jobs <- batch:
			case failed = <-errs:
			}
			batch = make([]types.WriteRequest, 0, 25)
		}
	}
	close(jobs)
	wg.Wait()
	close(errs)
	if failed != nil {
		return failed
	}
	return <-errs // nil when the channel is empty
}

// writeBatch writes one batch, retrying its unprocessed items.
func writeBatch(ctx context.Context, api *dynamodb.Client, table string, batch []types.WriteRequest) error {
	req := map[string][]types.WriteRequest{table: batch}
	for attempt := 0; len(req[table]) > 0; attempt++ {
		out, err := api.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: req})
		if err != nil {
			return fmt.Errorf("bench: seed %s: %w", table, err)
		}
		req = out.UnprocessedItems
		if attempt > 10 {
			return fmt.Errorf("bench: seed %s: items still unprocessed after %d attempts", table, attempt)
		}
		if len(req[table]) > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt+1) * 50 * time.Millisecond):
			}
		}
	}
	return nil
}

// ensureTable creates the table (on-demand, partition key of type S)
// unless it exists, and waits until it is active.
func ensureTable(ctx context.Context, api *dynamodb.Client, it *item) error {
	table := aws.String(it.ns.Table)
	_, err := api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: table})
	var nf *types.ResourceNotFoundException
	switch {
	case err == nil:
		return nil
	case !errors.As(err, &nf):
		return fmt.Errorf("bench: describe table %s: %w", it.ns.Table, err)
	}
	_, err = api.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   table,
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(it.ns.PartitionKey),
			AttributeType: types.ScalarAttributeTypeS}},
		KeySchema: []types.KeySchemaElement{{AttributeName: aws.String(it.ns.PartitionKey), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		return fmt.Errorf("bench: create table %s: %w", it.ns.Table, err)
	}
	w := dynamodb.NewTableExistsWaiter(api, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 100 * time.Millisecond })
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: table}, time.Minute); err != nil {
		return fmt.Errorf("bench: wait for table %s: %w", it.ns.Table, err)
	}
	return nil
}
