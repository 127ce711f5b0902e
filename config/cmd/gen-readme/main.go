// Command gen-readme rewrites the configuration tables of README.md from
// the settings table (config.Settings), between its marker comments. Run
// it from the repository root after changing a setting:
//
//	go run ./config/cmd/gen-readme
//
// config's TestReadmeTable fails until it has been run.
package main

import (
	"fmt"
	"os"

	"github.com/ddbcache/ddbcache/config"
)

func main() {
	path := "README.md"
	if len(os.Args) > 1 {
		path = os.Args[1]
	}
	if err := rewrite(path); err != nil {
		fmt.Fprintf(os.Stderr, "gen-readme: %v\n", err)
		os.Exit(1)
	}
}

func rewrite(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := config.ReplaceReadme(string(b))
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(out), 0o644)
}
