package streams_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/dynamo"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
	"github.com/ddbcache/ddbcache/streams"
)

// consumer runs a stream consumer on engine until stop (a clean stop: it
// gives its shard locks back) or crash (the daemon dies: its locks stay
// until they expire) is called; both wait for it to end.
type consumer struct {
	*streams.Consumer
	stop, crash func()
}

// crashable is the engine as the consumer's Coordinator, except that a
// dead daemon cannot give a lock back.
type crashable struct {
	streams.Coordinator
	dead atomic.Bool
}

func (c *crashable) Unlock(ctx context.Context, name, owner string) error {
	if c.dead.Load() {
		return errors.New("the daemon is dead")
	}
	return c.Coordinator.Unlock(ctx, name, owner)
}

func startConsumer(t *testing.T, f *enginetest.Fixture, fs *fakeStreams, e *cache.Engine, owner string, lockTTL time.Duration) *consumer {
	t.Helper()
	coord := &crashable{Coordinator: streams.NewCoordinator(e)}
	c, err := streams.NewConsumer(context.Background(),
		dynamo.Options{Endpoint: f.Proxy.URL, Region: "us-east-1"},
		streams.Options{Tables: []string{"users"}, Endpoint: fs.URL, Poll: 20 * time.Millisecond,
			LockTTL: lockTTL, Owner: owner},
		coord)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	crash := func() { coord.dead.Store(true); stop() }
	return &consumer{Consumer: c, stop: stop, crash: crash}
}

// cached looks id up on every engine until each serves it locally.
func cached(t *testing.T, id string, engines ...*cache.Engine) {
	t.Helper()
	ctx := testenv.Context(t)
	for _, e := range engines {
		enginetest.WaitFor(t, "a local hit of "+id, func() bool {
			res, err := e.Get(ctx, "profile", cache.Key{Partition: id})
			return err == nil && res.Source == cache.SourceLocal
		})
	}
}

// sees waits until every engine returns want for id.
func sees(t *testing.T, id, want string, engines ...*cache.Engine) {
	t.Helper()
	ctx := testenv.Context(t)
	for i, e := range engines {
		enginetest.WaitFor(t, fmt.Sprintf("daemon %d to see %s", i, want), func() bool {
			res, err := e.Get(ctx, "profile", cache.Key{Partition: id})
			return err == nil && string(res.Value) == want
		})
	}
}

func TestStreamInvalidatesAllDaemonsAndResumes(t *testing.T) {
	f := enginetest.New(t)
	a, b := f.Engine(t, nil), f.Engine(t, nil)
	fs := newFakeStreams(t, "users")
	shard := fs.addShard("shard-1", "")
	for _, id := range []string{"1", "2"} {
		f.Seed(t, id, "old")
	}
	cached(t, "1", a, b)
	cached(t, "2", a, b)

	// A write elsewhere: DynamoDB changes behind the cache; the stream says so.
	f.Seed(t, "1", "new")
	fs.record(shard, 101, "MODIFY", "1")
	c1 := startConsumer(t, f, fs, a, "daemon-a", time.Second)
	sees(t, "1", enginetest.UserJSON("1", "new"), a, b)

	t.Run("a restarted consumer resumes after its checkpoint", func(t *testing.T) {
		c1.stop()
		f.Seed(t, "2", "new")
		fs.record(shard, 102, "MODIFY", "2")
		startConsumer(t, f, fs, a, "daemon-a-restarted", time.Second)
		sees(t, "2", enginetest.UserJSON("2", "new"), a, b)
		log := fs.log()
		if !slices.Contains(log, "GetShardIterator shard-1 AFTER_SEQUENCE_NUMBER 101") {
			t.Errorf("restart did not resume after sequence number 101: %q", log)
		}
		if n := strings.Count(strings.Join(log, "\n"), "TRIM_HORIZON"); n != 1 {
			t.Errorf("%d reads from the trim horizon, want 1 (the first start): %q", n, log)
		}
	})
}

// The other daemon takes a shard over when its owner ends: after the lock
// expires when the owner dies, at its next scan when the owner stops
// cleanly and gives the lock back (the lock TTL of a minute is longer than
// enginetest.WaitFor waits, so a lock that was not given back fails).
func TestStreamShardHandover(t *testing.T) {
	for _, tc := range []struct {
		name    string
		lockTTL time.Duration
		end     func(*consumer)
	}{
		{"owner dies", time.Second, func(c *consumer) { c.crash() }},
		{"owner stops", time.Minute, func(c *consumer) { c.stop() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := enginetest.New(t)
			a, b := f.Engine(t, nil), f.Engine(t, nil)
			fs := newFakeStreams(t, "users")
			shard := fs.addShard("shard-1", "")
			f.Seed(t, "3", "old")
			cached(t, "3", a, b)

			owner := startConsumer(t, f, fs, a, "daemon-a", tc.lockTTL)
			enginetest.WaitFor(t, "daemon A to own the shard", func() bool { return owner.Stats().ShardsOwned == 1 })
			other := startConsumer(t, f, fs, b, "daemon-b", tc.lockTTL)
			if n := other.Stats().ShardsOwned; n != 0 {
				t.Fatalf("daemon B reads the shard daemon A holds (%d shards)", n)
			}
			tc.end(owner)
			start := time.Now()
			f.Seed(t, "3", "new")
			fs.record(shard, 101, "MODIFY", "3")
			sees(t, "3", enginetest.UserJSON("3", "new"), a, b)
			if other.Stats().ShardsOwned != 1 {
				t.Error("daemon B did not take the shard over")
			}
			t.Logf("daemon B took the shard over %s after: %s (lock TTL %s)", time.Since(start), tc.name, tc.lockTTL)
		})
	}
}

func TestStreamParentsFirstAndClosedShards(t *testing.T) {
	f := enginetest.New(t)
	e := f.Engine(t, nil)
	fs := newFakeStreams(t, "users")
	parent := fs.addShard("shard-p", "")
	child := fs.addShard("shard-c", "shard-p")
	f.Seed(t, "4", "v1")
	f.Seed(t, "5", "v1")
	cached(t, "4", e)
	cached(t, "5", e)
	fs.record(parent, 101, "MODIFY", "4")
	fs.close(parent)
	fs.record(child, 201, "REMOVE", "5")
	f.Seed(t, "4", "v2")
	f.Seed(t, "5", "v2")
	startConsumer(t, f, fs, e, "daemon", time.Second)
	sees(t, "5", enginetest.UserJSON("5", "v2"), e)
	sees(t, "4", enginetest.UserJSON("4", "v2"), e)
	log := fs.log()
	ip := slices.Index(log, "GetShardIterator shard-p TRIM_HORIZON")
	ic := slices.Index(log, "GetShardIterator shard-c TRIM_HORIZON")
	if ip < 0 || ic < 0 || ip > ic {
		t.Errorf("parent not read before child: %q", log)
	}
	cp, err := streams.NewCoordinator(e).LoadCheckpoint(testenv.Context(t), "ddbcache:stream:{users}:shard-p:seq")
	if err != nil || cp != "END" {
		t.Errorf("closed parent's checkpoint %q, %v; want END", cp, err)
	}
}

func TestStreamGapInvalidatesNamespace(t *testing.T) {
	f := enginetest.New(t)
	e := f.Engine(t, nil)
	ctx := testenv.Context(t)
	fs := newFakeStreams(t, "users")
	fs.addShard("shard-1", "")
	fs.trimmedBelow = 100
	for _, id := range []string{"6", "7", "8"} {
		f.Seed(t, id, "cached")
		cached(t, id, e)
	}
	// A checkpoint older than the trim horizon: records were lost.
	if err := streams.NewCoordinator(e).SaveCheckpoint(ctx, "ddbcache:stream:{users}:shard-1:seq", "50"); err != nil {
		t.Fatal(err)
	}
	c := startConsumer(t, f, fs, e, "daemon", time.Second)
	enginetest.WaitFor(t, "the gap to be handled", func() bool { return c.Stats().Gaps == 1 })
	if n := f.RDB.Exists(ctx, "user_profile:6", "user_profile:7", "user_profile:8").Val(); n != 0 {
		t.Errorf("%d cached items survived a gap in the stream", n)
	}
}

func TestStreamSkipsRecordsWithUnknownKeys(t *testing.T) {
	f := enginetest.New(t)
	e := f.Engine(t, nil)
	fs := newFakeStreams(t, "users")
	shard := fs.addShard("shard-1", "")
	f.Seed(t, "9", "old")
	cached(t, "9", e)
	fs.mu.Lock()
	shard.records = append(shard.records, fakeRecord{seq: 101, eventName: "MODIFY",
		keys: map[string]map[string]string{"account": {"N": "1"}}})
	fs.mu.Unlock()
	f.Seed(t, "9", "new")
	fs.record(shard, 102, "MODIFY", "9")
	c := startConsumer(t, f, fs, e, "daemon", time.Second)
	sees(t, "9", enginetest.UserJSON("9", "new"), e)
	if st := c.Stats(); st.Errors == 0 || st.Records != 2 {
		t.Errorf("stats %+v, want the bad record counted as an error and both read", st)
	}
}

func TestStreamExpiredIteratorResumes(t *testing.T) {
	f := enginetest.New(t)
	e := f.Engine(t, nil)
	fs := newFakeStreams(t, "users")
	shard := fs.addShard("shard-1", "")
	f.Seed(t, "10", "v1")
	fs.record(shard, 101, "MODIFY", "10")
	startConsumer(t, f, fs, e, "daemon", time.Second)
	enginetest.WaitFor(t, "the first record's checkpoint", func() bool {
		cp, _ := streams.NewCoordinator(e).LoadCheckpoint(testenv.Context(t), "ddbcache:stream:{users}:shard-1:seq")
		return cp == "101"
	})
	cached(t, "10", e)
	fs.mu.Lock()
	fs.iterators = map[string]fakeIterator{} // every iterator handed out has expired
	fs.mu.Unlock()
	f.Seed(t, "10", "v2")
	fs.record(shard, 102, "MODIFY", "10")
	sees(t, "10", enginetest.UserJSON("10", "v2"), e)
	if !slices.Contains(fs.log(), "GetShardIterator shard-1 AFTER_SEQUENCE_NUMBER 101") {
		t.Errorf("no resume from the checkpoint after the iterator expired: %q", fs.log())
	}
}
