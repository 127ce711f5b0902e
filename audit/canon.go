package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
)

// equalItems reports whether two items' JSON say the same: the same
// attributes with the same values, whatever their order, and numbers
// equal as numbers (1.50 and 1.5, 1e2 and 100), never through a float.
// nil is an item that does not exist. The bytes cannot simply be
// compared: a value stored in another format comes back as JSON with its
// own key order and number spelling.
func equalItems(a, b []byte) (bool, error) {
	if a == nil || b == nil {
		return a == nil && b == nil, nil
	}
	if bytes.Equal(a, b) {
		return true, nil
	}
	va, err := decode(a)
	if err != nil {
		return false, err
	}
	vb, err := decode(b)
	if err != nil {
		return false, err
	}
	return equalValues(va, vb), nil
}

// decode parses doc, keeping numbers as written.
func decode(doc []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("audit: item is not JSON: %w", err)
	}
	return v, nil
}

// equalValues compares two decoded JSON values: objects key by key,
// arrays element by element, numbers as exact rationals.
func equalValues(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, e := range x {
			f, ok := y[k]
			if !ok || !equalValues(e, f) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalValues(x[i], y[i]) {
				return false
			}
		}
		return true
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		if x == y {
			return true
		}
		rx, okx := new(big.Rat).SetString(string(x))
		ry, oky := new(big.Rat).SetString(string(y))
		return okx && oky && rx.Cmp(ry) == 0
	}
	return a == b // string, bool, nil
}
