// Package fcgiclient is the web server's side of FastCGI 1.0, for tests:
// it sends one request to a FastCGI responder as nginx or Apache does and
// parses the CGI response. It is a small, independent implementation of
// the spec, so that the tests do not trust net/http/fcgi to check itself
// (no maintained Go FastCGI client library is available to the project),
// and a Transport, so that an http.Client's requests travel over FastCGI.
package fcgiclient

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
	"time"
)

// Response is a parsed CGI response.
type Response struct {
	Status int // the Status header's code, 200 when absent
	Header http.Header
	Body   string
	Stderr string // what the responder wrote to FCGI_STDERR
}

// Do sends one request, with params and body, to the responder at
// network/addr on a fresh connection, and reads its response.
func Do(network, addr string, params map[string]string, body string) (Response, error) {
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		return Response{}, fmt.Errorf("fcgiclient: dial %s: %w", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(EncodeRequest(params, body)); err != nil {
		return Response{}, fmt.Errorf("fcgiclient: write request: %w", err)
	}
	return readResponse(bufio.NewReader(c))
}

// Conn is one FastCGI connection that carries request after request, as
// nginx's upstream with `fastcgi_keep_conn on` and `keepalive` uses it.
// It is not safe for concurrent use.
type Conn struct {
	c net.Conn
	r *bufio.Reader
}

// Dial opens a kept connection to the responder at network/addr.
func Dial(network, addr string) (*Conn, error) {
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("fcgiclient: dial %s: %w", addr, err)
	}
	return &Conn{c: c, r: bufio.NewReader(c)}, nil
}

// Do sends one request with FCGI_KEEP_CONN set, so that the responder
// leaves the connection open, and reads its response.
func (c *Conn) Do(params map[string]string, body string) (Response, error) {
	_ = c.c.SetDeadline(time.Now().Add(30 * time.Second))
	req := EncodeRequest(params, body)
	req[8+2] = flagKeepConn // BEGIN_REQUEST's flags byte
	if _, err := c.c.Write(req); err != nil {
		return Response{}, fmt.Errorf("fcgiclient: write request: %w", err)
	}
	return readResponse(c.r)
}

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }

// GetValues sends FCGI_GET_VALUES for names — the management query a web
// server may make before its first request, on request id 0 — and reads
// the FCGI_GET_VALUES_RESULT pairs, waiting at most wait for them.
func (c *Conn) GetValues(wait time.Duration, names ...string) (map[string]string, error) {
	_ = c.c.SetDeadline(time.Now().Add(wait))
	var p, w bytes.Buffer
	for _, n := range names {
		writeLen(&p, len(n))
		writeLen(&p, 0)
		p.WriteString(n)
	}
	writeRecordID(&w, typeGetValues, 0, p.Bytes())
	if _, err := c.c.Write(w.Bytes()); err != nil {
		return nil, fmt.Errorf("fcgiclient: write GET_VALUES: %w", err)
	}
	h, content, err := readRecord(c.r)
	if err != nil {
		return nil, fmt.Errorf("fcgiclient: GET_VALUES_RESULT: %w", err)
	}
	if h[1] != typeGetValuesResult || h[2] != 0 || h[3] != 0 {
		return nil, fmt.Errorf("fcgiclient: GET_VALUES answered by record type %d, request %d", h[1], binary.BigEndian.Uint16(h[2:4]))
	}
	return parsePairs(content)
}

// Send writes raw records (EncodeRecord's), for a test that speaks the
// protocol record by record.
func (c *Conn) Send(records ...[]byte) error {
	_, err := c.c.Write(bytes.Join(records, nil))
	if err != nil {
		return fmt.Errorf("fcgiclient: write: %w", err)
	}
	return nil
}

// ReadRecord reads the next record, waiting at most wait for it.
func (c *Conn) ReadRecord(wait time.Duration) (typ byte, id uint16, content []byte, err error) {
	_ = c.c.SetDeadline(time.Now().Add(wait))
	h, content, err := readRecord(c.r)
	return h[1], binary.BigEndian.Uint16(h[2:4]), content, err
}

// EncodeRecord encodes one record of type typ for request id.
func EncodeRecord(typ byte, id uint16, content []byte) []byte {
	var w bytes.Buffer
	writeRecordID(&w, typ, id, content)
	return w.Bytes()
}

// Management record types (FastCGI 1.0, section 4).
const (
	typeGetValues       = 9
	typeGetValuesResult = 10
)

// flagKeepConn is FCGI_KEEP_CONN, BEGIN_REQUEST's one flag.
const flagKeepConn = 1

// readResponse reads the records of request 1 up to its END_REQUEST.
func readResponse(r *bufio.Reader) (Response, error) {
	var stdout, stderr bytes.Buffer
	for {
		h, content, err := readRecord(r)
		if err != nil {
			return Response{}, fmt.Errorf("%w (stdout so far %q)", err, stdout.String())
		}
		switch h[1] {
		case 6: // STDOUT
			stdout.Write(content)
		case 7: // STDERR
			stderr.Write(content)
		case 3: // END_REQUEST
			res, err := parseCGI(stdout.Bytes())
			res.Stderr = stderr.String()
			return res, err
		}
	}
}

// readRecord reads one record: its header and its content, without the padding.
func readRecord(r *bufio.Reader) (h [8]byte, content []byte, err error) {
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return h, nil, fmt.Errorf("fcgiclient: read record header: %w", err)
	}
	content = make([]byte, int(binary.BigEndian.Uint16(h[4:6]))+int(h[6]))
	if _, err := io.ReadFull(r, content); err != nil {
		return h, nil, fmt.Errorf("fcgiclient: read record: %w", err)
	}
	return h, content[:binary.BigEndian.Uint16(h[4:6])], nil
}

// parsePairs decodes FastCGI name-value pairs.
func parsePairs(b []byte) (map[string]string, error) {
	pairs := map[string]string{}
	for len(b) > 0 {
		nl, n := readLen(b)
		vl, m := readLen(b[n:])
		b = b[n+m:]
		if n == 0 || m == 0 || nl+vl > len(b) {
			return nil, fmt.Errorf("fcgiclient: truncated name-value pair")
		}
		pairs[string(b[:nl])] = string(b[nl : nl+vl])
		b = b[nl+vl:]
	}
	return pairs, nil
}

// readLen decodes a name-value pair length and returns it with the bytes
// it took (0 when b is too short).
func readLen(b []byte) (int, int) {
	switch {
	case len(b) >= 1 && b[0] < 128:
		return int(b[0]), 1
	case len(b) >= 4:
		return int(binary.BigEndian.Uint32(b) &^ (1 << 31)), 4
	}
	return 0, 0
}

// EncodeRequest encodes request 1: BEGIN_REQUEST (responder, no
// keep-conn), the params, and the body as STDIN, each stream ended by an
// empty record. (A test that wants to write a request and not wait for
// its response sends these bytes itself.)
func EncodeRequest(params map[string]string, body string) []byte {
	var w bytes.Buffer
	writeRecord(&w, 1, []byte{0, 1, 0, 0, 0, 0, 0, 0})
	var p bytes.Buffer
	for k, v := range params {
		writeLen(&p, len(k))
		writeLen(&p, len(v))
		p.WriteString(k)
		p.WriteString(v)
	}
	for b := p.Bytes(); len(b) > 0; { // PARAMS
		n := min(len(b), 65535)
		writeRecord(&w, 4, b[:n])
		b = b[n:]
	}
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
func writeRecord(w *bytes.Buffer, typ byte, content []byte) { writeRecordID(w, typ, 1, content) }

// writeRecordID writes one record of request id.
func writeRecordID(w *bytes.Buffer, typ byte, id uint16, content []byte) {
	h := [8]byte{1, typ}
	binary.BigEndian.PutUint16(h[2:4], id)
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
func parseCGI(out []byte) (Response, error) {
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(out)))
	hdr, err := tp.ReadMIMEHeader()
	if err != nil {
		return Response{}, fmt.Errorf("fcgiclient: CGI response headers: %w in %q", err, out)
	}
	status := 200
	if s := hdr.Get("Status"); s != "" {
		if status, err = strconv.Atoi(strings.Fields(s)[0]); err != nil {
			return Response{}, fmt.Errorf("fcgiclient: Status %q: %w", s, err)
		}
	}
	body, _ := io.ReadAll(tp.R)
	return Response{Status: status, Header: http.Header(hdr), Body: string(body)}, nil
}
