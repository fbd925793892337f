package app_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/sieve-project/sieve/internal/app"
	"github.com/sieve-project/sieve/internal/config"
	"github.com/sieve-project/sieve/internal/modelgen"
	"github.com/sieve-project/sieve/internal/sievetest"
)

func TestLoadSaysWhatToFix(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	cfg := config.Default()
	if _, err := app.Load(context.Background(), cfg, quiet); !errors.Is(err, app.ErrNoModel) {
		t.Fatalf("no model: %v", err)
	}
	// Lists are checked before the model loads: a broken list costs no
	// load, and says so.
	cfg.Model.Path = "/nonexistent.gguf"
	cfg.Filter.Lists = []config.List{{Name: "x", Action: "redact", Words: []string{""}}}
	_, err := app.Load(context.Background(), cfg, quiet)
	if !errors.Is(err, app.ErrLists) || !strings.Contains(err.Error(), "empty entry") {
		t.Fatalf("bad list: %v", err)
	}
}

// The slots the worker and metrics are given are the engine's.
func TestSlotsAreTheEngines(t *testing.T) {
	p := sievetest.Generator(t, sievetest.Options{Model: modelgen.Scripted{Pieces: []string{"a"}}, Parallel: 3})
	if p.Slots() != 3 || p.Engine.Info().Parallel != 3 {
		t.Fatalf("slots %d, engine %d", p.Slots(), p.Engine.Info().Parallel)
	}
	if v := app.Version(); v == "" || strings.ContainsAny(v, " \n") {
		t.Fatalf("version %q", v)
	}
}
