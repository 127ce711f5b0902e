package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// TestSystemdNotify starts the binary with NOTIFY_SOCKET on a real
// unixgram socket, as systemd's Type=notify does, and reads what it sends:
// READY=1 when its socket already answers, RELOADING=1 then READY=1 around
// a SIGHUP, STOPPING=1 on SIGTERM.
func TestSystemdNotify(t *testing.T) {
	f := enginetest.New(t)
	dir := testenv.ShortDir(t)
	notifyPath := filepath.Join(dir, "notify")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	socket := filepath.Join(dir, "d.sock")
	config := filepath.Join(dir, "ddbcache.yaml")
	if err := os.WriteFile(config, []byte(reloadConfig(f, socket, "1h", "", "")), 0o644); err != nil {
		t.Fatal(err)
	}
	// No readiness poll here: the datagram is the readiness signal.
	d := &hupDaemon{process: spawn(t, []string{"--config", config, "serve"}, socket, "NOTIFY_SOCKET="+notifyPath), config: config}

	read := func(want string) {
		t.Helper()
		buf := make([]byte, 4096)
		_ = ln.SetReadDeadline(time.Now().Add(15 * time.Second))
		n, err := ln.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %s: %v; daemon log:\n%s", want, err, d.stderr)
		}
		if got := string(buf[:n]); !strings.HasPrefix(got, want) {
			t.Fatalf("notification %q, want %s", got, want)
		}
	}
	read("READY=1")
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: socket, Protocol: 2, DisableIdentity: true, MaxRetries: -1})
	defer c.Close()
	if v := c.Ping(context.Background()).Val(); v != "PONG" {
		t.Fatalf("READY=1 sent before the socket answers: PING %q", v)
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	read("RELOADING=1\nMONOTONIC_USEC=")
	read("READY=1")
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	read("STOPPING=1")
}
