package cache

import (
	"context"
	"fmt"
)

// TableKeys names changed items of one DynamoDB table by their key
// attributes as text (attribute name → value), as a stream record or a
// Lambda event does.
type TableKeys struct {
	Table string
	Keys  []map[string]string
}

// InvalidateItems invalidates the items of every TableKeys in every
// namespace on its table, and returns how many cache entries were
// dropped. All keys are checked first: when one does not fit a namespace
// on its table, nothing is invalidated and the error wraps ErrBadKey.
func (e *Engine) InvalidateItems(ctx context.Context, items []TableKeys) (int, error) {
	var targets []target
	for _, it := range items {
		t, err := e.targets(it.Table, it.Keys)
		if err != nil {
			return 0, fmt.Errorf("cache: %w", err)
		}
		targets = append(targets, t...)
	}
	return e.invalidateTargets(ctx, targets)
}

// InvalidateTableKeys invalidates items of table, given by their key
// attributes as text, in every namespace on the table (InvalidateItems of
// one table). The DynamoDB Streams consumer calls it for each batch of
// records.
func (e *Engine) InvalidateTableKeys(ctx context.Context, table string, keys []map[string]string) (int, error) {
	return e.InvalidateItems(ctx, []TableKeys{{Table: table, Keys: keys}})
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
