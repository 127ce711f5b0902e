package unixsock

// withDefaults fills in the defaults of the fields that Reconfigure can
// change.
func withDefaults(opts Options) Options {
	if opts.MaxConns == 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	opts.IdleTimeout = orDefault(opts.IdleTimeout, DefaultIdleTimeout)
	opts.ReadTimeout = orDefault(opts.ReadTimeout, DefaultReadTimeout)
	opts.WriteTimeout = orDefault(opts.WriteTimeout, DefaultWriteTimeout)
	if opts.MaxKeys == 0 {
		opts.MaxKeys = DefaultMaxKeys
	}
	if opts.Username == "" {
		opts.Username = DefaultUsername
	}
	return opts
}

// Reconfigure changes, on the running server (a reload), the options that
// can change live: MaxConns, Password, Username, IdleTimeout, ReadTimeout,
// WriteTimeout, MaxKeys and Timeout. The others (Path, Mode, TCP, Logger,
// Observe, Tracking) stay as Listen was given them; the caller refuses a
// change of those. Each command reads the options once, so one under way
// finishes with the options it started with.
//
// A new password applies to connections opened from now on. Connections
// already open keep the state they have, as Redis's CONFIG SET requirepass
// does: one that was logged in (or opened while there was no password)
// stays logged in; one not yet logged in must AUTH with the new password.
func (s *Server) Reconfigure(opts Options) {
	next := s.opts
	next.MaxConns, next.Password, next.Username = opts.MaxConns, opts.Password, opts.Username
	next.IdleTimeout, next.ReadTimeout, next.WriteTimeout = opts.IdleTimeout, opts.ReadTimeout, opts.WriteTimeout
	next.MaxKeys, next.Timeout = opts.MaxKeys, opts.Timeout
	next = withDefaults(next)
	s.cur.Store(&next)
}

// options returns the options in force.
func (s *Server) options() *Options { return s.cur.Load() }
