package unixsock

import (
	"fmt"

	"github.com/tidwall/redcon"
)

// spec describes an allowlisted Redis command the way Redis's COMMAND
// does: its arity (negative: at least that many arguments, the name
// included) and which arguments are keys (first, last — negative counts
// from the end — and step), so that Redis Cluster routes it.
type spec struct {
	arity       int
	first, last int
	step        int
	readOnly    bool
	// shape, when set, says how the command's RESP2 reply differs in shape
	// from its RESP3 one for these arguments (see replyShape).
	shape func(args [][]byte) replyShape
}

// allowlist is every Redis command a client may send through the daemon.
// What is absent (FLUSHALL, CONFIG, KEYS, SCAN, EVAL, MULTI, SUBSCRIBE,
// blocking pops, …) is refused: those would reach every key, hold a
// pooled connection, or need a connection of their own.
var allowlist = map[string]spec{
	// strings
	"get":         {arity: 2, first: 1, last: 1, step: 1, readOnly: true},
	"mget":        {arity: -2, first: 1, last: -1, step: 1, readOnly: true},
	"strlen":      {arity: 2, first: 1, last: 1, step: 1, readOnly: true},
	"getrange":    {arity: 4, first: 1, last: 1, step: 1, readOnly: true},
	"set":         {arity: -3, first: 1, last: 1, step: 1},
	"setex":       {arity: 4, first: 1, last: 1, step: 1},
	"psetex":      {arity: 4, first: 1, last: 1, step: 1},
	"setnx":       {arity: 3, first: 1, last: 1, step: 1},
	"mset":        {arity: -3, first: 1, last: -1, step: 2},
	"getset":      {arity: 3, first: 1, last: 1, step: 1},
	"getdel":      {arity: 2, first: 1, last: 1, step: 1},
	"getex":       {arity: -2, first: 1, last: 1, step: 1},
	"append":      {arity: 3, first: 1, last: 1, step: 1},
	"incr":        {arity: 2, first: 1, last: 1, step: 1},
	"decr":        {arity: 2, first: 1, last: 1, step: 1},
	"incrby":      {arity: 3, first: 1, last: 1, step: 1},
	"decrby":      {arity: 3, first: 1, last: 1, step: 1},
	"incrbyfloat": {arity: 3, first: 1, last: 1, step: 1},
	// keys
	"del":      {arity: -2, first: 1, last: -1, step: 1},
	"unlink":   {arity: -2, first: 1, last: -1, step: 1},
	"exists":   {arity: -2, first: 1, last: -1, step: 1, readOnly: true},
	"type":     {arity: 2, first: 1, last: 1, step: 1, readOnly: true},
	"expire":   {arity: -3, first: 1, last: 1, step: 1},
	"pexpire":  {arity: -3, first: 1, last: 1, step: 1},
	"expireat": {arity: -3, first: 1, last: 1, step: 1},
	"persist":  {arity: 2, first: 1, last: 1, step: 1},
	"ttl":      {arity: 2, first: 1, last: 1, step: 1, readOnly: true},
	"pttl":     {arity: 2, first: 1, last: 1, step: 1, readOnly: true},
	// hashes
	"hget":    {arity: 3, first: 1, last: 1, step: 1, readOnly: true},
	"hmget":   {arity: -3, first: 1, last: 1, step: 1, readOnly: true},
	"hgetall": {arity: 2, first: 1, last: 1, step: 1, readOnly: true},
	"hexists": {arity: 3, first: 1, last: 1, step: 1, readOnly: true},
	"hlen":    {arity: 2, first: 1, last: 1, step: 1, readOnly: true},
	"hkeys":   {arity: 2, first: 1, last: 1, step: 1, readOnly: true},
	"hvals":   {arity: 2, first: 1, last: 1, step: 1, readOnly: true},
	"hset":    {arity: -4, first: 1, last: 1, step: 1},
	"hsetnx":  {arity: 4, first: 1, last: 1, step: 1},
	"hmset":   {arity: -4, first: 1, last: 1, step: 1},
	"hdel":    {arity: -3, first: 1, last: 1, step: 1},
	"hincrby": {arity: 4, first: 1, last: 1, step: 1},
	// lists
	"lpush":  {arity: -3, first: 1, last: 1, step: 1},
	"rpush":  {arity: -3, first: 1, last: 1, step: 1},
	"lpop":   {arity: -2, first: 1, last: 1, step: 1, shape: shapeByCount},
	"rpop":   {arity: -2, first: 1, last: 1, step: 1, shape: shapeByCount},
	"llen":   {arity: 2, first: 1, last: 1, step: 1, readOnly: true},
	"lrange": {arity: 4, first: 1, last: 1, step: 1, readOnly: true},
	"ltrim":  {arity: 4, first: 1, last: 1, step: 1},
	// sets
	"sadd":      {arity: -3, first: 1, last: 1, step: 1},
	"srem":      {arity: -3, first: 1, last: 1, step: 1},
	"smembers":  {arity: 2, first: 1, last: 1, step: 1, readOnly: true},
	"sismember": {arity: 3, first: 1, last: 1, step: 1, readOnly: true},
	"scard":     {arity: 2, first: 1, last: 1, step: 1, readOnly: true},
	// sorted sets
	"zadd":    {arity: -4, first: 1, last: 1, step: 1},
	"zrem":    {arity: -3, first: 1, last: 1, step: 1},
	"zincrby": {arity: 4, first: 1, last: 1, step: 1},
	"zscore":  {arity: 3, first: 1, last: 1, step: 1, readOnly: true},
	"zcard":   {arity: 2, first: 1, last: 1, step: 1, readOnly: true},
	"zrange":  {arity: -4, first: 1, last: 1, step: 1, readOnly: true, shape: shapeWithScores},
}

// keyPositions returns the indexes of the key arguments of a command of n
// arguments.
func (sp spec) keyPositions(n int) []int {
	last := sp.last
	if last < 0 {
		last = n + last
	}
	var pos []int
	for i := sp.first; i <= last && i < n; i += sp.step {
		pos = append(pos, i)
	}
	return pos
}

// arityOK reports whether n arguments (the name included) fit the command.
func (sp spec) arityOK(n int) bool {
	if sp.arity >= 0 {
		return n == sp.arity
	}
	if n < -sp.arity {
		return false
	}
	// Commands of key/value pairs must come in whole pairs.
	return sp.step <= 1 || (n-sp.first)%sp.step == 0
}

// forward sends an allowlisted command to Redis and relays the reply.
func (s *Server) forward(conn redcon.Conn, name string, sp spec, raw [][]byte) {
	if !sp.arityOK(len(raw)) {
		arityError(conn, name)
		return
	}
	size := 0
	args := make([]string, len(raw))
	for i, a := range raw {
		size += len(a)
		args[i] = string(a)
	}
	if max := s.engine.MaxValueBytes(); size > max {
		conn.WriteError(fmt.Sprintf("ERR command of %d bytes exceeds max_value_bytes (%d)", size, max))
		return
	}
	ctx, cancel := s.context()
	defer cancel()
	reply, err := s.engine.Forward(ctx, args, sp.keyPositions(len(raw)), sp.readOnly)
	if err != nil {
		conn.WriteError(errorReply(err))
		return
	}
	if name == "get" {
		writeGet(conn, &reply)
		return
	}
	shape := shapePlain
	if sp.shape != nil {
		shape = sp.shape(raw)
	}
	writeReply(conn, &reply, shape)
}
