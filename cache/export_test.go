package cache

import (
	"time"

	"github.com/ddbcache/ddbcache/valuefmt"
)

// SetAfterLoad installs the test hook that runs between a leased fill's
// DynamoDB read and its store.
func (e *Engine) SetAfterLoad(fn func(ns string, k Key)) { e.afterLoad = fn }

// ReservedKinds lists what each item key kind holds ("lease", …), so that
// a test can check it saw the engine write every kind.
func ReservedKinds() []string {
	kinds := make([]string, len(itemKeyKinds))
	for i, k := range itemKeyKinds {
		kinds[i] = k.what
	}
	return kinds
}

// SetClock replaces the engine's clock for write histories and automatic
// TTLs, so a test can space writes without sleeping.
func (e *Engine) SetClock(now func() time.Time) { e.clock = now }

// DecodeEveryHit makes the engine's memo of decoded values too small to
// hold any, so that every hit of a tagged value decodes it: what a hit
// would cost without the memo, for the benchmarks.
func (e *Engine) DecodeEveryHit() { e.memo = valuefmt.NewMemo(1) }
