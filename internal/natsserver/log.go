package natsserver

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
)

// logAdapter routes nats-server logging (server.Logger) to slog. A fatal message is logged as
// an error and remembered, so that Start can report it: nats-server calls Fatalf when it cannot
// bind its port or enable JetStream, and with a custom logger it then just stops trying.
type logAdapter struct {
	log *slog.Logger

	once  sync.Once
	fatal chan struct{} // closed on the first Fatalf
	err   error         // the first fatal message; read after fatal is closed
}

func newLogAdapter(l *slog.Logger) *logAdapter {
	return &logAdapter{log: l, fatal: make(chan struct{})}
}

func (a *logAdapter) Noticef(format string, v ...any) { a.logf(slog.LevelInfo, format, v) }
func (a *logAdapter) Warnf(format string, v ...any)   { a.logf(slog.LevelWarn, format, v) }
func (a *logAdapter) Errorf(format string, v ...any)  { a.logf(slog.LevelError, format, v) }
func (a *logAdapter) Debugf(format string, v ...any)  { a.logf(slog.LevelDebug, format, v) }
func (a *logAdapter) Tracef(format string, v ...any)  { a.logf(slog.LevelDebug-4, format, v) }

func (a *logAdapter) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	a.log.Error(msg, "fatal", true)
	a.once.Do(func() {
		a.err = fmt.Errorf("natsserver: %s", msg)
		close(a.fatal)
	})
}

func (a *logAdapter) logf(level slog.Level, format string, v []any) {
	if !a.log.Enabled(context.Background(), level) {
		return
	}
	a.log.Log(context.Background(), level, fmt.Sprintf(format, v...))
}

// debugEnabled reports whether nats-server should produce debug messages at all.
func (a *logAdapter) debugEnabled() bool {
	return a.log.Enabled(context.Background(), slog.LevelDebug)
}
