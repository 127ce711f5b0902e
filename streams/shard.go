package streams

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// read consumes one shard while this daemon holds its lock: records become
// invalidations, the last sequence number becomes the checkpoint, and a
// closed shard read to its end is checkpointed as done.
func (s *Consumer) read(ctx context.Context, table, arn, shard string) {
	defer s.wg.Done()
	defer s.setRunning(table+"/"+shard, false)
	defer s.release(ctx, table, shard)
	log := s.log.With("table", table, "shard", shard)
	it, err := s.iterator(ctx, table, arn, shard)
	backoff := s.opts.Poll
	for ctx.Err() == nil {
		if err != nil {
			s.errs.Add(1)
			log.Warn("stream: read failed; retrying", "err", err, "in", backoff)
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, streamBackoffMax)
			it, err = s.iterator(ctx, table, arn, shard)
			continue
		}
		var out *dynamodbstreams.GetRecordsOutput
		out, err = s.api.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: aws.String(it)})
		var expired *types.ExpiredIteratorException
		var trimmed *types.TrimmedDataAccessException
		switch {
		case errors.As(err, &expired):
			log.Info("stream: iterator expired; resuming from the checkpoint")
			it, err = s.iterator(ctx, table, arn, shard)
			continue
		case errors.As(err, &trimmed):
			s.gap(ctx, table, shard, "records were trimmed before they were read")
			it, err = s.iteratorOf(ctx, arn, shard, types.ShardIteratorTypeTrimHorizon, "")
			continue
		case err != nil:
			err = fmt.Errorf("streams: GetRecords: %w", err)
			continue
		}
		backoff = s.opts.Poll
		if err = s.apply(ctx, table, shard, out.Records); err != nil {
			continue
		}
		if out.NextShardIterator == nil {
			if err = s.coord.SaveCheckpoint(ctx, checkpointName(table, shard), shardDone); err == nil {
				_ = s.coord.Unlock(ctx, lockName(table, shard), s.opts.Owner)
				log.Info("stream: shard read to its end")
				return
			}
			continue
		}
		it = aws.ToString(out.NextShardIterator)
		held, lerr := s.coord.TryLock(ctx, lockName(table, shard), s.opts.Owner, s.opts.LockTTL)
		if lerr != nil || !held {
			log.Warn("stream: lost the shard lock; stopping", "err", lerr)
			return
		}
		if len(out.Records) == 0 && !sleep(ctx, s.opts.Poll) {
			return
		}
	}
}

// release gives a shard's lock back when the consumer stops (ctx ended),
// so that another daemon takes the shard over at its next scan instead of
// after LockTTL; the checkpoint holds the last records applied, and the
// next reader starts after it. A daemon that dies cannot release, and
// its locks expire instead.
func (s *Consumer) release(ctx context.Context, table, shard string) {
	if ctx.Err() == nil {
		return // the shard ended or its lock was lost: nothing to give back
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if err := s.coord.Unlock(rctx, lockName(table, shard), s.opts.Owner); err != nil {
		s.log.Warn("stream: could not release the shard lock; it expires after the lock TTL",
			"table", table, "shard", shard, "err", err)
	}
}

// releaseTimeout bounds giving a lock back on the way out.
const releaseTimeout = time.Second

// apply invalidates the items of records and saves the checkpoint. A
// record whose keys do not fit is logged and skipped, never fatal.
func (s *Consumer) apply(ctx context.Context, table, shard string, records []types.Record) error {
	if len(records) == 0 {
		return nil
	}
	var keys []map[string]string
	for _, r := range records {
		s.records.Add(1)
		if r.Dynamodb == nil {
			continue
		}
		k, err := keyText(r.Dynamodb.Keys)
		if err != nil {
			s.errs.Add(1)
			s.log.Warn("stream: record skipped", "table", table, "seq", aws.ToString(r.Dynamodb.SequenceNumber), "err", err)
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) > 0 {
		if _, err := s.coord.InvalidateTableKeys(ctx, table, keys); err != nil {
			// One bad key must not block the shard: invalidate one by one.
			for _, k := range keys {
				if _, err := s.coord.InvalidateTableKeys(ctx, table, []map[string]string{k}); err != nil {
					s.errs.Add(1)
					s.log.Warn("stream: record skipped", "table", table, "keys", k, "err", err)
				}
			}
		}
		s.invalidations.Add(int64(len(keys)))
	}
	last := records[len(records)-1].Dynamodb
	if last == nil || last.SequenceNumber == nil {
		return nil
	}
	return s.coord.SaveCheckpoint(ctx, checkpointName(table, shard), *last.SequenceNumber)
}

// iterator returns a shard iterator after the checkpoint, or at the trim
// horizon for a shard never read. A checkpoint the stream no longer holds
// is a gap.
func (s *Consumer) iterator(ctx context.Context, table, arn, shard string) (string, error) {
	cp, err := s.coord.LoadCheckpoint(ctx, checkpointName(table, shard))
	if err != nil {
		return "", err
	}
	if cp == "" {
		return s.iteratorOf(ctx, arn, shard, types.ShardIteratorTypeTrimHorizon, "")
	}
	it, err := s.iteratorOf(ctx, arn, shard, types.ShardIteratorTypeAfterSequenceNumber, cp)
	var trimmed *types.TrimmedDataAccessException
	if errors.As(err, &trimmed) {
		s.gap(ctx, table, shard, "the checkpoint fell behind the stream's trim horizon")
		return s.iteratorOf(ctx, arn, shard, types.ShardIteratorTypeTrimHorizon, "")
	}
	return it, err
}

func (s *Consumer) iteratorOf(ctx context.Context, arn, shard string, typ types.ShardIteratorType, seq string) (string, error) {
	in := &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(arn), ShardId: aws.String(shard), ShardIteratorType: typ}
	if seq != "" {
		in.SequenceNumber = aws.String(seq)
	}
	out, err := s.api.GetShardIterator(ctx, in)
	if err != nil {
		return "", fmt.Errorf("streams: GetShardIterator %s %s: %w", shard, typ, err)
	}
	return aws.ToString(out.ShardIterator), nil
}

// gap handles records the consumer cannot have seen: since it cannot know
// which items changed, it invalidates the whole table's cache.
func (s *Consumer) gap(ctx context.Context, table, shard, why string) {
	s.gaps.Add(1)
	n, err := s.coord.InvalidateTable(ctx, table)
	s.log.Warn("stream: gap in the stream; invalidated the whole table's cache", "table", table, "shard", shard,
		"why", why, "keys_deleted", n, "err", err)
}

// sleep waits d or until ctx ends, and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}
