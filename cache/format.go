package cache

import (
	"fmt"

	"github.com/ddbcache/ddbcache/valuefmt"
	"github.com/redis/rueidis"
)

// Value formats: the engine's side of package valuefmt.
//
// A fill stores Namespace.Codec's encoding of the item's JSON (fillExec);
// every read turns what Redis holds back into JSON by the value's first
// byte, not by the namespace's codec, so values written before a change
// of format (or by legacy code, always JSON) read as well as new ones.
// Clients only ever see JSON.
//
// A hit served from the client-side cache returns the same bytes each
// time; decoding them on every hit would throw away much of what the
// local cache saves, so the JSON decoded from a tagged value is kept per
// value key in Engine.memo and reused while the bytes are the same. Plain
// JSON goes through untouched, at the cost of one byte's comparison.

// decodeValue returns the JSON of raw, the value read from vk. A value
// that cannot be decoded is counted as a Redis error, logged, and
// reported as not found: DynamoDB answers instead.
func (e *Engine) decodeValue(vk string, raw []byte) ([]byte, bool) {
	doc, err := e.memo.Decode(vk, raw)
	if err != nil {
		e.stats.redisErrors.Add(1)
		e.log.Warn("cache value in Redis cannot be decoded; answering from DynamoDB", "key", vk, "err", err)
		return nil, false
	}
	return doc, true
}

// acquired is parseAcquire with a value found in Redis decoded to JSON;
// one that cannot be decoded is an error, so the fill reads DynamoDB.
func (e *Engine) acquired(vk string, res rueidis.RedisResult) (acquireResult, error) {
	a, err := parseAcquire(res)
	if err != nil || a.kind != acquiredValue {
		return a, err
	}
	if a.value, err = e.memo.Decode(vk, a.value); err != nil {
		return a, fmt.Errorf("%w: %w", ErrRedis, err)
	}
	return a, nil
}

// newMemo is the engine's memo of decoded values.
func newMemo() *valuefmt.Memo { return valuefmt.NewMemo(valuefmt.DefaultMemoBytes) }
