package unixsock

import (
	"net"
	"sync"

	"github.com/ddbcache/ddbcache/audit"
	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/tracking"
	"github.com/tidwall/redcon"
)

// trackOK is the reply to `DDB TRACK`, written by the registry itself so
// that no push can come before it (see tracking.Registry.Subscribe).
var trackOK = []byte("+OK\r\n")

// trackers are the tracking connections of a server. serveConn forgets
// a connection once it is detached, so the server closes these itself.
type trackers struct {
	mu      sync.Mutex // guards conns and closing
	conns   map[net.Conn]struct{}
	closing bool           // set by Server.Close: no new tracking connections
	wg      sync.WaitGroup // one per serveTracking goroutine
}

// ddbTrack turns the connection into a push-only tracking connection:
// `+OK`, then only `invalidate` pushes. Anything the client sends on it
// afterwards, or its end, closes it.
func (s *Server) ddbTrack(conn redcon.Conn, args [][]byte) {
	if len(args) != 0 {
		conn.WriteError("ERR DDB TRACK takes no arguments")
		return
	}
	if s.opts.Tracking == nil {
		conn.WriteError("ERR DDB TRACK is not enabled on this daemon")
		return
	}
	dconn := conn.Detach()
	// From here on the connection is ours: serveConn neither closes it
	// nor counts it out when this handler returns (serveTracking does).
	nc := dconn.NetConn()
	t := &s.track
	t.mu.Lock()
	if t.closing {
		t.mu.Unlock()
		nc.Close()
		s.conns.Add(-1)
		return
	}
	if t.conns == nil {
		t.conns = map[net.Conn]struct{}{}
	}
	t.conns[nc] = struct{}{}
	t.wg.Add(1)
	t.mu.Unlock()
	go s.serveTracking(dconn)
}

// serveTracking subscribes a detached connection and waits for the client
// to send anything or hang up, then ends the subscription. It is the only
// place where a tracking connection is counted out.
func (s *Server) serveTracking(dconn redcon.DetachedConn) {
	nc := dconn.NetConn()
	defer func() {
		t := &s.track
		t.mu.Lock()
		delete(t.conns, nc)
		t.mu.Unlock()
		s.conns.Add(-1)
		t.wg.Done()
	}()
	// Replies to commands pipelined before DDB TRACK are still buffered.
	if err := dconn.Flush(); err != nil {
		nc.Close()
		return
	}
	sub, err := s.opts.Tracking.Subscribe(nc, trackOK)
	if err != nil {
		return // Subscribe closed it
	}
	// Pipelined commands after DDB TRACK come back first; a read error
	// means the client closed, or the registry closed the connection
	// because a push could not be written.
	_, _ = dconn.ReadCommand()
	sub.Close()
}

// closeTracking closes the server's tracking connections and waits until
// each is counted out.
func (s *Server) closeTracking() {
	t := &s.track
	t.mu.Lock()
	t.closing = true
	for nc := range t.conns {
		nc.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
}

// ddbGetC is DDB GET for clients that cache: the reply is [value or nil,
// Redis value key, max-age in ms]. A max-age above 0 promises that a
// change of the key is pushed to the tracking connections, so the client
// may keep the value that long; 0 means it must not keep it.
func (s *Server) ddbGetC(conn redcon.Conn, args [][]byte) {
	ns, k, res, ok := s.lookupOne(conn, "GETC", args)
	if !ok {
		return
	}
	vk, err := s.engine.RedisKey(ns, k)
	if err != nil {
		conn.WriteError(errorReply(err))
		return
	}
	conn.WriteArray(3)
	if res.Value == nil {
		conn.WriteNull()
	} else {
		conn.WriteBulk(res.Value)
	}
	conn.WriteBulkString(vk)
	conn.WriteInt64(s.maxAge(res))
}

// ddbMGetC is DDB MGET for clients that cache, as GETC is to GET: the
// reply is one flat array of 3N elements, for each key in request order
// its value or nil, its Redis value key and its max-age in ms (see
// ddbGetC). Flat rather than N nested triples so that a client reads it
// as one list; the keys are looked up with one engine MGet, as MGET does.
func (s *Server) ddbMGetC(conn redcon.Conn, args [][]byte) {
	keys, results, ok := s.lookupMany(conn, "MGETC", args)
	if !ok {
		return
	}
	ns := string(args[0])
	vks := make([]string, len(keys))
	for i, k := range keys {
		vk, err := s.engine.RedisKey(ns, k)
		if err != nil {
			conn.WriteError(errorReply(err))
			return
		}
		vks[i] = vk
	}
	conn.WriteArray(3 * len(results))
	for i, r := range results {
		if r.Value == nil {
			conn.WriteNull()
		} else {
			conn.WriteBulk(r.Value)
		}
		conn.WriteBulkString(vks[i])
		conn.WriteInt64(s.maxAge(r))
	}
}

// maxAge is how many milliseconds a tracking client may keep res: its
// remaining TTL (at least 1) when the daemon will push its invalidation,
// else 0. Without a registry there are no pushes, so it is always 0.
func (s *Server) maxAge(res cache.Result) int64 {
	if s.opts.Tracking == nil || !res.Tracked || res.TTL <= 0 {
		return 0
	}
	return max(res.TTL.Milliseconds(), 1)
}

// stats is what `DDB STATS` reports: the engine's counters and, when
// tracking is enabled, the registry's, side by side in one JSON object.
type stats struct {
	engineStats
	*trackingStats
	Audit *audit.Stats `json:"audit,omitempty"`
}

// The aliases give the embedded fields distinct names.
type (
	engineStats   = cache.Stats
	trackingStats = tracking.Stats
)

func (s *Server) stats() stats {
	st := stats{engineStats: s.engine.Stats()}
	if s.opts.Tracking != nil {
		ts := s.opts.Tracking.Stats()
		st.trackingStats = &ts
	}
	if s.opts.Audit != nil {
		as := s.opts.Audit()
		st.Audit = &as
	}
	return st
}
