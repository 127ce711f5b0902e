// Package sockfile listens on Unix socket files the way a daemon must:
// a socket left by a crashed run is replaced, one a live process answers
// on is not stolen, and the file gets the configured mode. The RESP and
// FastCGI fronts both listen this way.
package sockfile

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
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
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("chmod %s: %w", path, err)
	}
	return ln, nil
}
