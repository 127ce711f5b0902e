package main

import (
	"context"
	"fmt"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/streams"
	"github.com/urfave/cli/v2"
)

// invalidateCommand drops cache entries. In a namespace with a sort key
// the arguments after the namespace are key/sort-key pairs, as in
// `DDB INVALIDATE` and `DDB MGET`.
func invalidateCommand() *cli.Command {
	return &cli.Command{
		Name:      "invalidate",
		Usage:     "drop cache entries (no DynamoDB write), by key or from a DynamoDB stream event",
		ArgsUsage: "NAMESPACE KEY… | NAMESPACE KEY SORTKEY [KEY SORTKEY]… | --event FILE",
		Description: "In a namespace with a sort key the keys are pairs of partition key and sort key, " +
			"as in DDB INVALIDATE: `ddbcache invalidate orders 42 2026-01-01 42 2026-01-02`.",
		Flags: []cli.Flag{&cli.StringFlag{Name: "event", Usage: "a DynamoDB Streams event as AWS Lambda receives it " +
			`({"Records":[{"eventName":"MODIFY","eventSourceARN":…,"dynamodb":{"Keys":…}}]}); - reads standard input`}},
		Action: func(c *cli.Context) error {
			if ev := c.String("event"); ev != "" {
				if c.NArg() != 0 {
					return usageErrorf(c, "invalidate --event takes no other arguments")
				}
				return invalidateEvent(c, ev)
			}
			if c.NArg() < 2 {
				return usageErrorf(c, "invalidate takes NAMESPACE KEY… or --event FILE")
			}
			return withEngine(c, func(ctx context.Context, e *cache.Engine) error {
				sorted, err := e.HasSortKey(c.Args().First())
				if err != nil {
					return err
				}
				keys, err := invalidateKeys(sorted, c.Args().First(), c.Args().Tail())
				if err != nil {
					return usageErrorf(c, "%s", err)
				}
				n, err := e.Invalidate(ctx, c.Args().First(), keys)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "%d\n", n)
				return nil
			})
		},
	}
}

// invalidateKeys reads the keys of the command line: partition keys, or
// partition/sort pairs in a namespace with a sort key.
func invalidateKeys(sorted bool, ns string, args []string) ([]cache.Key, error) {
	if !sorted {
		keys := make([]cache.Key, len(args))
		for i, k := range args {
			keys[i] = cache.Key{Partition: k}
		}
		return keys, nil
	}
	if len(args)%2 != 0 {
		return nil, fmt.Errorf("namespace %q has a sort key: invalidate takes KEY SORTKEY pairs, got %d arguments", ns, len(args))
	}
	keys := make([]cache.Key, 0, len(args)/2)
	for i := 0; i < len(args); i += 2 {
		keys = append(keys, cache.Key{Partition: args[i], Sort: args[i+1]})
	}
	return keys, nil
}

// invalidateEvent drops the entries of a Lambda's stream event.
func invalidateEvent(c *cli.Context, path string) error {
	body, err := readFileOrStdin(path)
	if err != nil {
		return err
	}
	return withEngine(c, func(ctx context.Context, e *cache.Engine) error {
		n, err := streams.InvalidateEvent(ctx, e, body)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "%d\n", n)
		return nil
	})
}
