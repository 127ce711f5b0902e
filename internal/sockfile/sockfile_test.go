package sockfile

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestListenCreatesFinalMode checks that the socket appears with its mode
// whatever the umask, that no private directory is left beside it, and
// that Close removes it.
func TestListenCreatesFinalMode(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir, err := os.MkdirTemp("", "sf")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	for _, mode := range []os.FileMode{0o600, 0o660, 0o666} {
		path := filepath.Join(dir, "x.sock")
		ln, err := Listen(path, mode)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Lstat(path)
		if err != nil || fi.Mode().Perm() != mode || fi.Mode()&os.ModeSocket == 0 {
			t.Errorf("mode %v: socket %v, %v", mode, fi.Mode(), err)
		}
		if ln.Addr().String() != path {
			t.Errorf("Addr %s, want %s", ln.Addr(), path)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Errorf("left beside the socket: %v", entries)
		}
		ln.Close()
		if _, err := os.Lstat(path); !os.IsNotExist(err) {
			t.Errorf("socket left after Close: %v", err)
		}
	}
}
