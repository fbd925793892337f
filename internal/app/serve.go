package app

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

	"github.com/sieve-project/sieve/internal/broker"
	"github.com/sieve-project/sieve/internal/config"
	"github.com/sieve-project/sieve/internal/engine"
	"github.com/sieve-project/sieve/internal/gateway"
	"github.com/sieve-project/sieve/internal/metrics"
	"github.com/sieve-project/sieve/internal/worker"
)

// ExitNow is the exit status of a process that a second signal ends
// during the drain.
const ExitNow = 1

// Serve is sieve serve from start to drain: it loads cfg's lists and
// model (cfg.Model.Path resolved), connects to NATS (or starts the
// embedded server) and sets up its streams, binds the metrics and HTTP
// addresses, and only then starts the worker, so that a failed start
// never leaves a job half done. It serves until ctx ends: SIGHUP rereads
// the configuration file for the lists and the door's keys. Then it
// drains within queue.drain_timeout (a second SIGINT or SIGTERM exits the
// process at once, with ExitNow) and returns nil.
//
// A start that fails on a setting the operator fixes returns an error
// that is ErrNoModel, ErrLists or ErrSetting.
func Serve(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	if cfg.HTTP.Listen != "" {
		// The door's keys before the model: a door whose keys cannot be
		// read does not start (their policies are checked with the lists).
		if _, err := httpKeys(cfg, nil); err != nil {
			return settingError{ErrSetting, err}
		}
	}
	gen, err := Load(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer gen.Close()
	host, _ := os.Hostname()
	name := fmt.Sprintf("%s/%d", host, os.Getpid())
	conn, err := broker.Connect(ctx, cfg.NATS, cfg.Resolve(cfg.NATS.DataDir), "sieve "+name, log)
	if err != nil {
		return err
	}
	defer conn.Close()
	cons, err := conn.Setup(ctx, cfg.Queue, cfg.NATS.Replicas)
	if err != nil {
		return err
	}
	// Every address binds before the worker takes a job, so a taken one
	// stops the start, not a worker with jobs in hand.
	l, err := listen(ctx, gen, conn, log)
	if err != nil {
		return settingError{ErrSetting, err}
	}
	defer l.stop()
	w, err := gen.StartWorker(ctx, conn, cons, WorkerOptions{Name: name, Metrics: l.metrics})
	if err != nil {
		return err
	}
	l.start(w)
	log.Info("serving", "nats", cmp.Or(conn.ClientURL(), config.RedactURL(cfg.NATS.URL)), "prefix", cfg.NATS.Prefix)
	waitServing(ctx, cfg, gen, l.door, log)
	drain(cfg, w, l.door, log)
	log.Info("stopped")
	return nil
}

// ServeGateway is sieve gateway: the HTTP door alone, in front of workers
// reached on cfg.NATS.URL, until ctx ends (SIGHUP rereads its keys); then
// it lets requests in flight finish within queue.drain_timeout.
func ServeGateway(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	// Keys first: a door whose keys cannot be read does not start, not
	// even to wait for NATS.
	if _, err := httpKeys(cfg, nil); err != nil {
		return settingError{ErrSetting, err}
	}
	conn, err := broker.Connect(ctx, cfg.NATS, "", "sieve gateway", log)
	if err != nil {
		return err
	}
	defer conn.Close()
	door, ln, err := openDoor(cfg, conn, nil, log)
	if err != nil {
		return settingError{ErrSetting, err}
	}
	door.Start(ln)
	log.Info("gateway", "url", "http://"+ln.Addr().String()+"/v1", "nats", config.RedactURL(cfg.NATS.URL), "prefix", cfg.NATS.Prefix)

	waitServing(ctx, cfg, nil, door, log)
	log.Info("draining", "timeout", cfg.Queue.DrainTimeout.Duration)
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.Queue.DrainTimeout.Duration)
	defer cancel()
	door.Shutdown(drainCtx)
	log.Info("stopped")
	return nil
}

// listeners are serve's HTTP sides: metrics and health, and the
// OpenAI door, bound before the worker starts and served after.
type listeners struct {
	metrics     *metrics.Metrics
	worker      atomic.Pointer[worker.Worker] // for readiness, once it runs
	door        *gateway.Gateway
	doorLn      net.Listener
	doorServing bool // start took doorLn
	stopMetrics context.CancelFunc
	waitMetrics func() error
	log         *slog.Logger
}

func listen(ctx context.Context, gen *Generator, conn *broker.Conn, log *slog.Logger) (*listeners, error) {
	cfg := gen.Config
	l := &listeners{log: log, stopMetrics: func() {}}
	if cfg.Metrics.Listen != "" {
		l.metrics = metrics.New(gen.Slots())
		l.metrics.WatchNATS(conn.NC.IsConnected)
		for _, d := range engine.InUse(gen.Engine.Info().Devices) {
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
		if l.door, l.doorLn, err = openDoor(cfg, conn, gen.Policies.Check, log); err != nil {
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
// file once for the lists (when gen is not nil) and the door's keys (when
// door is not nil). A failed reload keeps what is in force.
func waitServing(ctx context.Context, cfg config.Config, gen *Generator, door *gateway.Gateway, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var policies func(string) error // a gateway alone has no lists to check keys against
	if gen != nil {
		policies = gen.Policies.Check
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
			if gen != nil {
				reloadLists(fresh, gen, log)
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
		os.Exit(ExitNow)
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
func reloadLists(fresh config.Config, gen *Generator, log *slog.Logger) {
	if err := gen.Policies.Reload(fresh); err != nil {
		log.Error("reload failed; the old lists stay in force", "err", err)
		return
	}
	log.Info("filter lists reloaded", "policies", gen.Policies.Names())
}
