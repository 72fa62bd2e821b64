// Package logx gives the agent the control plane's log format: JSON lines on stderr with
// "timestamp", "level" (info, warn, error, debug), "message" and "stage", so one log pipeline
// reads both. TRELLIS_LOG_LEVEL sets the level (default info); TRELLIS_LOG_FORMAT=text gives
// readable lines instead.
package logx

import (
	"io"
	"log/slog"
	"os"
	"strings"
	"time"
)

// New is the root logger, writing to w (the agent: stderr).
func New(w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	switch strings.ToLower(os.Getenv("TRELLIS_LOG_LEVEL")) {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: rename}
	if os.Getenv("TRELLIS_LOG_FORMAT") == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func rename(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.TimeKey:
		return slog.String("timestamp", a.Value.Time().UTC().Format(time.RFC3339Nano))
	case slog.MessageKey:
		a.Key = "message"
	case slog.LevelKey:
		l := a.Value.Any().(slog.Level)
		a.Value = slog.StringValue(strings.ToLower(l.String()))
		if l == slog.LevelWarn {
			a.Value = slog.StringValue("warn")
		}
	}
	return a
}
