// Package tracking pushes cache invalidations to clients that keep their
// own copies of items (the Perl client's local cache): each subscriber is a
// connection that, after `DDB TRACK`, only receives RESP pushes
//
//	*2\r\n$10\r\ninvalidate\r\n*N\r\n$len\r\nKEY\r\n…   (N ≥ 1 Redis value keys)
//	*2\r\n$10\r\ninvalidate\r\n*-1\r\n                   (flush: forget everything)
//
// the way Redis pushes tracking invalidations to rueidis. A Registry
// implements cache.Notifier, so the engine publishes to it.
//
// Why pushes are written synchronously, by the publisher: the daemon
// promises that a write's invalidation is on every tracking connection
// before the writer gets its reply. A queue per subscriber would break
// that; a bounded write (WriteTimeout) keeps a client that stopped reading
// from holding writers up: it is closed, and a client treats the end of
// its tracking connection as "flush everything".
package tracking

import (
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultWriteTimeout is how long a push to one subscriber may block
// before the subscriber is dropped. Only a subscriber whose socket buffer
// is full (it has not read for a long time) ever waits at all.
const DefaultWriteTimeout = 2 * time.Millisecond

// Options configures a Registry.
type Options struct {
	// WriteTimeout bounds writing one push to one subscriber; 0 means
	// DefaultWriteTimeout.
	WriteTimeout time.Duration
}

// Registry is the set of subscribers. It is safe for concurrent use.
type Registry struct {
	timeout time.Duration
	mu      sync.Mutex                    // serializes changes of subs
	subs    atomic.Pointer[[]*Subscriber] // copy-on-write, so publishing takes no lock
	pushed  atomic.Int64                  // key pushes written
	flushes atomic.Int64                  // flush pushes written
	dropped atomic.Int64                  // subscribers closed because a push failed
}

// Subscriber is one tracking connection.
type Subscriber struct {
	reg  *Registry
	conn net.Conn
	// mu serializes writes to conn, so that concurrent publishers never
	// interleave their pushes; it guards closed.
	mu     sync.Mutex
	closed bool
}

// New returns an empty registry.
func New(opts Options) *Registry {
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	r := &Registry{timeout: opts.WriteTimeout}
	r.subs.Store(&[]*Subscriber{})
	return r
}

// Subscribe adds conn and writes greeting (the reply to `DDB TRACK`) on
// it. The greeting is written while the subscriber's lock is held and the
// subscriber is already listed, so no push can precede it and none
// published after it is missed. On error conn is closed.
func (r *Registry) Subscribe(conn net.Conn, greeting []byte) (*Subscriber, error) {
	s := &Subscriber{reg: r, conn: conn}
	s.mu.Lock()
	r.mu.Lock()
	old := *r.subs.Load()
	subs := make([]*Subscriber, len(old), len(old)+1)
	copy(subs, old)
	subs = append(subs, s)
	r.subs.Store(&subs)
	r.mu.Unlock()
	err := s.write(greeting)
	s.mu.Unlock()
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close removes the subscriber and closes its connection. It is safe to
// call more than once, and concurrently with publishing.
func (s *Subscriber) Close() error {
	s.reg.remove(s)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.conn.Close()
}

func (r *Registry) remove(s *Subscriber) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.subs.Load()
	for i, x := range old {
		if x == s {
			subs := make([]*Subscriber, 0, len(old)-1)
			subs = append(subs, old[:i]...)
			subs = append(subs, old[i+1:]...)
			r.subs.Store(&subs)
			return
		}
	}
}

// write writes msg, waiting at most the registry's timeout for room in
// the socket buffer. The caller holds s.mu.
//
// It first writes without any deadline and without waiting (one write(2)
// into the buffer), and sets a deadline only for what did not fit. A
// deadline set before that first write would drop a subscriber that reads
// fine whenever this goroutine is descheduled for longer than the timeout
// between setting the deadline and writing, which happens on a busy host.
func (s *Subscriber) write(msg []byte) error {
	n, err := s.writeNow(msg)
	if err != nil || n == len(msg) {
		return err
	}
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.reg.timeout)); err != nil {
		return err
	}
	if _, err := s.conn.Write(msg[n:]); err != nil {
		return err
	}
	return s.conn.SetWriteDeadline(time.Time{})
}

// writeNow writes as much of msg as the socket buffer takes now, without
// waiting; a connection without a file descriptor (a net.Pipe in tests)
// writes n = 0 and leaves it to the bounded write.
func (s *Subscriber) writeNow(msg []byte) (int, error) {
	sc, ok := s.conn.(syscall.Conn)
	if !ok {
		return 0, nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	n := 0
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		for n < len(msg) {
			m, err := syscall.Write(int(fd), msg[n:])
			if err == syscall.EINTR {
				continue
			}
			if err == syscall.EAGAIN {
				return true // full: the rest waits, bounded, in write
			}
			if err != nil {
				werr = err
				return true
			}
			n += m
		}
		return true
	})
	if err == nil {
		err = werr
	}
	return n, err
}

// pushHeader starts every push: a 2-array whose first element is "invalidate".
const pushHeader = "*2\r\n$10\r\ninvalidate\r\n"

// flushPush is the push that tells a client to forget everything.
var flushPush = []byte(pushHeader + "*-1\r\n")

// appendKeys appends the push that invalidates keys to dst.
func appendKeys(dst []byte, keys []string) []byte {
	dst = append(dst, pushHeader...)
	dst = append(dst, '*')
	dst = strconv.AppendInt(dst, int64(len(keys)), 10)
	dst = append(dst, '\r', '\n')
	for _, k := range keys {
		dst = append(dst, '$')
		dst = strconv.AppendInt(dst, int64(len(k)), 10)
		dst = append(dst, '\r', '\n')
		dst = append(dst, k...)
		dst = append(dst, '\r', '\n')
	}
	return dst
}

// Invalidate pushes keys to every subscriber and returns once each push is
// written or its subscriber dropped. No keys, or no subscribers, cost
// nothing.
func (r *Registry) Invalidate(keys []string) {
	if len(keys) == 0 {
		return
	}
	subs := *r.subs.Load()
	if len(subs) == 0 {
		return
	}
	r.publish(subs, appendKeys(nil, keys), &r.pushed)
}

// Flush tells every subscriber to forget everything: any key may have
// changed without a push (Redis's tracking connection was lost, or a
// whole namespace was invalidated).
func (r *Registry) Flush() {
	if subs := *r.subs.Load(); len(subs) > 0 {
		r.publish(subs, flushPush, &r.flushes)
	}
}

// publish writes msg to subs, counting successes in n and dropping the
// subscribers it cannot be written to.
func (r *Registry) publish(subs []*Subscriber, msg []byte, n *atomic.Int64) {
	for _, s := range subs {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			continue
		}
		err := s.write(msg)
		s.mu.Unlock()
		if err != nil {
			r.dropped.Add(1)
			s.Close()
			continue
		}
		n.Add(1)
	}
}

// Stats are the registry's counters, as `DDB STATS` reports them.
type Stats struct {
	// Clients is the number of tracking connections open now.
	Clients int `json:"tracking_clients"`
	// InvalidationsPushed counts key pushes written (one per subscriber).
	InvalidationsPushed int64 `json:"invalidations_pushed"`
	// FlushesPushed counts flush pushes written (one per subscriber).
	FlushesPushed int64 `json:"flushes_pushed"`
	// Dropped counts subscribers closed because a push could not be
	// written in time.
	Dropped int64 `json:"tracking_clients_dropped"`
}

// Stats returns a snapshot of the counters.
func (r *Registry) Stats() Stats {
	return Stats{
		Clients:             len(*r.subs.Load()),
		InvalidationsPushed: r.pushed.Load(),
		FlushesPushed:       r.flushes.Load(),
		Dropped:             r.dropped.Load(),
	}
}
