package akvemu

import (
	"log/slog"
	"testing"
)

// testLogger sends the emulator's logs to the test log at warning level, so
// failures show what the emulator saw without drowning passing runs.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// testWriter adapts testing.TB to io.Writer.
type testWriter struct{ t testing.TB }

// Write logs one line to the test.
func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}
