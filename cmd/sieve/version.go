package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/sieve-project/sieve/engine"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise the module version from the build info is used.
var version = ""

func runVersion(_ context.Context, e env, args []string) int {
	fs := newFlagSet(e, "version", "")
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	fmt.Fprintf(e.stdout, "sieve %s\nllama.cpp %s\n%s %s/%s\n", currentVersion(), engine.LlamaCommit(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitOK
}

func currentVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "0.1.0-dev" // SemVer: the NATS micro service insists
}
