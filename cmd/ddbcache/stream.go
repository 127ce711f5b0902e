package main

import (
	"context"
	"sort"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/streams"
)

// streamTables returns the tables of the namespaces with `stream: true`.
func (c *config) streamTables() []string {
	seen := map[string]bool{}
	var tables []string
	for _, nc := range c.Namespaces {
		if nc.Stream && !seen[nc.Table] {
			seen[nc.Table] = true
			tables = append(tables, nc.Table)
		}
	}
	sort.Strings(tables)
	return tables
}

// startStreams runs a DynamoDB Streams consumer for the tables of
// namespaces with `stream: true`, until the returned stop is called.
func startStreams(ctx context.Context, s *settings, engine *cache.Engine) (stop func(), err error) {
	tables := s.cfg.streamTables()
	if len(tables) == 0 {
		return func() {}, nil
	}
	consumer, err := streams.NewConsumer(ctx, s.dynamo, streams.Options{
		Tables: tables, Endpoint: s.cfg.DynamoDB.StreamsEndpoint, Logger: s.log,
	}, streams.NewCoordinator(engine))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { consumer.Run(ctx); close(done) }()
	s.log.Info("consuming DynamoDB Streams", "tables", tables)
	return func() { cancel(); <-done }, nil
}
