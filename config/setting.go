package config

import (
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Setting is one row of the settings table: everything about one setting
// of the configuration file, its flag and its environment variable. The
// YAML loader, the flags, the environment, --help and the README's table
// are all produced from the rows (Settings), so a setting is declared once.
type Setting struct {
	// Name is the setting's path in the YAML file, "listen.max_conns".
	Name string
	// Flag is the command-line flag without dashes, "max-conns".
	Flag string
	// Env is the environment variable, "DDBCACHE_MAX_CONNS".
	Env string
	// Type names the value's form for the README: "duration", "int"…
	Type string
	// Default is the default as the file would spell it ("" for none).
	Default string
	// Range says which values are valid, for the README ("≥ 1").
	Range string
	// Help is the one-line description of --help and the README.
	Help string
	// Reload is true when a running daemon may take a new value on
	// SIGHUP; the others need a restart (see Unreloadable).
	Reload bool
	// ReloadNote qualifies Reload for the README ("RESP; web front: restart").
	ReloadNote string
	// Secret hides the value in --help and error messages.
	Secret bool
	// List is true for a setting that takes several values (a YAML
	// sequence, a repeated flag, a comma-separated variable).
	List bool
	// Bool is true for a setting that is a flag without a value.
	Bool bool

	webRestart bool // with a web front a change needs a restart

	set      func(c *Config, s string) error // parses, checks, stores
	reset    func(c *Config)                 // stores the default
	field    func(c *Config) any             // a pointer to the stored value
	appendTo func(c *Config, s string) error // adds one element (List only)
}

// kind is how a type of setting is parsed and printed.
type kind[T any] struct {
	name   string
	parse  func(string) (T, error)
	format func(T) string
}

var (
	kindString = kind[string]{"string", func(s string) (string, error) { return s, nil }, func(s string) string { return s }}
	kindInt    = kind[int]{"int", parseInt, strconv.Itoa}
	kindBool   = kind[bool]{"bool", parseBool, strconv.FormatBool}
	kindDur    = kind[time.Duration]{"duration", parseDuration, formatDuration}
	kindFrac   = kind[float64]{"fraction", parseFraction, func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }}
	kindMode   = kind[os.FileMode]{"octal mode", parseMode, func(m os.FileMode) string { return fmt.Sprintf("%04o", uint32(m)) }}
)

// check validates a parsed value; it returns the reason it is refused.
type check[T any] struct {
	describe string // for the README's range column
	ok       func(T) bool
}

// row builds a Setting whose value lives at ptr(c), parsed by k.
func row[T any](name, flag, help string, k kind[T], def T, ptr func(*Config) *T, ck check[T], reload bool) Setting {
	return Setting{
		Name: name, Flag: flag, Env: envName(flag), Type: k.name, Default: k.format(def),
		Range: ck.describe, Help: help, Reload: reload, Bool: k.name == "bool",
		set: func(c *Config, s string) error {
			v, err := parseChecked(k, ck, s)
			if err == nil {
				*ptr(c) = v
			}
			return err
		},
		reset: func(c *Config) { *ptr(c) = def },
		field: func(c *Config) any { return ptr(c) },
	}
}

// parseChecked parses s with k and checks the value with ck.
func parseChecked[T any](k kind[T], ck check[T], s string) (T, error) {
	v, err := k.parse(strings.TrimSpace(s))
	if err != nil {
		return v, err
	}
	if ck.ok != nil && !ck.ok(v) {
		return v, fmt.Errorf("want %s", ck.describe)
	}
	return v, nil
}

// listRow builds a list setting of strings (redis.addrs).
func listRow(name, flag, help string, def []string, ptr func(*Config) *[]string, reload bool) Setting {
	return Setting{
		Name: name, Flag: flag, Env: envName(flag), Type: "list of strings", Default: strings.Join(def, ","),
		Range: "not empty", Help: help, Reload: reload, List: true,
		set: func(c *Config, s string) error {
			var out []string
			for _, v := range strings.Split(s, ",") {
				if v = strings.TrimSpace(v); v != "" {
					out = append(out, v)
				}
			}
			if len(out) == 0 {
				return fmt.Errorf("empty list")
			}
			*ptr(c) = out
			return nil
		},
		appendTo: func(c *Config, s string) error {
			if s = strings.TrimSpace(s); s == "" {
				return fmt.Errorf("empty element")
			}
			*ptr(c) = append(*ptr(c), s)
			return nil
		},
		reset: func(c *Config) { *ptr(c) = append([]string(nil), def...) },
		field: func(c *Config) any { return ptr(c) },
	}
}

// secret marks a row as a secret.
func secret(s Setting) Setting {
	s.Secret = true
	return s
}

// withEnv gives a row an environment variable of another name than its
// flag's (the plural of a repeatable flag).
func withEnv(env string, s Setting) Setting {
	s.Env = env
	return s
}

// envName is the environment variable of a flag: DDBCACHE_ and the flag
// in upper case with underscores.
func envName(flag string) string {
	return "DDBCACHE_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Set parses s as the value of the setting and stores it in c. The error
// names the setting.
func (s Setting) Set(c *Config, value string) error {
	if err := s.set(c, value); err != nil {
		return s.errorf(value, err)
	}
	return nil
}

// Append adds one element to a list setting (a repeated flag); other
// settings are Set.
func (s Setting) Append(c *Config, value string) error {
	if s.appendTo == nil {
		return s.Set(c, value)
	}
	if err := s.appendTo(c, value); err != nil {
		return s.errorf(value, err)
	}
	return nil
}

// Value is the setting's value in c, printed as the file would spell it.
func (s Setting) Value(c *Config) string {
	v := reflect.ValueOf(s.field(c)).Elem().Interface()
	switch v := v.(type) {
	case []string:
		return strings.Join(v, ",")
	case time.Duration:
		return formatDuration(v)
	case os.FileMode:
		return kindMode.format(v)
	}
	return fmt.Sprint(v)
}

// Equal reports whether a and b have the same value of the setting.
func (s Setting) Equal(a, b *Config) bool {
	return reflect.DeepEqual(reflect.ValueOf(s.field(a)).Elem().Interface(), reflect.ValueOf(s.field(b)).Elem().Interface())
}

func (s Setting) errorf(value string, err error) error {
	if s.Secret {
		return fmt.Errorf("config: %s: %w", s.Name, err)
	}
	return fmt.Errorf("config: %s %q: %w", s.Name, value, err)
}

func parseInt(s string) (int, error) {
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("not an integer")
	}
	return v, nil
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0", "":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean (want true or false)")
}

func parseDuration(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q (want e.g. 30s, 5m, 1h)", s)
	}
	return v, nil
}

// formatDuration prints 5m rather than time.Duration's 5m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// parseFraction reads a share written as "10%" or 0.1.
func parseFraction(s string) (float64, error) {
	pct := strings.HasSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		return 0, fmt.Errorf("bad fraction %q (want e.g. 10%% or 0.1)", s)
	}
	if pct {
		v /= 100
	}
	return v, nil
}

// parseMode reads an octal file mode such as "0660".
func parseMode(s string) (os.FileMode, error) {
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o777 {
		return 0, fmt.Errorf("bad file mode (want octal, e.g. 0660)")
	}
	return os.FileMode(v), nil
}

// Checks of the table's rows.
var (
	positiveInt = check[int]{"≥ 1", func(v int) bool { return v >= 1 }}
	nonNegInt   = check[int]{"≥ 0", func(v int) bool { return v >= 0 }}
	positiveDur = check[time.Duration]{"> 0", func(v time.Duration) bool { return v > 0 }}
	nonNegDur   = check[time.Duration]{"≥ 0", func(v time.Duration) bool { return v >= 0 }}
	ttlDur      = check[time.Duration]{"≥ 1ms", func(v time.Duration) bool { return v >= time.Millisecond }}
	jitter      = check[float64]{"[0, 1)", func(v float64) bool { return v >= 0 && v < 1 }}
	fraction    = check[float64]{"[0, 1]", func(v float64) bool { return v >= 0 && v <= 1 }}
	socketMode  = check[os.FileMode]{"0001–0777", func(m os.FileMode) bool { return m != 0 }}
	anyString   = check[string]{}
	anyBool     = check[bool]{}
)

// oneOf accepts only the listed strings.
func oneOf(vals ...string) check[string] {
	return check[string]{strings.Join(vals, " | "), func(v string) bool {
		for _, ok := range vals {
			if strings.EqualFold(v, ok) {
				return true
			}
		}
		return false
	}}
}
