package cache

import (
	"context"
	"errors"
	"fmt"
)

// Pinger is implemented by loaders that can check their backend is up;
// dynamo.Client does.
type Pinger interface {
	Ping(ctx context.Context) error
}

// TableChecker is implemented by loaders that can say whether a table
// exists and can be read; dynamo.Client does.
type TableChecker interface {
	CheckTable(ctx context.Context, table string) error
}

// FaultClassifier is implemented by loaders that can tell a failure of
// the backend (unreachable, timed out, throttled, 5xx) from a request it
// refused (a bad key, a condition): only the former makes the engine log
// DynamoDB as unreachable. dynamo.Client implements it; without it every
// error counts as a failure of the backend.
type FaultClassifier interface {
	Unavailable(err error) bool
}

// Health says which backends answer, and which namespaces' tables are
// missing or unreadable (name → reason).
type Health struct {
	Redis         bool              `json:"redis"`
	DynamoDB      bool              `json:"dynamodb"`
	MissingTables map[string]string `json:"missing_tables,omitempty"`
}

// OK reports whether every backend answers and every table exists.
func (h Health) OK() bool { return h.Redis && h.DynamoDB && len(h.MissingTables) == 0 }

// Connected reports whether Redis is usable now: the last probe (at most
// Options.ProbeInterval ago) was answered and no invalidation is pending.
func (e *Engine) Connected() bool { return e.redisUp() }

// Health probes Redis at once (which also updates the link, see
// link.go), reports whether DynamoDB answers within ctx when the loader is
// a Pinger, and checks every namespace's table when it is a TableChecker.
func (e *Engine) Health(ctx context.Context) Health {
	e.probeRedis()
	h := Health{Redis: e.Connected(), DynamoDB: true}
	if p, ok := e.opts.Loader.(Pinger); ok {
		h.DynamoDB = p.Ping(ctx) == nil
	}
	if h.DynamoDB {
		h.MissingTables = e.CheckTables(ctx)
	}
	return h
}

// CheckTables checks every namespace's table and returns the namespaces
// whose table cannot be used, with the reason; nil when all can, or when
// the loader cannot check. The daemon logs the result at start, since a
// namespace on a missing table otherwise fails only at its first lookup.
func (e *Engine) CheckTables(ctx context.Context) map[string]string {
	tc, ok := e.opts.Loader.(TableChecker)
	if !ok {
		return nil
	}
	t := e.ns.Load()
	var out map[string]string
	for _, name := range t.names {
		table := t.byName[name].Table
		if err := tc.CheckTable(ctx, table); err != nil {
			if out == nil {
				out = map[string]string{}
			}
			out[name] = fmt.Sprintf("table %s: %v", table, err)
		}
	}
	return out
}

// dynamoState logs DynamoDB's transitions between answering and failing,
// from the results of the engine's own requests (no extra traffic).
type dynamoState struct {
	log      *transitions
	classify FaultClassifier // nil: every error is a fault
}

// loaded records the outcome of a DynamoDB request and returns err. A
// request refused for its content, or given up by its caller (context
// canceled), says nothing about DynamoDB.
func (e *Engine) loaded(err error) error {
	d := e.dynamo
	if err == nil {
		d.log.change(true, "")
		return nil
	}
	if !errors.Is(err, context.Canceled) && (d.classify == nil || d.classify.Unavailable(err)) {
		d.log.change(false, err.Error())
	}
	return err
}
