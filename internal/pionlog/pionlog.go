// Package pionlog routes pion's leveled loggers into log/slog, so the TURN
// server and client log through the logger reachd was given.
package pionlog

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// levelTrace is below slog.LevelDebug: pion's per-packet trace output.
const levelTrace = slog.LevelDebug - 4

// Factory routes pion's leveled loggers into slog. Each pion scope
// ("turn", "turnc", ...) becomes a "scope" attribute. Formatting is skipped
// when the level is disabled, which matters because pion logs every packet at
// debug level.
type Factory struct{ log *slog.Logger }

// New returns a pion LoggerFactory that logs to log.
func New(log *slog.Logger) Factory { return Factory{log: log} }

var (
	_ logging.LoggerFactory = Factory{}
	_ logging.LeveledLogger = pionLogger{}
)

// NewLogger is a logger for one pion scope.
func (f Factory) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{log: f.log.With("scope", scope)}
}

type pionLogger struct{ log *slog.Logger }

func (l pionLogger) emit(level slog.Level, msg string) {
	l.log.Log(context.Background(), level, msg)
}

func (l pionLogger) emitf(level slog.Level, format string, args ...any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
}

func (l pionLogger) Trace(msg string)                  { l.emit(levelTrace, msg) }
func (l pionLogger) Tracef(format string, args ...any) { l.emitf(levelTrace, format, args...) }
func (l pionLogger) Debug(msg string)                  { l.emit(slog.LevelDebug, msg) }
func (l pionLogger) Debugf(format string, args ...any) { l.emitf(slog.LevelDebug, format, args...) }
func (l pionLogger) Info(msg string)                   { l.emit(slog.LevelInfo, msg) }
func (l pionLogger) Infof(format string, args ...any)  { l.emitf(slog.LevelInfo, format, args...) }
func (l pionLogger) Warn(msg string)                   { l.emit(slog.LevelWarn, msg) }
func (l pionLogger) Warnf(format string, args ...any)  { l.emitf(slog.LevelWarn, format, args...) }
func (l pionLogger) Error(msg string)                  { l.emit(slog.LevelError, msg) }
func (l pionLogger) Errorf(format string, args ...any) { l.emitf(slog.LevelError, format, args...) }
