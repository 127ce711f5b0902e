package dynamo

import (
	"context"
	"errors"

	"github.com/aws/smithy-go"
)

// CheckTable reports whether table exists and its key schema can be read
// (DescribeTable, once per table while it succeeds), for cache.TableChecker.
func (c *Client) CheckTable(ctx context.Context, table string) error {
	_, err := c.schemaOf(ctx, table)
	return err
}

// throttled are the error codes with which DynamoDB says it will not
// serve the request now, though the request itself is fine.
var throttled = map[string]bool{
	"ProvisionedThroughputExceededException": true,
	"ThrottlingException":                    true,
	"RequestLimitExceeded":                   true,
	"ResourceNotFoundException":              true, // the table is missing: the operator must act
}

// Unavailable reports whether err is a failure of DynamoDB itself —
// unreachable, timed out, throttled, a server fault, a missing table — as
// opposed to a request DynamoDB refused for its content (a bad key, an
// item too large), for cache.FaultClassifier.
func (c *Client) Unavailable(err error) bool {
	if err == nil || errors.Is(err, ErrMissingKey) || errors.Is(err, ErrBadKey) {
		return false
	}
	var api smithy.APIError
	if !errors.As(err, &api) {
		return true // no answer at all: network, timeout
	}
	return api.ErrorFault() == smithy.FaultServer || throttled[api.ErrorCode()]
}
