package cache_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
)

func TestReservedKey(t *testing.T) {
	f := enginetest.New(t)
	e := f.Engine(t, nil)
	cases := []struct {
		key  string
		want string // "" means not reserved
	}{
		{"{user_profile:3}:neg", "the negative entry of user_profile:3"},
		{"{user_profile:3}:stale", "the stale-if-error copy of user_profile:3"},
		{"{user_profile:3}:lease", "the lease of user_profile:3"},
		{"{user_profile:3}:inv", "the invalidation marker of user_profile:3"},
		{"{events:7:1}:lease", "the lease of events:7:1"},
		{"{sturdy:x}:stale", "the stale-if-error copy of sturdy:x"},
		{"ddbcache:stream:{users}:shardId-0001:lock", "ddbcache's shared state: stream locks and checkpoints"},
		{"ddbcache:stream:{users}:shardId-0001:seq", "ddbcache's shared state: stream locks and checkpoints"},
		{"user_profile:3", ""}, // the legacy value key stays the apps'
		{"sess:abc", ""},
		{"{session:3}:lease", ""},      // not a namespace's value key
		{"{user_profile:}:neg", ""},    // no item has an empty key
		{"{user_profile:3}:neg:x", ""}, // another suffix
		{"user_profile:3:neg", ""},     // no hash tag
		{"{events:7}:lease", ""},       // events keys need a sort key
		{"{user_profile:a}b}:neg", ""}, // key values have no braces
		{"{user_profile:3}:NEG", ""},   // Redis keys are case-sensitive
		{"ddbcach:stream:x", ""},
	}
	for _, tc := range cases {
		t.Run(tc.key, func(t *testing.T) {
			what, ok := e.ReservedKey(tc.key)
			if ok != (tc.want != "") || what != tc.want {
				t.Errorf("ReservedKey = %q, %v; want %q", what, ok, tc.want)
			}
		})
	}
	t.Run("a long adversarial key is answered fast", func(t *testing.T) {
		// Every split of the colons fits "events:{account}:{seq}" but
		// for the key values' length limit: the worst case of the match.
		key := "{events:" + strings.Repeat(":", 5000) + "}:lease"
		start := time.Now()
		if _, ok := e.ReservedKey(key); ok {
			t.Error("reserved")
		}
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("took %s", d)
		} else {
			t.Logf("took %s", d)
		}
	})
	t.Run("state outside ddbcache: is refused", func(t *testing.T) {
		ctx := testenv.Context(t)
		if _, err := e.ClaimState(ctx, "stream:users:lock", "me", time.Second); err == nil {
			t.Error("ClaimState accepted a name clients could write")
		}
		if err := e.SetState(ctx, "seq", "1", time.Second); err == nil {
			t.Error("SetState accepted a name clients could write")
		}
	})
}

// TestForwardRefusesReservedWrites: a write command naming a reserved key
// at any key position fails with ErrReservedKey and reaches no Redis; a
// read of one is served.
func TestForwardRefusesReservedWrites(t *testing.T) {
	f := enginetest.New(t)
	e := f.Engine(t, nil)
	ctx := testenv.Context(t)
	f.RDB.Set(ctx, "{user_profile:3}:lease", "token", time.Minute)
	for _, tc := range []struct {
		name     string
		args     []string
		keyPos   []int
		readOnly bool
		refused  bool
	}{
		{"set", []string{"SET", "{user_profile:3}:lease", "x"}, []int{1}, false, true},
		{"del, second key", []string{"DEL", "free", "{user_profile:3}:lease"}, []int{1, 2}, false, true},
		{"get is a read", []string{"GET", "{user_profile:3}:lease"}, []int{1}, true, false},
		{"ttl is a read", []string{"PTTL", "{user_profile:3}:lease"}, []int{1}, true, false},
		{"value key", []string{"SET", "user_profile:3", "{}"}, []int{1}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.Forward(ctx, tc.args, tc.keyPos, tc.readOnly)
			if refused := errors.Is(err, cache.ErrReservedKey); refused != tc.refused {
				t.Fatalf("Forward(%q) = %v, refused %v", tc.args, err, tc.refused)
			}
			if tc.refused && !strings.Contains(err.Error(), "key '{user_profile:3}:lease' is reserved for ddbcache's own use (the lease of user_profile:3)") {
				t.Errorf("message %q", err)
			}
		})
	}
	if v := f.RDB.Get(ctx, "{user_profile:3}:lease").Val(); v != "token" {
		t.Errorf("the lease is %q now", v)
	}
	if n := f.RDB.Exists(ctx, "free").Val(); n != 0 {
		t.Error("a refused DEL deleted its other key")
	}
}

// TestEngineWritesOnlyReservedKeys watches every command Redis runs
// (MONITOR) while the engine does everything it does — lookups, misses,
// sort keys, stale copies, MGET, writes, invalidations, stream state,
// whole-table invalidation — and checks that every key it touches is a
// value key or a reserved one, and that it touched every reserved kind.
// A key kind added to the engine but not to the reserved list fails here.
func TestEngineWritesOnlyReservedKeys(t *testing.T) {
	f := enginetest.New(t)
	f.Seed(t, "1", "Ann")
	e := f.Engine(t, nil)
	ctx := testenv.Context(t)
	mon := monitor(t, f.Redis.Addr)

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	values := map[string]bool{}
	get := func(ns string, k cache.Key) {
		t.Helper()
		_, err := e.Get(ctx, ns, k)
		must(err)
		vk, err := e.RedisKey(ns, k)
		must(err)
		values[vk] = true
	}
	get("profile", cache.Key{Partition: "1"})
	get("profile", cache.Key{Partition: "1"})
	get("profile", cache.Key{Partition: "404"})
	get("sturdy", cache.Key{Partition: "1"})
	get("events", cache.Key{Partition: "7", Sort: "1"})
	_, err := e.MGet(ctx, "profile", []cache.Key{{Partition: "1"}, {Partition: "2"}, {Partition: "405"}})
	must(err)
	for _, id := range []string{"2", "405", "9"} {
		values["user_profile:"+id] = true
	}
	must(e.Put(ctx, "profile", []byte(`{"user_id":"9","name":"Nine"}`)))
	_, err = e.Delete(ctx, "profile", cache.Key{Partition: "9"})
	must(err)
	_, err = e.Invalidate(ctx, "profile", []cache.Key{{Partition: "1"}})
	must(err)
	lock, seq := "ddbcache:stream:{users}:shardId-1:lock", "ddbcache:stream:{users}:shardId-1:seq"
	_, err = e.ClaimState(ctx, lock, "me", time.Minute)
	must(err)
	must(e.SetState(ctx, seq, "42", time.Minute))
	_, err = e.GetState(ctx, seq)
	must(err)
	must(e.ReleaseState(ctx, lock, "me"))
	_, err = e.InvalidateTable(ctx, "users")
	must(err)

	seen := map[string]bool{}
	for _, key := range mon.keys(t, f) {
		if values[key] {
			continue
		}
		what, ok := e.ReservedKey(key)
		if !ok {
			t.Errorf("the engine touched %q, which is neither a value key nor reserved: add its kind to cache/reserved.go", key)
			continue
		}
		kind, _, _ := strings.Cut(strings.TrimPrefix(what, "the "), " of ")
		seen[kind] = true
	}
	for _, kind := range append(cache.ReservedKinds(), "ddbcache's shared state: stream locks and checkpoints") {
		if !seen[kind] {
			t.Errorf("the workload never touched a %s: extend it, or the kind is dead", kind)
		}
	}
}

// monitorConn is a MONITOR connection to Redis.
type monitorConn struct {
	conn net.Conn
	r    *bufio.Reader
}

// monitor starts MONITOR; Redis logs every command from its +OK on.
func monitor(t *testing.T, addr string) *monitorConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	m := &monitorConn{conn: c, r: bufio.NewReader(c)}
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	fmt.Fprint(c, "MONITOR\r\n")
	if line, err := m.r.ReadString('\n'); err != nil || line != "+OK\r\n" {
		t.Fatalf("MONITOR: %q, %v", line, err)
	}
	return m
}

// keyArgs says where the keys of the commands the engine sends are; a
// command missing here fails the test, so that its keys are not missed.
var keyArgs = map[string]func(args []string) []string{
	"get":     func(a []string) []string { return a[1:2] },
	"set":     func(a []string) []string { return a[1:2] },
	"pexpire": func(a []string) []string { return a[1:2] },
	"pttl":    func(a []string) []string { return a[1:2] },
	"hmget":   func(a []string) []string { return a[1:2] },
	"hset":    func(a []string) []string { return a[1:2] },
	"del":     func(a []string) []string { return a[1:] },
	"exists":  func(a []string) []string { return a[1:] },
	"evalsha": scriptKeys,
	"eval":    scriptKeys,
	// rueidis wraps a cached read in MULTI, PTTL, GET, EXEC.
	"multi": nil, "exec": nil,
	"scan": nil, "ping": nil, "hello": nil, "client": nil, "echo": nil, "script": nil,
}

func scriptKeys(a []string) []string {
	n, _ := strconv.Atoi(a[2])
	return a[3 : 3+n]
}

// keys ends the workload with a marker and returns every key that the
// commands before it named.
func (m *monitorConn) keys(t *testing.T, f *enginetest.Fixture) []string {
	t.Helper()
	const marker = "end-of-workload"
	f.RDB.Echo(testenv.Context(t), marker)
	var keys []string
	for {
		line, err := m.r.ReadString('\n')
		if err != nil {
			t.Fatalf("MONITOR: %v", err)
		}
		_, rest, _ := strings.Cut(line, "] ")
		args := monitorArgs(strings.TrimRight(rest, "\r\n"))
		if len(args) == 0 {
			continue
		}
		name := strings.ToLower(args[0])
		if name == "echo" && len(args) == 2 && args[1] == marker {
			return keys
		}
		fn, known := keyArgs[name]
		if !known {
			t.Errorf("the engine sent %s, which the test cannot read keys from: add it to keyArgs (%q)", name, line)
			continue
		}
		if fn != nil {
			keys = append(keys, fn(args)...)
		}
	}
}

// monitorArgs splits a MONITOR line's `"arg" "arg"` list, undoing Redis's
// quoting (\" \\ \n \r \t \a \b \xHH).
func monitorArgs(s string) []string {
	var args []string
	for {
		start := strings.IndexByte(s, '"')
		if start < 0 {
			return args
		}
		var b strings.Builder
		i := start + 1
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] != '\\' || i+1 >= len(s) {
				b.WriteByte(s[i])
				continue
			}
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'a':
				b.WriteByte('\a')
			case 'b':
				b.WriteByte('\b')
			case 'x':
				if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
					b.WriteByte(byte(v))
					i += 2
				}
			default:
				b.WriteByte(s[i])
			}
		}
		args = append(args, b.String())
		s = s[min(i+1, len(s)):]
	}
}
