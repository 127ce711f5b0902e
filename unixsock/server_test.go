package unixsock_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
	"github.com/ddbcache/ddbcache/tracking"
	"github.com/ddbcache/ddbcache/unixsock"
	"github.com/redis/go-redis/v9"
)

// socketPath returns a socket path in a fresh short temp dir.
func socketPath(t testing.TB) string {
	t.Helper()
	return filepath.Join(testenv.ShortDir(t), "ddbcache.sock")
}

// serve starts a server for engine on opts (Path defaults to a fresh
// socket) and stops it at the end of the test.
func serve(t testing.TB, engine *cache.Engine, opts unixsock.Options) *unixsock.Server {
	t.Helper()
	if opts.Path == "" && opts.TCP == "" {
		opts.Path = socketPath(t)
	}
	srv, err := unixsock.Listen(engine, opts)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Serve(t, srv.Serve, func() { _ = srv.Close() })
	return srv
}

// client returns a go-redis client of the socket: an independent RESP2
// implementation, as Perl's Redis.pm would be.
func client(t testing.TB, path string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: path, Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { c.Close() })
	return c
}

// setup is a server on real Redis and dynalite with two seeded users,
// with DDB TRACK enabled.
func setup(t *testing.T) (*enginetest.Fixture, *cache.Engine, string) {
	t.Helper()
	f := enginetest.New(t)
	f.Seed(t, "1", "Ann")
	f.Seed(t, "2", "Bob")
	reg := tracking.New(tracking.Options{})
	e := f.Engine(t, func(o *cache.Options) {
		o.MaxValueBytes = 64 << 10
		o.Notifier = reg
	})
	srv := serve(t, e, unixsock.Options{Tracking: reg})
	return f, e, srv.Addrs()[0].String()
}

// TestConformance runs one table of commands on one connection: each
// answer must match, and after each (error or not) the connection must
// still answer PING.
func TestConformance(t *testing.T) {
	f, _, path := setup(t)
	ctx := testenv.Context(t)
	conn := client(t, path).Conn()
	defer conn.Close()
	big := strings.Repeat("x", 70<<10)
	ann, bob := enginetest.UserJSON("1", "Ann"), enginetest.UserJSON("2", "Bob")
	cases := []struct {
		name    string
		args    []any
		want    any // string, int64, nil (a nil reply), []any
		wantErr string
	}{
		{"lookup", []any{"DDB", "GET", "profile", "1"}, ann, ""},
		{"lookup again", []any{"ddb", "get", "profile", "1"}, ann, ""},
		{"absent item", []any{"DDB", "GET", "profile", "404"}, nil, ""},
		{"absent again", []any{"DDB", "GET", "profile", "404"}, nil, ""},
		{"legacy key through the passthrough", []any{"GET", "user_profile:1"}, ann, ""},
		{"mget in request order", []any{"DDB", "MGET", "profile", "2", "404", "1", "405"}, []any{bob, nil, ann, nil}, ""},
		{"put", []any{"DDB", "PUT", "profile", `{"user_id":"3","name":"Zoë 東京","n":123456789012345678901}`}, "OK", ""},
		{"get after put", []any{"DDB", "GET", "profile", "3"}, `{"n":123456789012345678901,"name":"Zoë 東京","user_id":"3"}`, ""},
		{"del", []any{"DDB", "DEL", "profile", "3"}, int64(1), ""},
		{"del again", []any{"DDB", "DEL", "profile", "3"}, int64(0), ""},
		{"get after del", []any{"DDB", "GET", "profile", "3"}, nil, ""},
		{"invalidate", []any{"DDB", "INVALIDATE", "profile", "1", "never"}, int64(1), ""},
		{"sort-key namespace", []any{"DDB", "PUT", "events", `{"account":7,"seq":1,"kind":"login"}`}, "OK", ""},
		{"sort-key get", []any{"DDB", "GET", "events", "7", "1"}, `{"account":7,"kind":"login","seq":1}`, ""},
		{"sort-key mget pairs", []any{"DDB", "MGET", "events", "7", "1", "7", "2"}, []any{`{"account":7,"kind":"login","seq":1}`, nil}, ""},
		{"sort-key mget odd", []any{"DDB", "MGET", "events", "7"}, nil, "takes key/sort-key pairs"},
		{"unknown namespace", []any{"DDB", "GET", "nope", "1"}, nil, "ERR unknown namespace 'nope'"},
		{"get arity", []any{"DDB", "GET", "profile"}, nil, "ERR DDB GET takes 2 or 3 arguments"},
		{"get arity high", []any{"DDB", "GET", "profile", "1", "2", "3"}, nil, "ERR DDB GET takes 2 or 3 arguments"},
		{"sort key where none", []any{"DDB", "GET", "profile", "1", "x"}, nil, "has no sort key"},
		{"put malformed JSON", []any{"DDB", "PUT", "profile", `{"user_id":`}, nil, "malformed JSON"},
		{"put non-object", []any{"DDB", "PUT", "profile", `[1,2]`}, nil, "JSON object"},
		{"put without key", []any{"DDB", "PUT", "profile", `{"name":"x"}`}, nil, `lacks key attribute "user_id"`},
		{"put too large", []any{"DDB", "PUT", "profile", `{"user_id":"9","x":"` + big + `"}`}, nil, "exceeds max_value_bytes"},
		{"set too large", []any{"SET", "k", big}, nil, "exceeds max_value_bytes"},
		{"unknown subcommand", []any{"DDB", "FROB"}, nil, "unknown DDB subcommand 'FROB'"},
		{"bare DDB", []any{"DDB"}, nil, "needs a subcommand"},
		{"stats arity", []any{"DDB", "STATS", "x"}, nil, "takes no arguments"},
		{"getc of an absent item", []any{"DDB", "GETC", "profile", "404"}, []any{nil, "user_profile:404", int64(0)}, ""},
		{"getc sort-key item", []any{"DDB", "GETC", "events", "7", "2"}, []any{nil, "events:7:2", int64(0)}, ""},
		{"getc arity", []any{"DDB", "GETC", "profile"}, nil, "ERR DDB GETC takes 2 or 3 arguments"},
		{"getc arity high", []any{"DDB", "GETC", "profile", "1", "2", "3"}, nil, "ERR DDB GETC takes 2 or 3 arguments"},
		{"getc unknown namespace", []any{"DDB", "GETC", "nope", "1"}, nil, "ERR unknown namespace 'nope'"},
		{"getc sort key where none", []any{"DDB", "GETC", "profile", "1", "x"}, nil, "has no sort key"},
		{"track arity", []any{"DDB", "TRACK", "x"}, nil, "ERR DDB TRACK takes no arguments"},
		{"track arity high", []any{"ddb", "track", "x", "y"}, nil, "ERR DDB TRACK takes no arguments"},
		{"flushall refused", []any{"FLUSHALL"}, nil, "unknown command 'FLUSHALL'"},
		{"config refused", []any{"CONFIG", "GET", "save"}, nil, "unknown command 'CONFIG'"},
		{"keys refused", []any{"KEYS", "*"}, nil, "unknown command 'KEYS'"},
		{"eval refused", []any{"EVAL", "return 1", "0"}, nil, "unknown command 'EVAL'"},
		{"passthrough arity", []any{"GET"}, nil, "wrong number of arguments for 'get'"},
		{"mset pairs", []any{"MSET", "a", "1", "b"}, nil, "wrong number of arguments"},
		{"set", []any{"SET", "plain", "v"}, "OK", ""},
		{"setex", []any{"SETEX", "tmp", "100", "v"}, "OK", ""},
		{"ttl", []any{"TTL", "tmp"}, int64(100), ""},
		{"get own write", []any{"GET", "plain"}, "v", ""},
		{"get missing key is nil", []any{"GET", "missing"}, nil, ""},
		{"set nx on existing key is nil", []any{"SET", "plain", "w", "NX"}, nil, ""},
		{"hget missing field is nil", []any{"HGET", "h0", "f"}, nil, ""},
		{"incr", []any{"INCR", "counter"}, int64(1), ""},
		{"wrong type error relayed", []any{"HGET", "plain", "f"}, nil, "WRONGTYPE"},
		{"redis error relayed", []any{"INCR", "plain"}, nil, "ERR value is not an integer"},
		{"hset", []any{"HSET", "h", "f", "1", "g", "2"}, int64(2), ""},
		{"hgetall", []any{"HGETALL", "h"}, nil, ""}, // checked below: order is Redis's
		{"mget passthrough", []any{"MGET", "plain", "missing"}, []any{"v", nil}, ""},
		{"del passthrough", []any{"DEL", "plain", "counter"}, int64(2), ""},
		{"echo", []any{"ECHO", "hi"}, "hi", ""},
		{"select 0", []any{"SELECT", "0"}, "OK", ""},
		{"select 1", []any{"SELECT", "1"}, nil, "database 0 only"},
		{"client setname", []any{"CLIENT", "SETNAME", "perl-worker-1"}, "OK", ""},
		{"client getname", []any{"CLIENT", "GETNAME"}, "perl-worker-1", ""},
		{"auth without password", []any{"AUTH", "x"}, nil, "without any password configured"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := conn.Do(ctx, tc.args...).Result()
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("%v: err = %v, want one containing %q (reply %v)", tc.args, err, tc.wantErr, got)
				}
			case tc.name == "hgetall":
				if err != nil || fmt.Sprint(got) != "[f 1 g 2]" && fmt.Sprint(got) != "[g 2 f 1]" {
					t.Errorf("HGETALL = %v, %v", got, err)
				}
			case tc.want == nil:
				if !errors.Is(err, redis.Nil) {
					t.Errorf("%v = %v, %v; want nil", tc.args, got, err)
				}
			default:
				if err != nil || fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", tc.want) {
					t.Errorf("%v = %#v, %v; want %#v", tc.args, got, err, tc.want)
				}
			}
			if pong, err := conn.Ping(ctx).Result(); pong != "PONG" || err != nil {
				t.Fatalf("connection unusable after %v: %q, %v", tc.args, pong, err)
			}
		})
	}
	t.Run("what reached Redis", func(t *testing.T) {
		if v := f.RDB.Get(ctx, "user_profile:2").Val(); v != bob {
			t.Errorf("user_profile:2 = %q", v)
		}
		if n := f.RDB.Exists(ctx, "plain", "counter").Val(); n != 0 {
			t.Errorf("DEL through the passthrough left %d keys", n)
		}
		if n := f.RDB.DBSize(ctx).Val(); n == 0 {
			t.Error("FLUSHALL was refused but Redis is empty")
		}
	})
	t.Run("stats and namespaces are JSON", func(t *testing.T) {
		for _, sub := range []string{"STATS", "NAMESPACES"} {
			v, err := conn.Do(ctx, "DDB", sub).Text()
			if err != nil || !strings.HasPrefix(v, "{") && !strings.HasPrefix(v, "[") {
				t.Errorf("DDB %s = %q, %v", sub, v, err)
			}
		}
	})
}
