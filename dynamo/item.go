package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// MaxBatchGet is the most keys DynamoDB accepts in one BatchGetItem call.
const MaxBatchGet = 100

// batchBackoff is the first pause before re-requesting UnprocessedKeys; it
// doubles up to maxBatchBackoff, as AWS recommends for throttled batches.
const (
	batchBackoff    = 20 * time.Millisecond
	maxBatchBackoff = time.Second
)

// Get reads one item as JSON. A missing item is (nil, nil). consistent asks
// for a strongly consistent read.
func (c *Client) Get(ctx context.Context, table string, key map[string]string, consistent bool) ([]byte, error) {
	s, err := c.schemaOf(ctx, table)
	if err != nil {
		return nil, err
	}
	av, err := s.keyAV(key)
	if err != nil {
		return nil, err
	}
	out, err := c.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:              aws.String(table),
		Key:                    av,
		ConsistentRead:         aws.Bool(consistent),
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	})
	if err != nil {
		return nil, fmt.Errorf("dynamo: GetItem %s: %w", table, err)
	}
	c.accountOne(out.ConsumedCapacity, false)
	if out.Item == nil {
		return nil, nil
	}
	return ItemToJSON(out.Item)
}

// BatchGet reads many items of one table as JSON, in the order of keys; a
// missing item is nil; consistent asks for strongly consistent reads. Keys are sent at most MaxBatchGet a call, duplicates
// once, and UnprocessedKeys are re-requested with exponential backoff until
// ctx ends.
func (c *Client) BatchGet(ctx context.Context, table string, keys []map[string]string, consistent bool) ([][]byte, error) {
	s, err := c.schemaOf(ctx, table)
	if err != nil {
		return nil, err
	}
	positions := map[string][]int{} // identity → indexes into keys
	var unique []map[string]types.AttributeValue
	for i, k := range keys {
		av, err := s.keyAV(k)
		if err != nil {
			return nil, err
		}
		id := s.identity(av)
		if _, seen := positions[id]; !seen {
			unique = append(unique, av)
		}
		positions[id] = append(positions[id], i)
	}
	results := make([][]byte, len(keys))
	for start := 0; start < len(unique); start += MaxBatchGet {
		end := min(start+MaxBatchGet, len(unique))
		items, err := c.batchChunk(ctx, table, unique[start:end], consistent)
		if err != nil {
			return nil, err
		}
		for _, item := range items {
			doc, err := ItemToJSON(item)
			if err != nil {
				return nil, err
			}
			for _, i := range positions[s.identity(item)] {
				results[i] = doc
			}
		}
	}
	return results, nil
}

// batchChunk runs one BatchGetItem of at most MaxBatchGet keys, retrying
// UnprocessedKeys.
func (c *Client) batchChunk(ctx context.Context, table string, keys []map[string]types.AttributeValue, consistent bool) ([]map[string]types.AttributeValue, error) {
	var items []map[string]types.AttributeValue
	pending := map[string]types.KeysAndAttributes{table: {Keys: keys, ConsistentRead: aws.Bool(consistent)}}
	backoff := batchBackoff
	for {
		out, err := c.api.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
			RequestItems:           pending,
			ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
		})
		if err != nil {
			return nil, fmt.Errorf("dynamo: BatchGetItem %s: %w", table, err)
		}
		c.account(out.ConsumedCapacity, false)
		items = append(items, out.Responses[table]...)
		left, ok := out.UnprocessedKeys[table]
		if !ok || len(left.Keys) == 0 {
			return items, nil
		}
		pending = map[string]types.KeysAndAttributes{table: left}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("dynamo: BatchGetItem %s: %d keys unprocessed: %w", table, len(left.Keys), ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBatchBackoff)
	}
}

// Put writes a JSON object as an item, replacing any item with its key.
// An item that can never be stored is an *ItemError.
func (c *Client) Put(ctx context.Context, table string, doc []byte) error {
	s, err := c.schemaOf(ctx, table)
	if err != nil {
		return err
	}
	if err := checkUTF8(doc); err != nil {
		return err
	}
	item, err := JSONToItem(doc)
	if err != nil {
		return &ItemError{Err: err}
	}
	for _, name := range s.names {
		if _, ok := item[name]; !ok {
			return &ItemError{Err: fmt.Errorf("%w %q in item", ErrMissingKey, name)}
		}
	}
	out, err := c.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:              aws.String(table),
		Item:                   item,
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	})
	if err != nil {
		return putError(table, err)
	}
	c.accountOne(out.ConsumedCapacity, true)
	return nil
}

// Delete removes an item and reports whether it existed.
func (c *Client) Delete(ctx context.Context, table string, key map[string]string) (bool, error) {
	s, err := c.schemaOf(ctx, table)
	if err != nil {
		return false, err
	}
	av, err := s.keyAV(key)
	if err != nil {
		return false, err
	}
	out, err := c.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:              aws.String(table),
		Key:                    av,
		ReturnValues:           types.ReturnValueAllOld,
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	})
	if err != nil {
		return false, fmt.Errorf("dynamo: DeleteItem %s: %w", table, err)
	}
	c.accountOne(out.ConsumedCapacity, true)
	return len(out.Attributes) > 0, nil
}

// Ping checks that DynamoDB answers, for health reports.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.api.ListTables(ctx, &dynamodb.ListTablesInput{Limit: aws.Int32(1)})
	if err != nil {
		return fmt.Errorf("dynamo: ping: %w", err)
	}
	return nil
}
