package cache

import (
	"errors"
	"fmt"
	"strings"
)

// Reserved keys.
//
// Beside each value the engine keeps keys of its own in Redis, and its
// correctness rests on nobody else writing them: a forged
// "{user_profile:3}:neg" makes an existing item read as absent, a forged
// ":lease" makes every lookup of the item wait LeaseWait and never refill,
// a deleted ":inv" lets the next fill read DynamoDB eventually
// consistently right after a write, and a forged stream lock or checkpoint
// stops or rewinds a Streams consumer. The passthrough checks command
// names against an allowlist, not keys, so Forward refuses every write to
// these keys as well (ReservedKey). Reading them stays allowed: it changes
// nothing, and `TTL {user_profile:3}:lease` is how an operator sees why a
// lookup waits.
//
// Value keys themselves are not reserved: legacy code reads them, and
// during a migration still writes them, which the engine already copes
// with (a write there is like one from a host without the daemon).

// itemKeyKinds are the keys the engine keeps per item, each derived from
// the item's value key. Everything the engine writes beside values is
// here or under statePrefix: a key kind added to the engine is one line
// here, and TestEngineWritesOnlyReservedKeys fails until it is added.
var itemKeyKinds = []struct {
	what string
	key  func(valueKey string) string
}{
	{"negative entry", negKey},
	{"stale-if-error copy", staleKey},
	{"lease", leaseKey},
	{"invalidation marker", invKey},
	{"write history", histKey},
}

// statePrefix starts the keys of state that belongs to no one item: the
// Streams consumers' shard locks and checkpoints
// (ddbcache:stream:{table}:shard:lock|seq, see package streams). The
// state methods (state.go) refuse names outside it, so new state cannot
// escape the reservation.
const statePrefix = "ddbcache:"

// ErrReservedKey means a client's command would write a key that the
// engine keeps for itself (see ReservedKey).
var ErrReservedKey = errors.New("cache: key reserved for ddbcache's own use")

// reservedKeyError names the key and what the engine keeps in it.
type reservedKeyError struct{ key, what string }

func (e *reservedKeyError) Error() string {
	key := e.key
	if len(key) > 128 {
		key = key[:128] + "…"
	}
	return fmt.Sprintf("cache: key '%s' is reserved for ddbcache's own use (%s); change items with DDB PUT, DEL or INVALIDATE", key, e.what)
}

func (e *reservedKeyError) Unwrap() error { return ErrReservedKey }

// ReservedKey reports whether key is one the engine keeps for itself, and
// what it holds ("the lease of user_profile:3"). Forward refuses to write
// such keys.
func (e *Engine) ReservedKey(key string) (what string, reserved bool) {
	if strings.HasPrefix(key, statePrefix) {
		return "ddbcache's shared state: stream locks and checkpoints", true
	}
	for _, kind := range itemKindList {
		if len(key) < len(kind.prefix)+len(kind.suffix) || !strings.HasPrefix(key, kind.prefix) || !strings.HasSuffix(key, kind.suffix) {
			continue
		}
		vk := key[len(kind.prefix) : len(key)-len(kind.suffix)]
		for _, ns := range e.nsMap() {
			if ns.produces(vk) {
				return "the " + kind.what + " of " + vk, true
			}
		}
	}
	return "", false
}

// refuseReserved returns a reservedKeyError for the first key of a write
// command (keyPos indexes args) that is reserved.
func (e *Engine) refuseReserved(args []string, keyPos []int, readOnly bool) error {
	if readOnly {
		return nil
	}
	for _, p := range keyPos {
		if what, ok := e.ReservedKey(args[p]); ok {
			return &reservedKeyError{key: args[p], what: what}
		}
	}
	return nil
}

// itemKind is an item key kind as the text around the value key.
type itemKind struct{ what, prefix, suffix string }

// itemKindList is itemKeyKinds as the text around the value key.
var itemKindList = splitKinds()

// splitKinds splits each kind's key around a probe value key:
// "{" + vk + "}:neg" gives prefix "{" and suffix "}:neg".
func splitKinds() []itemKind {
	const probe = "\x00"
	kinds := make([]itemKind, len(itemKeyKinds))
	for i, k := range itemKeyKinds {
		prefix, suffix, _ := strings.Cut(k.key(probe), probe)
		kinds[i] = itemKind{what: k.what, prefix: prefix, suffix: suffix}
	}
	return kinds
}

// produces reports whether the namespace's template yields key for some
// valid Key: the literals in place, each key value non-empty, at most
// maxKeyBytes, and without braces (see namespace.check).
func (ns *namespace) produces(key string) bool {
	return matchTemplate(ns.parts, key)
}

func matchTemplate(parts []templatePart, s string) bool {
	if len(parts) == 0 {
		return s == ""
	}
	if p := parts[0]; p.attr == "" {
		return strings.HasPrefix(s, p.literal) && matchTemplate(parts[1:], s[len(p.literal):])
	}
	// Only the lengths that leave the rest of the template a possible
	// length are tried, so a long key costs at most about maxKeyBytes
	// tries per key value rather than one per split of it.
	restMin, restMax := lengthBounds(parts[1:])
	first := max(1, len(s)-restMax)
	last := min(len(s)-restMin, maxKeyBytes)
	if strings.ContainsAny(s[:min(len(s), max(first-1, 0))], "{}") {
		return false
	}
	for i := first; i <= last; i++ {
		if c := s[i-1]; c == '{' || c == '}' {
			return false
		}
		if matchTemplate(parts[1:], s[i:]) {
			return true
		}
	}
	return false
}

// lengthBounds returns the shortest and longest text parts can match.
func lengthBounds(parts []templatePart) (lo, hi int) {
	for _, p := range parts {
		if p.attr == "" {
			lo += len(p.literal)
			hi += len(p.literal)
		} else {
			lo++
			hi += maxKeyBytes
		}
	}
	return lo, hi
}
