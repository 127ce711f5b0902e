// Package sockfile listens on Unix socket files the way a daemon must:
// a socket left by a crashed run is replaced, one a live process answers
// on is not stolen, and the file is created with the configured mode. The RESP and
// FastCGI fronts both listen this way.
package sockfile

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// DefaultMode is the socket file mode both fronts use unless configured:
// the daemon's user and group may connect, nobody else.
const DefaultMode os.FileMode = 0o660

// ErrInUse means a live process serves the socket path.
var ErrInUse = errors.New("socket in use by a live process")

// probeTimeout bounds the check whether an existing socket is live.
const probeTimeout = time.Second

// Listen listens on the Unix socket path with the given file mode,
// creating the directory if needed.
func Listen(path string, mode os.FileMode) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, probeTimeout); err == nil {
			c.Close()
			return nil, fmt.Errorf("%w: %s", ErrInUse, path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale socket: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("socket directory: %w", err)
	}
	return listenWithMode(path, mode)
}

// listenWithMode creates the socket with its final mode: it binds in a
// private directory (0700, beside path), sets the mode there, and renames
// the socket into place. Binding at path and then chmodding would leave
// the socket reachable with the umask's mode for a moment.
func listenWithMode(path string, mode os.FileMode) (net.Listener, error) {
	dir, err := os.MkdirTemp(filepath.Dir(path), ".s")
	if err != nil {
		return nil, fmt.Errorf("socket directory: %w", err)
	}
	defer os.Remove(dir)
	tmp := filepath.Join(dir, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	// The listener would unlink tmp, which is gone after the rename;
	// listener.Close removes path instead.
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, mode); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("chmod %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	return &listener{UnixListener: ln, addr: &net.UnixAddr{Name: path, Net: "unix"}}, nil
}

// listener is a Unix listener whose socket was renamed to addr.
type listener struct {
	*net.UnixListener
	addr      *net.UnixAddr
	closeOnce sync.Once
}

// Addr returns the socket's path, not the one it was bound at.
func (l *listener) Addr() net.Addr { return l.addr }

// Close stops listening and removes the socket file, once.
func (l *listener) Close() error {
	err := l.UnixListener.Close()
	l.closeOnce.Do(func() { os.Remove(l.addr.Name) })
	return err
}
