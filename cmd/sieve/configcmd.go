package main

import (
	"context"
	"fmt"
	"os"

	"github.com/sieve-project/sieve/internal/app"
	"github.com/sieve-project/sieve/internal/config"
	"github.com/sieve-project/sieve/internal/policy"
)

func runConfig(_ context.Context, e env, args []string) int {
	if len(args) == 1 && args[0] == "example" {
		fmt.Fprint(e.stdout, config.Example)
		return exitOK
	}
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintln(e.stderr, "Usage: sieve config check FILE | sieve config example")
		return exitUsage
	}
	fs := newFlagSet(e, "config check", "FILE")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return flagError(err)
	}
	if len(pos) != 1 {
		fs.Usage()
		return exitUsage
	}
	cfg, err := config.Load(pos[0])
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitUsage
	}
	// The lists must compile, the HTTP door's keys load (with policies
	// that exist) and the model exist, or the daemon would fail at start;
	// say so now.
	failed := false
	pols, err := policy.Load(cfg)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		failed = true
	} else if err := app.CheckKeys(cfg, pols); err != nil {
		fmt.Fprintln(e.stderr, err)
		failed = true
	}
	if p := cfg.Resolve(cfg.Model.Path); p != "" {
		if _, err := os.Stat(p); err != nil {
			fmt.Fprintf(e.stderr, "%s: model.path: %v\n", pos[0], err)
			failed = true
		}
	}
	if failed {
		return exitUsage
	}
	fmt.Fprintf(e.stdout, "%s: ok\n", pos[0])
	return exitOK
}
