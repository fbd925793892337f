package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sieve-project/sieve/internal/app"
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
	log := newLogger(e, cfg.Log.Level, cfg.Log.Format)
	fail := func(code int, err error) int { fmt.Fprintf(e.stderr, "sieve serve: %v\n", err); return code }
	if cfg.HTTP.Listen != "" {
		// The door's keys before the model: a door whose keys cannot be
		// read does not start (its policies are checked with the lists).
		if _, err := httpKeys(cfg, nil); err != nil {
			return fail(exitUsage, err)
		}
	}
	parts, err := app.Load(ctx, cfg, log)
	if err != nil {
		return fail(exitCode(err), err)
	}
	defer parts.Close()
	host, _ := os.Hostname()
	name := fmt.Sprintf("%s/%d", host, os.Getpid())
	conn, err := broker.Connect(ctx, cfg.NATS, cfg.Resolve(cfg.NATS.DataDir), "sieve "+name, log)
	if err != nil {
		return fail(exitFailure, err)
	}
	defer conn.Close()
	cons, err := conn.Setup(ctx, cfg.Queue, cfg.NATS.Replicas)
	if err != nil {
		return fail(exitFailure, err)
	}
	// Every address binds before the worker takes a job, so a taken one
	// stops the start, not a worker with jobs in hand.
	l, err := listen(ctx, parts, conn, log)
	if err != nil {
		return fail(exitUsage, err)
	}
	defer l.stop()
	w, err := parts.StartWorker(ctx, conn, cons, app.WorkerOptions{Name: name, Metrics: l.metrics})
	if err != nil {
		return fail(exitFailure, err)
	}
	l.start(w)
	log.Info("serving", "nats", cmp.Or(conn.ClientURL(), config.RedactURL(cfg.NATS.URL)), "prefix", cfg.NATS.Prefix)
	waitServing(ctx, cfg, parts.Filters, l.door, log)
	drain(cfg, w, l.door, log)
	log.Info("stopped")
	return exitOK
}

// exitCode is the exit status for a failed start: bad lists or no model
// are the operator's to fix (usage), a model that will not load a failure.
func exitCode(err error) int {
	if errors.Is(err, app.ErrLists) || errors.Is(err, app.ErrNoModel) {
		return exitUsage
	}
	return exitFailure
}

// listeners are serve's HTTP sides: metrics and health, and the
// OpenAI door, bound before the worker starts and served after.
type listeners struct {
	metrics     *metrics.Metrics
	worker      atomic.Pointer[worker.Worker] // for readiness, once it runs
	door        *gateway.Gateway
	doorLn      net.Listener
	doorServing bool // Start took doorLn
	stopMetrics context.CancelFunc
	waitMetrics func() error
	log         *slog.Logger
}

func listen(ctx context.Context, p *app.Parts, conn *broker.Conn, log *slog.Logger) (*listeners, error) {
	cfg := p.Config
	l := &listeners{log: log, stopMetrics: func() {}}
	if cfg.Metrics.Listen != "" {
		l.metrics = metrics.New(p.Slots())
		l.metrics.WatchNATS(conn.NC.IsConnected)
		for _, d := range engine.InUse(p.Engine.Info().Devices) {
			l.metrics.Backend(d.Name, string(d.Type), d.Variant, d.Library, d.Features)
		}
		// Served until the drain is over, so probes see it; not ready
		// until the worker runs.
		mctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		wait, err := l.metrics.Serve(mctx, cfg.Metrics.Listen, metrics.Checks{
			Healthy: func() error {
				if !conn.NC.IsConnected() {
					return errors.New("NATS is not connected")
				}
				return nil // the model is loaded: serve starts after it
			},
			Ready: func() error {
				if w := l.worker.Load(); w != nil {
					return w.Ready()
				}
				return errors.New("starting")
			},
		})
		if err != nil {
			stop()
			return nil, fmt.Errorf("metrics.listen %s: %w", cfg.Metrics.Listen, err)
		}
		l.stopMetrics, l.waitMetrics = stop, wait
		log.Info("metrics", "url", "http://"+cfg.Metrics.Listen+"/metrics")
	}
	if cfg.HTTP.Listen != "" {
		var err error
		if l.door, l.doorLn, err = openDoor(cfg, conn, p.Filters.CheckPolicy, log); err != nil {
			l.stop()
			return nil, err
		}
	}
	return l, nil
}

// start serves what waited for the worker.
func (l *listeners) start(w *worker.Worker) {
	l.worker.Store(w)
	if l.door != nil {
		l.door.Start(l.doorLn)
		l.doorServing = true
		l.log.Info("http", "url", "http://"+l.doorLn.Addr().String()+"/v1")
	}
}

// stop ends the metrics server and waits for it.
func (l *listeners) stop() {
	l.stopMetrics()
	if l.waitMetrics != nil {
		if err := l.waitMetrics(); err != nil {
			l.log.Warn("metrics server", "err", err)
		}
	}
	if l.doorLn != nil && !l.doorServing { // the start failed after the bind
		l.doorLn.Close()
	}
}

// waitServing serves until ctx ends; SIGHUP rereads the configuration
// file once for the lists (when filters is not nil) and the door's keys
// (when door is not nil). A failed reload keeps what is in force.
func waitServing(ctx context.Context, cfg config.Config, filters *pipeline.Filters, door *gateway.Gateway, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var policies func(string) error // a gateway alone has no lists to check keys against
	if filters != nil {
		policies = filters.CheckPolicy
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if cfg.File == "" {
				log.Warn("SIGHUP: no configuration file to reload from")
				continue
			}
			fresh, err := config.Load(cfg.File)
			if err != nil {
				log.Error("reload failed; the old lists and keys stay in force", "err", err)
				continue
			}
			if filters != nil {
				reloadLists(fresh, filters, log)
			}
			if door != nil {
				reloadKeys(fresh, door, policies, log)
			}
		}
	}
}

// drain stops the worker and the door within queue.drain_timeout. A
// second signal ends the process at once (listened for before the drain
// is announced, so no signal falls between).
func drain(cfg config.Config, w *worker.Worker, door *gateway.Gateway, log *slog.Logger) {
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(again)
	log.Info("draining", "timeout", cfg.Queue.DrainTimeout.Duration)
	go func() {
		<-again
		log.Warn("second signal: exiting now")
		os.Exit(exitFailure)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Queue.DrainTimeout.Duration)
	defer cancel()
	// The door waits for its requests' results while the worker finishes
	// their jobs; once the worker is done, what still waits (jobs no
	// worker here will take) is cut short a moment later.
	doorCtx, cutDoor := context.WithCancel(ctx)
	defer cutDoor()
	doorDone := make(chan struct{})
	go func() {
		defer close(doorDone)
		if door != nil {
			door.Shutdown(doorCtx)
		}
	}()
	w.Shutdown(ctx)
	time.AfterFunc(time.Second, cutDoor) // results stored in the last moment still reach their clients
	<-doorDone
}

// reloadLists puts fresh's lists in force; running jobs keep the lists
// they started with, and lists that do not compile keep the old ones.
func reloadLists(fresh config.Config, filters *pipeline.Filters, log *slog.Logger) {
	if err := filters.Reload(fresh); err != nil {
		log.Error("reload failed; the old lists stay in force", "err", err)
		return
	}
	log.Info("filter lists reloaded", "policies", filters.Policies())
}
