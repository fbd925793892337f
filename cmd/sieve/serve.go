package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sieve-project/sieve/internal/broker"
	"github.com/sieve-project/sieve/internal/config"
	"github.com/sieve-project/sieve/internal/engine"
	"github.com/sieve-project/sieve/internal/gateway"
	"github.com/sieve-project/sieve/internal/metrics"
	"github.com/sieve-project/sieve/internal/pipeline"
	"github.com/sieve-project/sieve/internal/worker"
)

func runServe(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "serve", "[flags]")
	var (
		cfgPath = fs.String("config", "", "configuration `file` (TOML)")
		model   = fs.String("model", "", "GGUF model `path` (overrides model.path)")
	)
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
	log := newLogger(e, cfg.Log.Level, cfg.Log.Format)
	filters, err := pipeline.LoadFilters(cfg)
	if err != nil {
		fmt.Fprintf(e.stderr, "sieve serve: %v\n", err)
		return exitUsage
	}

	eng, err := engine.Load(ctx, engineConfig(cfg.Model), engine.WithLogger(log))
	if err != nil {
		fmt.Fprintf(e.stderr, "sieve serve: %v\n", err)
		return exitFailure
	}
	defer eng.Close()

	host, _ := os.Hostname()
	name := fmt.Sprintf("%s/%d", host, os.Getpid())
	conn, err := broker.Connect(ctx, cfg.NATS, cfg.Resolve(cfg.NATS.DataDir), "sieve "+name, log)
	if err != nil {
		fmt.Fprintf(e.stderr, "sieve serve: %v\n", err)
		return exitFailure
	}
	defer conn.Close()
	cons, err := conn.Setup(ctx, cfg.Queue, cfg.NATS.Replicas)
	if err != nil {
		fmt.Fprintf(e.stderr, "sieve serve: %v\n", err)
		return exitFailure
	}
	var m *metrics.Metrics
	if cfg.Metrics.Listen != "" {
		m = metrics.New(cfg.Model.Parallel)
		m.WatchNATS(conn.NC.IsConnected)
		for _, d := range engine.InUse(eng.Info().Devices) {
			m.Backend(d.Name, string(d.Type), d.Variant, d.Library, d.Features)
		}
	}
	// The door binds before the worker takes jobs, so a taken address
	// stops the start rather than a running worker.
	var (
		door   *gateway.Gateway
		doorLn net.Listener
	)
	policies := func(name string) error { _, err := filters.Policy(name); return err }
	if cfg.HTTP.Listen != "" {
		if door, doorLn, err = openDoor(cfg, conn, policies, log); err != nil {
			fmt.Fprintf(e.stderr, "sieve serve: %v\n", err)
			return exitUsage
		}
	}
	w, err := worker.Start(ctx, worker.Config{
		Metrics:  m,
		Conn:     conn,
		Consumer: cons,
		Runner:   &pipeline.Runner{Engine: eng, Filters: filters, Defaults: cfg.Generate, Limits: pipeline.Limits(cfg.Generate, cfg.Queue), Log: log},
		Queue:    cfg.Queue,
		Parallel: cfg.Model.Parallel,
		Name:     name,
		Version:  strings.TrimPrefix(currentVersion(), "v"),
		Log:      log,
	})
	if err != nil {
		fmt.Fprintf(e.stderr, "sieve serve: %v\n", err)
		return exitFailure
	}
	if m != nil {
		// Served until the drain is over, so probes see it.
		mctx, stopMetrics := context.WithCancel(context.Background())
		defer stopMetrics()
		_, err := m.Serve(mctx, cfg.Metrics.Listen, metrics.Checks{
			Healthy: func() error {
				if !conn.NC.IsConnected() {
					return errors.New("NATS is not connected")
				}
				return nil // the model is loaded: serve starts after it
			},
			Ready: w.Ready,
		})
		if err != nil {
			fmt.Fprintf(e.stderr, "sieve serve: metrics.listen %s: %v\n", cfg.Metrics.Listen, err)
			ctx2, cancel := context.WithTimeout(context.Background(), cfg.Queue.DrainTimeout.Duration)
			defer cancel()
			w.Shutdown(ctx2)
			return exitFailure
		}
		log.Info("metrics", "url", "http://"+cfg.Metrics.Listen+"/metrics")
	}
	if door != nil {
		door.Start(doorLn)
		log.Info("http", "url", "http://"+doorLn.Addr().String()+"/v1", "model", modelName(cfg))
	}
	if u := conn.ClientURL(); u != "" {
		log.Info("serving", "nats", u, "prefix", cfg.NATS.Prefix)
	} else {
		log.Info("serving", "nats", config.RedactURL(cfg.NATS.URL), "prefix", cfg.NATS.Prefix)
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-hup:
			reloadLists(cfg, filters, log)
			if door != nil {
				reloadKeys(cfg, door, policies, log)
			}
		}
	}

	// Drain. A second signal ends the process at once (listened for
	// before the drain is announced, so no signal falls between).
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(again)
	log.Info("draining", "timeout", cfg.Queue.DrainTimeout.Duration)
	go func() {
		<-again
		log.Warn("second signal: exiting now")
		os.Exit(exitFailure)
	}()
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.Queue.DrainTimeout.Duration)
	defer cancel()
	// The door waits for its requests' results while the worker
	// finishes their jobs; once the worker is done, what still waits
	// (jobs no worker here will take) is cut short a moment later.
	dctx, cutDoor := context.WithCancel(drainCtx)
	defer cutDoor()
	doorDone := make(chan struct{})
	go func() {
		defer close(doorDone)
		if door != nil {
			door.Shutdown(dctx)
		}
	}()
	w.Shutdown(drainCtx)
	time.AfterFunc(time.Second, cutDoor) // results stored in the last moment still reach their clients
	<-doorDone
	log.Info("stopped")
	return exitOK
}

// reloadLists rereads the configuration file's lists; running jobs keep
// the lists they started with, and a failed reload keeps the old ones.
func reloadLists(cfg config.Config, filters *pipeline.Filters, log *slog.Logger) {
	if cfg.File == "" {
		log.Warn("SIGHUP: no configuration file to reload lists from")
		return
	}
	fresh, err := config.Load(cfg.File)
	if err == nil {
		err = filters.Reload(fresh)
	}
	if err != nil {
		log.Error("reload failed; the old lists stay in force", "err", err)
		return
	}
	log.Info("filter lists reloaded", "policies", filters.Policies())
}
