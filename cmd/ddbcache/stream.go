package main

import (
	"github.com/ddbcache/ddbcache/daemon"
)

// daemonOptions assembles the daemon's options from the settings. The
// daemon builds its own logger from Options.Log, so that a reload can
// change it; s.log is the one-shot commands' logger.
func (s *settings) daemonOptions() daemon.Options {
	return s.cfg.Options(s.log)
}
