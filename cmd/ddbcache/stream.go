package main

import (
	"github.com/ddbcache/ddbcache/daemon"
)

// daemonOptions assembles the daemon's options from the settings.
func (s *settings) daemonOptions() daemon.Options {
	return s.cfg.Options(s.log)
}
