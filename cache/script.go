package cache

import (
	"context"
	"crypto/sha1" // EVALSHA names a script by its SHA-1
	"encoding/hex"

	"github.com/redis/rueidis"
)

// script is a Lua script of the lease scheme: Exec (rueidis's, EVALSHA
// then EVAL on NOSCRIPT) for one key, multi for a pipeline of many.
//
// multi is not rueidis's Lua.ExecMulti, which first sends SCRIPT LOAD to
// every node the client knows, replicas included, and fails every
// command when one node does not answer: on a Redis Cluster with one dead
// replica (or a master killed and not yet forgotten), every multi-key
// fill failed, and MGETs were answered from DynamoDB without leases or
// fills. multi sends EVALSHA and, for the commands a node answers
// NOSCRIPT (a master restarted empty, a promoted replica without the
// script), EVAL: no SCRIPT LOAD round trip to every node per MGET.
type script struct {
	*rueidis.Lua
	src, sha string
}

func newScript(src string) *script {
	sum := sha1.Sum([]byte(src))
	return &script{Lua: rueidis.NewLuaScript(src), src: src, sha: hex.EncodeToString(sum[:])}
}

// multi runs the script once per exec in one pipeline, and again with
// EVAL in a second one for the execs whose node answered NOSCRIPT.
func (s *script) multi(ctx context.Context, c rueidis.Client, execs []rueidis.LuaExec) []rueidis.RedisResult {
	cmds := make(rueidis.Commands, len(execs))
	for i, x := range execs {
		cmds[i] = c.B().Evalsha().Sha1(s.sha).Numkeys(int64(len(x.Keys))).Key(x.Keys...).Arg(x.Args...).Build()
	}
	res := c.DoMulti(ctx, cmds...)
	var again []int
	for i, r := range res {
		if err, ok := rueidis.IsRedisErr(r.Error()); ok && err.IsNoScript() {
			again = append(again, i)
		}
	}
	if len(again) == 0 {
		return res
	}
	cmds = make(rueidis.Commands, len(again))
	for j, i := range again {
		x := execs[i]
		cmds[j] = c.B().Eval().Script(s.src).Numkeys(int64(len(x.Keys))).Key(x.Keys...).Arg(x.Args...).Build()
	}
	for j, r := range c.DoMulti(ctx, cmds...) {
		res[again[j]] = r
	}
	return res
}
