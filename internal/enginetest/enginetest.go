// Package enginetest builds a cache.Engine on real servers for tests: a
// private redis-server and dynalite (through internal/testenv), a counting
// proxy in front of dynalite so tests can count DynamoDB calls from outside
// the engine, and go-redis to inspect Redis independently.
package enginetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/dynamo"
	"github.com/ddbcache/ddbcache/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// Namespaces are the namespaces every test engine serves:
//   - profile: table users (user_id: S), legacy key user_profile:{user_id},
//     TTL 1h ± 10%, negative TTL 30s;
//   - events: table events (account: N, seq: N), default key template;
//   - sturdy: table users again, TTL 1m with a 5m stale-if-error copy.
var Namespaces = []cache.Namespace{
	{Name: "profile", Table: "users", PartitionKey: "user_id", RedisKey: "user_profile:{user_id}",
		TTL: time.Hour, TTLJitter: 0.1, NegativeTTL: 30 * time.Second},
	{Name: "events", Table: "events", PartitionKey: "account", SortKey: "seq"},
	{Name: "sturdy", Table: "users", PartitionKey: "user_id", RedisKey: "sturdy:{user_id}",
		TTL: time.Minute, StaleIfError: 5 * time.Minute},
}

// Fixture is the set of real servers behind a test engine.
type Fixture struct {
	// Redis is the standalone server, nil on a cluster fixture.
	Redis *testenv.RedisServer
	// Cluster is the Redis Cluster of NewCluster, nil otherwise.
	Cluster *testenv.RedisCluster
	DDB     *testenv.Dynalite
	Proxy   *testenv.Counter
	Loader  *dynamo.Client
	// RDB talks to Redis directly, bypassing the engine; nil on a cluster.
	RDB *redis.Client
	// UC is RDB, or a cluster client of Cluster: what works on both.
	UC redis.UniversalClient
	// Addrs are the Redis addresses engines are given.
	Addrs []string
	// Replicas is the replica set of NewReplicated, nil otherwise; its
	// Primary is Redis.
	Replicas *testenv.ReplicaSet
	// ReadFromReplicas makes Engine's engines read from replicas (the
	// cluster's, or Replicas).
	ReadFromReplicas bool
}

// New starts the servers and creates the tables of Namespaces.
func New(t testing.TB) *Fixture {
	t.Helper()
	f := &Fixture{Redis: testenv.Redis(t)}
	f.Addrs = []string{f.Redis.Addr}
	f.RDB = redis.NewClient(&redis.Options{Addr: f.Redis.Addr})
	f.UC = f.RDB
	t.Cleanup(func() { f.RDB.Close() })
	f.startDynamo(t)
	return f
}

// NewReplicated is New on a standalone primary with two replicas, whose
// engines read from the replicas.
func NewReplicated(t testing.TB) *Fixture {
	t.Helper()
	return onReplicas(t, testenv.Replicated(t, 2))
}

// NewLagged is NewReplicated with replicas that apply the primary's
// writes lag late (testenv.LaggedReplicated).
func NewLagged(t testing.TB, lag time.Duration) *Fixture {
	t.Helper()
	return onReplicas(t, testenv.LaggedReplicated(t, 2, lag))
}

func onReplicas(t testing.TB, rs *testenv.ReplicaSet) *Fixture {
	f := &Fixture{Redis: rs.Primary, Replicas: rs, Addrs: []string{rs.Primary.Addr}, ReadFromReplicas: true}
	f.RDB = redis.NewClient(&redis.Options{Addr: f.Redis.Addr})
	f.UC = f.RDB
	t.Cleanup(func() { f.RDB.Close() })
	f.startDynamo(t)
	return f
}

// NewCluster is New on the test binary's shared Redis Cluster (emptied
// first; see testenv.SharedCluster: the package's TestMain must call
// testenv.Main).
func NewCluster(t testing.TB) *Fixture {
	t.Helper()
	return OnCluster(t, testenv.SharedCluster(t))
}

// OnCluster is New on cluster c, for tests that need their own (failover,
// resharding).
func OnCluster(t testing.TB, c *testenv.RedisCluster) *Fixture {
	t.Helper()
	f := &Fixture{Cluster: c, Addrs: c.Addrs(), UC: c.Client(t)}
	f.startDynamo(t)
	return f
}

// Topologies names the Redis topologies a conformance test runs on:
// standalone, the cluster, and a primary with two replicas that the
// engines read from.
var Topologies = []struct {
	Name string
	New  func(testing.TB) *Fixture
}{{"standalone", New}, {"cluster", NewCluster}, {"replicas", NewReplicated}}

func (f *Fixture) startDynamo(t testing.TB) {
	t.Helper()
	f.DDB = testenv.StartDynalite(t)
	f.DDB.CreateTable(t, "users", "user_id", "")
	f.DDB.CreateTable(t, "events", "account:N", "seq:N")
	f.Proxy = testenv.CountingProxy(t, f.DDB.Endpoint)
	var err error
	f.Loader, err = dynamo.New(context.Background(), dynamo.Options{Endpoint: f.Proxy.URL, Region: "us-east-1", MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
}

// Engine starts an engine on the fixture, closed at the end of the test;
// mod may adjust its options.
func (f *Fixture) Engine(t testing.TB, mod func(*cache.Options)) *cache.Engine {
	t.Helper()
	opts := cache.Options{
		Redis:       cache.RedisOptions{Addrs: f.Addrs, ReadFromReplicas: f.ReadFromReplicas},
		Loader:      f.Loader,
		Namespaces:  Namespaces,
		LoadTimeout: 2 * time.Second,
	}
	if f.Replicas != nil && f.ReadFromReplicas {
		opts.Redis.ReplicaAddrs = f.Replicas.Addrs()
	}
	if mod != nil {
		mod(&opts)
	}
	e, err := cache.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// Seed writes a user straight into DynamoDB, behind the cache's back.
func (f *Fixture) Seed(t testing.TB, id, name string) {
	t.Helper()
	f.DDB.PutItem(t, "users", map[string]types.AttributeValue{
		"user_id": &types.AttributeValueMemberS{Value: id},
		"name":    &types.AttributeValueMemberS{Value: name},
	})
}

// UserJSON is the JSON the engine returns for a seeded user.
func UserJSON(id, name string) string { return fmt.Sprintf(`{"name":%q,"user_id":%q}`, name, id) }

// WaitFor polls cond until it holds or 15 seconds pass: a readiness check
// on a process outside the test, not a sleep standing in for one.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if err := testenv.Poll(15*time.Second, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}
