package cache

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/rueidis"
)

// scanBatch is how many keys one SCAN step asks for when a namespace is
// invalidated whole.
const scanBatch = 1000

// InvalidateTable drops every cache entry of the namespaces on table, for
// when a writer of the table cannot name the items that changed (the
// Streams consumer's checkpoint fell behind the stream's trim horizon, see
// package streams). It stays in the engine because only the engine knows
// which keys its namespaces' templates produce. It SCANs for the keys
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
