package config

// Unreloadable returns the names of the settings that differ between old
// and new but cannot change in a running daemon (Setting.Reload false, or
// a timeout of a running web front), in table order. A SIGHUP with a
// non-empty answer must be refused whole, naming them, and the old
// configuration kept. Namespaces can always change.
func Unreloadable(old, new *Config) []string {
	web := old.Listen.FCGI != "" || old.Listen.HTTP != ""
	var names []string
	for _, s := range settings {
		if (!s.Reload || s.webRestart && web) && !s.Equal(old, new) {
			names = append(names, s.Name)
		}
	}
	return names
}

// Changed returns the names of every setting that differs between old and
// new, "namespaces" included when any namespace differs, for the log line
// of a reload.
func Changed(old, new *Config) []string {
	var names []string
	for _, s := range settings {
		if !s.Equal(old, new) {
			names = append(names, s.Name)
		}
	}
	if !namespacesEqual(old.Namespaces, new.Namespaces) {
		names = append(names, "namespaces")
	}
	return names
}

func namespacesEqual(a, b map[string]Namespace) bool {
	if len(a) != len(b) {
		return false
	}
	for name, n := range a {
		if m, ok := b[name]; !ok || m != n {
			return false
		}
	}
	return true
}
