package dynamo

import (
	"bytes"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// memoryBodies is the SDK's HTTP client with every request body of known
// length handed to net/http as an in-memory reader. The SDK serializes a
// request in memory, but passes the body to net/http wrapped in a
// closer of its own (smithy-go's safeReadCloser), and that costs every
// call twice:
//
//   - net/http does not recognise the wrapper as in-memory, so it flushes
//     the headers on their own before copying the body: two writes, two
//     TCP segments, and a server that wakes up for half a request;
//   - the copy then writes the body straight to the socket and reads the
//     wrapper once more to check that nothing is left. DynamoDB can have
//     answered by then and the SDK closed the wrapper, whose WriteTo then
//     returns io.EOF as an error: net/http takes it for a failed write
//     and closes the connection, so the next call dials a new one (a TCP
//     handshake and two new goroutines; 5 % of the calls on a loaded
//     2-core machine, each a millisecond slower).
//
// With a bytes.Reader the headers and body go in one write, nothing is
// read after it, and GetBody lets net/http resend a request that was
// never written on a keep-alive connection the server had closed.
type memoryBodies struct{ next aws.HTTPClient }

// Do sends r, its body first read into memory when its length is known.
func (c memoryBodies) Do(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength <= 0 {
		return c.next.Do(r) // no body, or a stream of unknown length
	}
	buf := make([]byte, r.ContentLength)
	_, err := io.ReadFull(r.Body, buf)
	_ = r.Body.Close() // the SDK closes it too; closing twice is harmless
	if err != nil {
		return nil, fmt.Errorf("dynamo: read the request body: %w", err)
	}
	r = r.WithContext(r.Context()) // a shallow copy: r is the SDK's
	r.Body = io.NopCloser(bytes.NewReader(buf))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	return c.next.Do(r)
}
