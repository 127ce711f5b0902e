package fcgi_test

import (
	"fmt"
	"testing"

	"github.com/ddbcache/ddbcache/internal/fcgiclient"
)

// fcgiRequest sends one request over FastCGI, as a web server does, with
// the given params and body, and parses the CGI response (with
// internal/fcgiclient, an implementation independent of net/http/fcgi).
func fcgiRequest(t testing.TB, network, addr string, params map[string]string, body string) response {
	t.Helper()
	r, err := fcgiclient.Do(network, addr, params, body)
	if err != nil {
		t.Fatal(err)
	}
	if r.Stderr != "" {
		t.Logf("fcgi stderr: %s", r.Stderr)
	}
	return response{status: r.Status, header: r.Header, body: r.Body}
}

// cgiParams are the params a web server sends for a GET of uri, plus more.
func cgiParams(method, uri string, more ...string) map[string]string {
	p := map[string]string{
		"REQUEST_METHOD": method, "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "localhost",
		"GATEWAY_INTERFACE": "CGI/1.1", "REMOTE_ADDR": "127.0.0.1", "SERVER_PORT": "80",
	}
	if uri != "" {
		p["REQUEST_URI"] = uri
	}
	for i := 0; i+1 < len(more); i += 2 {
		p[more[i]] = more[i+1]
	}
	return p
}

// fmtLen is the CONTENT_LENGTH param of body.
func fmtLen(body string) string { return fmt.Sprint(len(body)) }
