package bench

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// Defaults of the bench's flags.
const (
	DefaultKeys        = 10_000
	DefaultZipfS       = 0.99
	DefaultItemSize    = 300
	DefaultConcurrency = 8
	DefaultProcs       = 1
	DefaultDuration    = 10 * time.Second
	DefaultWarmup      = 2 * time.Second
	DefaultRounds      = 5
	DefaultNamespace   = "profile"
	DefaultPerlLib     = "perl/lib"
)

// Flags are the bench command's own flags.
func Flags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "keys", Value: DefaultKeys, Usage: "number of distinct keys (" + KeyPrefix + "0 … " + KeyPrefix + "N-1)"},
		&cli.IntFlag{Name: "batch", Value: 1, Usage: "`N` keys per lookup (1…100, distinct keys drawn from --dist): above 1 an MGET (ddbcache: DDB MGET; perl, perl-nolocal: the client's mget; redis-fast, direct: Redis MGET + decode, then GetItem + SETEX per miss; dynamodb: one BatchGetItem); throughput and latency count operations, keys/s is the throughput × N; lookups only (no --write-ratio, no --front)"},
		&cli.StringFlag{Name: "dist", Value: string(Uniform), Usage: "key choice: uniform, zipf, or cold (each lookup a key not looked up before: all misses; needs --requests, --keys above --requests × targets × --batch, no warm-up)"},
		&cli.Float64Flag{Name: "zipf-s", Value: DefaultZipfS, Usage: "Zipf exponent s > 0 (key of rank r drawn ∝ 1/r^s)"},
		&cli.IntFlag{Name: "item-size", Value: DefaultItemSize, Usage: "item size in `BYTES` of JSON (for --seed-data and writes)"},
		&cli.Float64Flag{Name: "write-ratio", Value: 0, Usage: "share of operations that are writes, 0…1 (DDB PUT; PutItem + DEL for direct and redis-fast)"},
		&cli.IntFlag{Name: "concurrency", Value: DefaultConcurrency, Usage: "goroutines per Go target (ddbcache, direct, dynamodb)"},
		&cli.IntFlag{Name: "procs", Value: DefaultProcs, Usage: "forked Perl worker processes per Perl target: perl, perl-nolocal, redis-fast (with --front fcgi: the Perl app's FastCGI workers, default 4)"},
		&cli.DurationFlag{Name: "duration", Value: DefaultDuration, Usage: "measured time per target, split over the rounds"},
		&cli.IntFlag{Name: "requests", Usage: "measured operations per target instead of --duration, split over the rounds"},
		&cli.DurationFlag{Name: "warmup", Value: DefaultWarmup, Usage: "unmeasured load per target before the rounds (0: none)"},
		&cli.IntFlag{Name: "local-warmup-requests", Usage: "lookups per worker of the perl target before the rounds (after --warmup), so that its local caches are as warm as a long-running app's (0: none)"},
		&cli.IntFlag{Name: "rounds", Value: DefaultRounds, Usage: "interleaved rounds: each target runs once per round, in turn"},
		&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "random seed of the key sequences (the same for every target)"},
		&cli.StringFlag{Name: "namespace", Value: DefaultNamespace, Usage: "configured namespace to look up (partition key only)"},
		&cli.StringFlag{Name: "targets", Value: TargetDDBCache + "," + TargetDirect, Usage: "comma-separated targets: " + strings.Join(AllTargets, ", ")},
		&cli.DurationFlag{Name: "redis-rtt", Usage: "put a relay adding this round trip (e.g. 250us) between every client and Redis; spawns a daemon behind it"},
		&cli.BoolFlag{Name: "spawn-daemon", Usage: "start a private ddbcache serve (this binary, socket in a temp dir) instead of using the configured socket"},
		&cli.BoolFlag{Name: "seed-data", Usage: "create the namespace's table if missing and write --keys items first (local servers only, see --yes)"},
		&cli.BoolFlag{Name: "yes", Usage: "allow --seed-data against real AWS DynamoDB"},
		&cli.StringFlag{Name: "json", Usage: "also write the report as JSON to `FILE`"},
		&cli.StringFlag{Name: "plot", Usage: "draw the latency percentile curves to `FILE` (.svg or .png)"},
		&cli.StringFlag{Name: "front", Usage: "fcgi: GET each key over HTTP through a private nginx, which passes it over FastCGI to a spawned daemon (target ddbcache) or to the blog-pattern Perl app under plackup -s FCGI (target perl-app, --procs workers); adds the backends' CPU per request"},
		&cli.StringFlag{Name: "perl-lib", Value: DefaultPerlLib, Usage: "directory holding DDBCache/Client.pm, for the Perl targets"},
	}
}

// Command is `ddbcache bench`; env reads the daemon's configuration (the
// same file and global flags as serve) from the command's context.
func Command(env func(*cli.Context) (Env, error)) *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "compare lookups through the daemon, the blog pattern (Go, and Perl on Redis::Fast), DynamoDB alone and Perl workers",
		Description: "Runs the targets side by side in interleaved rounds against the configured Redis, DynamoDB\n" +
			"and daemon, then prints one column per target. With --redis-rtt, a relay delays Redis traffic\n" +
			"by half the RTT each way and the bench starts its own daemon (re-executing this binary as\n" +
			"`serve` with the same global flags) whose Redis is the relay; --spawn-daemon does so without delay.\n" +
			"Targets: ddbcache (DDB GET through the socket), direct (go-redis GET, on a miss GetItem + SETEX),\n" +
			"dynamodb (GetItem every time), perl and perl-nolocal (forked workers, DDBCache::Client with its\n" +
			"local cache on and off), redis-fast (forked workers doing the blog's pattern in Perl: Redis::Fast GET +\n" +
			"Cpanel::JSON::XS decode, on a miss GetItem over HTTP + SETEX; needs libredis-fast-perl and\n" +
			"libcpanel-json-xs-perl and a local DynamoDB endpoint).\n" +
			"Example: ddbcache -c ddbcache.yaml bench --seed-data --targets ddbcache,direct --dist zipf \\\n" +
			"  --duration 10s --redis-rtt 250us --json out.json --plot out.svg",
		Flags: Flags(),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("bench takes no arguments, got %q", c.Args().First())
			}
			opts, err := optionsFrom(c)
			if err != nil {
				return err
			}
			e, err := env(c)
			if err != nil {
				return err
			}
			return Run(c.Context, e, opts)
		},
	}
}

// optionsFrom reads and checks the flags.
func optionsFrom(c *cli.Context) (Options, error) {
	o := Options{
		Keys: c.Int("keys"), Batch: c.Int("batch"), Dist: Distribution(c.String("dist")), ZipfS: c.Float64("zipf-s"),
		ItemSize: c.Int("item-size"), WriteRatio: c.Float64("write-ratio"), Concurrency: c.Int("concurrency"),
		Procs: c.Int("procs"), Duration: c.Duration("duration"), Requests: c.Int("requests"),
		Warmup: c.Duration("warmup"), LocalWarmupRequests: c.Int("local-warmup-requests"), Rounds: c.Int("rounds"), Seed: c.Uint64("seed"),
		Namespace: c.String("namespace"), RedisRTT: c.Duration("redis-rtt"), SpawnDaemon: c.Bool("spawn-daemon"),
		SeedData: c.Bool("seed-data"), Yes: c.Bool("yes"), JSON: c.String("json"), Plot: c.String("plot"),
		PerlLib: c.String("perl-lib"), Front: c.String("front"), Out: c.App.Writer,
	}
	targets := c.String("targets")
	if o.Front == FrontFCGI {
		if !c.IsSet("targets") {
			targets = strings.Join(FrontTargets, ",")
		}
		if !c.IsSet("procs") {
			o.Procs = DefaultAppWorkers
		}
	}
	for _, t := range strings.Split(targets, ",") {
		if t = strings.TrimSpace(t); t != "" {
			o.Targets = append(o.Targets, t)
		}
	}
	if term.IsTerminal(int(os.Stderr.Fd())) {
		o.Progress = os.Stderr
	}
	return o, o.Validate()
}

// Validate checks the options; each error is one line naming the flag.
func (o *Options) Validate() error {
	switch {
	case o.Keys <= 0:
		return fmt.Errorf("bench: --keys must be positive, got %d", o.Keys)
	case o.Dist != Uniform && o.Dist != Zipf && o.Dist != Cold:
		return fmt.Errorf("bench: --dist %q: want uniform, zipf or cold", o.Dist)
	case o.Dist == Cold && o.Requests == 0:
		return errors.New("bench: --dist cold needs --requests (a duration would run out of cold keys)")
	case o.Batch < 0 || o.Batch > MaxBatch:
		return fmt.Errorf("bench: --batch must be 1…%d keys, got %d", MaxBatch, o.Batch)
	case o.batch() > o.Keys:
		return fmt.Errorf("bench: --batch %d exceeds --keys %d (the keys of one MGET are distinct)", o.Batch, o.Keys)
	case o.Batch > 1 && o.WriteRatio > 0:
		return errors.New("bench: --batch above 1 measures lookups only: --write-ratio must be 0")
	case o.Batch > 1 && o.Front != "":
		return errors.New("bench: --batch above 1 does not go with --front (one HTTP GET is one key)")
	case o.Dist == Cold && o.Keys <= o.Requests*len(o.Targets)*o.batch():
		return fmt.Errorf("bench: --dist cold: --keys %d must exceed --requests × targets × --batch (%d)", o.Keys, o.Requests*len(o.Targets)*o.batch())
	case o.Dist == Zipf && !(o.ZipfS > 0):
		return fmt.Errorf("bench: --zipf-s must be positive, got %g", o.ZipfS)
	case o.ItemSize < 32 || o.ItemSize > 400_000:
		return fmt.Errorf("bench: --item-size must be 32…400000 bytes (DynamoDB's item limit), got %d", o.ItemSize)
	case !(o.WriteRatio >= 0 && o.WriteRatio <= 1):
		return fmt.Errorf("bench: --write-ratio must be within 0…1, got %g", o.WriteRatio)
	case o.Concurrency <= 0:
		return fmt.Errorf("bench: --concurrency must be positive, got %d", o.Concurrency)
	case o.Procs <= 0:
		return fmt.Errorf("bench: --procs must be positive, got %d", o.Procs)
	case o.Requests < 0:
		return fmt.Errorf("bench: --requests must not be negative, got %d", o.Requests)
	case o.Requests == 0 && o.Duration <= 0:
		return fmt.Errorf("bench: --duration must be positive (or give --requests), got %s", o.Duration)
	case o.Warmup < 0:
		return fmt.Errorf("bench: --warmup must not be negative, got %s", o.Warmup)
	case o.LocalWarmupRequests < 0:
		return fmt.Errorf("bench: --local-warmup-requests must not be negative, got %d", o.LocalWarmupRequests)
	case o.Rounds <= 0:
		return fmt.Errorf("bench: --rounds must be positive, got %d", o.Rounds)
	case o.Requests > 0 && o.Requests < o.Rounds:
		return fmt.Errorf("bench: --requests %d is fewer than --rounds %d", o.Requests, o.Rounds)
	case o.RedisRTT < 0:
		return fmt.Errorf("bench: --redis-rtt must not be negative, got %s", o.RedisRTT)
	case len(o.Targets) == 0:
		return errors.New("bench: --targets is empty")
	}
	known := AllTargets
	switch o.Front {
	case "":
	case FrontFCGI:
		known = FrontTargets
		if o.WriteRatio > 0 {
			return errors.New("bench: --front fcgi measures lookups only: --write-ratio must be 0")
		}
	default:
		return fmt.Errorf("bench: --front %q: want fcgi (or none)", o.Front)
	}
	seen := map[string]bool{}
	for _, t := range o.Targets {
		if !contains(known, t) {
			return fmt.Errorf("bench: --targets: unknown target %q (known: %s)", t, strings.Join(known, ", "))
		}
		if seen[t] {
			return fmt.Errorf("bench: --targets names %q twice", t)
		}
		seen[t] = true
	}
	return nil
}
