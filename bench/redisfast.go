package bench

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// dynamoModule is DDBBench::Dynamo, the Perl baselines' GetItem and
// PutItem: shared by blog.psgi (--front fcgi) and the redis-fast worker,
// so that both pay the same for a miss.
//
//go:embed lib/DDBBench/Dynamo.pm
var dynamoModule []byte

// writePerlLib writes the bench's Perl modules under dir/lib and returns
// that directory, for perl -I.
func writePerlLib(dir string) (string, error) {
	lib := filepath.Join(dir, "lib")
	if err := os.MkdirAll(filepath.Join(lib, "DDBBench"), 0o755); err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	if err := os.WriteFile(filepath.Join(lib, "DDBBench", "Dynamo.pm"), dynamoModule, 0o644); err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	return lib, nil
}

// blogEnv is the environment of the Perl code written the blog's way
// (blog.psgi, the redis-fast worker): Redis at redisAddr (the relay, so
// that it sees the same distance as the daemon), the local DynamoDB
// endpoint, the table and the legacy key layout. who names the caller in
// the errors.
func (b *Bench) blogEnv(who, redisAddr string) ([]string, error) {
	if len(b.env.RedisAddrs) > 1 {
		return nil, fmt.Errorf("bench: %s needs a single Redis address: the Perl client speaks to one Redis, not a Cluster", who)
	}
	ep := b.env.Dynamo.Endpoint
	if ep == "" || isRealAWS(ep) {
		return nil, fmt.Errorf("bench: %s needs a local DynamoDB endpoint (dynamodb.endpoint): its Perl code does not sign its requests", who)
	}
	prefix, suffix, _ := strings.Cut(b.item.template, "{"+b.item.ns.PartitionKey+"}")
	return []string{"BENCH_REDIS=" + redisAddr, "BENCH_REDIS_PASSWORD=" + b.env.RedisPassword,
		"BENCH_DYNAMO=" + strings.TrimSuffix(ep, "/") + "/", "BENCH_TABLE=" + b.item.ns.Table,
		"BENCH_PK=" + b.item.ns.PartitionKey, "BENCH_KEY_PREFIX=" + prefix, "BENCH_KEY_SUFFIX=" + suffix,
		"BENCH_TTL=" + strconv.Itoa(int(b.item.ttl.Seconds()))}, nil
}

// errRedisFastUser says why the redis-fast target cannot use Redis ACL users.
var errRedisFastUser = errors.New("bench: the redis-fast target authenticates with a password only: redis.username is not supported")

// newRedisFastTarget is the redis-fast target: --procs Perl workers doing
// the blog's pattern with Redis::Fast (the modules are checked by the
// worker, which fails naming the Debian package to install).
func (b *Bench) newRedisFastTarget(dir, redisAddr string) (*perlTarget, error) {
	if b.env.RedisUsername != "" {
		return nil, errRedisFastUser
	}
	env, err := b.blogEnv("the redis-fast target", redisAddr)
	if err != nil {
		return nil, err
	}
	return newPerlTarget(dir, TargetRedisFast, perlClientRedisFast, false, env)
}
