package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ddbcache/ddbcache/internal/testenv"
)

// TestEveryFieldHasOneRow checks that the settings table and Config
// agree: every field of Config (but File and Namespaces) is reached by
// exactly one row, so a setting cannot be added to one and not the other.
func TestEveryFieldHasOneRow(t *testing.T) {
	c := &Config{}
	fields := map[uintptr]string{}
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		for i := 0; i < v.NumField(); i++ {
			f, name := v.Field(i), path+v.Type().Field(i).Name
			if name == "File" || name == "Namespaces" {
				continue
			}
			if f.Kind() == reflect.Struct {
				walk(f, name+".")
				continue
			}
			fields[f.Addr().Pointer()] = name
		}
	}
	walk(reflect.ValueOf(c).Elem(), "")
	seen := map[uintptr]string{}
	for _, s := range settings {
		p := reflect.ValueOf(s.field(c)).Pointer()
		if _, ok := fields[p]; !ok {
			t.Errorf("%s: its field is not a field of Config", s.Name)
		}
		if other, dup := seen[p]; dup {
			t.Errorf("%s and %s store into the same field", s.Name, other)
		}
		seen[p] = s.Name
	}
	for p, name := range fields {
		if _, ok := seen[p]; !ok {
			t.Errorf("Config.%s has no row in the settings table", name)
		}
	}
}

// TestNamesAreUnique checks that no two rows share a YAML path, a flag or
// a variable, and that each flag's variable is derived from the flag.
func TestNamesAreUnique(t *testing.T) {
	seen := map[string]string{ConfigFlag: "--config", NamespaceFlag: "--namespace", ConfigEnv: "--config", NamespacesEnv: "--namespace"}
	for _, s := range settings {
		for _, k := range []string{s.Name, s.Flag, s.Env} {
			if other, dup := seen[k]; dup {
				t.Errorf("%q is used by %s and %s", k, s.Name, other)
			}
			seen[k] = s.Name
		}
		if !strings.HasPrefix(s.Env, "DDBCACHE_") || s.Help == "" || s.Type == "" {
			t.Errorf("%s: env %q, help %q, type %q", s.Name, s.Env, s.Help, s.Type)
		}
	}
}

// TestReadmeTable fails when README.md's configuration tables and the
// code disagree; `go run ./config/cmd/gen-readme` fixes it.
func TestReadmeTable(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := ReplaceReadme(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != want {
		t.Error("README.md's settings tables differ from the code's: run `go run ./config/cmd/gen-readme`")
	}
}

// badValues are values each checked setting must refuse. Every row with
// a range has an entry, so a new setting comes with its bad values.
var badValues = map[string][]string{
	"redis.addrs":                {"", " , "},
	"redis.client_cache_mb":      {"-1", "0", "lots"},
	"redis.disable_client_cache": {"maybe"},
	"redis.wait_replicas":        {"-1", "two"},
	"listen.unix_mode":           {"0", "0999", "01777", "rw"},
	"listen.fcgi_mode":           {"0", "rw"},
	"listen.api_prefix":          {"api"},
	"listen.max_conns":           {"-1", "0", "1.5"},
	"listen.username":            {""},
	"listen.allow_remote":        {"perhaps"},
	"listen.idle_timeout":        {"-1s", "soon"},
	"listen.read_timeout":        {"-1s"},
	"listen.write_timeout":       {"-1ms"},
	"limits.max_value_bytes":     {"-1", "0"},
	"limits.max_keys":            {"-1", "0"},
	"limits.timeout":             {"0", "0s", "-1s"},
	"limits.load_timeout":        {"0", "-3s"},
	"limits.gutter_ttl":          {"-1s"},
	"log.level":                  {"loud", ""},
	"log.format":                 {"xml", ""},
	"audit.sample":               {"-0.1", "1.5", "101%", "often"},
	"audit.max_per_second":       {"0", "-1"},
	"audit.grace":                {"0", "-1s"},
}

// nsBadValues are the same for the namespace fields.
var nsBadValues = map[string][]string{
	"table":          {""},
	"partition_key":  {""},
	"ttl":            {"0", "-1h", "500us"},
	"ttl_jitter":     {"1", "-0.1", "100%", "lots"},
	"negative_ttl":   {"-1s"},
	"stale_if_error": {"-1m"},
	"format":         {"msgpack"},
	"stream":         {"maybe"},
}

func TestBadValues(t *testing.T) {
	for _, s := range settings {
		bad, ok := badValues[s.Name]
		if !ok && s.Range != "" && s.Type != "string" {
			t.Errorf("%s (%s) has no bad values in badValues", s.Name, s.Range)
		}
		for _, v := range bad {
			t.Run(s.Name+"="+v, func(t *testing.T) {
				c := Defaults()
				err := s.Set(c, v)
				if err == nil || !strings.Contains(err.Error(), s.Name) {
					t.Fatalf("Set(%q): %v; want an error naming %s", v, err, s.Name)
				}
				if d := Defaults(); !s.Equal(c, d) {
					t.Errorf("a refused value was stored: %s", s.Value(c))
				}
			})
		}
	}
	for _, f := range fields {
		bad, ok := nsBadValues[f.Name]
		if !ok && f.Range != "" {
			t.Errorf("namespace field %s (%s) has no bad values", f.Name, f.Range)
		}
		for _, v := range bad {
			t.Run("namespaces.x."+f.Name+"="+v, func(t *testing.T) {
				n := newNamespace()
				err := setField(&n, "x", f.Name, v)
				if err == nil || !strings.Contains(err.Error(), "namespaces.x."+f.Name) {
					t.Fatalf("%v; want an error naming namespaces.x.%s", err, f.Name)
				}
			})
		}
	}
}

// TestDefaultsAreValid checks that every default passes its own row:
// a default from a package constant that a row refuses would make an
// empty file fail.
func TestDefaultsAreValid(t *testing.T) {
	c := Defaults()
	for _, s := range settings {
		if err := s.Set(c, s.Default); err != nil && !(s.List && s.Default == "") {
			t.Errorf("default of %s: %v", s.Name, err)
		}
	}
	n := newNamespace()
	for _, f := range fields {
		if err := f.set(&n, f.Default); err != nil && f.Range != "required" {
			t.Errorf("default of namespace field %s: %v", f.Name, err)
		}
	}
}
