package fcgi

import (
	"net/http"
	"sync/atomic"
	"time"
)

// httpDate is the Date header of the current second. net/http/fcgi adds a
// Date to every response that has none by formatting the time anew; at
// ten thousand responses a second that formatting was a visible share of
// the daemon's CPU, so the handler sets the header itself from a value
// formatted once a second.
type httpDate struct {
	v atomic.Pointer[dateValue]
}

type dateValue struct {
	sec    int64
	header []string // shared by every response of that second: never modified
}

// get returns the Date header value for now.
func (d *httpDate) get() []string {
	now := time.Now()
	sec := now.Unix()
	if v := d.v.Load(); v != nil && v.sec == sec {
		return v.header
	}
	v := &dateValue{sec: sec, header: []string{now.UTC().Format(http.TimeFormat)}}
	d.v.Store(v)
	return v.header
}

// dates is the Date header shared by all handlers of the process.
var dates httpDate
