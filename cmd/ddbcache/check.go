package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// checkConfigCommand validates the configuration as serve would read it,
// without opening anything (like nginx -t).
func checkConfigCommand() *cli.Command {
	return &cli.Command{
		Name:  "check-config",
		Usage: "validate the configuration file, flags and environment; exit 0 if serve would accept them",
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return usageErrorf(c, "check-config takes no arguments")
			}
			s, err := load(c)
			if err != nil {
				return err
			}
			file := s.cfg.File
			if file == "" {
				file = "(no file)"
			}
			fmt.Fprintf(c.App.Writer, "ddbcache: configuration %s OK: %d namespaces\n", file, len(s.cfg.Namespaces))
			return nil
		},
	}
}
