package streams

import (
	"context"
	"time"

	"github.com/ddbcache/ddbcache/cache"
)

// Coordinator is what the stream consumers of all daemons share: a lock
// per shard so that one daemon reads it, checkpoints, and the cache they
// invalidate. NewCoordinator makes one over the cache engine's Redis.
type Coordinator interface {
	// TryLock takes or renews a lock for ttl and reports whether owner holds it.
	TryLock(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	Unlock(ctx context.Context, name, owner string) error
	LoadCheckpoint(ctx context.Context, name string) (string, error)
	SaveCheckpoint(ctx context.Context, name, value string) error
	// InvalidateTableKeys invalidates items by key attributes (name → text).
	InvalidateTableKeys(ctx context.Context, table string, keys []map[string]string) (int, error)
	// InvalidateTable drops every cached item of a table.
	InvalidateTable(ctx context.Context, table string) (int, error)
}

// Engine is the part of cache.Engine a Coordinator is built on: shared
// state under cache.StatePrefix, and invalidation.
type Engine interface {
	ClaimState(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	ReleaseState(ctx context.Context, name, owner string) error
	GetState(ctx context.Context, name string) (string, error)
	SetState(ctx context.Context, name, value string, ttl time.Duration) error
	InvalidateTableKeys(ctx context.Context, table string, keys []map[string]string) (int, error)
	InvalidateTable(ctx context.Context, table string) (int, error)
}

// checkpointTTL is how long a checkpoint is kept: DynamoDB keeps stream
// records for 24 hours, so an older one is useless.
const checkpointTTL = 7 * 24 * time.Hour

// NewCoordinator returns the Coordinator of the daemons sharing e's Redis:
// locks and checkpoints are the engine's shared state (reserved keys that
// clients cannot write), invalidations the engine's.
func NewCoordinator(e Engine) Coordinator { return coordinator{e} }

type coordinator struct{ Engine }

func (c coordinator) TryLock(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	return c.ClaimState(ctx, name, owner, ttl)
}

func (c coordinator) Unlock(ctx context.Context, name, owner string) error {
	return c.ReleaseState(ctx, name, owner)
}

func (c coordinator) LoadCheckpoint(ctx context.Context, name string) (string, error) {
	return c.GetState(ctx, name)
}

func (c coordinator) SaveCheckpoint(ctx context.Context, name, value string) error {
	return c.SetState(ctx, name, value, checkpointTTL)
}

// lockName and checkpointName are the Coordinator names of a shard, under
// cache.StatePrefix; the table in braces keeps one table's stream state
// in one cluster slot.
func lockName(table, shard string) string {
	return cache.StatePrefix + "stream:{" + table + "}:" + shard + ":lock"
}

func checkpointName(table, shard string) string {
	return cache.StatePrefix + "stream:{" + table + "}:" + shard + ":seq"
}
