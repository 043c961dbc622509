package main

import (
	"io"
	"log/slog"
	"strings"
)

// sensitiveKeys are attribute names whose values never reach a log: the
// guard replaces them whatever their type, so a careless call site cannot
// log a key, a token or a prompt.
var sensitiveKeys = []string{"authorization", "token", "key", "secret", "password", "prompt", "content", "messages", "body", "cookie"}

// scrub is the slog ReplaceAttr guard.
func scrub(_ []string, a slog.Attr) slog.Attr {
	k := strings.ToLower(a.Key)
	for _, s := range sensitiveKeys {
		if strings.Contains(k, s) {
			return slog.String(a.Key, "[REDACTED]")
		}
	}
	return a
}

func newLogger(w io.Writer, cfg LogConfig) *slog.Logger {
	opts := &slog.HandlerOptions{ReplaceAttr: scrub, Level: parseLevel(cfg.Level)}
	if cfg.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func parseLevel(s string) slog.Level {
	var l slog.Level
	if l.UnmarshalText([]byte(s)) != nil {
		return slog.LevelInfo
	}
	return l
}
