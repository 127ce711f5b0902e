package cache

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// Shared state of the DynamoDB Streams consumers of all daemons, kept in
// Redis: which daemon reads a shard (a lock with renewal) and how far it
// got (a checkpoint). dynamo.StreamConsumer uses these through its
// Coordinator interface.

var (
	// KEYS: lock. ARGV: owner, ttl ms. Takes a free lock or renews our own.
	lockScript = rueidis.NewLuaScript(`
local v = redis.call('GET', KEYS[1])
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0`)
	// KEYS: lock. ARGV: owner. Releases the lock only if we hold it.
	unlockScript = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)
)

// scanBatch is how many keys one SCAN step asks for when a namespace is
// invalidated whole.
const scanBatch = 1000

// TryLock takes the lock name for owner, or renews it if owner holds it,
// for ttl. It reports whether owner holds the lock now.
func (e *Engine) TryLock(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	if err := stateName(name); err != nil {
		return false, err
	}
	c, err := e.client()
	if err != nil {
		return false, err
	}
	n, err := lockScript.Exec(ctx, c, []string{name}, []string{owner, strconv.FormatInt(ttl.Milliseconds(), 10)}).AsInt64()
	if err != nil {
		return false, fmt.Errorf("%w: lock %s: %v", ErrRedis, name, err)
	}
	return n == 1, nil
}

// Unlock releases the lock name if owner holds it.
func (e *Engine) Unlock(ctx context.Context, name, owner string) error {
	if err := stateName(name); err != nil {
		return err
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	if err := unlockScript.Exec(ctx, c, []string{name}, []string{owner}).Error(); err != nil {
		return fmt.Errorf("%w: unlock %s: %v", ErrRedis, name, err)
	}
	return nil
}

// LoadCheckpoint returns the checkpoint saved under name, or "".
func (e *Engine) LoadCheckpoint(ctx context.Context, name string) (string, error) {
	if err := stateName(name); err != nil {
		return "", err
	}
	c, err := e.client()
	if err != nil {
		return "", err
	}
	v, err := c.Do(ctx, c.B().Get().Key(name).Build()).ToString()
	if rueidis.IsRedisNil(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("%w: checkpoint %s: %v", ErrRedis, name, err)
	}
	return v, nil
}

// SaveCheckpoint saves value under name. Checkpoints expire after a week:
// DynamoDB keeps stream records for 24 hours, so an older one is useless.
func (e *Engine) SaveCheckpoint(ctx context.Context, name, value string) error {
	if err := stateName(name); err != nil {
		return err
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	if err := c.Do(ctx, c.B().Set().Key(name).Value(value).Ex(7*24*time.Hour).Build()).Error(); err != nil {
		return fmt.Errorf("%w: checkpoint %s: %v", ErrRedis, name, err)
	}
	return nil
}

// InvalidateTable drops every cache entry of the namespaces on table, for
// when the stream consumer cannot prove it saw every change (its
// checkpoint fell behind the stream's trim horizon). It SCANs for the keys
// that the namespace's template can produce — the literal prefix before
// its first placeholder — on every Redis node, in bounded steps, and
// returns how many keys it deleted. The Notifier is told to flush, since
// naming every key would be as costly as the SCAN.
func (e *Engine) InvalidateTable(ctx context.Context, table string) (int, error) {
	c, err := e.client()
	if err != nil {
		return 0, err
	}
	deleted, flush := 0, false
	defer func() {
		if flush {
			e.notifyFlush()
		}
	}()
	for _, ns := range e.nsMap() {
		if ns.Table != table {
			continue
		}
		flush = true
		e.gutter.purge()
		n, err := e.invalidateWhole(ctx, c, ns)
		deleted += n
		if err != nil {
			return deleted, err
		}
	}
	return deleted, nil
}

// invalidateWhole deletes every key that ns's template can produce: it
// SCANs for the literal prefix before the template's first placeholder
// (and its hash-tagged companions) on every Redis node, in bounded steps.
func (e *Engine) invalidateWhole(ctx context.Context, c rueidis.Client, ns *namespace) (int, error) {
	prefix := ns.parts[0].literal
	if prefix == "" {
		// "*" would match every key in Redis, other apps' included.
		return 0, fmt.Errorf("cache: cannot invalidate namespace %s whole: its redis_key %q starts with a placeholder", ns.Name, ns.RedisKey)
	}
	deleted := 0
	for _, pattern := range []string{globEscape(prefix) + "*", "{" + globEscape(prefix) + "*"} {
		for _, node := range c.Nodes() {
			n, err := scanDelete(ctx, node, pattern)
			deleted += n
			if err != nil {
				return deleted, fmt.Errorf("%w: invalidate namespace %s: %v", ErrRedis, ns.Name, err)
			}
		}
	}
	return deleted, nil
}

// scanDelete deletes the keys matching pattern on one node.
func scanDelete(ctx context.Context, node rueidis.Client, pattern string) (int, error) {
	deleted := 0
	cursor := uint64(0)
	for {
		entry, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(pattern).Count(scanBatch).Build()).AsScanEntry()
		if err != nil {
			return deleted, err
		}
		for _, k := range entry.Elements {
			// One DEL a key: in a cluster the keys of a batch span slots.
			if n, err := node.Do(ctx, node.B().Del().Key(k).Build()).AsInt64(); err == nil {
				deleted += int(n)
			} else if !errors.Is(err, context.Canceled) {
				return deleted, err
			}
		}
		if entry.Cursor == 0 {
			return deleted, nil
		}
		cursor = entry.Cursor
	}
}

// globEscape escapes the characters that SCAN MATCH treats specially.
func globEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`).Replace(s)
}
