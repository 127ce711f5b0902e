package cache

import "time"

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
