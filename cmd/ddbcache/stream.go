package main

import (
	"log/slog"
	"sort"

	"github.com/ddbcache/ddbcache/daemon"
)

// streamTables returns the tables of the namespaces with `stream: true`.
func (c *config) streamTables() []string {
	seen := map[string]bool{}
	var tables []string
	for _, nc := range c.Namespaces {
		if nc.Stream && !seen[nc.Table] {
			seen[nc.Table] = true
			tables = append(tables, nc.Table)
		}
	}
	sort.Strings(tables)
	return tables
}

// daemonOptions assembles the daemon's options from the settings. The
// daemon builds its own logger from Log, so that a reload can change it.
func (s *settings) daemonOptions() daemon.Options {
	var level slog.Level
	_ = level.UnmarshalText([]byte(s.cfg.Log.Level)) // validated by newLogger; "" is info
	return daemon.Options{
		Engine: s.engine, Dynamo: s.dynamo, Socket: s.sock, API: s.api, Web: s.web,
		Log:     daemon.LogOptions{Level: level, Format: s.cfg.Log.Format},
		Streams: daemon.StreamOptions{Tables: s.cfg.streamTables(), Endpoint: s.cfg.DynamoDB.StreamsEndpoint},
	}
}
