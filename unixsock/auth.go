package unixsock

import (
	"crypto/subtle"
	"time"

	"github.com/tidwall/redcon"
)

// Failed AUTHs on a connection wait authDelay, doubled for each further
// failure up to maxAuthDelay, before their reply: a client that guesses
// passwords gets a few a second per connection rather than thousands.
const (
	authDelay    = 50 * time.Millisecond
	maxAuthDelay = 2 * time.Second
)

// auth is AUTH password or AUTH username password, as Redis 6 answers
// them. The comparisons take the same time whatever the input, so that
// timing tells a client nothing about the password.
func (s *Server) auth(conn redcon.Conn, sess *session, args [][]byte) {
	if len(args) < 2 || len(args) > 3 {
		arityError(conn, "auth")
		return
	}
	o := s.options()
	if o.Password == "" {
		conn.WriteError("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
		return
	}
	user := []byte(o.Username)
	if len(args) == 3 {
		user = args[1]
	}
	userOK := subtle.ConstantTimeCompare(user, []byte(o.Username))
	passOK := subtle.ConstantTimeCompare(args[len(args)-1], []byte(o.Password))
	if userOK&passOK != 1 {
		s.authFailures.Add(1)
		delay := authDelay << min(sess.authFailures, 6)
		sess.authFailures++
		time.Sleep(min(delay, maxAuthDelay))
		conn.WriteError("WRONGPASS invalid username-password pair or user is disabled.")
		return
	}
	sess.authFailures = 0
	sess.authed = true
	conn.WriteString("OK")
}
