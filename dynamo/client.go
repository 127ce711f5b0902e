// Package dynamo reads and writes DynamoDB items for the cache: single and
// batched reads, writes and deletes through aws-sdk-go-v2, item ⇄ JSON
// conversion that keeps numbers exact, and consumed-capacity accounting.
//
// Keys are passed as attribute name → value text; the client learns each
// table's key schema (names and S/N/B types) once with DescribeTable, so
// callers never deal in AttributeValues.
package dynamo

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DefaultRegion is used when Options.Region is empty and the AWS
// configuration names none.
const DefaultRegion = "us-east-1"

// Errors returned by the client. Calls that fail in DynamoDB itself return
// the SDK's error wrapped with the operation and table.
var (
	// ErrMissingKey means a key or item lacks one of the table's key attributes.
	ErrMissingKey = errors.New("dynamo: missing key attribute")
	// ErrBadKey means a key value cannot be converted to the attribute's type.
	ErrBadKey = errors.New("dynamo: bad key value")
)

// Options configures a Client.
type Options struct {
	// Region is the AWS region; "" means the SDK's configuration, then DefaultRegion.
	Region string
	// Endpoint overrides the service URL, for DynamoDB-compatible local
	// servers; "" means AWS.
	Endpoint string
	// AccessKeyID and SecretAccessKey are static credentials. When both are
	// empty the standard AWS credential chain is used, except with an
	// Endpoint, where "local"/"local" is used (local servers accept anything).
	AccessKeyID     string
	SecretAccessKey string
	// MaxAttempts bounds the SDK's retries of one call; 0 means the SDK default (3).
	MaxAttempts int
	// Observe, when set, hears every DynamoDB call: its operation name,
	// how long it took (retries included) and its error, for latency
	// metrics. It must be quick and safe for concurrent use.
	Observe func(op string, d time.Duration, err error)
}

// Client is a DynamoDB client. It is safe for concurrent use.
type Client struct {
	api *dynamodb.Client

	mu       sync.Mutex           // guards schemas and capacity
	schemas  map[string]*schema   // table name → key schema
	capacity map[string]*Capacity // table name → consumed units
}

// Capacity is the capacity consumed on one table since the client started.
type Capacity struct {
	ReadUnits  float64 `json:"read_units"`
	WriteUnits float64 `json:"write_units"`
}

// New builds a client. It does not contact DynamoDB.
func New(ctx context.Context, opts Options) (*Client, error) {
	cfg, err := AWSConfig(ctx, opts)
	if err != nil {
		return nil, err
	}
	return newClient(cfg, opts, nil), nil
}

// newClient is New on cfg, sending its requests through hc (nil: the
// SDK's default HTTP client).
func newClient(cfg aws.Config, opts Options, hc aws.HTTPClient) *Client {
	api := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if hc != nil {
			o.HTTPClient = hc
		}
		o.HTTPClient = memoryBodies{next: o.HTTPClient} // see there
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
		if opts.Observe != nil {
			o.APIOptions = append(o.APIOptions, observeMiddleware(opts.Observe))
		}
	})
	return &Client{api: api, schemas: map[string]*schema{}, capacity: map[string]*Capacity{}}
}

// AWSConfig loads the AWS configuration that opts describe; the Streams
// consumer (package streams) builds its client from it too.
func AWSConfig(ctx context.Context, opts Options) (aws.Config, error) {
	var loadOpts []func(*config.LoadOptions) error
	if opts.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(opts.Region))
	}
	key, secret := opts.AccessKeyID, opts.SecretAccessKey
	if key == "" && secret == "" && opts.Endpoint != "" {
		key, secret = "local", "local"
	}
	if key != "" || secret != "" {
		loadOpts = append(loadOpts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(key, secret, "")))
	}
	if opts.MaxAttempts > 0 {
		loadOpts = append(loadOpts, config.WithRetryMaxAttempts(opts.MaxAttempts))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("dynamo: load AWS config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	return cfg, nil
}

// API returns the underlying SDK client, for table administration in tests
// and tools.
func (c *Client) API() *dynamodb.Client { return c.api }

// ConsumedCapacity returns the read and write units consumed on table so far.
func (c *Client) ConsumedCapacity(table string) (readUnits, writeUnits float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cc := c.capacity[table]; cc != nil {
		return cc.ReadUnits, cc.WriteUnits
	}
	return 0, 0
}

// account adds consumed capacity to the per-table totals. DynamoDB (and
// dynalite) may report only CapacityUnits; write says which total that is.
func (c *Client) account(consumed []types.ConsumedCapacity, write bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cc := range consumed {
		if cc.TableName == nil {
			continue
		}
		acc := c.capacity[*cc.TableName]
		if acc == nil {
			acc = &Capacity{}
			c.capacity[*cc.TableName] = acc
		}
		if cc.ReadCapacityUnits != nil {
			acc.ReadUnits += *cc.ReadCapacityUnits
		}
		if cc.WriteCapacityUnits != nil {
			acc.WriteUnits += *cc.WriteCapacityUnits
		}
		if cc.ReadCapacityUnits == nil && cc.WriteCapacityUnits == nil && cc.CapacityUnits != nil {
			if write {
				acc.WriteUnits += *cc.CapacityUnits
			} else {
				acc.ReadUnits += *cc.CapacityUnits
			}
		}
	}
}

func (c *Client) accountOne(cc *types.ConsumedCapacity, write bool) {
	if cc != nil {
		c.account([]types.ConsumedCapacity{*cc}, write)
	}
}

// schema is a table's key schema.
type schema struct {
	names []string                             // partition key, then sort key if any
	types map[string]types.ScalarAttributeType // attribute name → S, N or B
}

// schemaOf returns the key schema of table, asking DynamoDB the first time.
func (c *Client) schemaOf(ctx context.Context, table string) (*schema, error) {
	c.mu.Lock()
	s := c.schemas[table]
	c.mu.Unlock()
	if s != nil {
		return s, nil
	}
	out, err := c.api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		return nil, fmt.Errorf("dynamo: describe table %s: %w", table, err)
	}
	s = &schema{types: map[string]types.ScalarAttributeType{}}
	for _, ad := range out.Table.AttributeDefinitions {
		s.types[aws.ToString(ad.AttributeName)] = ad.AttributeType
	}
	for _, want := range []types.KeyType{types.KeyTypeHash, types.KeyTypeRange} {
		for _, ks := range out.Table.KeySchema {
			if ks.KeyType == want {
				s.names = append(s.names, aws.ToString(ks.AttributeName))
			}
		}
	}
	c.mu.Lock()
	c.schemas[table] = s
	c.mu.Unlock()
	return s, nil
}

// keyAV converts a name → text key into DynamoDB's key attribute values.
func (s *schema) keyAV(key map[string]string) (map[string]types.AttributeValue, error) {
	av := make(map[string]types.AttributeValue, len(s.names))
	for _, name := range s.names {
		v, ok := key[name]
		if !ok {
			return nil, fmt.Errorf("%w %q", ErrMissingKey, name)
		}
		switch s.types[name] {
		case types.ScalarAttributeTypeN:
			if _, ok := new(big.Rat).SetString(v); !ok {
				return nil, fmt.Errorf("%w: %s must be a number, got %q", ErrBadKey, name, v)
			}
			av[name] = &types.AttributeValueMemberN{Value: v}
		case types.ScalarAttributeTypeB:
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				return nil, fmt.Errorf("%w: %s must be base64: %v", ErrBadKey, name, err)
			}
			av[name] = &types.AttributeValueMemberB{Value: b}
		default:
			av[name] = &types.AttributeValueMemberS{Value: v}
		}
	}
	return av, nil
}

// identity renders the key attributes of an item or key as one comparable
// string. Numbers are normalised, since DynamoDB returns "42" for "042".
func (s *schema) identity(av map[string]types.AttributeValue) string {
	var id string
	for _, name := range s.names {
		switch v := av[name].(type) {
		case *types.AttributeValueMemberS:
			id += "S" + v.Value
		case *types.AttributeValueMemberN:
			if r, ok := new(big.Rat).SetString(v.Value); ok {
				id += "N" + r.RatString()
			} else {
				id += "N" + v.Value
			}
		case *types.AttributeValueMemberB:
			id += "B" + string(v.Value)
		}
		id += "\x00"
	}
	return id
}
