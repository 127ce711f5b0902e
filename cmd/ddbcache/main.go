// Command ddbcache is a local daemon that serves cached DynamoDB items to
// legacy Perl web apps over a RESP Unix socket and FastCGI. This package
// only parses flags and configuration and wires the packages together.
package main

import (
	"fmt"
	"os"

	"github.com/ddbcache/ddbcache/bench"
	"github.com/urfave/cli/v2"
)

func main() {
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "ddbcache: %s\n", oneLine(err.Error()))
		if ec, ok := err.(cli.ExitCoder); ok {
			os.Exit(ec.ExitCode())
		}
		os.Exit(1)
	}
}

// newApp returns the command-line application.
func newApp() *cli.App {
	return &cli.App{
		Name:  "ddbcache",
		Usage: "cache-aside DynamoDB lookups for Perl apps, over a RESP Unix socket and FastCGI",
		Flags: globalFlags(),
		Commands: []*cli.Command{
			serveCommand(),
			getCommand(),
			putCommand(),
			invalidateCommand(),
			statsCommand(),
			bench.Command(benchEnv),
		},
		// Errors are printed once, by main, on one line.
		ExitErrHandler: func(*cli.Context, error) {},
	}
}
