package testenv

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Client returns an SDK client for the server, independent of the code
// under test, for creating tables and writing items behind the cache's back.
func (d *Dynalite) Client() *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(d.Endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
}

// CreateTable creates a pay-per-request table with a partition key and,
// when sk is not "", a sort key; both of type S unless the names end in
// ":N" or ":B" ("user_id:N").
func (d *Dynalite) CreateTable(t testing.TB, name, pk, sk string) {
	t.Helper()
	in := &dynamodb.CreateTableInput{TableName: aws.String(name), BillingMode: types.BillingModePayPerRequest}
	for _, k := range []struct {
		attr string
		typ  types.KeyType
	}{{pk, types.KeyTypeHash}, {sk, types.KeyTypeRange}} {
		if k.attr == "" {
			continue
		}
		attr, at, _ := strings.Cut(k.attr, ":")
		if at == "" {
			at = "S"
		}
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{
			AttributeName: aws.String(attr), AttributeType: types.ScalarAttributeType(at)})
		in.KeySchema = append(in.KeySchema, types.KeySchemaElement{AttributeName: aws.String(attr), KeyType: k.typ})
	}
	if _, err := d.Client().CreateTable(context.Background(), in); err != nil {
		t.Fatalf("testenv: create table %s: %v", name, err)
	}
}

// PutItem writes an item straight into the server.
func (d *Dynalite) PutItem(t testing.TB, table string, item map[string]types.AttributeValue) {
	t.Helper()
	_, err := d.Client().PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: item})
	if err != nil {
		t.Fatalf("testenv: put item in %s: %v", table, err)
	}
}

// Counter is a reverse proxy in front of a DynamoDB endpoint that counts
// the requests it passes by operation, so a test can tell from outside the
// daemon how many DynamoDB calls it made.
type Counter struct {
	// URL is the proxy's endpoint, to configure in place of the server's.
	URL string

	mu     sync.Mutex // guards counts
	counts map[string]int
}

// CountingProxy starts a Counter in front of endpoint.
func CountingProxy(t testing.TB, endpoint string) *Counter {
	t.Helper()
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatalf("testenv: proxy target: %v", err)
	}
	c := &Counter{counts: map[string]int{}}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, op, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
		c.mu.Lock()
		c.counts[op]++
		c.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

// Count returns how many requests of operation op ("GetItem") passed.
func (c *Counter) Count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[op]
}
