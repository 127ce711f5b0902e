package fcgi

import (
	"bufio"
	"context"
	"encoding/binary"
	"net"
	"sync"
	"time"
)

// FastCGI record types that delimit a request on a connection.
const (
	typeBeginRequest = 1
	typeEndRequest   = 3
)

// drainListener tracks the FastCGI connections it accepted so that a
// shutdown can wait for their requests to finish. net/http/fcgi.Serve has
// no Shutdown, and waiting for the handlers to return is not enough: the
// response's last bytes and the END_REQUEST record are written after the
// handler returns. So each connection follows the FastCGI records on the
// wire — BEGIN_REQUEST records read, END_REQUEST records written — and is
// idle when every request it began has ended.
type drainListener struct {
	net.Listener

	// idle, when above 0, closes a connection whose next record does
	// not begin for this long (net/http/fcgi has no timeouts of its own).
	idle time.Duration

	mu       sync.Mutex // guards conns, draining and empty
	conns    map[*drainConn]struct{}
	draining bool
	empty    chan struct{} // closed once draining and no connection is left
}

func newDrainListener(ln net.Listener) *drainListener {
	return &drainListener{Listener: ln, conns: map[*drainConn]struct{}{}, empty: make(chan struct{})}
}

// Accept wraps each connection so that it is tracked.
func (l *drainListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	dc := &drainConn{Conn: c, l: l, r: bufio.NewReader(c)}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.draining {
		c.Close()
		return nil, net.ErrClosed
	}
	l.conns[dc] = struct{}{}
	return dc, nil
}

// Conns returns the number of open connections.
func (l *drainListener) Conns() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(len(l.conns))
}

// drain stops accepting, closes idle connections, and waits until every
// other connection has finished its requests (and is closed then) or ctx
// ends, when it closes them all.
func (l *drainListener) drain(ctx context.Context) error {
	l.mu.Lock()
	l.draining = true
	for c := range l.conns {
		if c.idleLocked() {
			l.forgetLocked(c)
			c.Conn.Close()
		}
	}
	l.checkEmptyLocked()
	l.mu.Unlock()
	l.Listener.Close()
	select {
	case <-l.empty:
		return nil
	case <-ctx.Done():
		l.mu.Lock()
		for c := range l.conns {
			l.forgetLocked(c)
			c.Conn.Close()
		}
		l.mu.Unlock()
		return ctx.Err()
	}
}

func (l *drainListener) forgetLocked(c *drainConn) {
	delete(l.conns, c)
	l.checkEmptyLocked()
}

func (l *drainListener) checkEmptyLocked() {
	if l.draining && len(l.conns) == 0 {
		select {
		case <-l.empty:
		default:
			close(l.empty)
		}
	}
}

// drainConn is a FastCGI connection that counts the requests begun and
// ended on it. It also buffers both ways: net/http/fcgi reads each record
// header and body with separate small reads, and writes a response as
// three or four records (headers, body, end of stream, END_REQUEST), each
// a write of its own. Reading through a buffer and holding written records
// until END_REQUEST (or until maxPending bytes) saves most of those
// system calls, and the web server's wake-ups with them.
type drainConn struct {
	net.Conn
	l *drainListener

	r  *bufio.Reader // touched only by the reading goroutine
	in recordScanner // likewise

	wmu     sync.Mutex // guards out and pending
	out     recordScanner
	pending []byte // records written but not yet sent
	// begun and ended count BEGIN_REQUEST and END_REQUEST records; guarded by l.mu.
	begun, ended int
}

// maxPending bounds the bytes held before they are sent.
const maxPending = 64 << 10

// idleLocked reports whether every request begun on c has ended. (An
// aborted request may end twice, hence >=.)
func (c *drainConn) idleLocked() bool { return c.ended >= c.begun }

// Read reads through the buffer and counts the requests that begin.
func (c *drainConn) Read(p []byte) (int, error) {
	if c.l.idle > 0 && c.r.Buffered() == 0 {
		// Only when Read will wait: a web server's idle keep-alive
		// connection, or one that stalls mid-record, is closed.
		if err := c.Conn.SetReadDeadline(time.Now().Add(c.l.idle)); err != nil {
			return 0, err
		}
	}
	n, err := c.r.Read(p)
	if b, _ := c.in.scan(p[:n], typeBeginRequest); b > 0 {
		c.l.mu.Lock()
		c.begun += b
		c.l.mu.Unlock()
	}
	return n, err
}

// Write holds records until a request ends, a management record is
// written or maxPending bytes are held, then sends them in one write. (A
// management record — FCGI_GET_VALUES_RESULT, FCGI_UNKNOWN_TYPE — answers
// the web server outside any request: no END_REQUEST follows it.) It counts the requests that end;
// while draining, a connection that becomes idle is closed.
func (c *drainConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	c.pending = append(c.pending, p...)
	e, mgmt := c.out.scan(p, typeEndRequest)
	var err error
	if e > 0 || mgmt || len(c.pending) >= maxPending {
		_, err = c.Conn.Write(c.pending)
		c.pending = c.pending[:0]
		if cap(c.pending) > maxPending {
			c.pending = nil // do not keep a large response's buffer
		}
	}
	c.wmu.Unlock()
	if err != nil {
		return 0, err
	}
	if e > 0 {
		c.l.mu.Lock()
		c.ended += e
		closeNow := c.l.draining && c.idleLocked()
		if closeNow {
			c.l.forgetLocked(c)
		}
		c.l.mu.Unlock()
		if closeNow {
			c.Conn.Close()
		}
	}
	return len(p), nil
}

// Close forgets the connection and closes it.
func (c *drainConn) Close() error {
	c.l.mu.Lock()
	c.l.forgetLocked(c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// recordScanner follows the record boundaries of a FastCGI byte stream:
// an 8-byte header (version, type, request id, content length, padding
// length, reserved), then content and padding.
type recordScanner struct {
	hdr  [8]byte
	have int // header bytes collected
	skip int // content and padding bytes left of the current record
}

// scan consumes p and returns how many records of type typ began in it,
// and whether a management record (request id 0, FCGI_NULL_REQUEST_ID)
// began in it.
func (s *recordScanner) scan(p []byte, typ byte) (n int, mgmt bool) {
	for len(p) > 0 {
		if s.skip > 0 {
			k := min(s.skip, len(p))
			s.skip -= k
			p = p[k:]
			continue
		}
		k := copy(s.hdr[s.have:], p)
		s.have += k
		p = p[k:]
		if s.have == len(s.hdr) {
			s.have = 0
			if s.hdr[1] == typ {
				n++
			}
			if s.hdr[2] == 0 && s.hdr[3] == 0 {
				mgmt = true
			}
			s.skip = int(binary.BigEndian.Uint16(s.hdr[4:6])) + int(s.hdr[6])
		}
	}
	return n, mgmt
}
