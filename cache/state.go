package cache

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// Shared state.
//
// Daemons share small pieces of state that belong to no item: today the
// Streams consumers' shard locks and checkpoints (package streams). The
// engine owns the Redis connection and the reserved key space, so it
// offers these four primitives on names under StatePrefix, which clients
// cannot write through the passthrough (see reserved.go); what the names
// mean is the caller's business.

// StatePrefix starts every shared-state name. The state methods refuse
// other names, so new state cannot escape the reservation.
const StatePrefix = statePrefix

var (
	// KEYS: name. ARGV: owner, ttl ms. Sets a free name to owner or
	// renews owner's; replies 1 when owner holds it, 0 when another does.
	claimScript = rueidis.NewLuaScript(`
local v = redis.call('GET', KEYS[1])
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0`)
	// KEYS: name. ARGV: owner. Deletes the name only if owner holds it;
	// replies how many keys it deleted.
	unclaimScript = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)
)

// ClaimState sets name to owner for ttl if it is free or already owner's
// (a lock with renewal), and reports whether owner holds it now.
func (e *Engine) ClaimState(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	c, err := e.stateClient(name)
	if err != nil {
		return false, err
	}
	n, err := claimScript.Exec(ctx, c, []string{name}, []string{owner, strconv.FormatInt(ttl.Milliseconds(), 10)}).AsInt64()
	if err != nil {
		return false, fmt.Errorf("%w: claim %s: %v", ErrRedis, name, err)
	}
	return n == 1, nil
}

// ReleaseState deletes name if owner holds it (see ClaimState).
func (e *Engine) ReleaseState(ctx context.Context, name, owner string) error {
	c, err := e.stateClient(name)
	if err != nil {
		return err
	}
	if err := unclaimScript.Exec(ctx, c, []string{name}, []string{owner}).Error(); err != nil {
		return fmt.Errorf("%w: release %s: %v", ErrRedis, name, err)
	}
	return nil
}

// GetState returns the value of name, or "" when it has none.
func (e *Engine) GetState(ctx context.Context, name string) (string, error) {
	c, err := e.stateClient(name)
	if err != nil {
		return "", err
	}
	v, err := c.Do(ctx, c.B().Get().Key(name).Build()).ToString()
	if rueidis.IsRedisNil(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("%w: get %s: %v", ErrRedis, name, err)
	}
	return v, nil
}

// SetState sets name to value for ttl.
func (e *Engine) SetState(ctx context.Context, name, value string, ttl time.Duration) error {
	c, err := e.stateClient(name)
	if err != nil {
		return err
	}
	if err := c.Do(ctx, c.B().Set().Key(name).Value(value).Px(ttl).Build()).Error(); err != nil {
		return fmt.Errorf("%w: set %s: %v", ErrRedis, name, err)
	}
	return nil
}

// stateClient checks that name lies under StatePrefix and returns the
// Redis client.
func (e *Engine) stateClient(name string) (rueidis.Client, error) {
	if !strings.HasPrefix(name, statePrefix) {
		return nil, fmt.Errorf("cache: state key %q must start with %q, which clients cannot write", name, statePrefix)
	}
	return e.client()
}
