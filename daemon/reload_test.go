package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/daemon"
	"github.com/ddbcache/ddbcache/dynamo"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
	"github.com/ddbcache/ddbcache/unixsock"
	"github.com/redis/go-redis/v9"
)

// options are a daemon's on the fixture, serving a socket in dir.
func options(f *enginetest.Fixture, dir string, log *testenv.LogBuffer) daemon.Options {
	return daemon.Options{
		Engine: cache.Options{Redis: cache.RedisOptions{Addrs: []string{f.Redis.Addr}}, Namespaces: enginetest.Namespaces},
		Dynamo: dynamo.Options{Endpoint: f.Proxy.URL, Region: "us-east-1"},
		Socket: unixsock.Options{Path: filepath.Join(dir, "d.sock")},
		Logger: slog.New(slog.NewTextHandler(log, nil)),
	}
}

func start(t *testing.T, opts daemon.Options) *daemon.Daemon {
	t.Helper()
	d, err := daemon.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = d.Run() }()
	t.Cleanup(func() { _ = d.Shutdown(context.Background()) })
	return d
}

// TestReloadRefuses gives Reload options that change settings a running
// daemon cannot take, each beside a change it could: the error and the
// log line name the refused setting, and nothing changes.
func TestReloadRefuses(t *testing.T) {
	f := enginetest.New(t)
	dir := testenv.ShortDir(t)
	log := &testenv.LogBuffer{}
	base := options(f, dir, log)
	d := start(t, base)
	// Run logs "ddbcache serving" once it serves; wait for it, so that the
	// line does not land in a case's log below.
	enginetest.WaitFor(t, "the daemon's serving line", func() bool { return strings.Contains(log.String(), "ddbcache serving") })
	cases := []struct {
		name, want string
		mod        func(*daemon.Options)
	}{
		{"socket path", "listen.unix", func(o *daemon.Options) { o.Socket.Path = filepath.Join(dir, "other.sock") }},
		{"TCP address", "listen.tcp", func(o *daemon.Options) { o.Socket.TCP = "127.0.0.1:1" }},
		{"HTTP address", "listen.http", func(o *daemon.Options) { o.Web.HTTP = "127.0.0.1:1" }},
		{"Redis addresses", "redis.addrs", func(o *daemon.Options) { o.Engine.Redis.Addrs = []string{"127.0.0.1:1"} }},
		{"Redis password", "redis.password", func(o *daemon.Options) { o.Engine.Redis.Password = "x" }},
		{"client cache", "redis.client_cache_mb", func(o *daemon.Options) { o.Engine.Redis.ClientCacheMB = 1 }},
		{"DynamoDB endpoint", "dynamodb.endpoint", func(o *daemon.Options) { o.Dynamo.Endpoint = "http://127.0.0.1:1" }},
		{"DynamoDB region", "dynamodb.region", func(o *daemon.Options) { o.Dynamo.Region = "eu-west-1" }},
		{"load timeout", "limits.load_timeout", func(o *daemon.Options) { o.Engine.LoadTimeout = time.Minute }},
		{"a bad namespace", "ttl_jitter", func(o *daemon.Options) {
			o.Engine.Namespaces = append([]cache.Namespace{{Name: "x", Table: "t", PartitionKey: "k", TTLJitter: 3}}, o.Engine.Namespaces...)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := base
			opts.Engine.Namespaces = append([]cache.Namespace(nil), base.Engine.Namespaces[1:]...) // a reloadable change
			tc.mod(&opts)
			from := len(log.String())
			err := d.Reload(opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Reload: %v, want an error naming %s", err, tc.want)
			}
			logged := log.String()[from:]
			if strings.Count(logged, "\n") != 1 || !strings.Contains(logged, "level=ERROR") || !strings.Contains(logged, tc.want) {
				t.Errorf("want one error line naming %s, logged %q", tc.want, logged)
			}
			if got := len(d.Engine().Namespaces()); got != len(base.Engine.Namespaces) {
				t.Errorf("a refused reload changed the namespaces: %d of them", got)
			}
		})
	}
	if !errors.Is(d.Reload(func() daemon.Options { o := base; o.Socket.TCP = "127.0.0.1:1"; return o }()), daemon.ErrNotReloadable) {
		t.Error("a refused setting is not ErrNotReloadable")
	}
}

// TestReloadPassword changes the socket's password: connections opened
// from then on need the new one; one already logged in stays logged in.
func TestReloadPassword(t *testing.T) {
	f := enginetest.New(t)
	dir := testenv.ShortDir(t)
	base := options(f, dir, &testenv.LogBuffer{})
	base.Socket.Password = "old"
	d := start(t, base)
	ctx := testenv.Context(t)
	dial := func(password string) *redis.Conn {
		c := redis.NewClient(&redis.Options{Network: "unix", Addr: base.Socket.Path, Protocol: 2, DisableIdentity: true,
			Password: password, MaxRetries: -1})
		t.Cleanup(func() { c.Close() })
		return c.Conn()
	}
	held := dial("old")
	if err := held.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	next := base
	next.Socket.Password = "new"
	if err := d.Reload(next); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		conn    *redis.Conn
		wantErr string
	}{
		{"the open connection stays logged in", held, ""},
		{"a new connection with the new password", dial("new"), ""},
		{"a new connection with the old password", dial("old"), "WRONGPASS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.conn.Ping(ctx).Err()
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("PING: %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// TestReloadStreams turns a namespace's stream on and off: the consumer
// starts for its table, and stops (Reload returns once it has ended). The
// Streams endpoint is a closed local port, so that the consumer reads
// nothing from outside the machine.
func TestReloadStreams(t *testing.T) {
	f := enginetest.New(t)
	dir := testenv.ShortDir(t)
	log := &testenv.LogBuffer{}
	base := options(f, dir, log)
	base.Streams.Endpoint = "http://127.0.0.1:" + fmt.Sprint(testenv.FreePort(t))
	d := start(t, base)
	on := base
	on.Streams.Tables = []string{"users"}
	cases := []struct {
		name string
		opts daemon.Options
		want string
	}{
		{"stream on", on, "consuming DynamoDB Streams"},
		{"stream off", base, "configuration reloaded"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			from := len(log.String())
			if err := d.Reload(tc.opts); err != nil {
				t.Fatal(err)
			}
			logged := log.String()[from:]
			if !strings.Contains(logged, tc.want) || !strings.Contains(logged, "namespaces' stream") {
				t.Errorf("log after Reload: %s", logged)
			}
		})
	}
	if strings.Count(log.String(), "consuming DynamoDB Streams") != 1 {
		t.Errorf("want one consumer started: %s", log)
	}
}

// TestReloadAPILimits lowers limits.max_keys on a daemon with an HTTP
// front: the next _mget over it is refused, with no restart.
func TestReloadAPILimits(t *testing.T) {
	f := enginetest.New(t)
	base := options(f, testenv.ShortDir(t), &testenv.LogBuffer{})
	base.Web.HTTP = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	d := start(t, base)
	mget := func() int {
		resp, err := http.Post("http://"+base.Web.HTTP+"/v1/profile/_mget", "application/json", strings.NewReader(`["1","2"]`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	lowered := base
	lowered.API.MaxKeys, lowered.Socket.MaxKeys = 1, 1
	cases := []struct {
		name string
		opts daemon.Options
		want int
	}{
		{"max_keys 1000", base, http.StatusOK},
		{"max_keys 1", lowered, http.StatusRequestEntityTooLarge},
		{"max_keys back to 1000", base, http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := d.Reload(tc.opts); err != nil {
				t.Fatal(err)
			}
			if got := mget(); got != tc.want {
				t.Errorf("_mget of 2 keys: %d, want %d", got, tc.want)
			}
		})
	}
}
