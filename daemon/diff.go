package daemon

import (
	"reflect"
	"sort"
)

// settingNames maps an Options field path to the configuration setting an
// operator writes, for the messages of Reload. A field without a name here
// is named by its path.
var settingNames = map[string]string{
	"Engine.Redis.Addrs":              "redis.addrs",
	"Engine.Redis.Username":           "redis.username",
	"Engine.Redis.Password":           "redis.password",
	"Engine.Redis.ClientCacheMB":      "redis.client_cache_mb",
	"Engine.Redis.DisableClientCache": "redis.disable_client_cache",
	"Engine.Namespaces":               "namespaces",
	"Engine.MaxValueBytes":            "limits.max_value_bytes",
	"Engine.LoadTimeout":              "limits.load_timeout",
	"Engine.GutterTTL":                "limits.gutter_ttl",
	"Dynamo.Region":                   "dynamodb.region",
	"Dynamo.Endpoint":                 "dynamodb.endpoint",
	"Dynamo.AccessKeyID":              "dynamodb.access_key_id",
	"Dynamo.SecretAccessKey":          "dynamodb.secret_access_key",
	"Socket.Path":                     "listen.unix",
	"Socket.Mode":                     "listen.unix_mode",
	"Socket.TCP":                      "listen.tcp",
	"Socket.MaxConns":                 "listen.max_conns",
	"Socket.Password":                 "listen.password",
	"Socket.Username":                 "listen.username",
	"Socket.IdleTimeout":              "listen.idle_timeout",
	"Socket.ReadTimeout":              "listen.read_timeout",
	"Socket.WriteTimeout":             "listen.write_timeout",
	"Socket.MaxKeys":                  "limits.max_keys",
	"Socket.Timeout":                  "limits.timeout",
	"API.Prefix":                      "listen.api_prefix",
	"API.Timeout":                     "limits.timeout",
	"API.MaxKeys":                     "limits.max_keys",
	"Web.FCGI":                        "listen.fcgi",
	"Web.FCGIMode":                    "listen.fcgi_mode",
	"Web.HTTP":                        "listen.http",
	"Web.Pprof":                       "listen.pprof",
	// The HTTP server's timeouts are fields of a running http.Server,
	// which cannot change them safely; its write timeout also holds
	// limits.timeout.
	"Web.ReadTimeout":    "listen.read_timeout (with a web front)",
	"Web.WriteTimeout":   "listen.write_timeout or limits.timeout (with a web front)",
	"Web.IdleTimeout":    "listen.idle_timeout (with a web front)",
	"Streams.Tables":     "namespaces' stream",
	"Streams.Endpoint":   "dynamodb.streams_endpoint",
	"Audit.Sample":       "audit.sample",
	"Audit.MaxPerSecond": "audit.max_per_second",
	"Audit.Grace":        "audit.grace",
	"Log.Level":          "log.level",
	"Log.Format":         "log.format",
}

// reloadable are the Options fields Reload applies to the running daemon;
// a change of any other field is refused. Fields that are wiring (loggers,
// loaders, observers, metrics: pointers, funcs and interfaces) are not
// compared at all.
var reloadable = map[string]bool{
	"Engine.Namespaces": true, "Engine.MaxValueBytes": true, "Engine.GutterTTL": true,
	"Socket.MaxConns": true, "Socket.Password": true, "Socket.Username": true,
	"Socket.IdleTimeout": true, "Socket.ReadTimeout": true, "Socket.WriteTimeout": true,
	"Socket.MaxKeys": true, "Socket.Timeout": true,
	"API.Prefix": true, "API.Timeout": true, "API.MaxBodyBytes": true, "API.MaxKeys": true,
	"Streams.Tables": true, "Log.Level": true, "Log.Format": true,
	"Audit.Sample": true, "Audit.MaxPerSecond": true, "Audit.Grace": true,
}

// changedFields returns the paths of the fields that differ between a and
// b, sorted. Structs are compared field by field; slices, maps and
// scalars as a whole; pointers, funcs and interfaces (wiring) not at all.
func changedFields(a, b Options) []string {
	var out []string
	walk("", reflect.ValueOf(a), reflect.ValueOf(b), &out)
	sort.Strings(out)
	return out
}

func walk(path string, a, b reflect.Value, out *[]string) {
	switch a.Kind() {
	case reflect.Pointer, reflect.Func, reflect.Interface, reflect.Chan, reflect.UnsafePointer:
		return
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			f := a.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			p := f.Name
			if path != "" {
				p = path + "." + f.Name
			}
			walk(p, a.Field(i), b.Field(i), out)
		}
	default:
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			*out = append(*out, path)
		}
	}
}

// settingName is the operator's name of an Options field path.
func settingName(path string) string {
	if n, ok := settingNames[path]; ok {
		return n
	}
	return path
}

// names maps paths to setting names, without repeats, keeping order.
func names(paths []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range paths {
		if n := settingName(p); !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}
