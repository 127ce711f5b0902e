package daemon

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ddbcache/ddbcache/cache"
)

// ErrNotReloadable means Reload was given options that change settings a
// running daemon cannot take (listen addresses, Redis, DynamoDB…); the
// error names them, and nothing was changed.
var ErrNotReloadable = errors.New("daemon: settings that need a restart changed")

// Reload applies opts to the running daemon, all or nothing: it checks
// every setting first and changes nothing when one is refused or invalid.
// What can change live: the namespaces (added, removed, their TTLs,
// jitter, negative TTL, stale-if-error, and which tables' streams are
// consumed), the log level and format, the limits (max_value_bytes,
// gutter_ttl, the request timeout, max_keys, max_conns, the RESP
// connections' idle/read/write timeouts), the API prefix, the
// consistency audit's sample, rate cap and grace, and the RESP
// socket's username and password (see unixsock.Server.Reconfigure for open
// connections). Any other change (socket paths and modes, TCP, HTTP and
// FastCGI addresses, Redis addresses and credentials, the client-side
// cache, DynamoDB endpoint, region and credentials, load_timeout) is
// refused with ErrNotReloadable naming each, and logged on one line.
// Reload logs what it changed.
func (d *Daemon) Reload(opts Options) error {
	d.reload.Lock()
	defer d.reload.Unlock()
	select {
	case <-d.done:
		return errors.New("daemon: reload after shutdown")
	default:
	}
	changed := changes(d.given, opts)
	if refused := refusedFields(changed); len(refused) > 0 {
		n := names(refused)
		d.log.Error("configuration not reloaded: these settings need a restart; the running configuration stays", "settings", strings.Join(n, ", "))
		return fmt.Errorf("%w: %s", ErrNotReloadable, strings.Join(n, ", "))
	}
	start, err := d.checkReload(opts, changed)
	if err != nil {
		d.log.Error("configuration not reloaded; the running configuration stays", "err", err)
		return err
	}
	if err := d.apply(opts, start); err != nil {
		d.log.Error("configuration not reloaded; the running configuration stays", "err", err)
		return err
	}
	d.given = opts
	what := strings.Join(names(changed), ", ")
	if what == "" {
		what = "nothing"
	}
	d.log.Info("configuration reloaded", "changed", what)
	return nil
}

// checkReload validates what Reload will apply, so that applying cannot
// fail halfway. It builds the new Streams consumer when the streamed
// tables changed and returns the function that starts it (nil when they
// did not change).
func (d *Daemon) checkReload(opts Options, changed []string) (func(), error) {
	if err := cache.CheckNamespaces(opts.Engine.Namespaces); err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	if opts.Engine.MaxValueBytes < 0 {
		return nil, fmt.Errorf("daemon: max_value_bytes must not be negative, got %d", opts.Engine.MaxValueBytes)
	}
	if d.logs != nil {
		if err := opts.Log.check(); err != nil {
			return nil, err
		}
	}
	if err := opts.Audit.Check(); err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	for _, p := range changed {
		if p == "Streams.Tables" {
			return d.newStreams(d.ctx, opts)
		}
	}
	return nil, nil
}

// apply changes the running parts to opts; checkReload has validated it.
// The API handler is reconfigured first because its prefix check is the
// one step that can still refuse, before anything else has changed.
func (d *Daemon) apply(opts Options, startStreams func()) error {
	if d.api != nil {
		if err := d.api.Reconfigure(opts.API); err != nil {
			return fmt.Errorf("daemon: %w", err)
		}
	}
	if err := d.engine.SetNamespaces(opts.Engine.Namespaces); err != nil {
		return fmt.Errorf("daemon: %w", err) // checked: cannot happen
	}
	if err := d.engine.SetLimits(cache.Limits{MaxValueBytes: opts.Engine.MaxValueBytes, GutterTTL: opts.Engine.GutterTTL}); err != nil {
		return fmt.Errorf("daemon: %w", err) // checked: cannot happen
	}
	d.sock.Reconfigure(opts.Socket)
	d.audit.Reconfigure(opts.Audit)
	if d.logs != nil {
		d.logs.set(opts.Log)
	}
	if startStreams != nil {
		d.streams() // the old consumer stops; its checkpoints stay in Redis
		startStreams()
	}
	return nil
}

// Refused names the settings that differ between old and new and that a
// running daemon cannot take: a Reload from old to new is refused with
// ErrNotReloadable naming them. The configuration's settings table keeps
// a reload column of its own, and a test checks that the two agree.
func Refused(old, new Options) []string {
	return names(refusedFields(changes(old, new)))
}

// changes are the paths of the Options fields that differ; without a web
// front (before or after) its timeouts do not matter.
func changes(old, new Options) []string {
	changed := changedFields(old, new)
	if !hasWeb(old) && !hasWeb(new) {
		changed = dropPrefix(changed, "Web.")
	}
	return changed
}

// refusedFields are the paths in changed that Reload cannot apply.
func refusedFields(changed []string) []string {
	var refused []string
	for _, p := range changed {
		if !reloadable[p] {
			refused = append(refused, p)
		}
	}
	return refused
}

// hasWeb reports whether opts have a FastCGI or HTTP front.
func hasWeb(opts Options) bool { return opts.Web.FCGI != "" || opts.Web.HTTP != "" }

// dropPrefix returns paths without those starting with prefix.
func dropPrefix(paths []string, prefix string) []string {
	out := paths[:0:0]
	for _, p := range paths {
		if !strings.HasPrefix(p, prefix) {
			out = append(out, p)
		}
	}
	return out
}
