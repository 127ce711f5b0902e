package cache

// SetAfterLoad installs the test hook that runs between a leased fill's
// DynamoDB read and its store.
func (e *Engine) SetAfterLoad(fn func(ns string, k Key)) { e.afterLoad = fn }
