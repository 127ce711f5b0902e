package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
)

// LogOptions say how the daemon logs; both can change on Reload.
type LogOptions struct {
	// Level is the lowest level written.
	Level slog.Level
	// Format is "text" (or "") or "json".
	Format string
}

// check validates the format.
func (o LogOptions) check() error {
	switch strings.ToLower(o.Format) {
	case "", "text", "json":
		return nil
	}
	return fmt.Errorf("daemon: bad log format %q (want text or json)", o.Format)
}

// logSwitch is a slog.Handler whose level and format change on Reload.
// The loggers handed to the engine and the fronts keep working across a
// reload: each record goes to the handler of the current format, with
// the attributes and groups the logger was derived with.
type logSwitch struct {
	out   io.Writer
	level *slog.LevelVar
	inner *atomic.Pointer[slog.Handler]
	// derive replays WithAttrs/WithGroup on the current inner handler.
	derive []func(slog.Handler) slog.Handler
}

// newLogSwitch returns a handler writing to out with o.
func newLogSwitch(out io.Writer, o LogOptions) *logSwitch {
	s := &logSwitch{out: out, level: &slog.LevelVar{}, inner: &atomic.Pointer[slog.Handler]{}}
	s.set(o)
	return s
}

// set switches the level and format.
func (s *logSwitch) set(o LogOptions) {
	s.level.Set(o.Level)
	hopts := &slog.HandlerOptions{Level: s.level}
	var h slog.Handler = slog.NewTextHandler(s.out, hopts)
	if strings.EqualFold(o.Format, "json") {
		h = slog.NewJSONHandler(s.out, hopts)
	}
	s.inner.Store(&h)
}

// Enabled implements slog.Handler.
func (s *logSwitch) Enabled(_ context.Context, l slog.Level) bool { return l >= s.level.Level() }

// Handle implements slog.Handler.
func (s *logSwitch) Handle(ctx context.Context, r slog.Record) error {
	h := *s.inner.Load()
	for _, d := range s.derive {
		h = d(h)
	}
	return h.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (s *logSwitch) WithAttrs(attrs []slog.Attr) slog.Handler {
	return s.with(func(h slog.Handler) slog.Handler { return h.WithAttrs(attrs) })
}

// WithGroup implements slog.Handler.
func (s *logSwitch) WithGroup(name string) slog.Handler {
	return s.with(func(h slog.Handler) slog.Handler { return h.WithGroup(name) })
}

func (s *logSwitch) with(d func(slog.Handler) slog.Handler) *logSwitch {
	c := *s
	c.derive = append(append([]func(slog.Handler) slog.Handler(nil), s.derive...), d)
	return &c
}
