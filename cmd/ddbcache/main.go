// Command ddbcache is a local daemon that serves cached DynamoDB items to
// legacy Perl web apps over a RESP Unix socket and FastCGI. This package
// only turns flags into the configuration (package config), the
// configuration into daemon.Options, and signals into the daemon's calls.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ddbcache/ddbcache/bench"
	"github.com/urfave/cli/v2"
)

func main() {
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "ddbcache: %s\n", oneLine(err.Error()))
		var ec cli.ExitCoder
		if errors.As(err, &ec) {
			os.Exit(ec.ExitCode())
		}
		os.Exit(1)
	}
}

// oneLine joins a message's lines, for the one line main prints.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// newApp returns the command-line application. Every command takes the
// settings' flags (so that they work after the command too) and prints
// usage errors on one line.
func newApp() *cli.App {
	cli.VersionPrinter = func(c *cli.Context) { fmt.Fprintf(c.App.Writer, "ddbcache %s\n", c.App.Version) }
	app := &cli.App{
		Name:    "ddbcache",
		Usage:   "cache-aside DynamoDB lookups for Perl apps, over a RESP Unix socket and FastCGI",
		Version: versionString(),
		Flags:   settingFlags(),
		Commands: []*cli.Command{
			serveCommand(),
			checkConfigCommand(),
			getCommand(),
			putCommand(),
			invalidateCommand(),
			statsCommand(),
			bench.Command(benchEnv),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf(c, "unknown command %q", c.Args().First())
			}
			return usageErrorf(c, "no command given (serve, check-config, get, put, invalidate, stats, bench)")
		},
		OnUsageError: onUsageError,
		// Errors are printed once, by main, on one line.
		ExitErrHandler: func(*cli.Context, error) {},
	}
	for _, cmd := range app.Commands {
		cmd.OnUsageError = onUsageError
		if cmd.Name == "bench" {
			// bench has a --namespace of its own and reads the settings
			// from the flags before its name (benchEnv).
			continue
		}
		cmd.Flags = append(settingFlags(), cmd.Flags...)
	}
	return app
}
