// Package streams turns DynamoDB Streams into cache invalidations: a
// consumer of the tables' streams that the daemons share shard by shard
// (locks and checkpoints kept in Redis through the cache engine), and the
// parsing of the events AWS Lambda receives from a stream.
package streams

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/ddbcache/ddbcache/dynamo"
)

// Defaults for Options fields left at their zero value.
const (
	DefaultPoll      = time.Second
	DefaultLockTTL   = 5 * time.Second
	streamBackoffMax = 10 * time.Second
	// shardDone is the checkpoint of a closed shard read to its end.
	shardDone = "END"
)

// Options configures a Consumer.
type Options struct {
	// Tables are the tables whose stream is consumed.
	Tables []string
	// Endpoint overrides the DynamoDB Streams URL; "" means AWS.
	Endpoint string
	// Poll is the pause between reads of a shard with no new records and
	// between scans for new shards; 0 means DefaultPoll.
	Poll time.Duration
	// LockTTL is how long a shard stays locked by a daemon that stopped
	// renewing (died); 0 means DefaultLockTTL.
	LockTTL time.Duration
	// Owner names this daemon in locks; "" means host-pid-random.
	Owner string
	// Logger receives progress and errors; nil means slog.Default().
	Logger *slog.Logger
}

// Stats counts what the consumer did.
type Stats struct {
	Records       int64 `json:"records"`
	Invalidations int64 `json:"invalidations"`
	Gaps          int64 `json:"gaps"`
	Errors        int64 `json:"errors"`
	ShardsOwned   int64 `json:"shards_owned"`
}

// Consumer turns the records of tables' DynamoDB Streams into cache
// invalidations. Every daemon may run one; each shard is read by one
// daemon at a time (the Coordinator's lock), parents before children, and
// closed shards to their end. Run it with Run.
type Consumer struct {
	api   *dynamodbstreams.Client
	opts  Options
	coord Coordinator
	log   *slog.Logger

	mu      sync.Mutex      // guards running
	running map[string]bool // table/shard id → a reader goroutine runs
	wg      sync.WaitGroup

	records, invalidations, gaps, errs, owned atomic.Int64
}

// NewConsumer builds a consumer; the AWS settings come from opts.
func NewConsumer(ctx context.Context, opts dynamo.Options, sopts Options, coord Coordinator) (*Consumer, error) {
	if len(sopts.Tables) == 0 {
		return nil, errors.New("streams: stream consumer without tables")
	}
	cfg, err := dynamo.AWSConfig(ctx, opts)
	if err != nil {
		return nil, err
	}
	if sopts.Poll == 0 {
		sopts.Poll = DefaultPoll
	}
	if sopts.LockTTL == 0 {
		sopts.LockTTL = DefaultLockTTL
	}
	if sopts.Owner == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		sopts.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	if sopts.Logger == nil {
		sopts.Logger = slog.Default()
	}
	api := dynamodbstreams.NewFromConfig(cfg, func(o *dynamodbstreams.Options) {
		if sopts.Endpoint != "" {
			o.BaseEndpoint = aws.String(sopts.Endpoint)
		}
	})
	return &Consumer{api: api, opts: sopts, coord: coord, log: sopts.Logger, running: map[string]bool{}}, nil
}

// Stats returns the consumer's counters.
func (s *Consumer) Stats() Stats {
	return Stats{Records: s.records.Load(), Invalidations: s.invalidations.Load(),
		Gaps: s.gaps.Load(), Errors: s.errs.Load(), ShardsOwned: s.owned.Load()}
}

// Run scans the streams for shards every Poll and reads the shards it can
// lock, until ctx ends. When ctx ends it gives its locks back, so that
// another daemon takes the shards over at once; the locks of a daemon that
// dies expire after LockTTL instead.
func (s *Consumer) Run(ctx context.Context) {
	for {
		for _, table := range s.opts.Tables {
			if err := s.scan(ctx, table); err != nil && ctx.Err() == nil {
				s.errs.Add(1)
				s.log.Warn("stream: scan failed", "table", table, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			s.wg.Wait()
			return
		case <-time.After(s.opts.Poll):
		}
	}
}

// scan finds the table's stream and starts a reader for each shard that is
// ready (its parent read to the end, or gone) and that this daemon locks.
func (s *Consumer) scan(ctx context.Context, table string) error {
	ls, err := s.api.ListStreams(ctx, &dynamodbstreams.ListStreamsInput{TableName: aws.String(table)})
	if err != nil {
		return fmt.Errorf("streams: ListStreams %s: %w", table, err)
	}
	if len(ls.Streams) == 0 {
		return fmt.Errorf("streams: table %s has no stream (enable one with StreamViewType KEYS_ONLY or more)", table)
	}
	arn := aws.ToString(ls.Streams[0].StreamArn)
	shards, err := s.shards(ctx, arn)
	if err != nil {
		return err
	}
	listed := map[string]bool{}
	for _, sh := range shards {
		listed[aws.ToString(sh.ShardId)] = true
	}
	for _, sh := range shards {
		id := aws.ToString(sh.ShardId)
		if s.isRunning(table + "/" + id) {
			continue
		}
		if cp, err := s.coord.LoadCheckpoint(ctx, checkpointName(table, id)); err != nil {
			return err
		} else if cp == shardDone {
			continue
		}
		if parent := aws.ToString(sh.ParentShardId); parent != "" && listed[parent] {
			cp, err := s.coord.LoadCheckpoint(ctx, checkpointName(table, parent))
			if err != nil {
				return err
			}
			if cp != shardDone {
				continue // parents first: a child's records are newer
			}
		}
		ok, err := s.coord.TryLock(ctx, lockName(table, id), s.opts.Owner, s.opts.LockTTL)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		s.setRunning(table+"/"+id, true)
		s.wg.Add(1)
		go s.read(ctx, table, arn, id)
	}
	return nil
}

// shards lists all shards of a stream, following DescribeStream's pages.
func (s *Consumer) shards(ctx context.Context, arn string) ([]types.Shard, error) {
	var out []types.Shard
	var start *string
	for {
		d, err := s.api.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(arn), ExclusiveStartShardId: start})
		if err != nil {
			return nil, fmt.Errorf("streams: DescribeStream %s: %w", arn, err)
		}
		out = append(out, d.StreamDescription.Shards...)
		start = d.StreamDescription.LastEvaluatedShardId
		if start == nil {
			return out, nil
		}
	}
}

func (s *Consumer) isRunning(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running[id]
}

func (s *Consumer) setRunning(id string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on {
		s.running[id] = true
		s.owned.Add(1)
	} else {
		delete(s.running, id)
		s.owned.Add(-1)
	}
}

// keyText converts a stream record's key attributes to text, as the cache
// names items. Binary keys become base64, as in item JSON.
func keyText(keys map[string]types.AttributeValue) (map[string]string, error) {
	out := make(map[string]string, len(keys))
	for name, av := range keys {
		switch v := av.(type) {
		case *types.AttributeValueMemberS:
			out[name] = v.Value
		case *types.AttributeValueMemberN:
			out[name] = v.Value
		case *types.AttributeValueMemberB:
			out[name] = base64.StdEncoding.EncodeToString(v.Value)
		default:
			return nil, fmt.Errorf("key attribute %q of type %T", name, av)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("record without keys")
	}
	return out, nil
}
