package unixsock

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
	"github.com/ddbcache/ddbcache/streams"
)

// commandArgs is an example of every allowlisted command; "@k" marks the
// places of keys. TestReservedKeysRefused fails for a command missing here.
var commandArgs = map[string][]string{
	"get": {"@k"}, "mget": {"@k", "@k"}, "strlen": {"@k"}, "getrange": {"@k", "0", "-1"},
	"set": {"@k", "v"}, "setex": {"@k", "100", "v"}, "psetex": {"@k", "100000", "v"}, "setnx": {"@k", "v"},
	"mset": {"@k", "v", "@k", "v"}, "getset": {"@k", "v"}, "getdel": {"@k"}, "getex": {"@k", "PERSIST"},
	"append": {"@k", "v"}, "incr": {"@k"}, "decr": {"@k"}, "incrby": {"@k", "2"}, "decrby": {"@k", "2"},
	"incrbyfloat": {"@k", "1.5"},
	"del":         {"@k", "@k"}, "unlink": {"@k", "@k"}, "exists": {"@k", "@k"}, "type": {"@k"},
	"expire": {"@k", "100"}, "pexpire": {"@k", "100000"}, "expireat": {"@k", "1"}, "persist": {"@k"},
	"ttl": {"@k"}, "pttl": {"@k"},
	"hget": {"@k", "f"}, "hmget": {"@k", "f", "g"}, "hgetall": {"@k"}, "hexists": {"@k", "f"}, "hlen": {"@k"},
	"hkeys": {"@k"}, "hvals": {"@k"}, "hset": {"@k", "f", "v"}, "hsetnx": {"@k", "f", "v"},
	"hmset": {"@k", "f", "v"}, "hdel": {"@k", "f"}, "hincrby": {"@k", "f", "1"},
	"lpush": {"@k", "x"}, "rpush": {"@k", "x"}, "lpop": {"@k"}, "rpop": {"@k", "2"}, "llen": {"@k"},
	"lrange": {"@k", "0", "-1"}, "ltrim": {"@k", "0", "0"},
	"sadd": {"@k", "m"}, "srem": {"@k", "m"}, "smembers": {"@k"}, "sismember": {"@k", "m"}, "scard": {"@k"},
	"zadd": {"@k", "1", "m"}, "zrem": {"@k", "m"}, "zincrby": {"@k", "1", "m"}, "zscore": {"@k", "m"},
	"zcard": {"@k"}, "zrange": {"@k", "0", "-1"},
}

// reservedState creates, through the engine where it can, one key of every
// kind the engine keeps for itself, and returns them by kind.
func reservedState(t *testing.T, f *fixture) map[string]string {
	t.Helper()
	ctx := testenv.Context(t)
	f.Seed(t, "1", "Ann")
	e := f.engine
	for _, k := range []struct{ ns, id string }{{"sturdy", "1"}, {"profile", "1"}, {"profile", "404"}} {
		if _, err := e.Get(ctx, k.ns, cache.Key{Partition: k.id}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.Invalidate(ctx, "profile", []cache.Key{{Partition: "2"}}); err != nil {
		t.Fatal(err)
	}
	// A lease lives only while a fill runs; this is one as acquireScript
	// takes it (SET lease TOKEN NX PX lease_ttl).
	f.RDB.Set(ctx, "{user_profile:3}:lease", "0123abcd-1", time.Minute)
	lock, seq := "ddbcache:stream:{users}:shardId-0001:lock", "ddbcache:stream:{users}:shardId-0001:seq"
	coord := streams.NewCoordinator(e)
	if _, err := coord.TryLock(ctx, lock, "daemon-a", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := coord.SaveCheckpoint(ctx, seq, "49590338271490256608559692538361571095921575989136588898"); err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{
		"negative entry":      "{user_profile:404}:neg",
		"stale-if-error copy": "{sturdy:1}:stale",
		"lease":               "{user_profile:3}:lease",
		"invalidation marker": "{user_profile:2}:inv",
		"stream lock":         lock,
		"stream checkpoint":   seq,
	}
	for kind, key := range keys {
		if f.RDB.Exists(ctx, key).Val() != 1 {
			t.Fatalf("the engine wrote no %s %s", kind, key)
		}
	}
	return keys
}

// snapshot is a key's state, compared before and after: its serialized
// value and whether it has a TTL.
func snapshot(t *testing.T, f *enginetest.Fixture, key string) string {
	t.Helper()
	ctx := testenv.Context(t)
	return fmt.Sprintf("%q ttl:%v", f.RDB.Dump(ctx, key).Val(), f.RDB.PTTL(ctx, key).Val() > 0)
}

// TestReservedKeysRefused sends every allowlisted write command, with each
// kind of reserved key at each of its key positions, and checks the clear
// error and that the engine's keys — and the command's other keys — are
// untouched. Read-only commands on the same keys are served as Redis
// serves them.
func TestReservedKeysRefused(t *testing.T) {
	f := newFixture(t, func(o *cache.Options) { o.ConsistentWindow = 10 * time.Minute })
	reserved := reservedState(t, f)
	before := map[string]string{}
	for _, key := range reserved {
		before[key] = snapshot(t, f.Fixture, key)
	}
	daemon := dialRaw(t, "unix", f.sock)
	redis := dialRaw(t, "tcp", f.Redis.Addr)
	for _, name := range sortedAllowlist() {
		sp := allowlist[name]
		tmpl, ok := commandArgs[name]
		if !ok {
			t.Errorf("allowlisted %s has no example in commandArgs", name)
			continue
		}
		args := append([]string{strings.ToUpper(name)}, tmpl...)
		for kind, key := range reserved {
			for _, pos := range sp.keyPositions(len(args)) {
				cmd := withKeys(args, pos, key)
				t.Run(fmt.Sprintf("%s/%s/key %d", name, kind, pos), func(t *testing.T) {
					got := daemon.do(cmd...)
					if !sp.readOnly {
						what, _ := f.engine.ReservedKey(key)
						want := fmt.Sprintf("-ERR key '%s' is reserved for ddbcache's own use (%s); change items with DDB PUT, DEL or INVALIDATE\r\n", key, what)
						if got != want {
							t.Errorf("%q:\n got  %q\n want %q", cmd, got, want)
						}
						return
					}
					want := redis.do(cmd...)
					if (name == "pttl" || name == "ttl") && closeTTLs(got, want) {
						return
					}
					if got != want {
						t.Errorf("read %q: daemon %q, Redis %q", cmd, got, want)
					}
				})
			}
		}
	}
	for kind, key := range reserved {
		if after := snapshot(t, f.Fixture, key); after != before[key] {
			t.Errorf("%s %s changed: %s, was %s", kind, key, after, before[key])
		}
	}
	ctx := testenv.Context(t)
	if n := f.RDB.Exists(ctx, "free:1", "free:2", "free:3").Val(); n != 0 {
		t.Errorf("refused commands wrote %d of their other keys", n)
	}
	res, err := f.engine.Get(ctx, "profile", cache.Key{Partition: "404"})
	if err != nil || res.Value != nil || res.Source != cache.SourceNegative {
		t.Errorf("lookup after the attempts: %+v, %v", res, err)
	}
}

// withKeys fills the key places of args: key at position pos, distinct
// free keys elsewhere.
func withKeys(args []string, pos int, key string) []string {
	out := append([]string(nil), args...)
	free := 0
	for i, a := range out {
		switch {
		case i == pos:
			out[i] = key
		case a == "@k":
			free++
			out[i] = fmt.Sprintf("free:%d", free)
		}
	}
	return out
}

// closeTTLs reports whether two TTL/PTTL replies are integers at most
// 100 (ms or s) apart: the two reads are a moment apart, so the time left
// may differ a little; the reply's type may not.
func closeTTLs(a, b string) bool {
	num := func(r string) (int64, bool) {
		if !strings.HasPrefix(r, ":") {
			return 0, false
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(r[1:], "\r\n"), 10, 64)
		return n, err == nil
	}
	x, okA := num(a)
	y, okB := num(b)
	return okA && okB && x-y <= 100 && y-x <= 100
}
