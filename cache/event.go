package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ErrBadEvent means a stream event is not the JSON that AWS Lambda receives
// from a DynamoDB stream.
var ErrBadEvent = errors.New("cache: bad stream event")

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
func (e *Engine) InvalidateEvent(ctx context.Context, body []byte) (int, error) {
	var ev streamEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	if ev.Records == nil {
		return 0, fmt.Errorf("%w: no Records", ErrBadEvent)
	}
	var targets []target
	for i, r := range ev.Records {
		switch r.EventName {
		case "INSERT", "MODIFY", "REMOVE":
		default:
			return 0, fmt.Errorf("%w: record %d: eventName %q is not INSERT, MODIFY or REMOVE", ErrBadEvent, i, r.EventName)
		}
		table, err := tableOfARN(r.EventSourceARN)
		if err != nil {
			return 0, fmt.Errorf("%w: record %d: %v", ErrBadEvent, i, err)
		}
		keys, err := streamKeys(r.DynamoDB.Keys)
		if err != nil {
			return 0, fmt.Errorf("%w: record %d: %v", ErrBadEvent, i, err)
		}
		t, err := e.targets(table, []map[string]string{keys})
		if err != nil {
			return 0, fmt.Errorf("%w: record %d: %v", ErrBadEvent, i, err)
		}
		targets = append(targets, t...)
	}
	return e.invalidateTargets(ctx, targets)
}

// target is keys to invalidate in one namespace.
type target struct {
	ns   *namespace
	keys []Key
}

// targets maps item keys of table (attribute name → text) to the keys of
// every namespace on that table. A key that does not fit a namespace is
// an error, and nothing is invalidated.
func (e *Engine) targets(table string, items []map[string]string) ([]target, error) {
	var out []target
	for _, ns := range e.nsMap() {
		if ns.Table != table {
			continue
		}
		t := target{ns: ns}
		for _, item := range items {
			k := Key{Partition: item[ns.PartitionKey]}
			if ns.SortKey != "" {
				k.Sort = item[ns.SortKey]
			}
			if err := ns.check(k); err != nil {
				return nil, fmt.Errorf("keys %v do not fit namespace '%s': %w", item, ns.Name, err)
			}
			t.keys = append(t.keys, k)
		}
		out = append(out, t)
	}
	return out, nil
}

func (e *Engine) invalidateTargets(ctx context.Context, targets []target) (int, error) {
	dropped := 0
	for _, t := range targets {
		n, err := e.invalidate(ctx, t.ns, t.keys)
		dropped += n
		if err != nil {
			return dropped, err
		}
	}
	return dropped, nil
}

// InvalidateTableKeys invalidates items of table, given by their key
// attributes as text, in every namespace on the table. The DynamoDB
// Streams consumer calls it for each batch of records.
func (e *Engine) InvalidateTableKeys(ctx context.Context, table string, keys []map[string]string) (int, error) {
	targets, err := e.targets(table, keys)
	if err != nil {
		return 0, fmt.Errorf("cache: %w", err)
	}
	return e.invalidateTargets(ctx, targets)
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
