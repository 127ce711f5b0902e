package fcgiclient

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Transport is an http.RoundTripper that sends each request over FastCGI
// to the responder at Network/Addr, with the params nginx's shipped
// fastcgi_params sends (REQUEST_URI as the client asked for it,
// SCRIPT_NAME and DOCUMENT_URI its path, QUERY_STRING, CONTENT_TYPE,
// CONTENT_LENGTH, and every header as HTTP_*).
type Transport struct {
	Network, Addr string
}

// RoundTrip implements http.RoundTripper.
func (t Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("fcgiclient: read the request body: %w", err)
		}
		body = b
	}
	res, err := Do(t.Network, t.Addr, Params(req, len(body)), string(body))
	if err != nil {
		return nil, err
	}
	return &http.Response{
		Status: strconv.Itoa(res.Status) + " " + http.StatusText(res.Status), StatusCode: res.Status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: res.Header,
		Body: io.NopCloser(strings.NewReader(res.Body)), ContentLength: int64(len(res.Body)), Request: req,
	}, nil
}

// Params are the CGI params of req, whose body is n bytes, as nginx sends
// them.
func Params(req *http.Request, n int) map[string]string {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	p := map[string]string{
		"GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_SOFTWARE": "nginx",
		"REQUEST_METHOD": req.Method, "REQUEST_URI": req.URL.RequestURI(),
		"SCRIPT_NAME": req.URL.Path, "DOCUMENT_URI": req.URL.Path, "QUERY_STRING": req.URL.RawQuery,
		"REMOTE_ADDR": "127.0.0.1", "SERVER_ADDR": "127.0.0.1", "SERVER_PORT": "80", "HTTP_HOST": host,
		"CONTENT_TYPE": req.Header.Get("Content-Type"), "CONTENT_LENGTH": "",
	}
	if n > 0 {
		p["CONTENT_LENGTH"] = strconv.Itoa(n)
	}
	for k, vs := range req.Header {
		if k == "Content-Type" || k == "Content-Length" {
			continue
		}
		p["HTTP_"+strings.ToUpper(strings.ReplaceAll(k, "-", "_"))] = strings.Join(vs, ", ")
	}
	return p
}
