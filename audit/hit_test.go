package audit_test

import (
	"context"
	"testing"

	"github.com/ddbcache/ddbcache/audit"
	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/dynamo"
)

// BenchmarkHit is the cost Auditor.Hit adds to every cache hit: off
// (sample 0, one atomic load), at the default sample, and with every hit
// sampled (then the rate cap's lock turns nearly all away). The Auditor
// is not started, so no DynamoDB request is made: a sampled hit waits in
// the queue, then finds it full.
func BenchmarkHit(b *testing.B) {
	reader, err := dynamo.New(context.Background(), dynamo.Options{Endpoint: "http://127.0.0.1:1", Region: "us-east-1"})
	if err != nil {
		b.Fatal(err)
	}
	value := []byte(`{"user_id":"1","name":"Ann"}`)
	for _, tc := range []struct {
		name   string
		sample float64
	}{{"off", 0}, {"sample=0.001", audit.DefaultSample}, {"sample=1", 1}} {
		b.Run(tc.name, func(b *testing.B) {
			a, err := audit.New(audit.Options{Sample: tc.sample, Reader: reader})
			if err != nil {
				b.Fatal(err)
			}
			k, r := cache.Key{Partition: "1"}, cache.Result{Value: value, Source: cache.SourceLocal}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					a.Hit("profile", k, r)
				}
			})
		})
	}
}
