package dynamo

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/ddbcache/ddbcache/internal/testenv"
)

// countingConn counts the writes to one connection.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

// TestOneWriteOneConnection: every call is one write on one kept-alive
// connection. Before memoryBodies the SDK's body wrapper made net/http
// write the headers and the body separately (two writes a call, always),
// and now and then close the connection after a call (a new dial: 2 to
// 20 in 300 calls on the 2-core machine).
func TestOneWriteOneConnection(t *testing.T) {
	d := testenv.StartDynalite(t)
	d.CreateTable(t, "users", "user_id", "")
	var dials, writes atomic.Int64
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		dial := tr.DialContext
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			dials.Add(1)
			return countingConn{Conn: c, writes: &writes}, nil
		}
	})
	opts := Options{Endpoint: d.Endpoint, Region: "us-east-1"}
	cfg, err := AWSConfig(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(cfg, opts, hc)
	ctx := testenv.Context(t)
	if _, err := c.Get(ctx, "users", map[string]string{"user_id": "warm"}, false); err != nil {
		t.Fatal(err) // DescribeTable, then GetItem
	}
	const calls = 300
	dials.Store(0)
	writes.Store(0)
	for i := range calls {
		doc := fmt.Sprintf(`{"user_id":"u%d","name":"N%d"}`, i, i)
		if i%3 == 0 {
			if err := c.Put(ctx, "users", []byte(doc)); err != nil {
				t.Fatal(err)
			}
		} else if _, err := c.Get(ctx, "users", map[string]string{"user_id": fmt.Sprint("u", i-1)}, i%2 == 0); err != nil {
			t.Fatal(err)
		}
	}
	if n := dials.Load(); n != 0 {
		t.Errorf("%d new connections in %d calls, want 0 (the first one kept alive)", n, calls)
	}
	if n := writes.Load(); n != calls {
		t.Errorf("%d writes for %d calls, want one a call", n, calls)
	}
}
