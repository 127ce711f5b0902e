package main

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"
)

// exitUsage is the exit status of a usage error, as in BSD's sysexits
// and most Unix tools (1 is left to failures of the work itself).
const exitUsage = 2

// usageError is a mistake on the command line: main prints it on one
// line with a hint to run --help, and exits 2.
type usageError struct {
	msg  string
	help string // the command whose --help to suggest
}

func (e *usageError) Error() string {
	return fmt.Sprintf("%s (run '%s --help')", e.msg, e.help)
}

// ExitCode makes usageError a cli.ExitCoder.
func (e *usageError) ExitCode() int { return exitUsage }

// usageErrorf is a usage error of c's command.
func usageErrorf(c *cli.Context, format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...), help: helpName(c)}
}

// helpName is "ddbcache" or "ddbcache serve", for the hint.
func helpName(c *cli.Context) string {
	if c.Command == nil || c.Command.Name == "" || c.Command.Name == c.App.Name {
		return c.App.Name
	}
	return c.App.Name + " " + c.Command.Name
}

// onUsageError replaces urfave/cli's usage error (the whole help, exit
// 1) with one line and exit 2.
func onUsageError(c *cli.Context, err error, _ bool) error {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		msg = "unknown flag " + rest
	}
	return usageErrorf(c, "%s", msg)
}

// version and commit are set by the Makefile's build (-ldflags -X
// main.version=… -X main.commit=…); commit is the fallback for a build
// without VCS stamping (GOFLAGS=-buildvcs=false).
var (
	version = "devel"
	commit  = "unknown"
)

// versionString is the version, the commit it was built from and the Go
// version, from the build information the go command embeds.
func versionString() string {
	commit, goVersion := commit, "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		goVersion = info.GoVersion
		var modified bool
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified {
			commit += "-dirty"
		}
	}
	return fmt.Sprintf("%s (commit %s, %s)", version, commit, goVersion)
}
