// Package logging builds the structured logger every latchkey server uses:
// log/slog underneath, exposed as a logr.Logger for controller-runtime and
// client-go. Values are never logged anywhere in latchkey; this package only
// decides format and level.
package logging

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// Options select the format and the level.
type Options struct {
	// Level is debug, info, warn or error.
	Level string
	// Format is json or text.
	Format string
}

// DefaultOptions are the servers' flag defaults: info, as JSON.
func DefaultOptions() Options { return Options{Level: "info", Format: "json"} }

// BindFlags registers --log-level and --log-format on fs.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Level, "log-level", o.Level, "debug, info, warn or error")
	fs.StringVar(&o.Format, "log-format", o.Format, "json or text")
}

// Validate checks the level and the format.
func (o Options) Validate() error {
	_, err := New(io.Discard, o)
	return err
}

// New returns a logger writing to w.
func New(w io.Writer, o Options) (logr.Logger, error) {
	var level slog.Level
	switch strings.ToLower(o.Level) {
	case "debug":
		level = slog.LevelDebug
	case "", "info":
		level = slog.LevelInfo
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		return logr.Logger{}, fmt.Errorf("log level %q: want debug, info, warn or error", o.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch strings.ToLower(o.Format) {
	case "", "json":
		h = slog.NewJSONHandler(w, opts)
	case "text":
		h = slog.NewTextHandler(w, opts)
	default:
		return logr.Logger{}, fmt.Errorf("log format %q: want json or text", o.Format)
	}
	return logr.FromSlogHandler(h), nil
}

// SetProcessLogger makes log the logger of everything in the process that
// logs on its own: controller-runtime and, through klog, client-go and leader
// election. Only a main function calls it, once, before starting anything:
// the loggers it sets are process-wide and not safe to swap while in use.
func SetProcessLogger(log logr.Logger) {
	ctrllog.SetLogger(log)
	klog.SetLogger(log)
}
