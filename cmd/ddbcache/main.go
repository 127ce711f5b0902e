// Command ddbcache is a local daemon that serves cached DynamoDB items to
// legacy Perl web apps over a RESP Unix socket and FastCGI. This package
// only parses flags and configuration and wires the packages together.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

func main() {
	app := &cli.App{
		Name:  "ddbcache",
		Usage: "cache-aside DynamoDB lookups for Perl apps, over a RESP Unix socket and FastCGI",
		Flags: globalFlags(),
		Commands: []*cli.Command{
			serveCommand(),
			getCommand(),
			putCommand(),
			invalidateCommand(),
			statsCommand(),
		},
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "ddbcache: %s\n", oneLine(err.Error()))
		os.Exit(1)
	}
}
