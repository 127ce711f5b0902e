package streams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/ddbcache/ddbcache/cache"
)

// ErrBadEvent means a stream event is not the JSON that AWS Lambda receives
// from a DynamoDB stream.
var ErrBadEvent = errors.New("streams: bad stream event")

// Invalidator drops the cache entries of changed items; cache.Engine
// implements it.
type Invalidator interface {
	// InvalidateItems checks every key first and invalidates nothing
	// when one does not fit (the error wraps cache.ErrBadKey).
	InvalidateItems(ctx context.Context, items []cache.TableKeys) (int, error)
}

// streamEvent is the part of a Lambda DynamoDB-stream event that matters:
// which table changed and the keys of the changed items.
type streamEvent struct {
	Records []struct {
		EventName      string `json:"eventName"`
		EventSourceARN string `json:"eventSourceARN"`
		DynamoDB       struct {
			Keys map[string]map[string]json.RawMessage `json:"Keys"`
		} `json:"dynamodb"`
	} `json:"Records"`
}

// InvalidateEvent invalidates the items named by a DynamoDB Streams event
// as AWS Lambda receives it ({"Records":[{"eventName":"MODIFY",
// "eventSourceARN":"arn:…:table/users/stream/…","dynamodb":{"Keys":{…}}}]}),
// in every namespace on the record's table. It returns how many cache
// entries were dropped. A malformed event changes nothing and returns
// ErrBadEvent.
func InvalidateEvent(ctx context.Context, inv Invalidator, body []byte) (int, error) {
	items, err := ParseEvent(body)
	if err != nil {
		return 0, err
	}
	n, err := inv.InvalidateItems(ctx, items)
	if errors.Is(err, cache.ErrBadKey) {
		return n, fmt.Errorf("%w: %v", ErrBadEvent, err) // a bad event, not a bad key of a request
	}
	return n, err
}

// ParseEvent returns the items a Lambda DynamoDB-stream event names, one
// TableKeys a record, or ErrBadEvent.
func ParseEvent(body []byte) ([]cache.TableKeys, error) {
	var ev streamEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	if ev.Records == nil {
		return nil, fmt.Errorf("%w: no Records", ErrBadEvent)
	}
	items := make([]cache.TableKeys, 0, len(ev.Records))
	for i, r := range ev.Records {
		switch r.EventName {
		case "INSERT", "MODIFY", "REMOVE":
		default:
			return nil, fmt.Errorf("%w: record %d: eventName %q is not INSERT, MODIFY or REMOVE", ErrBadEvent, i, r.EventName)
		}
		table, err := tableOfARN(r.EventSourceARN)
		if err != nil {
			return nil, fmt.Errorf("%w: record %d: %v", ErrBadEvent, i, err)
		}
		keys, err := streamKeys(r.DynamoDB.Keys)
		if err != nil {
			return nil, fmt.Errorf("%w: record %d: %v", ErrBadEvent, i, err)
		}
		items = append(items, cache.TableKeys{Table: table, Keys: []map[string]string{keys}})
	}
	return items, nil
}

// tableOfARN returns the table name of a stream or table ARN:
// arn:aws:dynamodb:us-east-1:123456789012:table/users/stream/2024-01-01T00:00:00.000.
func tableOfARN(arn string) (string, error) {
	_, rest, ok := strings.Cut(arn, ":table/")
	if !ok || rest == "" {
		return "", fmt.Errorf("eventSourceARN %q names no table", arn)
	}
	table, _, _ := strings.Cut(rest, "/")
	return table, nil
}

// streamKeys converts DynamoDB-typed keys ({"user_id":{"S":"42"}}) to text.
func streamKeys(keys map[string]map[string]json.RawMessage) (map[string]string, error) {
	if len(keys) == 0 {
		return nil, errors.New("no dynamodb.Keys")
	}
	out := make(map[string]string, len(keys))
	for name, typed := range keys {
		if len(typed) != 1 {
			return nil, fmt.Errorf("key %q: want one type (S, N or B)", name)
		}
		for typ, raw := range typed {
			var v string
			if err := json.Unmarshal(raw, &v); err != nil || (typ != "S" && typ != "N" && typ != "B") {
				return nil, fmt.Errorf("key %q: want a string of type S, N or B", name)
			}
			out[name] = v
		}
	}
	return out, nil
}
