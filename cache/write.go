package cache

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/redis/rueidis"
)

// Put writes doc, a JSON object holding the namespace's key attributes, to
// DynamoDB, then invalidates the item's cache entries. It returns only
// after both, so a client that reads after Put returned sees the new item.
//
// While Redis is known to be down, Put writes nothing and says so
// (ErrRedis): the invalidation could not follow. When Redis fails after
// DynamoDB took the write, Put returns ErrPending: the item was written,
// and its invalidation is queued (see pending.go).
func (e *Engine) Put(ctx context.Context, nsName string, doc []byte) error {
	ns, err := e.namespace(nsName)
	if err != nil {
		return err
	}
	if len(doc) > e.MaxValueBytes() {
		return fmt.Errorf("%w: item of %d bytes exceeds max_value_bytes (%d)", ErrTooLarge, len(doc), e.MaxValueBytes())
	}
	if err := checkUTF8(doc); err != nil {
		return err
	}
	k, err := ns.keyOf(doc)
	if err != nil {
		return err
	}
	if err := e.writable(); err != nil {
		return err
	}
	ns.stats.dynamoWrites.Add(1)
	lctx, cancel := e.loadContext()
	defer cancel()
	if err := e.loaded(e.opts.Loader.Put(lctx, ns.Table, doc)); err != nil {
		e.log.Warn("DDB PUT not written: DynamoDB refused or failed", "namespace", ns.Name, "table", ns.Table, "err", err)
		return putError(err) // ErrTooLarge, ErrBadItem or ErrLoad (item.go)
	}
	return e.invalidateWritten(ctx, ns, k, "written to")
}

// Delete deletes an item from DynamoDB, then invalidates its cache entries,
// and reports whether the item existed. Redis failures are handled as in Put.
func (e *Engine) Delete(ctx context.Context, nsName string, k Key) (bool, error) {
	ns, err := e.namespace(nsName)
	if err != nil {
		return false, err
	}
	if err := ns.check(k); err != nil {
		return false, err
	}
	if err := e.writable(); err != nil {
		return false, err
	}
	ns.stats.dynamoWrites.Add(1)
	lctx, cancel := e.loadContext()
	defer cancel()
	existed, err := e.opts.Loader.Delete(lctx, ns.Table, ns.dynamoKey(k))
	if err := e.loaded(err); err != nil {
		e.log.Warn("DDB DEL not done: DynamoDB failed", "namespace", ns.Name, "table", ns.Table, "err", err)
		return false, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	if err := e.invalidateWritten(ctx, ns, k, "deleted from"); err != nil {
		return existed, err
	}
	return existed, nil
}

// writable refuses a write before it touches DynamoDB while Redis is known
// to be down: its cache entries could not be dropped, and other daemons
// would go on serving the old item from Redis.
func (e *Engine) writable() error {
	if e.redisUp() {
		return nil
	}
	return fmt.Errorf("%w: nothing was written (the cache entries could not be invalidated); retry when Redis is back", ErrRedis)
}

// invalidateWritten invalidates the entries of k after DynamoDB took a
// write. If Redis fails now, the write cannot be undone: the invalidation
// is queued, the link goes down at once (so this daemon stops reading
// Redis, where the old value may still be, until the queue is applied),
// and the error says exactly that.
func (e *Engine) invalidateWritten(ctx context.Context, ns *namespace, k Key, what string) error {
	_, err := e.invalidate(ctx, ns, []Key{k})
	if err == nil {
		return nil
	}
	e.queueInvalidation(ns, []Key{k}, err)
	e.log.Warn("item "+what+" DynamoDB, but Redis failed before its cache entries were dropped; invalidation queued", "namespace", ns.Name, "key", ns.redisKey(k), "err", err)
	return pendingError(what, err)
}

// queueInvalidation queues keys' invalidation and takes the link down,
// under linkMu so that a probe cannot bring the link up between the two
// without having seen the queued keys.
func (e *Engine) queueInvalidation(ns *namespace, keys []Key, cause error) {
	e.linkMu.Lock()
	defer e.linkMu.Unlock()
	e.pending.add(ns, keys)
	e.setRedisUp(false, "invalidation failed: "+cause.Error())
}

// Invalidate drops the cache entries of keys without writing DynamoDB and
// returns how many keys had an entry (a value or a negative entry).
func (e *Engine) Invalidate(ctx context.Context, nsName string, keys []Key) (int, error) {
	ns, err := e.namespace(nsName)
	if err != nil {
		return 0, err
	}
	for _, k := range keys {
		if err := ns.check(k); err != nil {
			return 0, err
		}
	}
	return e.invalidate(ctx, ns, keys)
}

// invalidate deletes the value, negative and stale entries and the lease
// of keys, and leaves the marker that makes the next fill read
// consistently (see the lease scheme in lease.go). The gutter's copies go
// first, whatever Redis does. While Redis is known to be down nothing
// else is done, and the error says so. Last, after Redis changed and
// before the caller replies, the Notifier hears of the value keys: a
// tracking client that reads after the reply has dropped its copy. It
// hears of them on failure too, since a part of the invalidation may have
// happened.
func (e *Engine) invalidate(ctx context.Context, ns *namespace, keys []Key) (int, error) {
	vks := make([]string, len(keys))
	for i, k := range keys {
		vks[i] = ns.redisKey(k)
	}
	e.gutter.drop(vks...)
	defer e.notify(vks...)
	c := e.redis.get()
	if c == nil || !e.redisUp() {
		return 0, fmt.Errorf("%w: cache entries not invalidated", ErrRedis)
	}
	n, err := e.invalidateRedis(ctx, c, ns, keys)
	if err != nil {
		e.link.suspect()
	}
	return n, err
}

// invalidateRedis runs the invalidation script (invalidateSource) for keys. The keys are marked as
// written first, so that from now on this daemon reads them from Redis
// rather than from a local copy that Redis's tracking push has not
// evicted yet.
func (e *Engine) invalidateRedis(ctx context.Context, c rueidis.Client, ns *namespace, keys []Key) (int, error) {
	execs := make([]rueidis.LuaExec, len(keys))
	marker := strconv.FormatInt(e.opts.ConsistentWindow.Milliseconds(), 10)
	args := append([]string{marker}, ns.historyArgs(e.now())...)
	for i, k := range keys {
		vk := ns.redisKey(k)
		e.bypass.mark(vk, negKey(vk), staleKey(vk))
		execs[i] = rueidis.LuaExec{
			Keys: []string{vk, negKey(vk), staleKey(vk), leaseKey(vk), invKey(vk), histKey(vk)},
			Args: args,
		}
	}
	return e.invalidateEval(ctx, c, execs)
}

// keyOf checks that doc is a JSON object and extracts the namespace's key
// attributes from it as text (strings unquoted, numbers as written).
func (ns *namespace) keyOf(doc []byte) (Key, error) {
	if !json.Valid(doc) {
		var v any
		err := json.Unmarshal(doc, &v)
		return Key{}, fmt.Errorf("%w: malformed JSON: %v", ErrBadItem, err)
	}
	var fields map[string]json.RawMessage
	if trimmed := bytes.TrimLeft(doc, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' {
		return Key{}, fmt.Errorf("%w: item must be a JSON object", ErrBadItem)
	}
	if err := json.Unmarshal(doc, &fields); err != nil {
		return Key{}, fmt.Errorf("%w: malformed JSON: %v", ErrBadItem, err)
	}
	text := func(attr string) (string, error) {
		raw, ok := fields[attr]
		if !ok {
			return "", fmt.Errorf("%w: item lacks key attribute %q", ErrBadItem, attr)
		}
		if len(raw) > 0 && raw[0] == '"' {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return "", fmt.Errorf("%w: key attribute %q: %v", ErrBadItem, attr, err)
			}
			return s, nil
		}
		var n json.Number
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&n); err != nil {
			return "", fmt.Errorf("%w: key attribute %q must be a string or a number", ErrBadItem, attr)
		}
		return n.String(), nil
	}
	var k Key
	var err error
	if k.Partition, err = text(ns.PartitionKey); err != nil {
		return Key{}, err
	}
	if ns.SortKey != "" {
		if k.Sort, err = text(ns.SortKey); err != nil {
			return Key{}, err
		}
	}
	if err := ns.check(k); err != nil {
		return Key{}, err
	}
	return k, nil
}
