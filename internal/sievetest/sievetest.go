// Package sievetest is the one harness for tests that run jobs: a scripted
// model (modelgen) on real llama.cpp, real keyword lists compiled
// as the configuration compiles them, and a worker on a real embedded
// NATS server on a random port (broker.StartLocal), with a client
// connection of its own. Tests of the worker, the pipeline and the HTTP
// door build on it; nothing in it stands in for a real part.
package sievetest

import (
	"cmp"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sieve-project/sieve/internal/app"
	"github.com/sieve-project/sieve/internal/broker"
	"github.com/sieve-project/sieve/internal/config"
	"github.com/sieve-project/sieve/internal/modelgen"
	"github.com/sieve-project/sieve/internal/policy"
	"github.com/sieve-project/sieve/internal/worker"
)

// Reply is what the default model says: a word the profanity list
// redacts (split over two tokens), then a phrase the secrets list blocks.
var Reply = []string{"Oh", " dar", "n", ", the", " launch", " co", "de", " is", " 0000", "."}

// Lists are the default keyword lists: profanity redacts the word "darn"
// in replies; secrets blocks "launch code" in prompts and replies, and may
// be named in results (as the other tests expect).
var Lists = []config.List{
	{Name: "profanity", Action: "redact", Match: "word", Words: []string{"darn"}},
	{Name: "secrets", Action: "block", ApplyTo: []string{"input", "output"}, Words: []string{"launch code"}, Reveal: ptr(true)},
}

func ptr[T any](v T) *T { return &v }

// Options say what to run; the zero value runs Reply with Lists, one slot
// of 256 tokens, greedy.
type Options struct {
	Model    modelgen.Scripted // Pieces nil: Reply
	Parallel int               // slots; 0 = 1
	Context  int               // tokens per slot; 0 = 256
	Lists    []config.List     // nil: Lists
	Policies map[string][]string
	Registry *policy.Registry     // instead of Lists and Policies
	Config   func(*config.Config) // last changes to the configuration
	Join     *broker.Conn         // a server to join (a second worker) instead of a new one
}

// config is the configuration Options give: defaults, greedy sampling,
// fast retries and a 2 s ack wait, 4 KiB jobs.
func (o Options) config() config.Config {
	c := config.Default()
	c.Generate.Temperature = new(float64) // greedy
	c.Queue.AckWait = config.Duration{Duration: 2 * time.Second}
	c.Queue.Backoff = []config.Duration{{Duration: 50 * time.Millisecond}}
	c.Queue.MaxPayload = 4096
	c.Filter.Lists = o.Lists
	if c.Filter.Lists == nil {
		c.Filter.Lists = Lists
	}
	c.Filter.Policies = o.Policies
	c.Model.Parallel = max(o.Parallel, 1)
	c.Model.Context = c.Model.Parallel * cmp.Or(o.Context, 256)
	c.Model.Batch = 64
	c.Model.Threads = 1
	if o.Config != nil {
		o.Config(&c)
	}
	return c
}

// Logger logs to t at debug level.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// ModelFile writes the scripted model s into t's temporary folder and
// returns its path: what a test that runs the sieve binary hands it.
func ModelFile(t testing.TB, s modelgen.Scripted) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := modelgen.WriteScripted(path, s); err != nil {
		t.Fatal(err)
	}
	return path
}

// Generator writes the model, loads it and compiles the lists: a model
// behind its policies, without NATS (what pipeline tests need). t's
// cleanup unloads it.
func Generator(t testing.TB, o Options) *app.Generator {
	t.Helper()
	cfg := o.config()
	m := o.Model
	if m.Pieces == nil {
		m.Pieces = Reply
	}
	cfg.Model.Path = ModelFile(t, m)
	log := Logger(t)
	pols := o.Registry
	if pols == nil {
		var err error
		if pols, err = policy.Load(cfg); err != nil {
			t.Fatal(err)
		}
	}
	eng, err := app.LoadEngine(context.Background(), cfg.Model, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := app.New(cfg, eng, pols, log)
	t.Cleanup(g.Close)
	return g
}

// Env is a running worker and a client of its server.
type Env struct {
	Gen    *app.Generator
	Config config.Config
	Conn   *broker.Conn // the worker's connection
	Worker *worker.Worker
	NC     *nats.Conn // the client's own connection
	JS     jetstream.JetStream
}

// Start runs a Generator behind a worker on an embedded server (or o.Join's),
// and connects a client. t's cleanup stops everything.
func Start(t testing.TB, o Options) *Env {
	t.Helper()
	p := Generator(t, o)
	ctx := context.Background()
	conn := o.Join
	if conn == nil {
		nc := p.Config.NATS
		nc.Listen = "127.0.0.1:0"
		var err error
		if conn, err = broker.Connect(ctx, nc, t.TempDir(), "worker", p.Log); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(conn.Close)
	}
	cons, err := conn.Setup(ctx, p.Config.Queue, 1)
	if err != nil {
		t.Fatal(err)
	}
	w, err := p.StartWorker(ctx, conn, cons, app.WorkerOptions{Name: "test/1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		w.Shutdown(ctx)
	})
	nc, err := nats.Connect(conn.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &Env{Gen: p, Config: p.Config, Conn: conn, Worker: w, NC: nc, JS: js}
}
