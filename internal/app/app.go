// Package app assembles sieve's running parts from a configuration: the
// keyword lists, the engine, the pipeline's runner, a worker on a NATS
// connection (a private embedded server for commands that bring their
// own), with the version and the number of slots taken from one place.
// Every subcommand that runs a model builds on it, so the order of start
// and stop is written once.
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

// PromptCache is the engine option for m's prompt cache.
func PromptCache(m config.Model) engine.Option {
	return engine.WithPromptCache(engine.PromptCache{Off: !m.PromptCache, Tokens: m.PromptCacheTokens})
}

// EngineConfig is the engine's configuration from the model's.
func EngineConfig(m config.Model) engine.Config {
	return engine.Config{ModelPath: m.Path, GPULayers: m.GPULayers, Context: m.Context, Batch: m.Batch, Threads: m.Threads, Parallel: m.Parallel, DecodeNice: m.DecodeNice}
}

// Parts are a model behind the keyword filter: what every command that
// generates needs. Close releases them.
type Parts struct {
	Config  config.Config
	Log     *slog.Logger
	Filters *pipeline.Filters
	Engine  engine.Engine
}

// Errors of Load that the operator fixes in the configuration.
var (
	ErrNoModel = errors.New("no model: set model.path")
	ErrLists   = errors.New("keyword lists") // wraps what Compile found, message unchanged
)

// listsError keeps the lists' own message and is ErrLists.
type listsError struct{ error }

func (e listsError) Unwrap() []error { return []error{ErrLists, e.error} }

// Load compiles cfg's lists and loads its model (cfg.Model.Path as it
// is: callers resolve it). Lists are checked first, so a broken list
// costs no model load.
func Load(ctx context.Context, cfg config.Config, log *slog.Logger) (*Parts, error) {
	if cfg.Model.Path == "" {
		return nil, ErrNoModel
	}
	filters, err := pipeline.LoadFilters(cfg)
	if err != nil {
		return nil, listsError{err}
	}
	eng, err := engine.Load(ctx, EngineConfig(cfg.Model), engine.WithLogger(log), PromptCache(cfg.Model))
	if err != nil {
		return nil, err
	}
	return &Parts{Config: cfg, Log: log, Filters: filters, Engine: eng}, nil
}

// Close unloads the model.
func (p *Parts) Close() { p.Engine.Close() }

// Slots is how many jobs the engine generates at once: the one number the
// worker, the metrics and the engine share.
func (p *Parts) Slots() int { return p.Engine.Info().Parallel }

// Runner is the pipeline over the parts, with the configuration's
// defaults and limits.
func (p *Parts) Runner() *pipeline.Runner {
	g := p.Config.Generate
	return &pipeline.Runner{Engine: p.Engine, Filters: p.Filters, Defaults: g, Limits: pipeline.Limits(g, p.Config.Queue), Log: p.Log}
}

// WorkerOptions are what a worker may be given beyond the parts.
type WorkerOptions struct {
	Name        string           // in results and the micro service
	Metrics     *metrics.Metrics // nil: none
	BeforeChunk func(id string, seq int)
}

// StartWorker starts a worker pulling from cons on conn.
func (p *Parts) StartWorker(ctx context.Context, conn *broker.Conn, cons jetstream.Consumer, o WorkerOptions) (*worker.Worker, error) {
	return worker.Start(ctx, worker.Config{
		Conn: conn, Consumer: cons, Runner: p.Runner(), Queue: p.Config.Queue,
		Parallel: p.Slots(), Name: o.Name, Version: strings.TrimPrefix(Version(), "v"), Log: p.Log,
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
func (p *Parts) StartLocal(ctx context.Context, o WorkerOptions) (*Local, error) {
	l, err := broker.StartLocal(ctx, p.Config.NATS, p.Config.Queue, "sieve "+o.Name, p.Log)
	if err != nil {
		return nil, err
	}
	w, err := p.StartWorker(ctx, l.Conn, l.Consumer, o)
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
