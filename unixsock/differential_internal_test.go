package unixsock

import (
	"fmt"
	"strings"
	"testing"
)

// diffCase is a sequence of commands sent the same way to the daemon and to
// the redis-server behind it. Arguments "@a", "@b" and "@c" are keys: each
// target gets keys of its own, so the two runs cannot see each other's
// writes (and the daemon's client-side cache cannot hold the other's
// values), and no command needs a FLUSH in between.
type diffCase struct {
	name string
	cmds [][]string
}

// c is shorthand for one command of a case.
func c(args ...string) []string { return args }

// diffCases are edge cases of every allowlisted command: missing keys,
// wrong types, counts, options, infinities, float formats, arity and
// syntax errors. TestAllowlistCovered fails when a command has none.
var diffCases = []diffCase{
	// strings
	{"get", [][]string{c("GET", "@a"), c("SET", "@a", "v"), c("GET", "@a"), c("LPUSH", "@b", "x"), c("GET", "@b"), c("GET", "@a", "x")}},
	{"get of OK is a bulk", [][]string{c("SET", "@a", "OK"), c("GET", "@a")}},
	{"mget", [][]string{c("SET", "@a", "1"), c("LPUSH", "@b", "x"), c("MGET", "@a", "@b", "@c")}},
	{"strlen", [][]string{c("STRLEN", "@a"), c("SET", "@a", "héllo"), c("STRLEN", "@a"), c("LPUSH", "@b", "x"), c("STRLEN", "@b")}},
	{"getrange", [][]string{c("GETRANGE", "@a", "0", "-1"), c("SET", "@a", "Hello World"), c("GETRANGE", "@a", "0", "4"),
		c("GETRANGE", "@a", "-5", "-1"), c("GETRANGE", "@a", "20", "30"), c("GETRANGE", "@a", "x", "1")}},
	{"set", [][]string{c("SET", "@a", "v"), c("SET", "@a", "w", "NX"), c("SET", "@b", "w", "XX"), c("SET", "@a", "w", "XX"),
		c("SET", "@a", "v", "NX", "XX"), c("SET", "@a", "v", "EX", "0"), c("SET", "@a", "v", "EX", "x"), c("SET", "@a", "v", "FROB")}},
	{"set get", [][]string{c("SET", "@a", "v1", "GET"), c("SET", "@a", "v2", "GET"), c("SET", "@b", "OK"), c("SET", "@b", "x", "GET"),
		c("LPUSH", "@c", "x"), c("SET", "@c", "v", "GET"), c("SET", "@a", "v3", "NX", "GET"), c("SET", "@a", "v4", "XX", "GET")}},
	{"set ttl options", [][]string{c("SET", "@a", "v", "EX", "100"), c("TTL", "@a"), c("SET", "@a", "w", "KEEPTTL"), c("TTL", "@a"),
		c("SET", "@a", "x"), c("TTL", "@a"), c("SET", "@a", "v", "PX", "100000"), c("TTL", "@a"), c("SET", "@a", "v", "EX", "10", "PX", "10"),
		c("SET", "@a", "v", "KEEPTTL", "EX", "10")}},
	{"setex", [][]string{c("SETEX", "@a", "100", "v"), c("TTL", "@a"), c("SETEX", "@a", "0", "v"), c("SETEX", "@a", "x", "v"), c("SETEX", "@a", "100")}},
	{"psetex", [][]string{c("PSETEX", "@a", "100000", "v"), c("TTL", "@a"), c("PSETEX", "@a", "-1", "v"), c("PSETEX", "@a", "1.5", "v")}},
	{"setnx", [][]string{c("SETNX", "@a", "v"), c("SETNX", "@a", "w"), c("GET", "@a")}},
	{"mset", [][]string{c("MSET", "@a", "1", "@b", "2"), c("MGET", "@a", "@b"), c("MSET", "@a", "1", "@b"), c("MSET", "@a")}},
	{"getset", [][]string{c("GETSET", "@a", "v"), c("GETSET", "@a", "w"), c("LPUSH", "@b", "x"), c("GETSET", "@b", "v")}},
	{"getdel", [][]string{c("GETDEL", "@a"), c("SET", "@a", "v"), c("GETDEL", "@a"), c("EXISTS", "@a"), c("LPUSH", "@b", "x"), c("GETDEL", "@b")}},
	{"getex", [][]string{c("GETEX", "@a"), c("SET", "@a", "v", "EX", "100"), c("GETEX", "@a", "PERSIST"), c("TTL", "@a"),
		c("GETEX", "@a", "EX", "200"), c("TTL", "@a"), c("GETEX", "@a", "PX", "300000"), c("TTL", "@a"), c("GETEX", "@a", "EX", "1", "PERSIST"),
		c("GETEX", "@a", "FROB"), c("GETEX", "@a", "EX", "0"), c("GETEX", "@a", "EXAT", "x")}},
	{"append", [][]string{c("APPEND", "@a", "Hello"), c("APPEND", "@a", " World"), c("GET", "@a"), c("LPUSH", "@b", "x"), c("APPEND", "@b", "y")}},
	{"incr decr", [][]string{c("INCR", "@a"), c("INCR", "@a"), c("DECR", "@a"), c("DECR", "@b"), c("SET", "@c", "x"), c("INCR", "@c"), c("DECR", "@c"),
		c("SET", "@c", "9223372036854775807"), c("INCR", "@c"), c("SET", "@c", "-9223372036854775808"), c("DECR", "@c"), c("SET", "@c", "1.5"), c("INCR", "@c")}},
	{"incrby decrby", [][]string{c("INCRBY", "@a", "10"), c("INCRBY", "@a", "-3"), c("DECRBY", "@a", "4"), c("INCRBY", "@a", "x"),
		c("DECRBY", "@a", "1.5"), c("INCRBY", "@a", "9223372036854775807"), c("DECRBY", "@b", "-9223372036854775808"), c("LPUSH", "@c", "x"), c("INCRBY", "@c", "1")}},
	{"incrbyfloat", [][]string{c("INCRBYFLOAT", "@a", "10.5"), c("INCRBYFLOAT", "@a", "0.1"), c("INCRBYFLOAT", "@b", "3.0e3"),
		c("INCRBYFLOAT", "@b", "-3000"), c("INCRBYFLOAT", "@c", "5.0e-3"), c("INCRBYFLOAT", "@c", "inf"), c("INCRBYFLOAT", "@c", "x"),
		c("SET", "@a", "x"), c("INCRBYFLOAT", "@a", "1"), c("SET", "@a", "1.5e2"), c("INCRBYFLOAT", "@a", "1"), c("INCRBYFLOAT", "@a", "1e308"),
		c("INCRBYFLOAT", "@a", "1e308")}},
	// keys
	{"del unlink", [][]string{c("MSET", "@a", "1", "@b", "2"), c("DEL", "@a", "@b", "@c"), c("DEL", "@a"), c("SET", "@a", "1"), c("UNLINK", "@a", "@c"), c("UNLINK", "@a")}},
	{"exists", [][]string{c("EXISTS", "@a"), c("SET", "@a", "1"), c("EXISTS", "@a", "@a", "@b")}},
	{"type", [][]string{c("TYPE", "@a"), c("SET", "@a", "1"), c("TYPE", "@a"), c("LPUSH", "@b", "x"), c("TYPE", "@b"), c("HSET", "@c", "f", "v"),
		c("TYPE", "@c"), c("DEL", "@a", "@b"), c("SADD", "@a", "m"), c("TYPE", "@a"), c("ZADD", "@b", "1", "m"), c("TYPE", "@b")}},
	{"expire", [][]string{c("EXPIRE", "@a", "100"), c("SET", "@a", "v"), c("EXPIRE", "@a", "100", "XX"), c("EXPIRE", "@a", "100", "NX"),
		c("TTL", "@a"), c("EXPIRE", "@a", "200", "NX"), c("EXPIRE", "@a", "50", "GT"), c("EXPIRE", "@a", "200", "GT"), c("EXPIRE", "@a", "300", "LT"),
		c("EXPIRE", "@a", "150", "LT"), c("TTL", "@a"), c("EXPIRE", "@a", "1", "GT", "LT"), c("EXPIRE", "@a", "1", "NX", "XX"),
		c("EXPIRE", "@a", "x"), c("EXPIRE", "@a", "1", "FROB"), c("EXPIRE", "@a", "-1"), c("EXISTS", "@a")}},
	{"pexpire", [][]string{c("PEXPIRE", "@a", "100000"), c("SET", "@a", "v"), c("PEXPIRE", "@a", "100000"), c("TTL", "@a"), c("PEXPIRE", "@a", "1", "GT"), c("PEXPIRE", "@a", "1.5")}},
	{"expireat", [][]string{c("SET", "@a", "v"), c("EXPIREAT", "@a", "4102444800"), c("EXPIREAT", "@a", "4102444800", "NX"), c("EXPIREAT", "@b", "1"),
		c("EXPIREAT", "@a", "1"), c("EXISTS", "@a"), c("EXPIREAT", "@a", "x")}},
	{"persist", [][]string{c("PERSIST", "@a"), c("SET", "@a", "v"), c("PERSIST", "@a"), c("EXPIRE", "@a", "100"), c("PERSIST", "@a"), c("TTL", "@a")}},
	{"ttl pttl", [][]string{c("TTL", "@a"), c("PTTL", "@a"), c("SET", "@a", "v"), c("TTL", "@a"), c("PTTL", "@a")}},
	// hashes
	{"hset", [][]string{c("HSET", "@a", "f1", "1", "f2", "2"), c("HSET", "@a", "f1", "x", "f3", "3"), c("HSET", "@a", "f1"), c("HSET", "@a", "f1", "1", "f2"),
		c("SET", "@b", "v"), c("HSET", "@b", "f", "v")}},
	{"hget hmget", [][]string{c("HGET", "@a", "f"), c("HSET", "@a", "f", "v", "g", "w"), c("HGET", "@a", "f"), c("HGET", "@a", "nope"),
		c("HMGET", "@a", "f", "nope", "g"), c("HMGET", "@b", "f"), c("SET", "@b", "x"), c("HGET", "@b", "f"), c("HMGET", "@b", "f")}},
	{"hgetall keeps Redis's order", [][]string{c("HGETALL", "@a"),
		c("HSET", "@a", "f1", "1", "f2", "2", "f3", "3", "f4", "4", "f5", "5", "f6", "6", "f7", "7", "f8", "8"),
		c("HGETALL", "@a"), c("HGETALL", "@a"), c("HKEYS", "@a"), c("HVALS", "@a"), c("SET", "@b", "x"), c("HGETALL", "@b")}},
	{"hgetall of a big hash", [][]string{c("HSET", "@a", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5", "f", "6", "g", "7", "h", "8", "i", "9",
		"j", "10", "k", "11", "l", "12", "m", "13", "n", "14", "o", "15", "p", "16", "q", "17", "r", "18", "s", "19", "t", "20"),
		c("HSET", "@a", "long", strings.Repeat("x", 100)), c("HGETALL", "@a")}},
	{"hexists hlen hkeys hvals", [][]string{c("HEXISTS", "@a", "f"), c("HLEN", "@a"), c("HKEYS", "@a"), c("HVALS", "@a"), c("HSET", "@a", "f", "v"),
		c("HEXISTS", "@a", "f"), c("HEXISTS", "@a", "g"), c("HLEN", "@a"), c("SET", "@b", "x"), c("HLEN", "@b"), c("HKEYS", "@b"), c("HVALS", "@b"), c("HEXISTS", "@b", "f")}},
	{"hsetnx hmset hdel", [][]string{c("HSETNX", "@a", "f", "1"), c("HSETNX", "@a", "f", "2"), c("HMSET", "@a", "g", "1", "h", "2"), c("HMSET", "@a", "g"),
		c("HDEL", "@a", "f", "g", "nope"), c("HDEL", "@a", "h"), c("EXISTS", "@a"), c("HDEL", "@a", "h")}},
	{"hincrby", [][]string{c("HINCRBY", "@a", "f", "5"), c("HINCRBY", "@a", "f", "-7"), c("HINCRBY", "@a", "f", "x"), c("HSET", "@a", "g", "x"),
		c("HINCRBY", "@a", "g", "1"), c("HSET", "@a", "h", "9223372036854775807"), c("HINCRBY", "@a", "h", "1")}},
	// lists
	{"lpush rpush", [][]string{c("LPUSH", "@a", "1", "2"), c("RPUSH", "@a", "3", "4"), c("LRANGE", "@a", "0", "-1"), c("SET", "@b", "x"),
		c("LPUSH", "@b", "1"), c("RPUSH", "@b", "1")}},
	{"lpop counts", [][]string{c("LPOP", "@a"), c("LPOP", "@a", "0"), c("LPOP", "@a", "5"), c("RPUSH", "@a", "1", "2", "3"), c("LPOP", "@a", "0"),
		c("LPOP", "@a"), c("LPOP", "@a", "5"), c("LPOP", "@a", "5"), c("LPOP", "@a", "-1"), c("LPOP", "@a", "x"), c("LPOP", "@a", "1", "2"),
		c("SET", "@b", "x"), c("LPOP", "@b"), c("LPOP", "@b", "2")}},
	{"rpop counts", [][]string{c("RPOP", "@a"), c("RPOP", "@a", "0"), c("RPOP", "@a", "5"), c("RPUSH", "@a", "1", "2", "3"), c("RPOP", "@a", "0"),
		c("RPOP", "@a"), c("RPOP", "@a", "1"), c("RPOP", "@a", "5"), c("RPOP", "@a", "-2"), c("SET", "@b", "x"), c("RPOP", "@b", "1")}},
	{"llen lrange ltrim", [][]string{c("LLEN", "@a"), c("LRANGE", "@a", "0", "-1"), c("LTRIM", "@a", "0", "1"), c("RPUSH", "@a", "a", "b", "c", "d"),
		c("LTRIM", "@a", "1", "-1"), c("LRANGE", "@a", "0", "-1"), c("LRANGE", "@a", "5", "10"), c("LRANGE", "@a", "x", "1"), c("LLEN", "@a"),
		c("LTRIM", "@a", "5", "1"), c("EXISTS", "@a"), c("SET", "@b", "x"), c("LLEN", "@b"), c("LRANGE", "@b", "0", "1"), c("LTRIM", "@b", "0", "1")}},
	// sets
	{"sets", [][]string{c("SADD", "@a", "3", "1", "2", "1"), c("SMEMBERS", "@a"), c("SISMEMBER", "@a", "1"), c("SISMEMBER", "@a", "9"), c("SCARD", "@a"),
		c("SREM", "@a", "1", "9"), c("SMEMBERS", "@a"), c("SMEMBERS", "@c"), c("SCARD", "@c"), c("SISMEMBER", "@c", "1"), c("SREM", "@c", "1"),
		c("SET", "@b", "x"), c("SADD", "@b", "1"), c("SMEMBERS", "@b"), c("SCARD", "@b")}},
	{"set of strings", [][]string{c("SADD", "@a", "apple"), c("SMEMBERS", "@a")}},
	// sorted sets
	{"zadd options", [][]string{c("ZADD", "@a", "1", "a", "2", "b"), c("ZADD", "@a", "NX", "5", "a", "3", "c"), c("ZADD", "@a", "XX", "5", "a", "4", "d"),
		c("ZADD", "@a", "XX", "CH", "6", "a"), c("ZADD", "@a", "GT", "CH", "1", "a", "7", "b"), c("ZADD", "@a", "LT", "CH", "0", "a", "9", "b"),
		c("ZADD", "@a", "NX", "XX", "1", "a"), c("ZADD", "@a", "GT", "LT", "1", "a"), c("ZADD", "@a", "NX", "GT", "1", "a"),
		c("ZADD", "@a", "1", "a", "2"), c("ZADD", "@a", "x", "a"), c("ZADD", "@a", "nan", "a"), c("ZRANGE", "@a", "0", "-1", "WITHSCORES")}},
	{"zadd incr", [][]string{c("ZADD", "@a", "INCR", "1.5", "a"), c("ZADD", "@a", "INCR", "1", "a"), c("ZADD", "@a", "INCR", "1", "a", "2", "b"),
		c("ZADD", "@a", "NX", "INCR", "1", "a"), c("ZADD", "@a", "XX", "INCR", "1", "z"), c("ZADD", "@a", "INCR", "+inf", "a"),
		c("ZADD", "@a", "INCR", "-inf", "a"), c("ZADD", "@a", "INCR", "0.1", "c"), c("SET", "@b", "x"), c("ZADD", "@b", "1", "a")}},
	{"zincrby", [][]string{c("ZINCRBY", "@a", "1.5", "m"), c("ZINCRBY", "@a", "2", "m"), c("ZINCRBY", "@a", "0.1", "n"), c("ZINCRBY", "@a", "inf", "m"),
		c("ZINCRBY", "@a", "-inf", "m"), c("ZINCRBY", "@a", "x", "m"), c("ZINCRBY", "@a", "1e300", "o"), c("ZINCRBY", "@a", "-1e-300", "p"),
		c("SET", "@b", "x"), c("ZINCRBY", "@b", "1", "m")}},
	{"zscore zcard zrem", [][]string{c("ZSCORE", "@a", "m"), c("ZCARD", "@a"), c("ZADD", "@a", "1.5", "a", "+inf", "b", "-inf", "c", "0.1", "d", "3", "e", "1e20", "f", "-0", "g"),
		c("ZSCORE", "@a", "a"), c("ZSCORE", "@a", "b"), c("ZSCORE", "@a", "c"), c("ZSCORE", "@a", "d"), c("ZSCORE", "@a", "e"), c("ZSCORE", "@a", "f"),
		c("ZSCORE", "@a", "g"), c("ZSCORE", "@a", "nope"), c("ZCARD", "@a"), c("ZREM", "@a", "a", "nope"), c("ZREM", "@c", "a"), c("SET", "@b", "x"),
		c("ZSCORE", "@b", "a"), c("ZCARD", "@b"), c("ZREM", "@b", "a")}},
	{"zrange", [][]string{c("ZRANGE", "@a", "0", "-1"), c("ZRANGE", "@a", "0", "-1", "WITHSCORES"),
		c("ZADD", "@a", "1", "a", "2.5", "b", "+inf", "c", "-inf", "d", "3", "e"),
		c("ZRANGE", "@a", "0", "-1"), c("ZRANGE", "@a", "0", "-1", "WITHSCORES"), c("ZRANGE", "@a", "0", "-1", "withscores"),
		c("ZRANGE", "@a", "0", "1", "REV", "WITHSCORES"), c("ZRANGE", "@a", "(1", "+inf", "BYSCORE", "WITHSCORES"),
		c("ZRANGE", "@a", "-inf", "+inf", "BYSCORE", "LIMIT", "1", "2", "WITHSCORES"), c("ZRANGE", "@a", "+inf", "2", "BYSCORE", "REV"),
		c("ZRANGE", "@a", "0", "-1", "LIMIT", "0", "1"), c("ZRANGE", "@a", "x", "1"), c("ZRANGE", "@a", "0", "-1", "FROB"),
		c("ZRANGE", "@a", "[a", "[z", "BYLEX", "WITHSCORES"), c("SET", "@b", "x"), c("ZRANGE", "@b", "0", "-1")}},
	{"zrange bylex", [][]string{c("ZADD", "@a", "0", "a", "0", "b", "0", "c"), c("ZRANGE", "@a", "[a", "(c", "BYLEX"), c("ZRANGE", "@a", "+", "-", "BYLEX", "REV"),
		c("ZRANGE", "@a", "a", "c", "BYLEX")}},
}

// TestDifferential sends every case to the daemon and to its redis-server
// and compares the reply bytes: a RESP2 client must not be able to tell
// the passthrough from Redis. Redis is reached over its own RESP2
// connection (no HELLO), as Redis.pm would reach it.
func TestDifferential(t *testing.T) {
	f := newFixture(t, nil)
	daemon := dialRaw(t, "unix", f.sock)
	redis := dialRaw(t, "tcp", f.Redis.Addr)
	for i, tc := range allDiffCases() {
		t.Run(tc.name, func(t *testing.T) {
			for _, cmd := range tc.cmds {
				want := redis.do(keysFor(cmd, "redis", i)...)
				got := daemon.do(keysFor(cmd, "daemon", i)...)
				if got != want {
					t.Errorf("%s:\n daemon %q\n redis  %q", strings.Join(cmd, " "), got, want)
				}
			}
		})
	}
}

// allDiffCases is diffCases plus, for every allowlisted command, its
// arity errors: the name alone, and for fixed arities one argument too
// many. Redis's text is "ERR wrong number of arguments for 'x' command".
func allDiffCases() []diffCase {
	cases := append([]diffCase(nil), diffCases...)
	for _, name := range sortedAllowlist() {
		sp := allowlist[name]
		cmds := [][]string{{strings.ToUpper(name)}}
		if sp.arity > 0 {
			tooMany := []string{name}
			for i := 1; i <= sp.arity; i++ {
				tooMany = append(tooMany, "@a")
			}
			cmds = append(cmds, tooMany)
		}
		cases = append(cases, diffCase{name: name + " arity", cmds: cmds})
	}
	return cases
}

// keysFor replaces the key placeholders of cmd with target's keys of case i.
func keysFor(cmd []string, target string, i int) []string {
	out := make([]string, len(cmd))
	for j, a := range cmd {
		if len(a) == 2 && a[0] == '@' {
			a = fmt.Sprintf("diff:%s:%d:%c", target, i, a[1])
		}
		out[j] = a
	}
	return out
}

// TestAllowlistCovered fails when an allowlisted command has no case of
// its own in diffCases (arity cases do not count): a command added to the
// allowlist must come with its edge cases.
func TestAllowlistCovered(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range diffCases {
		for _, cmd := range tc.cmds {
			seen[strings.ToLower(cmd[0])] = true
		}
	}
	for _, name := range sortedAllowlist() {
		if !seen[name] {
			t.Errorf("allowlisted command %s has no case in diffCases", strings.ToUpper(name))
		}
	}
}
