package main

import (
	"os"

	"github.com/ddbcache/ddbcache/bench"
	"github.com/urfave/cli/v2"
)

// benchEnv gives `ddbcache bench` the daemon's configuration: the same
// file and global flags as serve, read through load from the app's
// context (the global flags come before the command name, and the bench's
// own --namespace must not shadow the global one).
func benchEnv(c *cli.Context) (bench.Env, error) {
	app := c
	if l := c.Lineage(); len(l) > 1 {
		app = l[1] // the context of the global flags
	}
	s, err := load(app)
	if err != nil {
		return bench.Env{}, err
	}
	// The global flags are the arguments before the command name.
	global := os.Args[1 : len(os.Args)-app.Args().Len()]
	o := s.daemonOptions()
	return bench.Env{
		RedisAddrs: o.Engine.Redis.Addrs, RedisUsername: o.Engine.Redis.Username, RedisPassword: o.Engine.Redis.Password,
		Dynamo: o.Dynamo, Namespaces: o.Engine.Namespaces, Socket: o.Socket.Path, SocketPassword: o.Socket.Password,
		ClientCacheMB: o.Engine.Redis.ClientCacheMB, Self: os.Args[0], GlobalArgs: global,
	}, nil
}
