package cache

import (
	"context"
	"time"

	"github.com/redis/rueidis"
)

// observedClient reports each Redis round trip to observe: the command's
// name (GET, EVALSHA, …, or "pipeline" for several commands of different
// names sent together), its duration and its error. A Redis nil reply is
// not an error, and an answer rueidis served from its client-side cache
// made no round trip and is not reported. Commands sent through the
// embedded Client's other methods (Receive, Dedicated) are not timed.
type observedClient struct {
	rueidis.Client
	observe func(op string, d time.Duration, err error)
}

func (c observedClient) report(op string, start time.Time, err error) {
	if rueidis.IsRedisNil(err) {
		err = nil
	}
	c.observe(op, time.Since(start), err)
}

// Do implements rueidis.Client.
func (c observedClient) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	op, start := commandName(cmd.Commands()), time.Now()
	res := c.Client.Do(ctx, cmd)
	c.report(op, start, res.Error())
	return res
}

// DoMulti implements rueidis.Client.
func (c observedClient) DoMulti(ctx context.Context, cmds ...rueidis.Completed) []rueidis.RedisResult {
	names := make([][]string, len(cmds))
	for i, cmd := range cmds {
		names[i] = cmd.Commands()
	}
	op, start := pipelineName(names), time.Now()
	res := c.Client.DoMulti(ctx, cmds...)
	c.report(op, start, firstError(res))
	return res
}

// DoCache implements rueidis.Client. The command is named before the
// call: rueidis recycles it once answered, and read afterwards it says ""
// (or another goroutine's command).
func (c observedClient) DoCache(ctx context.Context, cmd rueidis.Cacheable, ttl time.Duration) rueidis.RedisResult {
	op, start := commandName(cmd.Commands()), time.Now()
	res := c.Client.DoCache(ctx, cmd, ttl)
	if !res.IsCacheHit() {
		c.report(op, start, res.Error())
	}
	return res
}

// DoMultiCache implements rueidis.Client. Its commands are named before
// the call, as DoCache's, without allocating: a batch the client-side
// cache answers whole is the hot path.
func (c observedClient) DoMultiCache(ctx context.Context, multi ...rueidis.CacheableTTL) []rueidis.RedisResult {
	op, start := cacheableName(multi), time.Now()
	res := c.Client.DoMultiCache(ctx, multi...)
	for _, r := range res {
		if !r.IsCacheHit() {
			c.report(op, start, firstError(res))
			break
		}
	}
	return res
}

// cacheableName is the common name of the commands, or "pipeline", as
// pipelineName says it.
func cacheableName(multi []rueidis.CacheableTTL) string {
	if len(multi) == 0 {
		return "pipeline"
	}
	op := commandName(multi[0].Cmd.Commands())
	for _, m := range multi[1:] {
		if commandName(m.Cmd.Commands()) != op {
			return "pipeline"
		}
	}
	return op
}

func commandName(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// pipelineName is the common name of the commands, or "pipeline".
func pipelineName(cmds [][]string) string {
	if len(cmds) == 0 {
		return "pipeline"
	}
	op := commandName(cmds[0])
	for _, c := range cmds[1:] {
		if commandName(c) != op {
			return "pipeline"
		}
	}
	return op
}

func firstError(res []rueidis.RedisResult) error {
	for _, r := range res {
		if err := r.Error(); err != nil && !rueidis.IsRedisNil(err) {
			return err
		}
	}
	return nil
}
