package fcgi_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/fcgi"
)

// TestPprof checks listen.pprof's mount: off, /debug/pprof/ is the API's
// 404; on, a CPU profile longer than the HTTP write timeout comes back as
// a gzipped protobuf, and the API's routes still answer.
func TestPprof(t *testing.T) {
	api := http.NewServeMux()
	api.HandleFunc("/v1/", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "api") })
	cases := []struct {
		pprof   bool
		path    string
		status  int
		profile bool // the body is a gzipped profile
	}{
		{false, "/debug/pprof/", http.StatusNotFound, false},
		{false, "/debug/pprof/profile?seconds=1", http.StatusNotFound, false},
		{true, "/debug/pprof/profile?seconds=1", http.StatusOK, true},
		{true, "/debug/pprof/heap", http.StatusOK, true},
		{true, "/v1/x", http.StatusOK, false},
		{false, "/v1/x", http.StatusOK, false},
	}
	for _, tc := range cases {
		t.Run(map[bool]string{false: "off", true: "on"}[tc.pprof]+tc.path, func(t *testing.T) {
			srv := serveWeb(t, api, fcgi.ServerOptions{HTTP: "127.0.0.1:0", Pprof: tc.pprof, WriteTimeout: 500 * time.Millisecond})
			resp, err := http.Get("http://" + srv.HTTPAddr().String() + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != tc.status {
				t.Fatalf("status %d (%v), want %d: %.200s", resp.StatusCode, err, tc.status, body)
			}
			if tc.profile {
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatalf("not a gzipped profile: %v", err)
				}
				if raw, err := io.ReadAll(zr); err != nil || len(raw) == 0 {
					t.Fatalf("profile: %d bytes, %v", len(raw), err)
				}
			}
		})
	}
}
