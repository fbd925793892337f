package worker_test

import (
	"log/slog"
	"os"
	"testing"
)

// TestMain quiets llama.cpp: the binding prints its log lines when the
// default slog logger is enabled at their level.
func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn + 100})))
	os.Exit(m.Run())
}
