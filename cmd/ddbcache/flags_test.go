package main

import (
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/config"
	"github.com/urfave/cli/v2"
)

// TestLoadSourcesAndReload runs the app in-process with flags before and
// after the command, checks which wins, then changes the file and reloads:
// the file's new values arrive, the flags still win, and
// config.Unreloadable names the setting that cannot change live.
func TestLoadSourcesAndReload(t *testing.T) {
	path, _ := writeConfig(t, "limits: { timeout: 2s, max_keys: 10 }\nredis: { addrs: [\"127.0.0.1:1\"] }\n"+goodNamespace)
	t.Setenv("DDBCACHE_MAX_KEYS", "20")
	var before, after *settings
	app := newApp()
	probe := app.Commands[0] // serve, with the settings' flags
	probe.Action = func(c *cli.Context) error {
		var err error
		if before, err = load(c); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte("limits: { timeout: 3s }\nredis: { addrs: [\"127.0.0.1:2\"] }\n"+goodNamespace), 0o644); err != nil {
			return err
		}
		after, err = before.reload()
		return err
	}
	err := app.Run([]string{"ddbcache", "--config", path, "--max-conns", "7", "--redis-addr", "x:1", "serve", "--max-conns", "8"})
	if err != nil {
		t.Fatal(err)
	}
	b, a := before.cfg, after.cfg
	if b.Limits.Timeout != 2*time.Second || b.Limits.MaxKeys != 20 || b.Listen.MaxConns != 8 || !reflect.DeepEqual(b.Redis.Addrs, []string{"x:1"}) {
		t.Errorf("file < env < flag before < flag after: timeout %v, max_keys %d, max_conns %d, addrs %v",
			b.Limits.Timeout, b.Limits.MaxKeys, b.Listen.MaxConns, b.Redis.Addrs)
	}
	if a.Limits.Timeout != 3*time.Second || a.Listen.MaxConns != 8 {
		t.Errorf("after reload: timeout %v, max_conns %d", a.Limits.Timeout, a.Listen.MaxConns)
	}
	if got := config.Unreloadable(b, a); len(got) != 0 {
		t.Errorf("the flag's redis.addrs still wins, nothing unreloadable changed: %v", got)
	}
	a.Redis.Addrs = []string{"y:1"}
	if got := config.Unreloadable(b, a); !reflect.DeepEqual(got, []string{"redis.addrs"}) {
		t.Errorf("Unreloadable %v", got)
	}
}
