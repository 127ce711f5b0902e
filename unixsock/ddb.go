package unixsock

import (
	"encoding/json"
	"fmt"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/tidwall/redcon"
)

// subcommands lists the DDB subcommands, for error replies.
const subcommands = "GET, GETC, MGET, MGETC, PUT, DEL, INVALIDATE, TRACK, STATS or NAMESPACES"

// ddb runs a `DDB <subcommand> …` command.
func (s *Server) ddb(conn redcon.Conn, args [][]byte) {
	if len(args) < 2 {
		conn.WriteError("ERR DDB needs a subcommand: " + subcommands)
		return
	}
	var buf [16]byte
	sub := lower(buf[:], args[1])
	rest := args[2:]
	switch sub {
	case "get":
		s.ddbGet(conn, rest)
	case "getc":
		s.ddbGetC(conn, rest)
	case "track":
		s.ddbTrack(conn, rest)
	case "mget":
		s.ddbMGet(conn, rest)
	case "mgetc":
		s.ddbMGetC(conn, rest)
	case "put":
		s.ddbPut(conn, rest)
	case "del":
		s.ddbDel(conn, rest)
	case "invalidate":
		s.ddbInvalidate(conn, rest)
	case "stats":
		s.ddbJSON(conn, "STATS", rest, s.stats())
	case "namespaces":
		s.ddbJSON(conn, "NAMESPACES", rest, s.engine.Namespaces())
	default:
		conn.WriteError(fmt.Sprintf("ERR unknown DDB subcommand '%s'; try %s", sanitize(string(args[1])), subcommands))
	}
}

// oneKey parses `ns key [sortkey]`.
func oneKey(args [][]byte) (string, cache.Key) {
	k := cache.Key{Partition: string(args[1])}
	if len(args) == 3 {
		k.Sort = string(args[2])
	}
	return string(args[0]), k
}

// lookupOne checks the arguments of `DDB <cmd> ns key [sortkey]` and looks
// the item up; on false it has answered with the error.
func (s *Server) lookupOne(conn redcon.Conn, cmd string, args [][]byte) (string, cache.Key, cache.Result, bool) {
	if len(args) != 2 && len(args) != 3 {
		conn.WriteError("ERR DDB " + cmd + " takes 2 or 3 arguments: namespace, key [, sort key]")
		return "", cache.Key{}, cache.Result{}, false
	}
	ns, k := oneKey(args)
	ctx, cancel := s.context()
	defer cancel()
	res, err := s.engine.Get(ctx, ns, k)
	if err != nil {
		conn.WriteError(errorReply(err))
		return "", cache.Key{}, cache.Result{}, false
	}
	return ns, k, res, true
}

func (s *Server) ddbGet(conn redcon.Conn, args [][]byte) {
	_, _, res, ok := s.lookupOne(conn, "GET", args)
	if !ok {
		return
	}
	if res.Value == nil {
		conn.WriteNull()
		return
	}
	conn.WriteBulk(res.Value)
}

// manyKeys parses the keys of MGET, MGETC and INVALIDATE: one argument a key, or
// key/sort-key pairs in a namespace with a sort key.
func (s *Server) manyKeys(name, ns string, args [][]byte) ([]cache.Key, error) {
	sorted, err := s.engine.HasSortKey(ns)
	if err != nil {
		return nil, err
	}
	limit := s.options().MaxKeys
	if n := len(args); n > limit && (!sorted || n/2 > limit) {
		// Before any key is converted: a million keys cost nothing.
		return nil, fmt.Errorf("DDB %s takes at most %d keys", name, limit)
	}
	if !sorted {
		keys := make([]cache.Key, len(args))
		for i, a := range args {
			keys[i] = cache.Key{Partition: string(a)}
		}
		return keys, nil
	}
	if len(args)%2 != 0 {
		return nil, fmt.Errorf("DDB %s on namespace '%s', which has a sort key, takes key/sort-key pairs", name, ns)
	}
	keys := make([]cache.Key, len(args)/2)
	for i := range keys {
		keys[i] = cache.Key{Partition: string(args[2*i]), Sort: string(args[2*i+1])}
	}
	return keys, nil
}

// lookupMany checks the arguments of `DDB <cmd> ns key…` (key/sort-key
// pairs in a namespace with a sort key) and looks the items up with one
// engine MGet; on false it has answered with the error.
func (s *Server) lookupMany(conn redcon.Conn, cmd string, args [][]byte) ([]cache.Key, []cache.Result, bool) {
	if len(args) < 2 {
		conn.WriteError("ERR DDB " + cmd + " takes a namespace and at least one key")
		return nil, nil, false
	}
	keys, err := s.manyKeys(cmd, string(args[0]), args[1:])
	if err != nil {
		conn.WriteError(errorReply(err))
		return nil, nil, false
	}
	ctx, cancel := s.context()
	defer cancel()
	results, err := s.engine.MGet(ctx, string(args[0]), keys)
	if err != nil {
		conn.WriteError(errorReply(err))
		return nil, nil, false
	}
	return keys, results, true
}

func (s *Server) ddbMGet(conn redcon.Conn, args [][]byte) {
	_, results, ok := s.lookupMany(conn, "MGET", args)
	if !ok {
		return
	}
	conn.WriteArray(len(results))
	for _, r := range results {
		if r.Value == nil {
			conn.WriteNull()
		} else {
			conn.WriteBulk(r.Value)
		}
	}
}

func (s *Server) ddbPut(conn redcon.Conn, args [][]byte) {
	if len(args) != 2 {
		conn.WriteError("ERR DDB PUT takes 2 arguments: namespace, JSON item")
		return
	}
	ctx, cancel := s.context()
	defer cancel()
	if err := s.engine.Put(ctx, string(args[0]), args[1]); err != nil {
		conn.WriteError(errorReply(err))
		return
	}
	conn.WriteString("OK")
}

func (s *Server) ddbDel(conn redcon.Conn, args [][]byte) {
	if len(args) != 2 && len(args) != 3 {
		conn.WriteError("ERR DDB DEL takes 2 or 3 arguments: namespace, key [, sort key]")
		return
	}
	ns, k := oneKey(args)
	ctx, cancel := s.context()
	defer cancel()
	existed, err := s.engine.Delete(ctx, ns, k)
	if err != nil {
		conn.WriteError(errorReply(err))
		return
	}
	conn.WriteInt(boolInt(existed))
}

func (s *Server) ddbInvalidate(conn redcon.Conn, args [][]byte) {
	if len(args) < 2 {
		conn.WriteError("ERR DDB INVALIDATE takes a namespace and at least one key")
		return
	}
	keys, err := s.manyKeys("INVALIDATE", string(args[0]), args[1:])
	if err != nil {
		conn.WriteError(errorReply(err))
		return
	}
	ctx, cancel := s.context()
	defer cancel()
	n, err := s.engine.Invalidate(ctx, string(args[0]), keys)
	if err != nil {
		conn.WriteError(errorReply(err))
		return
	}
	conn.WriteInt(n)
}

func (s *Server) ddbJSON(conn redcon.Conn, name string, args [][]byte, v any) {
	if len(args) != 0 {
		conn.WriteError("ERR DDB " + name + " takes no arguments")
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		conn.WriteError(errorReply(err))
		return
	}
	conn.WriteBulk(b)
}
