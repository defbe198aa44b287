package pipelinetest

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// EnvLogLevel sets the level of the Runner's log in the test log: debug,
// info, warn (the default) or error.
const EnvLogLevel = "ATTRIBUTOR_TEST_LOG"

// testLog sends a Runner's log lines to the test log until the test ends;
// later lines (from goroutines still stopping) are dropped, since logging
// after a test completed panics.
type testLog struct {
	t       testing.TB
	mu      sync.Mutex
	stopped bool
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped {
		l.t.Log(strings.TrimSuffix(string(bytes.Clone(p)), "\n"))
	}
	return len(p), nil
}

func (l *testLog) stop() {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
}

func (l *testLog) logger() *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(getenv(EnvLogLevel, "warn"))); err != nil {
		level = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: level}))
}
