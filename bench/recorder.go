package bench

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds: 1 µs to 60 s at 3 significant digits.
const (
	histMin    = 1
	histMax    = int64(60 * time.Second / time.Microsecond)
	histDigits = 3
)

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(histMin, histMax, histDigits)
}

// recorder collects one worker's latencies in microseconds. Each worker
// owns one, so the lock is uncontended; it is there for the progress
// line, which reads all recorders while they record.
type recorder struct {
	mu     sync.Mutex // guards h, errors and firstErr
	h      *hdrhistogram.Histogram
	errors int64
	// firstErr is the first error seen, for the report.
	firstErr string
}

func newRecorder() *recorder { return &recorder{h: newHistogram()} }

// record adds one operation's latency and outcome.
func (r *recorder) record(d time.Duration, err error) {
	us := max(d.Microseconds(), histMin)
	r.mu.Lock()
	_ = r.h.RecordValue(min(us, histMax))
	if err != nil {
		r.errors++
		if r.firstErr == "" {
			r.firstErr = err.Error()
		}
	}
	r.mu.Unlock()
}

// mergeInto adds the recorder's contents to h and returns its errors.
func (r *recorder) mergeInto(h *hdrhistogram.Histogram) (int64, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h.Merge(r.h)
	return r.errors, r.firstErr
}

// recorders is the set of one round's recorders, shared with the progress line.
type recorders struct {
	mu   sync.Mutex // guards list
	list []*recorder
}

func (rs *recorders) add() *recorder {
	r := newRecorder()
	rs.mu.Lock()
	rs.list = append(rs.list, r)
	rs.mu.Unlock()
	return r
}

// snapshot merges all recorders into a fresh histogram.
func (rs *recorders) snapshot() (*hdrhistogram.Histogram, int64, string) {
	h := newHistogram()
	var errs int64
	first := ""
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, r := range rs.list {
		n, f := r.mergeInto(h)
		errs += n
		if first == "" {
			first = f
		}
	}
	return h, errs, first
}
