package fcgi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/ddbcache/ddbcache/cache"
)

// mget answers POST /v1/{ns}/_mget. The body is a JSON array of keys:
// strings or numbers (["1","2",3]), or in a namespace with a sort key
// [partition, sort] pairs ([[7,1],[7,2]]). The answer is a JSON object from
// key to item, in request order, without the absent items:
// {"1":{…},"3":{…}}; with a sort key it nests: {"7":{"1":{…}}}.
func (h *Handler) mget(w http.ResponseWriter, r *http.Request, ns string) {
	info, ok := h.engine.Namespace(ns)
	if !ok {
		engineError(w, fmt.Errorf("%w '%s'", cache.ErrUnknownNamespace, ns))
		return
	}
	body, err := h.readBody(w, r)
	if err != nil {
		engineError(w, err)
		return
	}
	keys, err := h.parseKeys(body, info.SortKey != "")
	if err != nil {
		engineError(w, err)
		return
	}
	ctx, cancel := h.context(r)
	defer cancel()
	results, err := h.engine.MGet(ctx, ns, keys)
	if err != nil {
		engineError(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeBody(w, http.StatusOK, renderMGet(keys, results, info.SortKey != ""))
}

// parseKeys reads an _mget body, dropping repeated keys.
func (h *Handler) parseKeys(body []byte, sorted bool) ([]cache.Key, error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		return nil, fmt.Errorf("%w: the body must be a JSON array of keys: %v", errBadRequest, err)
	}
	if limit := h.options().MaxKeys; len(raws) > limit {
		return nil, fmt.Errorf("%w: %d keys exceed the limit of %d a request", cache.ErrTooLarge, len(raws), limit)
	}
	seen := make(map[cache.Key]bool, len(raws))
	keys := make([]cache.Key, 0, len(raws))
	for i, raw := range raws {
		k, err := parseKey(raw, sorted)
		if err != nil {
			return nil, fmt.Errorf("%w: key %d: %v", errBadRequest, i, err)
		}
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// parseKey reads one key of an _mget body.
func parseKey(raw json.RawMessage, sorted bool) (cache.Key, error) {
	if !sorted {
		v, ok := keyText(raw)
		if !ok {
			return cache.Key{}, fmt.Errorf("want a string or a number, got %s", raw)
		}
		return cache.Key{Partition: v}, nil
	}
	var pair []json.RawMessage
	if json.Unmarshal(raw, &pair) != nil || len(pair) != 2 {
		return cache.Key{}, fmt.Errorf("the namespace has a sort key: want a [partition, sort] pair, got %s", raw)
	}
	p, ok1 := keyText(pair[0])
	s, ok2 := keyText(pair[1])
	if !ok1 || !ok2 {
		return cache.Key{}, fmt.Errorf("want strings or numbers in %s", raw)
	}
	return cache.Key{Partition: p, Sort: s}, nil
}

// renderMGet writes the _mget answer. Items are copied as they are, so
// each is byte-identical to its single GET.
func renderMGet(keys []cache.Key, results []cache.Result, sorted bool) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	if !sorted {
		for i, res := range results {
			if res.Value == nil {
				continue
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			writeMember(&b, keys[i].Partition, res.Value)
		}
		b.WriteByte('}')
		return b.Bytes()
	}
	// Group by partition key, in the order partitions first appear.
	var order []string
	groups := map[string][]int{}
	for i, res := range results {
		if res.Value == nil {
			continue
		}
		p := keys[i].Partition
		if _, ok := groups[p]; !ok {
			order = append(order, p)
		}
		groups[p] = append(groups[p], i)
	}
	for j, p := range order {
		if j > 0 {
			b.WriteByte(',')
		}
		writeString(&b, p)
		b.WriteString(":{")
		for n, i := range groups[p] {
			if n > 0 {
				b.WriteByte(',')
			}
			writeMember(&b, keys[i].Sort, results[i].Value)
		}
		b.WriteByte('}')
	}
	b.WriteByte('}')
	return b.Bytes()
}

// writeMember writes "name":value.
func writeMember(b *bytes.Buffer, name string, value []byte) {
	writeString(b, name)
	b.WriteByte(':')
	b.Write(value)
}

// writeString writes s as a JSON string.
func writeString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s) // a string always marshals
	b.Write(enc)
}
