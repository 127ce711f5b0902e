package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/ddbcache/ddbcache/config"
	"github.com/urfave/cli/v2"
)

// recorder is the flag.Value of every setting's flag: it keeps what the
// command line said, in order, for load to apply over the file and the
// environment through the settings table (which parses and checks).
type recorder struct {
	vals   []string
	isBool bool
}

func (r *recorder) Set(s string) error { r.vals = append(r.vals, s); return nil }

// String is the last value: urfave/cli copies a flag's value to its
// aliases (--config to -c) with it, which adds it again.
func (r *recorder) String() string {
	if len(r.vals) == 0 {
		return ""
	}
	return r.vals[len(r.vals)-1]
}

// IsBoolFlag lets a boolean setting's flag go without a value
// (--allow-remote), as the flag package does for its own booleans.
func (r *recorder) IsBoolFlag() bool { return r.isBool }

// settingFlags returns --config, a flag for every row of the settings
// table and --namespace. Each call makes new flags: the app and every
// command have their own (urfave/cli v2 has no flags shared with
// subcommands), so `ddbcache serve --config F` works as well as
// `ddbcache --config F serve`; the command's win.
func settingFlags() []cli.Flag {
	flags := []cli.Flag{&cli.GenericFlag{Name: config.ConfigFlag, Aliases: []string{"c"}, Value: &recorder{},
		Usage: "YAML configuration `FILE` [$" + config.ConfigEnv + "]"}}
	for _, s := range config.Settings() {
		def := s.Default
		if s.Secret {
			def = ""
		}
		var f cli.Flag = &cli.GenericFlag{Name: s.Flag, Value: &recorder{isBool: s.Bool},
			Usage: s.Help + " [$" + s.Env + "]", DefaultText: def, Category: section(s.Name)}
		if s.Bool {
			f = boolFlag{f.(*cli.GenericFlag)}
		}
		flags = append(flags, f)
	}
	return append(flags, &cli.GenericFlag{Name: config.NamespaceFlag, Value: &recorder{}, Category: "namespaces",
		Usage: "NAME:table=T;partition_key=K;redis_key=…;ttl=1h (repeat) [$" + config.NamespacesEnv + ", comma-separated]"})
}

// boolFlag is a boolean setting's flag: --help shows it without a value.
type boolFlag struct{ *cli.GenericFlag }

// TakesValue is false: --allow-remote alone means true.
func (boolFlag) TakesValue() bool { return false }

// String is the --help line, formatted through boolFlag's TakesValue.
func (b boolFlag) String() string { return cli.FlagStringer(b) }

// section is the first part of a setting's name, the --help category.
func section(name string) string {
	s, _, _ := strings.Cut(name, ".")
	return s
}

// settings is what the commands need from the configuration.
type settings struct {
	cfg *config.Config
	log *slog.Logger
	// reload reads the configuration again from the same sources (the
	// file, the environment and the same flags), for SIGHUP: refuse the
	// new one when config.Unreloadable(old.cfg, new.cfg) names settings.
	reload func() (*settings, error)
}

// recorded returns what --name recorded in each context of c, from the
// app's flags to the command's.
func recorded(c *cli.Context, name string) [][]string {
	var out [][]string
	lineage := c.Lineage()
	for i := len(lineage) - 1; i >= 0; i-- {
		if lineage[i].Command == nil {
			continue
		}
		for _, f := range lineage[i].Command.Flags {
			g, ok := f.(*cli.GenericFlag)
			if b, isBool := f.(boolFlag); isBool {
				g, ok = b.GenericFlag, true
			}
			if ok && g.Name == name {
				if r := g.Value.(*recorder); len(r.vals) > 0 {
					out = append(out, r.vals)
				}
			}
		}
	}
	return out
}

// withoutNamespaces are the commands that need no namespaces: every
// other one that loads the configuration refuses to run without any.
var withoutNamespaces = map[string]bool{"stats": true}

// load reads the configuration file, then the DDBCACHE_* environment,
// then the flags (before and after the subcommand), and resolves the
// secret files. Every value is checked by the settings table.
func load(c *cli.Context) (*settings, error) {
	path := os.Getenv(config.ConfigEnv)
	for _, vals := range recorded(c, config.ConfigFlag) {
		path = vals[len(vals)-1]
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if err := cfg.ApplyEnv(os.LookupEnv); err != nil {
		return nil, err
	}
	for _, s := range config.Settings() {
		for _, vals := range recorded(c, s.Flag) {
			if err := s.Set(cfg, vals[0]); err != nil {
				return nil, fmt.Errorf("%w (from --%s)", err, s.Flag)
			}
			for _, v := range vals[1:] {
				if err := s.Append(cfg, v); err != nil {
					return nil, fmt.Errorf("%w (from --%s)", err, s.Flag)
				}
			}
		}
	}
	for _, vals := range recorded(c, config.NamespaceFlag) {
		for _, spec := range vals {
			if err := cfg.ParseNamespace(spec); err != nil {
				return nil, err
			}
		}
	}
	if err := cfg.Resolve(); err != nil {
		return nil, err
	}
	if c.Command != nil && !withoutNamespaces[c.Command.Name] {
		if err := cfg.RequireNamespaces(); err != nil {
			return nil, err
		}
	}
	return &settings{cfg: cfg, log: cfg.Logger(os.Stderr), reload: func() (*settings, error) { return load(c) }}, nil
}
