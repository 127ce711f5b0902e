package dynamo

import (
	"context"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
)

// observeMiddleware times every DynamoDB API call (retries included, as
// the caller waits for them) and reports it to observe with the
// operation's name (GetItem, BatchGetItem, PutItem…). It is an SDK
// middleware rather than code around each call so that no call is missed
// and the package needs no metrics library: the daemon's Prometheus
// registry is one observer.
func observeMiddleware(observe func(op string, d time.Duration, err error)) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("ddbcacheObserve",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				start := time.Now()
				out, md, err := next.HandleInitialize(ctx, in)
				observe(awsmiddleware.GetOperationName(ctx), time.Since(start), err)
				return out, md, err
			}), middleware.Before)
	}
}
