package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads the YAML file path ("" for none) over the defaults. Unknown
// keys are errors, so that a typo does not silently fall back to a
// default; every value is checked by its row and the error names the
// setting and the line.
func Load(path string) (*Config, error) {
	c := Defaults()
	c.File = path
	if path == "" {
		return c, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config %s: %s", path, oneLine(err.Error()))
	}
	if len(doc.Content) == 0 {
		return c, nil
	}
	if err := c.decode(doc.Content[0], ""); err != nil {
		var le *lineError
		if errors.As(err, &le) {
			le.path = path
		}
		return nil, err
	}
	return c, nil
}

// lineError is an error of the file at a line:
// "config: /etc/ddbcache/ddbcache.yaml line 7: listen.max_conns "-1": want ≥ 1".
type lineError struct {
	path string
	line int
	err  error
}

func (e *lineError) Error() string {
	return fmt.Sprintf("config: %s line %d: %s", e.path, e.line, strings.TrimPrefix(e.err.Error(), "config: "))
}

func (e *lineError) Unwrap() error { return e.err }

// at locates err at line n of the file.
func at(n *yaml.Node, err error) error {
	return &lineError{line: n.Line, err: err}
}

// decode walks a mapping node whose keys start with prefix.
func (c *Config) decode(n *yaml.Node, prefix string) error {
	if n.Kind != yaml.MappingNode {
		return at(n, fmt.Errorf("%s must be a mapping", strings.TrimSuffix(prefix, ".")))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		path := prefix + key.Value
		if path == "namespaces" {
			if err := c.decodeNamespaces(val); err != nil {
				return err
			}
			continue
		}
		if s, ok := Lookup(path); ok {
			if err := c.decodeValue(s, val); err != nil {
				return at(val, err)
			}
			continue
		}
		if !isSection(path) {
			return at(key, fmt.Errorf("unknown setting %q", path))
		}
		if err := c.decode(val, path+"."); err != nil {
			return err
		}
	}
	return nil
}

// decodeValue sets s from a scalar or, for a list, a sequence.
func (c *Config) decodeValue(s Setting, val *yaml.Node) error {
	switch {
	case s.List && val.Kind == yaml.SequenceNode:
		var vals []string
		for _, e := range val.Content {
			vals = append(vals, e.Value)
		}
		return s.Set(c, strings.Join(vals, ","))
	case val.Kind != yaml.ScalarNode:
		return fmt.Errorf("%s must be a single value", s.Name)
	case val.Tag == "!!null":
		return s.Set(c, "")
	}
	return s.Set(c, val.Value)
}

// isSection reports whether path is a section of the table ("listen").
func isSection(path string) bool {
	for _, s := range settings {
		if strings.HasPrefix(s.Name, path+".") {
			return true
		}
	}
	return false
}

// decodeNamespaces reads the namespaces: map.
func (c *Config) decodeNamespaces(n *yaml.Node) error {
	if n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return at(n, fmt.Errorf("namespaces must be a mapping of names to namespaces"))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		name, body := n.Content[i].Value, n.Content[i+1]
		if body.Kind != yaml.MappingNode {
			return at(body, fmt.Errorf("namespaces.%s must be a mapping of fields", name))
		}
		ns := newNamespace()
		for j := 0; j+1 < len(body.Content); j += 2 {
			key, val := body.Content[j], body.Content[j+1]
			if val.Kind != yaml.ScalarNode {
				return at(val, fmt.Errorf("namespaces.%s.%s must be a single value", name, key.Value))
			}
			if err := setField(&ns, name, key.Value, val.Value); err != nil {
				return at(key, err)
			}
		}
		if err := checkNamespace(name, ns); err != nil {
			return at(n.Content[i], err)
		}
		c.Namespaces[name] = ns
	}
	return nil
}

// ApplyEnv sets every setting whose DDBCACHE_* variable lookup finds,
// and adds the namespaces of DDBCACHE_NAMESPACES (comma-separated
// --namespace values). Variables override the file; flags override them.
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) error {
	for _, s := range settings {
		if v, ok := lookup(s.Env); ok {
			if err := s.Set(c, v); err != nil {
				return fmt.Errorf("%w (from $%s)", err, s.Env)
			}
		}
	}
	if v, ok := lookup(NamespacesEnv); ok {
		for _, spec := range strings.Split(v, ",") {
			if spec = strings.TrimSpace(spec); spec == "" {
				continue
			}
			if err := c.ParseNamespace(spec); err != nil {
				return fmt.Errorf("%w (from $%s)", err, NamespacesEnv)
			}
		}
	}
	return nil
}

// The flags and variables that are not settings of the table.
const (
	NamespaceFlag = "namespace"
	NamespacesEnv = "DDBCACHE_NAMESPACES"
	ConfigFlag    = "config"
	ConfigEnv     = "DDBCACHE_CONFIG"
)

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
