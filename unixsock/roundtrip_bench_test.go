package unixsock_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/tidwall/redcon"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/testenv"
)

// ddbGetFrame is the request of the round-trip benchmarks, as the Perl
// client sends it.
const ddbGetFrame = "*4\r\n$3\r\nDDB\r\n$3\r\nGET\r\n$7\r\nprofile\r\n$1\r\n1\r\n"

// serveCanned answers every RESP command on a Unix socket with reply: the
// floor of a round trip over the same socket, a Go server that parses the
// command (redcon's reader) and does nothing else. The daemon's front is
// measured against it (the bench issue's target: ≥ 0.85× its rate).
func serveCanned(b *testing.B, reply []byte) string {
	path := socketPath(b)
	ln, err := net.Listen("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				rd, w := redcon.NewReader(nc), bufio.NewWriter(nc)
				for {
					cmds, err := rd.ReadCommands()
					if err != nil {
						return
					}
					for range cmds {
						_, _ = w.Write(reply)
					}
					if w.Flush() != nil {
						return
					}
				}
			}()
		}
	}()
	return path
}

// roundTripper sends ddbGetFrame over one connection and reads a reply of
// len(reply) bytes, one request at a time as a Perl worker does; the
// client side is as thin as can be so that the figure is the server's.
type roundTripper struct {
	nc  net.Conn
	req []byte
	got []byte
}

func dialRoundTripper(b *testing.B, path string, reply []byte) *roundTripper {
	nc, err := net.Dial("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() })
	return &roundTripper{nc: nc, req: []byte(ddbGetFrame), got: make([]byte, len(reply))}
}

// run makes n round trips and returns their mean duration and the mean
// CPU time the test process (client and server alike) spent on each: on
// a machine shared with other work, the CPU figure moves far less than
// the wall-clock one.
func (r *roundTripper) run(b *testing.B, n int) (wall, cpu time.Duration) {
	start, cpu0 := time.Now(), processCPU(b)
	for i := 0; i < n; i++ {
		if _, err := r.nc.Write(r.req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(r.nc, r.got); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start) / time.Duration(n), (processCPU(b) - cpu0) / time.Duration(n)
}

// processCPU is the user and system CPU time of the test process so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// roundTripRounds is how many interleaved rounds BenchmarkRoundTrip runs.
const roundTripRounds = 15

// BenchmarkRoundTrip measures the daemon's RESP front answering DDB GET
// of a hot key from the engine's memory beside a canned-reply server on
// the same kind of socket, in interleaved rounds (the machine is shared:
// a figure from one run is noise, a ratio of medians side by side is
// not). It reports the median round trip of each (canned-ns, daemon-ns)
// and x-canned, the daemon's rate as a fraction of the canned server's
// (the bench issue's target: ≥ 0.85), and the same for the CPU time of
// the process per round trip (the client's share included, the same for
// both), which a loaded machine disturbs much less. Run:
//
//	go test -run - -bench RoundTrip -benchtime 60000x ./unixsock/
func BenchmarkRoundTrip(b *testing.B) {
	_, e, path := benchSetup(b)
	res, err := e.Get(testenv.Context(b), "profile", cache.Key{Partition: "1"})
	if err != nil {
		b.Fatal(err)
	}
	// The daemon's reply, byte for byte, which the canned server sends.
	want := fmt.Appendf(nil, "$%d\r\n%s\r\n", len(res.Value), res.Value)
	canned := dialRoundTripper(b, serveCanned(b, want), want)
	daemon := dialRoundTripper(b, path, want)
	per := max(b.N/roundTripRounds, 1)
	var cannedNS, daemonNS, cannedCPU, daemonCPU []float64
	b.ResetTimer()
	for round := 0; round < roundTripRounds; round++ {
		w, c := canned.run(b, per)
		cannedNS, cannedCPU = append(cannedNS, float64(w)), append(cannedCPU, float64(c))
		w, c = daemon.run(b, per)
		daemonNS, daemonCPU = append(daemonNS, float64(w)), append(daemonCPU, float64(c))
	}
	b.StopTimer()
	for _, r := range []*roundTripper{canned, daemon} {
		if string(r.got) != string(want) {
			b.Fatal(errors.New("reply " + string(r.got) + ", want " + string(want)))
		}
	}
	c, d := median(cannedNS), median(daemonNS)
	b.ReportMetric(c, "canned-ns")
	b.ReportMetric(d, "daemon-ns")
	b.ReportMetric(c/d, "x-canned")
	cc, dc := median(cannedCPU), median(daemonCPU)
	b.ReportMetric(cc, "canned-cpu-ns")
	b.ReportMetric(dc, "daemon-cpu-ns")
	b.ReportMetric(cc/dc, "x-canned-cpu")
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
