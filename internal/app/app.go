// Package app assembles sieve's running parts from a configuration and
// owns their lifecycle: the policies, the engine, the pipeline's runner, a
// worker on a NATS connection (a private embedded server for commands
// that bring their own), metrics and the HTTP door, with the version and
// the number of slots taken from one place. Serve and ServeGateway are
// the daemons from start to drain, as nats-server's Server is; every
// other subcommand that runs a model builds on a Generator. The order of
// start and stop is written once, here.
//
// It does not parse flags, print, or decide exit statuses: package main
// does.
package app

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sieve-project/sieve/internal/broker"
	"github.com/sieve-project/sieve/internal/config"
	"github.com/sieve-project/sieve/internal/engine"
	"github.com/sieve-project/sieve/internal/metrics"
	"github.com/sieve-project/sieve/internal/pipeline"
	"github.com/sieve-project/sieve/internal/policy"
	"github.com/sieve-project/sieve/internal/worker"
)

// version is set at build time with
// -ldflags "-X github.com/sieve-project/sieve/internal/app.version=v1.2.3".
var version = ""

// Version is sieve's version: the one set at build time, else the
// module's, else 0.1.0-dev (SemVer: the NATS micro service insists).
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "0.1.0-dev"
}

// LoadEngine loads m's model with m's settings (m.Path as it is:
// callers resolve it). A nil log is the engine's default.
func LoadEngine(ctx context.Context, m config.Model, log *slog.Logger) (engine.Engine, error) {
	opts := []engine.Option{engine.WithPromptCache(engine.PromptCache{Off: !m.PromptCache, Tokens: m.PromptCacheTokens})}
	if log != nil {
		opts = append(opts, engine.WithLogger(log))
	}
	return engine.Load(ctx,
		engine.Config{ModelPath: m.Path, GPULayers: m.GPULayers, Context: m.Context, Batch: m.Batch, Threads: m.Threads, Parallel: m.Parallel, DecodeNice: m.DecodeNice},
		opts...)
}

// Generator is a model behind its policies: what every command that
// generates moderated text needs. Close releases it.
type Generator struct {
	Config   config.Config
	Log      *slog.Logger
	Policies *policy.Registry
	Engine   engine.Engine
}

// Errors of Load that the operator fixes in the configuration.
var (
	ErrNoModel = errors.New("no model: set model.path")
	ErrLists   = errors.New("keyword lists") // wraps what Compile found, message unchanged
	// ErrSetting marks any other setting that stops a start: API keys
	// that cannot be read, an address that is taken.
	ErrSetting = errors.New("setting")
)

// settingError keeps its own message and is also kind (ErrLists,
// ErrSetting).
type settingError struct {
	kind error
	error
}

func (e settingError) Unwrap() []error { return []error{e.kind, e.error} }

// Load compiles cfg's lists and loads its model (cfg.Model.Path as it
// is: callers resolve it). Lists are checked first, so a broken list
// costs no model load.
func Load(ctx context.Context, cfg config.Config, log *slog.Logger) (*Generator, error) {
	if cfg.Model.Path == "" {
		return nil, ErrNoModel
	}
	pols, err := policy.Load(cfg)
	if err != nil {
		return nil, settingError{ErrLists, err}
	}
	eng, err := LoadEngine(ctx, cfg.Model, log)
	if err != nil {
		return nil, err
	}
	return New(cfg, eng, pols, log), nil
}

// New is a Generator of an engine loaded already and policies compiled
// already; cfg gives the rest (defaults, limits, queue, NATS). Close
// closes eng.
func New(cfg config.Config, eng engine.Engine, pols *policy.Registry, log *slog.Logger) *Generator {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Generator{Config: cfg, Log: log, Policies: pols, Engine: eng}
}

// Close unloads the model.
func (g *Generator) Close() { g.Engine.Close() }

// Slots is how many jobs the engine generates at once: the one number the
// worker, the metrics and the engine share.
func (g *Generator) Slots() int { return g.Engine.Info().Parallel }

// Runner is the pipeline over the generator, with the configuration's
// defaults and limits.
func (g *Generator) Runner() *pipeline.Runner {
	d := g.Config.Generate
	return &pipeline.Runner{Engine: g.Engine, Policies: g.Policies, Defaults: d, Limits: pipeline.Limits(d, g.Config.Queue), Log: g.Log}
}

// WorkerOptions are what a worker may be given beyond the generator.
type WorkerOptions struct {
	Name        string           // in results and the micro service
	Metrics     *metrics.Metrics // nil: none
	BeforeChunk func(id string, seq int)
}

// StartWorker starts a worker pulling from cons on conn.
func (g *Generator) StartWorker(ctx context.Context, conn *broker.Conn, cons jetstream.Consumer, o WorkerOptions) (*worker.Worker, error) {
	return worker.Start(ctx, worker.Config{
		Conn: conn, Consumer: cons, Runner: g.Runner(), Queue: g.Config.Queue,
		Parallel: g.Slots(), Name: o.Name, Version: strings.TrimPrefix(Version(), "v"), Log: g.Log,
		Metrics: o.Metrics, BeforeChunk: o.BeforeChunk,
	})
}

// Local is a worker on a private embedded server, for commands that
// submit to their own (batch, bench, demo).
type Local struct {
	*broker.Local
	Worker *worker.Worker
}

// StartLocal starts a private server and a worker on it.
func (g *Generator) StartLocal(ctx context.Context, o WorkerOptions) (*Local, error) {
	l, err := broker.StartLocal(ctx, g.Config.NATS, g.Config.Queue, "sieve "+o.Name, g.Log)
	if err != nil {
		return nil, err
	}
	w, err := g.StartWorker(ctx, l.Conn, l.Consumer, o)
	if err != nil {
		l.Close()
		return nil, err
	}
	return &Local{Local: l, Worker: w}, nil
}

// Close stops the worker (jobs still running get a few seconds) and the
// server.
func (l *Local) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l.Worker.Shutdown(ctx)
	l.Local.Close()
}
