package unixsock

import (
	"errors"
	"io"
	"net"
	"time"

	"github.com/tidwall/redcon"
)

var (
	_ redcon.Conn         = (*conn)(nil)
	_ redcon.DetachedConn = detachedConn{}
)

// conn is one client connection, served by serveConn. It implements
// redcon.Conn so that the command handlers write replies as before, with
// redcon's Writer; reading is the daemon's own bounded reader.
type conn struct {
	srv *Server
	nc  net.Conn
	rd  *reader
	wr  *redcon.Writer
	ctx any
	// closed is set by Close (QUIT): nothing after it is read or run.
	closed bool
	// detached is set by Detach (DDB TRACK): serveTracking owns nc.
	detached bool
	// cmdStart is when the command being read began, for ReadTimeout.
	cmdStart time.Time
	deadline time.Time // the read deadline last set on nc
	wdline   time.Time // the write deadline last set on nc
}

// deadlineSlack is how much earlier than asked a read or write deadline
// may be left as it is: setting a deadline resets a runtime timer, and an
// idle or write deadline moves with every command (now + timeout), so it
// is moved only once it is more than this behind. A connection may thus
// time out up to this much early.
func deadlineSlack(timeout time.Duration) time.Duration {
	return min(timeout/64, 50*time.Millisecond)
}

// stale reports whether the deadline set, set, should be moved to want:
// it is later than want, or more than slack earlier.
func stale(set, want time.Time, slack time.Duration) bool {
	return set.After(want) || want.Sub(set) > slack || want.IsZero() != set.IsZero()
}

func (s *Server) newConn(nc net.Conn) *conn {
	c := &conn{srv: s, nc: nc, wr: redcon.NewWriter(nc)}
	c.rd = newReader(c, s.engine.MaxValueBytes(), s.engine.MaxValueBytes()+commandSlack)
	return c
}

// Read reads from the connection for the reader's buffer, with the
// deadline that applies: between commands IdleTimeout from now; within a
// command ReadTimeout from its first byte, so that a client that dribbles
// a command byte by byte is bounded as well as one that stalls.
func (c *conn) Read(p []byte) (int, error) {
	var d time.Time
	var slack time.Duration
	switch o := c.srv.options(); {
	case c.detached:
		// Tracking connections only wait for the client's end.
	case c.rd.inCommand && o.ReadTimeout > 0:
		if c.cmdStart.IsZero() {
			c.cmdStart = time.Now()
		}
		d = c.cmdStart.Add(o.ReadTimeout)
	case o.IdleTimeout > 0:
		d, slack = time.Now().Add(o.IdleTimeout), deadlineSlack(o.IdleTimeout)
	}
	if stale(c.deadline, d, slack) {
		if err := c.nc.SetReadDeadline(d); err != nil {
			return 0, err
		}
		c.deadline = d
	}
	return c.nc.Read(p)
}

// serveConn reads and runs commands until the client goes, QUITs, breaks
// the protocol, times out, or DDB TRACK detaches the connection. Replies
// are flushed when no pipelined command is waiting, so a pipeline is
// answered with few writes.
func (s *Server) serveConn(c *conn) {
	defer func() {
		if !c.detached {
			c.nc.Close()
			s.forget(c)
			s.conns.Add(-1)
		} else {
			s.forget(c)
		}
	}()
	for {
		cmd, err := c.rd.readCommand()
		c.cmdStart = time.Time{}
		switch {
		case err != nil:
			if !c.readFailed(err) {
				return
			}
		default:
			s.handle(c, cmd)
			if c.detached {
				return // serveTracking reads the connection now
			}
			c.rd.authed = c.ctx.(*session).authed
		}
		switch {
		case c.closed:
			return
		case c.rd.br.Buffered() == 0:
			if err := c.flush(); err != nil {
				return
			}
		}
	}
}

// readFailed answers a command the reader refused and reports whether the
// connection goes on. (Apart from serveConn's loop: the targets of
// errors.As escape, two allocations per command even without an error.)
func (c *conn) readFailed(err error) bool {
	var refused *refusedError
	var proto protocolError
	switch {
	case errors.As(err, &refused):
		c.wr.WriteError(refused.msg)
		return true
	case errors.As(err, &proto):
		// As Redis: the error, then the end of the connection.
		c.wr.WriteError("ERR " + proto.Error())
		_ = c.flush()
		return false
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		c.srv.log.Debug("client connection ends", "err", err)
	}
	return false
}

// flush writes the buffered replies within WriteTimeout.
func (c *conn) flush() error {
	if t := c.srv.options().WriteTimeout; t > 0 {
		if d := time.Now().Add(t); stale(c.wdline, d, deadlineSlack(t)) {
			if err := c.nc.SetWriteDeadline(d); err != nil {
				return err
			}
			c.wdline = d
		}
	}
	return c.wr.Flush()
}

// The rest of redcon.Conn.

func (c *conn) RemoteAddr() string { return c.nc.RemoteAddr().String() }

// Close flushes the replies so far and closes the connection; the
// commands the client sent after the current one are not run.
func (c *conn) Close() error {
	_ = c.flush()
	c.closed = true
	return c.nc.Close()
}
func (c *conn) WriteError(msg string)       { c.wr.WriteError(msg) }
func (c *conn) WriteString(str string)      { c.wr.WriteString(str) }
func (c *conn) WriteBulk(bulk []byte)       { c.wr.WriteBulk(bulk) }
func (c *conn) WriteBulkString(bulk string) { c.wr.WriteBulkString(bulk) }
func (c *conn) WriteInt(num int)            { c.wr.WriteInt(num) }
func (c *conn) WriteInt64(num int64)        { c.wr.WriteInt64(num) }
func (c *conn) WriteUint64(num uint64)      { c.wr.WriteUint64(num) }
func (c *conn) WriteArray(count int)        { c.wr.WriteArray(count) }
func (c *conn) WriteNull()                  { c.wr.WriteNull() }
func (c *conn) WriteRaw(data []byte)        { c.wr.WriteRaw(data) }
func (c *conn) WriteAny(v any)              { c.wr.WriteAny(v) }
func (c *conn) Context() any                { return c.ctx }
func (c *conn) SetContext(v any)            { c.ctx = v }
func (c *conn) SetReadBuffer(int)           {}
func (c *conn) NetConn() net.Conn           { return c.nc }

// ReadPipeline and PeekPipeline return nothing: commands are read one at
// a time, so none is ever read ahead of the one running.
func (c *conn) ReadPipeline() []redcon.Command { return nil }
func (c *conn) PeekPipeline() []redcon.Command { return nil }

func (c *conn) WriteBulkFrom(n int64, rb io.Reader) { c.wr.WriteBulkFrom(n, rb) }

// Detach hands the connection to the caller (DDB TRACK): serveConn stops
// reading it and neither closes nor counts it out.
func (c *conn) Detach() redcon.DetachedConn {
	c.detached = true
	return detachedConn{c}
}

// detachedConn is a conn after Detach.
type detachedConn struct{ *conn }

// ReadCommand reads the next command, pipelined ones first.
func (d detachedConn) ReadCommand() (redcon.Command, error) { return d.rd.readCommand() }

// Flush writes the buffered replies within WriteTimeout.
func (d detachedConn) Flush() error { return d.flush() }
