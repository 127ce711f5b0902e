package fcgi_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fcgiRequest sends one request over FastCGI, as a web server does, with
// the given params and body, and parses the CGI response. It is a small,
// independent implementation of the responder side of the FastCGI 1.0
// spec, so the tests do not trust net/http/fcgi to check itself.
func fcgiRequest(t testing.TB, network, addr string, params map[string]string, body string) response {
	t.Helper()
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(encodeRequest(params, body)); err != nil {
		t.Fatalf("write request: %v", err)
	}
	var stdout bytes.Buffer
	r := bufio.NewReader(c)
	for {
		var h [8]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			t.Fatalf("read record header: %v (stdout so far %q)", err, stdout.String())
		}
		content := make([]byte, int(binary.BigEndian.Uint16(h[4:6]))+int(h[6]))
		if _, err := io.ReadFull(r, content); err != nil {
			t.Fatalf("read record: %v", err)
		}
		content = content[:binary.BigEndian.Uint16(h[4:6])]
		switch h[1] {
		case 6: // STDOUT
			stdout.Write(content)
		case 7: // STDERR
			t.Logf("fcgi stderr: %s", content)
		case 3: // END_REQUEST
			return parseCGI(t, stdout.Bytes())
		}
	}
}

// encodeRequest encodes request 1: BEGIN_REQUEST (responder, no
// keep-conn), the params, and the body as STDIN, each stream ended by an
// empty record.
func encodeRequest(params map[string]string, body string) []byte {
	var w bytes.Buffer
	writeRecord(&w, 1, []byte{0, 1, 0, 0, 0, 0, 0, 0})
	var p bytes.Buffer
	for k, v := range params {
		writeLen(&p, len(k))
		writeLen(&p, len(v))
		p.WriteString(k)
		p.WriteString(v)
	}
	writeRecord(&w, 4, p.Bytes()) // PARAMS
	writeRecord(&w, 4, nil)
	for b := []byte(body); len(b) > 0; {
		n := min(len(b), 65535)
		writeRecord(&w, 5, b[:n]) // STDIN
		b = b[n:]
	}
	writeRecord(&w, 5, nil)
	return w.Bytes()
}

// writeRecord writes one record of request 1.
func writeRecord(w *bytes.Buffer, typ byte, content []byte) {
	h := [8]byte{1, typ, 0, 1}
	binary.BigEndian.PutUint16(h[4:6], uint16(len(content)))
	w.Write(h[:])
	w.Write(content)
}

// writeLen writes a name-value pair length: one byte below 128, else four.
func writeLen(b *bytes.Buffer, n int) {
	if n < 128 {
		b.WriteByte(byte(n))
		return
	}
	var l [4]byte
	binary.BigEndian.PutUint32(l[:], uint32(n)|1<<31)
	b.Write(l[:])
}

// parseCGI splits a CGI response into status ("Status:" header, 200 when
// absent), headers and body.
func parseCGI(t testing.TB, out []byte) response {
	t.Helper()
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(out)))
	hdr, err := tp.ReadMIMEHeader()
	if err != nil {
		t.Fatalf("CGI response headers: %v in %q", err, out)
	}
	status := 200
	if s := hdr.Get("Status"); s != "" {
		if status, err = strconv.Atoi(strings.Fields(s)[0]); err != nil {
			t.Fatalf("Status %q", s)
		}
	}
	body, _ := io.ReadAll(tp.R)
	return response{status: status, header: http.Header(hdr), body: string(body)}
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
