package testenv

import (
	"io"
	"net"
	"testing"
	"time"
)

// LaggedReplicated is Replicated with replicas that lag: each replicates
// through a TCP relay that holds what the primary sends for lag before
// passing it on, as a replica in another zone or one catching up does.
// Reads from the replicas are not delayed, only the replication stream.
func LaggedReplicated(t testing.TB, n int, lag time.Duration) *ReplicaSet {
	t.Helper()
	rs := &ReplicaSet{Primary: Redis(t)}
	l, err := listenLocal()
	if err != nil {
		t.Fatalf("testenv: lag relay: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	go relayLagged(l, rs.Primary.Addr, lag)
	rs.startReplicas(t, n, portOf(l))
	return rs
}

// relayLagged accepts connections on l until it is closed and relays
// each to target, delaying target's bytes by lag.
func relayLagged(l net.Listener, target string, lag time.Duration) {
	for {
		in, err := l.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", target)
		if err != nil {
			in.Close()
			continue
		}
		go func() { _, _ = io.Copy(out, in); out.Close() }()
		go delayCopy(in, out, lag)
	}
}

// chunk is bytes read from the primary, and when they may be passed on.
type chunk struct {
	b   []byte
	due time.Time
}

// delayCopy copies src to dst, each read passed on lag after it arrived.
func delayCopy(dst, src net.Conn, lag time.Duration) {
	q := make(chan chunk, 1024)
	go func() {
		defer close(q)
		for {
			b := make([]byte, 32<<10)
			n, err := src.Read(b)
			if n > 0 {
				q <- chunk{b[:n], time.Now().Add(lag)}
			}
			if err != nil {
				return
			}
		}
	}()
	defer dst.Close()
	for c := range q {
		time.Sleep(time.Until(c.due)) // the lag itself, not a synchronizer
		if _, err := dst.Write(c.b); err != nil {
			return
		}
	}
}
