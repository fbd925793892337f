package main

import (
	"cmp"
	"context"
	"fmt"

	"github.com/sieve-project/sieve/internal/app"
)

func runGateway(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "gateway", "[flags]")
	var (
		cfgPath = fs.String("config", "", "configuration `file` ([http], [nats], queue.max_payload)")
		server  = fs.String("server", "", "NATS `URL` of the workers (default nats.url, or nats://nats.listen)")
		listen  = fs.String("listen", "", "HTTP `address` (default http.listen, or 127.0.0.1:8080)")
	)
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	cfg, ok := loadConfig(e, *cfgPath)
	if !ok {
		return exitUsage
	}
	cfg.HTTP.Listen = cmp.Or(*listen, cfg.HTTP.Listen, "127.0.0.1:8080")
	cfg.NATS.URL = cmp.Or(*server, cfg.NATS.URL, "nats://"+cfg.NATS.Listen)
	log := newLogger(e, cfg.Log.Level, cfg.Log.Format)
	if err := app.ServeGateway(ctx, cfg, log); err != nil {
		fmt.Fprintf(e.stderr, "sieve gateway: %v\n", err)
		return exitCode(err)
	}
	return exitOK
}
