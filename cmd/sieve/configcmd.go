package main

import (
	"context"
	"fmt"

	"github.com/sieve-project/sieve/config"
)

func runConfig(_ context.Context, e env, args []string) int {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintln(e.stderr, "Usage: sieve config check FILE")
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
	if _, err := config.Load(pos[0]); err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitUsage
	}
	fmt.Fprintf(e.stdout, "%s: ok\n", pos[0])
	return exitOK
}
