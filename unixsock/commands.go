package unixsock

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/tidwall/redcon"
)

// Version is what INFO reports as redis_version: clients that check the
// server version see a Redis they support.
const Version = "7.0.0"

// lower returns the ASCII-lowercased name in a buffer on the stack of the
// caller's choosing, so looking a command up allocates nothing.
func lower(buf []byte, name []byte) string {
	n := copy(buf, name)
	for i := 0; i < n; i++ {
		if c := buf[i]; 'A' <= c && c <= 'Z' {
			buf[i] = c + 'a' - 'A'
		}
	}
	if len(name) > len(buf) {
		return strings.ToLower(string(name))
	}
	return string(buf[:n])
}

// handle runs one command. A panic in a command becomes an error reply:
// one bad command must not take the daemon down.
func (s *Server) handle(conn redcon.Conn, cmd redcon.Command) {
	if s.opts.Observe != nil {
		defer func(start time.Time) { s.opts.Observe(time.Since(start)) }(time.Now())
	}
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in command", "cmd", string(cmd.Args[0]), "panic", p, "stack", string(debug.Stack()))
			conn.WriteError("ERR internal error")
		}
	}()
	sess := conn.Context().(*session)
	var buf [24]byte
	name := lower(buf[:], cmd.Args[0])
	if !sess.authed && name != "auth" && name != "quit" {
		conn.WriteError("NOAUTH Authentication required.")
		return
	}
	switch name {
	case "ddb":
		s.ddb(conn, cmd.Args)
	case "ping":
		switch len(cmd.Args) {
		case 1:
			conn.WriteString("PONG")
		case 2:
			conn.WriteBulk(cmd.Args[1])
		default:
			arityError(conn, "ping")
		}
	case "echo":
		if len(cmd.Args) != 2 {
			arityError(conn, "echo")
			return
		}
		conn.WriteBulk(cmd.Args[1])
	case "quit":
		conn.WriteString("OK")
		conn.Close()
	case "select":
		switch {
		case len(cmd.Args) != 2:
			arityError(conn, "select")
		case string(cmd.Args[1]) == "0":
			conn.WriteString("OK")
		default:
			conn.WriteError("ERR ddbcache serves database 0 only")
		}
	case "auth":
		s.auth(conn, sess, cmd.Args)
	case "client":
		s.client(conn, sess, cmd.Args)
	case "info":
		conn.WriteBulkString(s.info())
	default:
		if spec, ok := allowlist[name]; ok {
			s.forward(conn, name, spec, cmd.Args)
			return
		}
		unknownCommand(conn, cmd.Args)
	}
}

func (s *Server) client(conn redcon.Conn, sess *session, args [][]byte) {
	if len(args) < 2 {
		arityError(conn, "client")
		return
	}
	var buf [16]byte
	switch sub := lower(buf[:], args[1]); sub {
	case "setname":
		if len(args) != 3 {
			arityError(conn, "client|setname")
			return
		}
		if strings.ContainsAny(string(args[2]), " \n") {
			conn.WriteError("ERR Client names cannot contain spaces, newlines or special characters.")
			return
		}
		sess.name = string(args[2])
		conn.WriteString("OK")
	case "getname":
		if sess.name == "" {
			conn.WriteNull()
			return
		}
		conn.WriteBulkString(sess.name)
	case "id":
		conn.WriteInt64(sess.id)
	case "setinfo":
		conn.WriteString("OK")
	default:
		conn.WriteError(fmt.Sprintf("ERR unknown subcommand '%s'. ddbcache supports CLIENT SETNAME, GETNAME, ID and SETINFO", sanitize(string(args[1]))))
	}
}

func (s *Server) info() string {
	st := s.engine.Stats()
	var b strings.Builder
	b.WriteString("# Server\r\n")
	fmt.Fprintf(&b, "redis_version:%s\r\nddbcache:1\r\nredis_mode:standalone\r\n", Version)
	b.WriteString("\r\n# Clients\r\n")
	fmt.Fprintf(&b, "connected_clients:%d\r\n", s.conns.Load())
	b.WriteString("\r\n# ddbcache\r\n")
	fmt.Fprintf(&b, "redis_connected:%d\r\nredis_errors:%d\r\ndegraded_reads:%d\r\n",
		boolInt(st.RedisConnected), st.RedisErrors, st.DegradedReads)
	return b.String()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// context returns the context of one command's work in the engine: it
// ends after limits.timeout (see lazyDeadline).
func (s *Server) context() (context.Context, context.CancelFunc) {
	return newLazyDeadline(s.options().Timeout)
}

func arityError(conn redcon.Conn, name string) {
	conn.WriteError("ERR wrong number of arguments for '" + name + "' command")
}

func unknownCommand(conn redcon.Conn, args [][]byte) {
	var b strings.Builder
	fmt.Fprintf(&b, "ERR unknown command '%s', with args beginning with: ", sanitize(string(args[0])))
	for i, a := range args[1:] {
		if i == 3 {
			break
		}
		fmt.Fprintf(&b, "'%s' ", sanitize(string(a)))
	}
	b.WriteString("(ddbcache forwards only allowlisted Redis commands)")
	conn.WriteError(b.String())
}

// sanitize makes s fit on one line of an error reply, and short.
func sanitize(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}

// errorReply turns an engine error into an error reply's text: the
// package prefix goes, the Redis "ERR" code comes, and newlines go.
func errorReply(err error) string {
	msg := strings.TrimPrefix(err.Error(), "cache: ")
	return "ERR " + strings.NewReplacer("\r", " ", "\n", " ").Replace(msg)
}
