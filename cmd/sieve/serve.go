package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/sieve-project/sieve/internal/app"
)

func runServe(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "serve", "[flags]")
	cfgPath := fs.String("config", "", "configuration `file` (TOML)")
	model := fs.String("model", "", "GGUF model `path` (overrides model.path)")
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	cfg, ok := loadModelConfig(e, "serve", *cfgPath, *model)
	if !ok {
		return exitUsage
	}
	if err := app.Serve(ctx, cfg, newLogger(e, cfg.Log.Level, cfg.Log.Format)); err != nil {
		fmt.Fprintf(e.stderr, "sieve serve: %v\n", err)
		return exitCode(err)
	}
	return exitOK
}

// exitCode is the exit status for a failed start: a setting the operator
// fixes (lists, no model, keys, a taken address) is usage, a model that
// will not load or a server out of reach a failure.
func exitCode(err error) int {
	if errors.Is(err, app.ErrLists) || errors.Is(err, app.ErrNoModel) || errors.Is(err, app.ErrSetting) {
		return exitUsage
	}
	return exitFailure
}
