package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/sieve-project/sieve/internal/app"
	"github.com/sieve-project/sieve/internal/batch"
	"github.com/sieve-project/sieve/internal/broker"
	"github.com/sieve-project/sieve/internal/config"
	"github.com/sieve-project/sieve/internal/pipeline"
	"github.com/sieve-project/sieve/job"
)

func runBatch(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "batch", "[flags] SPEC.toml | --in JOBS.jsonl --out RESULTS.jsonl")
	var (
		cfgPath  = fs.String("config", "", "configuration `file` (model, filter, NATS) for the embedded worker")
		in       stringList
		out      = fs.String("out", "", "results `file` (JSONL); rerunning skips ids already there")
		ordered  = fs.Bool("ordered", false, "write results in input order")
		inFlight = fs.Int("in-flight", 0, "jobs in flight (default: the spec's, or 4)")
		server   = fs.String("server", "", "NATS `URL` of running workers (default: embedded server and an in-process worker)")
	)
	fs.Var(&in, "in", "jobs `file` (JSONL, repeatable)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(err)
	}
	spec, ok := batchSpec(e, pos, in, *out)
	if !ok {
		return exitUsage
	}
	spec.Ordered = spec.Ordered || *ordered
	spec.InFlight = cmp.Or(*inFlight, spec.InFlight)
	spec.Server = cmp.Or(*server, spec.Server)
	cfg, ok := loadConfig(e, *cfgPath)
	if !ok {
		return exitUsage
	}
	lines, ok := readBatchLines(e, cfg, spec)
	if !ok {
		return exitUsage
	}
	sum, runErr := runBatchJobs(ctx, e, cfg, spec, lines, newLogger(e, "warn", cfg.Log.Format))
	if runErr != nil && sum.Total == 0 { // nothing ran
		fmt.Fprintf(e.stderr, "sieve batch: %v\n", runErr)
		return exitFailure
	}
	printBatchSummary(e, sum, spec.Output)
	switch {
	case runErr != nil:
		fmt.Fprintf(e.stderr, "sieve batch: %v\n", runErr)
		return exitFailure
	case ctx.Err() != nil || sum.Done+sum.Skipped < sum.Total:
		fmt.Fprintln(e.stderr, "sieve batch: interrupted; run the same command again to finish")
		return exitFailure
	}
	return exitOK
}

// runBatchJobs submits the lines not done yet (through the spec's server,
// or an in-process worker) and writes their results, showing progress.
func runBatchJobs(ctx context.Context, e env, cfg config.Config, spec config.Batch, lines []batch.Line, log *slog.Logger) (batch.Summary, error) {
	done, err := batch.Done(spec.Output)
	if err != nil {
		return batch.Summary{}, fmt.Errorf("%s: %w", spec.Output, err)
	}
	w, err := batch.NewWriter(spec.Output, spec.Ordered)
	if err != nil {
		return batch.Summary{}, err
	}
	conn, stop, err := batchBackend(ctx, cfg, spec, log)
	if err != nil {
		w.Close()
		return batch.Summary{}, err
	}
	submit := func(ctx context.Context, l batch.Line) (job.Result, error) {
		jctx, cancel := context.WithTimeout(ctx, spec.Timeout.Duration)
		defer cancel()
		return conn.Submit(jctx, l.ID, l.Payload, nil)
	}
	p := newProgress(e.stderr, len(lines))
	sum, runErr := batch.Run(ctx, lines, done, spec.InFlight, submit, w, p.update)
	p.finish()
	stop()
	if err := w.Close(); err != nil && runErr == nil {
		runErr = err
	}
	return sum, runErr
}

// batchSpec is the run's spec: a SPEC.toml, or --in and --out.
func batchSpec(e env, pos, in []string, out string) (config.Batch, bool) {
	switch {
	case len(pos) == 1 && len(in) == 0 && out == "":
		spec, err := config.LoadBatch(pos[0])
		if err != nil {
			fmt.Fprintln(e.stderr, err)
			return spec, false
		}
		for i, p := range spec.Inputs {
			spec.Inputs[i] = spec.Resolve(p)
		}
		spec.Output = spec.Resolve(spec.Output)
		return spec, true
	case len(pos) == 0 && len(in) > 0 && out != "":
		return config.Batch{Inputs: in, Output: out, InFlight: 4, Timeout: config.Duration{Duration: 10 * time.Minute}}, true
	}
	fmt.Fprintln(e.stderr, "sieve batch: give a SPEC.toml, or --in JOBS.jsonl and --out RESULTS.jsonl")
	return config.Batch{}, false
}

// readBatchLines reads every input file; a bad line becomes a rejected
// result (and is said here), a file that cannot be read stops the run.
func readBatchLines(e env, cfg config.Config, spec config.Batch) ([]batch.Line, bool) {
	run, err := filepath.Abs(spec.Output)
	if err != nil {
		run = spec.Output
	}
	d := batch.Defaults{Run: run, Limits: pipeline.Limits(cfg.Generate, cfg.Queue), System: spec.System, Policy: spec.Policy, MaxTokens: spec.MaxTokens,
		Sampling: spec.Sampling, Stop: spec.Stop}
	var lines []batch.Line
	for _, f := range spec.Inputs {
		ls, err := batch.Read(f, d)
		if err != nil {
			fmt.Fprintf(e.stderr, "sieve batch: %v\n", err)
			return nil, false
		}
		lines = append(lines, ls...)
	}
	for _, l := range lines {
		if l.Err != nil {
			fmt.Fprintf(e.stderr, "sieve batch: %s (recorded as rejected)\n", l.Err.Message)
		}
	}
	return lines, true
}

// printBatchSummary prints what the run did.
func printBatchSummary(e env, sum batch.Summary, output string) {
	fmt.Fprintf(e.stdout, "%d jobs: %d done now, %d done before", sum.Total, sum.Done, sum.Skipped)
	for _, st := range []job.Status{job.Completed, job.Filtered, job.Rejected, job.Cancelled, job.Expired, job.Failed} {
		if n := sum.ByStatus[st]; n > 0 {
			fmt.Fprintf(e.stdout, ", %d %s", n, st)
		}
	}
	fmt.Fprintf(e.stdout, "\n%d tokens in %s (%.1f tokens/s)\n", sum.Tokens, sum.Elapsed.Round(time.Millisecond), float64(sum.Tokens)/max(sum.Elapsed.Seconds(), 1e-9))
	if lists := sum.Lists(); len(lists) > 0 {
		fmt.Fprint(e.stdout, "filter hits:")
		for _, l := range lists {
			fmt.Fprintf(e.stdout, " %s %d", l, sum.HitsByList[l])
		}
		fmt.Fprintln(e.stdout)
	}
	fmt.Fprintf(e.stdout, "results: %s\n", output)
}

// batchBackend connects to the spec's NATS server, or starts an embedded
// one with an in-process worker running the configured model. stop ends
// what it started.
func batchBackend(ctx context.Context, cfg config.Config, spec config.Batch, log *slog.Logger) (*broker.Conn, func(), error) {
	if spec.Server != "" {
		nc := cfg.NATS
		nc.URL = spec.Server
		conn, err := broker.Connect(ctx, nc, "", "sieve batch", log)
		if err != nil {
			return nil, nil, err
		}
		return conn, conn.Close, nil
	}
	cfg.Model.Path = cfg.Resolve(cfg.Model.Path)
	if cfg.Model.Path == "" {
		return nil, nil, fmt.Errorf("no model for the in-process worker: set model.path in --config, or give a server")
	}
	gen, err := app.Load(ctx, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	local, err := gen.StartLocal(ctx, app.WorkerOptions{Name: "batch"})
	if err != nil {
		gen.Close()
		return nil, nil, err
	}
	return local.Conn, func() {
		local.Close()
		gen.Close()
	}, nil
}

// progress shows a bar on a terminal, and a plain line every few seconds
// elsewhere (logs, CI).
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	total int
	last  time.Time
	s     batch.Summary
}

func newProgress(w io.Writer, total int) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &progress{w: w, tty: tty, total: total}
}

func (p *progress) update(s batch.Summary) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.s = s
	every := 5 * time.Second
	if p.tty {
		every = 100 * time.Millisecond
	}
	if time.Since(p.last) < every && s.Done+s.Skipped < s.Total {
		return
	}
	p.last = time.Now()
	p.print()
}

func (p *progress) print() {
	s := p.s
	n := s.Done + s.Skipped
	rate := float64(s.Done) / max(s.Elapsed.Seconds(), 1e-9)
	eta := "?"
	if rate > 0 {
		eta = (time.Duration(float64(p.total-n)/rate) * time.Second).Round(time.Second).String()
	}
	tps := float64(s.Tokens) / max(s.Elapsed.Seconds(), 1e-9)
	if p.tty {
		const width = 30
		filled := width * n / max(p.total, 1)
		bar := strings.Repeat("█", filled) + strings.Repeat("░", width-filled)
		fmt.Fprintf(p.w, "\r%s %d/%d  %.1f jobs/s  %.0f tok/s  ETA %s   ", bar, n, p.total, rate, tps, eta)
		return
	}
	fmt.Fprintf(p.w, "progress: %d/%d jobs, %.1f jobs/s, %.0f tokens/s, ETA %s\n", n, p.total, rate, tps, eta)
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		p.print()
		fmt.Fprintln(p.w)
	}
}
