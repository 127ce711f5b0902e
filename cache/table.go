package cache

import (
	"fmt"
	"sort"
	"time"
)

// nsTable is the engine's namespace table: immutable once built, replaced
// whole by SetNamespaces (copy-on-write through Engine.ns). A lookup loads
// the table once, so it finishes on the table it started with even when a
// reload replaces it meanwhile.
type nsTable struct {
	byName map[string]*namespace
	names  []string // sorted
}

// buildTable validates namespaces as New does and compiles them. Each
// namespace gets the counters of its name from c (see counters.of), so a
// namespace whose settings change keeps counting where it was.
func buildTable(namespaces []Namespace, c *counters) (*nsTable, error) {
	t := &nsTable{byName: make(map[string]*namespace, len(namespaces))}
	for _, n := range namespaces {
		ns, err := compile(n)
		if err != nil {
			return nil, err
		}
		if _, dup := t.byName[ns.Name]; dup {
			return nil, fmt.Errorf("cache: namespace %q defined twice", ns.Name)
		}
		t.byName[ns.Name] = ns
		t.names = append(t.names, ns.Name)
	}
	sort.Strings(t.names)
	if c != nil {
		for _, ns := range t.byName {
			ns.stats = c.of(ns.Name)
		}
	}
	return t, nil
}

// nsMap returns the current namespace table by name. Callers must not
// modify it.
func (e *Engine) nsMap() map[string]*namespace { return e.ns.Load().byName }

// CheckNamespaces validates namespaces as New and SetNamespaces do,
// without changing anything: a reload checks everything before it
// applies anything.
func CheckNamespaces(namespaces []Namespace) error {
	_, err := buildTable(namespaces, nil)
	return err
}

// SetNamespaces replaces the namespace table, validating it as New does;
// on an error nothing changes. Lookups under way finish on the table they
// started with; later lookups of a removed namespace get
// ErrUnknownNamespace. A namespace's counters are kept by name: one
// removed stops being reported by Stats (and so by the metrics), and one
// added again later goes on from its old counts, so counters never go
// backwards. Values already cached keep the TTL they were stored with;
// fills from now on use the new settings.
//
// When a namespace is removed, or its table, key attributes or Redis key
// template change, the Notifier hears a Flush: the clients' local caches
// hold values by namespace and key and are kept coherent by the Redis keys
// of those values, so after such a change they could serve an item of a
// namespace that is gone, or one whose invalidations now name other keys.
func (e *Engine) SetNamespaces(namespaces []Namespace) error {
	t, err := buildTable(namespaces, e.stats)
	if err != nil {
		return err
	}
	old := e.ns.Swap(t)
	if remapped(old, t) {
		e.notifyFlush()
	}
	return nil
}

// remapped reports whether a namespace of old is gone from next or maps
// its keys to other items or Redis keys there.
func remapped(old, next *nsTable) bool {
	for name, o := range old.byName {
		n, ok := next.byName[name]
		if !ok || o.Table != n.Table || o.PartitionKey != n.PartitionKey || o.SortKey != n.SortKey || o.RedisKey != n.RedisKey {
			return true
		}
	}
	return false
}

// Limits are the engine's settings that can change while it runs (see
// SetLimits); the zero value of a field means its default, as in Options.
type Limits struct {
	// MaxValueBytes is Options.MaxValueBytes.
	MaxValueBytes int
	// GutterTTL is Options.GutterTTL: 0 the default, negative off.
	GutterTTL time.Duration
}

// SetLimits changes the limits of the running engine. A lower
// MaxValueBytes applies to writes and to RESP connections opened from now
// on (an open connection keeps the read buffer bound it was opened with).
func (e *Engine) SetLimits(l Limits) error {
	if l.MaxValueBytes < 0 {
		return fmt.Errorf("cache: MaxValueBytes must not be negative, got %d", l.MaxValueBytes)
	}
	if l.MaxValueBytes == 0 {
		l.MaxValueBytes = DefaultMaxValueBytes
	}
	if l.GutterTTL == 0 {
		l.GutterTTL = DefaultGutterTTL
	}
	e.maxValue.Store(int64(l.MaxValueBytes))
	e.gutter.setTTL(l.GutterTTL)
	return nil
}
