package main

import (
	"context"
	"fmt"
	"runtime"
	"strings"

	"github.com/sieve-project/sieve/internal/app"
	"github.com/sieve-project/sieve/internal/engine"
)

func runVersion(_ context.Context, e env, args []string) int {
	fs := newFlagSet(e, "version", "")
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	newLogger(e, "warn", "text") // the binding's start-up chatter goes to debug
	fmt.Fprintf(e.stdout, "sieve %s\nllama.cpp %s\n%s %s/%s\n", app.Version(), engine.LlamaCommit(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	for _, d := range engine.Devices() {
		fmt.Fprintf(e.stdout, "backend %s (%s): %s", d.Name, d.Type, d.Description)
		if d.Variant != "" {
			fmt.Fprintf(e.stdout, ", variant %s", d.Variant)
		}
		if d.Library != "" {
			fmt.Fprintf(e.stdout, ", from %s", d.Library)
		}
		if len(d.Features) > 0 {
			fmt.Fprintf(e.stdout, ", features %s", strings.Join(d.Features, " "))
		}
		fmt.Fprintln(e.stdout)
	}
	fmt.Fprintf(e.stdout, "cuda %s\n", engine.CUDAStatus())
	return exitOK
}
