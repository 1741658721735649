package main

import (
	"flag"
	"io"
	"log/slog"
)

// Log formats of the daemon roles (--log-format).
const (
	logText = "text" // slog's key=value lines
	logJSON = "json" // one JSON object a line, for log collectors
)

// registerDaemonFlags adds the flags every daemon role has beyond its
// own: --log-format, and --config when withConfig. It returns where the
// log format lands.
func registerDaemonFlags(fs *flag.FlagSet, withConfig bool) *string {
	if withConfig {
		fs.String(configFlag, "", "TOML `file` setting flags by their long names (command-line flags and REACHD_* variables beat it)")
	}
	return fs.String("log-format", logText, "log `format`: text or json")
}

// newLogger is the daemon's logger at level, in format (text or json).
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case logText:
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case logJSON:
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("--log-format %q: want %s or %s", format, logText, logJSON)
}
