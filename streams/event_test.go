package streams_test

import (
	"errors"
	"testing"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
	"github.com/ddbcache/ddbcache/streams"
)

// lambdaEvent is a DynamoDB stream event as AWS Lambda receives it.
const lambdaEvent = `{"Records":[
 {"eventID":"1","eventName":"MODIFY","eventVersion":"1.1","eventSource":"aws:dynamodb","awsRegion":"us-east-1",
  "dynamodb":{"ApproximateCreationDateTime":1764028800,"Keys":{"user_id":{"S":"1"}},
   "NewImage":{"user_id":{"S":"1"},"name":{"S":"New"}},"SequenceNumber":"111","SizeBytes":26,"StreamViewType":"NEW_IMAGE"},
  "eventSourceARN":"arn:aws:dynamodb:us-east-1:123456789012:table/users/stream/2026-11-25T00:00:00.000"},
 {"eventID":"2","eventName":"REMOVE","eventVersion":"1.1","eventSource":"aws:dynamodb","awsRegion":"us-east-1",
  "dynamodb":{"Keys":{"user_id":{"S":"2"}},"SequenceNumber":"112","SizeBytes":20,"StreamViewType":"NEW_IMAGE"},
  "eventSourceARN":"arn:aws:dynamodb:us-east-1:123456789012:table/users/stream/2026-11-25T00:00:00.000"}]}`

func TestInvalidateEvent(t *testing.T) {
	f := enginetest.New(t)
	e := f.Engine(t, nil)
	ctx := testenv.Context(t)
	for _, id := range []string{"1", "2", "3"} {
		f.Seed(t, id, "Old")
		for _, ns := range []string{"profile", "sturdy"} {
			if _, err := e.Get(ctx, ns, cache.Key{Partition: id}); err != nil {
				t.Fatal(err)
			}
		}
	}
	bad := []struct{ name, body string }{
		{"not JSON", `{"Records":`},
		{"no Records", `{"Items":[]}`},
		{"unknown eventName", `{"Records":[{"eventName":"UPSERT","eventSourceARN":"arn:aws:dynamodb:r:1:table/users/stream/x","dynamodb":{"Keys":{"user_id":{"S":"3"}}}}]}`},
		{"no table in ARN", `{"Records":[{"eventName":"MODIFY","eventSourceARN":"arn:aws:sqs:x","dynamodb":{"Keys":{"user_id":{"S":"3"}}}}]}`},
		{"no keys", `{"Records":[{"eventName":"MODIFY","eventSourceARN":"arn:aws:dynamodb:r:1:table/users/stream/x","dynamodb":{}}]}`},
		{"keys of another shape", `{"Records":[{"eventName":"MODIFY","eventSourceARN":"arn:aws:dynamodb:r:1:table/users/stream/x","dynamodb":{"Keys":{"account":{"N":"3"}}}}]}`},
		{"untyped key", `{"Records":[{"eventName":"MODIFY","eventSourceARN":"arn:aws:dynamodb:r:1:table/users/stream/x","dynamodb":{"Keys":{"user_id":"3"}}}]}`},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := streams.InvalidateEvent(ctx, e, []byte(tc.body)); !errors.Is(err, streams.ErrBadEvent) {
				t.Errorf("err = %v, want ErrBadEvent", err)
			}
		})
	}
	if n := f.RDB.Exists(ctx, "user_profile:3", "sturdy:3").Val(); n != 2 {
		t.Fatalf("a rejected event invalidated something (%d of 2 entries left)", n)
	}
	n, err := streams.InvalidateEvent(ctx, e, []byte(lambdaEvent))
	if err != nil || n != 4 {
		t.Fatalf("InvalidateEvent = %d, %v; want 4 entries (2 items × 2 namespaces on users)", n, err)
	}
	if n := f.RDB.Exists(ctx, "user_profile:1", "user_profile:2", "sturdy:1", "sturdy:2").Val(); n != 0 {
		t.Errorf("%d entries of the event's items left", n)
	}
	if n := f.RDB.Exists(ctx, "user_profile:3").Val(); n != 1 {
		t.Error("an item outside the event was invalidated")
	}
}
