// Package relay is a TCP relay that adds a fixed latency each way, so that
// a benchmark on one machine can put Redis at a production-like network
// distance (ElastiCache is 0.2–0.5 ms away, loopback 30 µs).
//
// Each chunk read from one side is stamped with its arrival time and
// written to the other side at arrival + Delay, by a writer that keeps the
// chunks in order. A pipelined burst therefore arrives Delay later as a
// burst, not one request per Delay: the relay models a wire's propagation
// delay, not a slow server.
package relay

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultBufferSize is the size of one read, and so of the largest chunk.
const DefaultBufferSize = 64 << 10

// queueDepth bounds the chunks in flight per direction; a full queue
// stops the reader, which back-pressures the sender as TCP would.
const queueDepth = 1024

// Options configures a Relay.
type Options struct {
	// Listen is the host:port to accept on; "" means 127.0.0.1:0.
	Listen string
	// Upstream is the host:port every accepted connection is relayed to.
	Upstream string
	// Delay is added to each direction: a round trip through the relay
	// costs 2×Delay more than the direct one. 0 relays without delay.
	Delay time.Duration
}

// Relay accepts connections and relays each to Upstream with the delay.
type Relay struct {
	opts  Options
	delay atomic.Int64 // nanoseconds each way, read at each chunk's arrival
	// turns counts request turns (see Turns); answered says that an
	// answer reached a client since the last request chunk.
	turns    atomic.Int64
	answered atomic.Bool
	ln       net.Listener
	wg       sync.WaitGroup

	mu     sync.Mutex // guards conns and closed
	conns  map[net.Conn]struct{}
	closed bool
}

// New listens on opts.Listen; call Serve to accept and Close to stop.
func New(opts Options) (*Relay, error) {
	if opts.Upstream == "" {
		return nil, errors.New("relay: no upstream address")
	}
	if opts.Delay < 0 {
		return nil, fmt.Errorf("relay: negative delay %s", opts.Delay)
	}
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	r := &Relay{opts: opts, ln: ln, conns: map[net.Conn]struct{}{}}
	r.delay.Store(int64(opts.Delay))
	r.answered.Store(true)
	return r, nil
}

// SetDelay changes the delay each way from now on, for calibration: the
// relay's own hops and a loaded machine's wake-up latency add to it.
func (r *Relay) SetDelay(d time.Duration) { r.delay.Store(int64(max(d, 0))) }

// Delay is the current delay each way.
func (r *Relay) Delay() time.Duration { return time.Duration(r.delay.Load()) }

// Turns counts the relay's request turns so far, over all its
// connections: a chunk from a client starts a turn when the relay has
// delivered some answer to some client since the previous client chunk.
// So a pipeline, or commands sent concurrently before any answer came
// back, is one turn, and commands that each wait for the previous one's
// answer are one turn each: the round trips a caller waits for one after
// the other, which is what a test of a lookup's cost counts (it must keep
// other traffic off the relay meanwhile). Requests sent less than the
// round trip apart count as one turn only when the delay makes the round
// trip much longer than the sender's own pauses.
func (r *Relay) Turns() int64 { return r.turns.Load() }

// request notes a chunk read from a client.
func (r *Relay) request() {
	if r.answered.Swap(false) {
		r.turns.Add(1)
	}
}

// answer notes a chunk written to a client.
func (r *Relay) answer() { r.answered.Store(true) }

// Addr is the address clients connect to.
func (r *Relay) Addr() string { return r.ln.Addr().String() }

// Serve accepts connections until Close; it returns nil after Close.
func (r *Relay) Serve() error {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			r.mu.Lock()
			closed := r.closed
			r.mu.Unlock()
			if closed {
				return nil
			}
			return fmt.Errorf("relay: accept: %w", err)
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.handle(c)
		}()
	}
}

// Close stops accepting, closes every relayed connection and waits for
// their goroutines.
func (r *Relay) Close() error {
	r.mu.Lock()
	r.closed = true
	for c := range r.conns {
		_ = c.Close()
	}
	r.mu.Unlock()
	err := r.ln.Close()
	r.wg.Wait()
	return err
}

// track registers c so that Close can close it; it reports false when
// the relay is already closed.
func (r *Relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *Relay) untrack(c net.Conn) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
	_ = c.Close()
}

// handle relays one client connection both ways until either side ends.
func (r *Relay) handle(client net.Conn) {
	if !r.track(client) {
		_ = client.Close()
		return
	}
	defer r.untrack(client)
	up, err := net.Dial("tcp", r.opts.Upstream)
	if err != nil {
		return
	}
	if !r.track(up) {
		_ = up.Close()
		return
	}
	defer r.untrack(up)
	for _, c := range []net.Conn{client, up} {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
	}
	done := make(chan struct{}, 2)
	go func() { pipe(up, client, &r.delay, r.request, nil); done <- struct{}{} }()
	go func() { pipe(client, up, &r.delay, nil, r.answer); done <- struct{}{} }()
	// When one direction ends, closing both connections ends the other.
	<-done
	_ = client.Close()
	_ = up.Close()
	<-done
}

// chunk is bytes read at one moment, due for writing at due.
type chunk struct {
	data []byte
	due  time.Time
}

// pipe copies src to dst, each chunk delayed by *delay (nanoseconds) from its arrival;
// read and written, when not nil, hear of each chunk read and about to be written.
// The reader and the writer are separate goroutines so that reading
// continues while earlier chunks wait: the delay is keyed on arrival, and
// chunks leave in the order they came.
func pipe(dst io.Writer, src io.Reader, delay *atomic.Int64, read, written func()) {
	q := make(chan chunk, queueDepth)
	go func() {
		defer close(q)
		// One read buffer, each chunk copied out at its own size: a
		// request or reply is a few hundred bytes, and a fresh 64 KiB
		// buffer per read (zeroed, then collected) cost the bench process
		// more CPU than the lookups it relayed.
		buf := make([]byte, DefaultBufferSize)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if read != nil {
					read()
				}
				q <- chunk{data: append([]byte(nil), buf[:n]...), due: time.Now().Add(time.Duration(delay.Load()))}
			}
			if err != nil {
				return
			}
		}
	}()
	failed := false
	for c := range q {
		if failed {
			continue // drain so that the reader is never stuck on a full queue
		}
		sleepUntil(c.due)
		if written != nil {
			// Before the write: a client that reads the answer and sends
			// at once must find the turn over.
			written()
		}
		if _, err := dst.Write(c.data); err != nil {
			failed = true
			if cl, ok := src.(io.Closer); ok {
				_ = cl.Close()
			}
		}
	}
}

// sleepUntil blocks until t. Go's timers go through the network poller,
// whose epoll wait has millisecond resolution on Linux, so a 125 µs timer
// can take over 1 ms; nanosleep(2) holds an OS thread instead but wakes
// within the kernel's timer slack (50 µs by default).
func sleepUntil(t time.Time) {
	for {
		wait := time.Until(t)
		if wait <= 0 {
			return
		}
		ts := syscall.NsecToTimespec(wait.Nanoseconds())
		if err := syscall.Nanosleep(&ts, nil); err != nil && err != syscall.EINTR {
			time.Sleep(wait)
		}
	}
}
