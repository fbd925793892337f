package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/sieve-project/sieve/chatml"
	"github.com/sieve-project/sieve/config"
	"github.com/sieve-project/sieve/engine"
	"github.com/sieve-project/sieve/job"
)

func runGenerate(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "generate", "[flags] PROMPT")
	var (
		cfgPath   = fs.String("config", "", "configuration `file` (TOML)")
		model     = fs.String("model", "", "GGUF model `path` (overrides model.path)")
		system    = fs.String("system", "", "system prompt (overrides generate.system)")
		maxTokens = fs.Int("max-tokens", 0, "most tokens to generate (default generate.max_tokens)")
		temp      = fs.Float64("temperature", -1, "sampling temperature, 0 = greedy (default generate.temperature)")
		seed      = fs.Int64("seed", -1, "sampling seed (default random)")
		asJSON    = fs.Bool("json", false, "print only the final result as JSON")
		logLevel  = fs.String("log-level", "warn", "log level: debug, info, warn, error")
		stops     stringList
	)
	fs.Var(&stops, "stop", "stop `string` (repeatable)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) != 1 || pos[0] == "" {
		fmt.Fprintln(e.stderr, "sieve generate: give exactly one PROMPT (quote it)")
		return exitUsage
	}
	cfg, ok := loadConfig(e, *cfgPath)
	if !ok {
		return exitUsage
	}
	if *model != "" {
		cfg.Model.Path = *model
	} else {
		cfg.Model.Path = cfg.Resolve(cfg.Model.Path)
	}
	if cfg.Model.Path == "" {
		fmt.Fprintln(e.stderr, "sieve generate: no model: pass --model PATH or set model.path in --config")
		return exitUsage
	}
	if *system != "" {
		cfg.Generate.System = *system
	}
	g := cfg.Generate
	if *maxTokens != 0 {
		if *maxTokens < 1 || *maxTokens > g.MaxTokensLimit {
			fmt.Fprintf(e.stderr, "sieve generate: --max-tokens %d: want 1 to %d (generate.max_tokens_limit)\n", *maxTokens, g.MaxTokensLimit)
			return exitUsage
		}
		g.MaxTokens = *maxTokens
	}
	if *temp != -1 {
		if *temp < 0 {
			fmt.Fprintf(e.stderr, "sieve generate: --temperature %g: want 0 or more\n", *temp)
			return exitUsage
		}
		g.Temperature = *temp
	}
	sampling := samplingFrom(g)
	if *seed != -1 {
		if *seed < 0 || *seed >= engine.RandomSeed {
			fmt.Fprintf(e.stderr, "sieve generate: --seed %d: want 0 to %d\n", *seed, engine.RandomSeed-1)
			return exitUsage
		}
		sampling.Seed = uint32(*seed)
	}
	for _, s := range stops {
		if s == "" {
			fmt.Fprintln(e.stderr, "sieve generate: --stop: a stop string cannot be empty")
			return exitUsage
		}
	}
	log := newLogger(e, *logLevel, cfg.Log.Format)

	eng, err := engine.Load(ctx, engineConfig(cfg.Model), engine.WithLogger(log))
	if err != nil {
		fmt.Fprintf(e.stderr, "sieve generate: %v\n", err)
		if errors.Is(err, engine.ErrBadRequest) {
			return exitUsage
		}
		return exitFailure
	}
	defer eng.Close()

	msgs, err := chatml.Prepare([]chatml.Message{{Role: chatml.User, Content: pos[0]}}, g.System)
	if err != nil {
		fmt.Fprintf(e.stderr, "sieve generate: %v\n", err)
		return exitUsage
	}
	prompt, err := chatml.Tokens(eng, msgs)
	if err != nil {
		fmt.Fprintf(e.stderr, "sieve generate: %v\n", err)
		return exitFailure
	}
	emit := func(s string) error {
		if *asJSON {
			return nil
		}
		_, err := fmt.Fprint(e.stdout, s)
		return err
	}
	res, err := eng.Generate(ctx, engine.Request{Prompt: prompt, MaxTokens: g.MaxTokens, Sampling: sampling, Stop: stops}, emit)
	if *asJSON {
		out := resultOf("", res, err)
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintln(e.stdout, string(b))
	} else if res.Text != "" && !strings.HasSuffix(res.Text, "\n") {
		fmt.Fprintln(e.stdout)
	}
	switch {
	case errors.Is(err, engine.ErrPromptTooLong), errors.Is(err, engine.ErrBadRequest):
		fmt.Fprintf(e.stderr, "sieve generate: %v\n", err)
		return exitUsage
	case err != nil:
		fmt.Fprintf(e.stderr, "sieve generate: %v\n", err)
		return exitFailure
	case res.FinishReason == engine.FinishCancelled:
		fmt.Fprintln(e.stderr, "sieve generate: interrupted")
		return exitFailure
	}
	return exitOK
}

func engineConfig(m config.Model) engine.Config {
	return engine.Config{ModelPath: m.Path, GPULayers: m.GPULayers, Context: m.Context, Batch: m.Batch, Threads: m.Threads, Parallel: m.Parallel}
}

func samplingFrom(g config.Generate) engine.Sampling {
	return engine.Sampling{
		Temperature:   float32(g.Temperature),
		TopK:          g.TopK,
		TopP:          float32(g.TopP),
		MinP:          float32(g.MinP),
		RepeatPenalty: float32(g.RepeatPenalty),
		Seed:          engine.RandomSeed,
	}
}

// resultOf shapes an engine result as the wire result.
func resultOf(id string, res engine.Result, err error) job.Result {
	out := job.Result{
		ID:           id,
		Status:       job.Completed,
		FinishReason: string(res.FinishReason),
		Text:         res.Text,
		Usage:        job.Usage{PromptTokens: res.PromptTokens, CompletionTokens: res.CompletionTokens},
		Filter:       job.FilterReport{Input: []job.Hit{}, Output: []job.Hit{}},
		Timings: job.Timings{
			QueuedMS:   res.QueueTime.Milliseconds(),
			PromptMS:   res.PromptTime.Milliseconds(),
			GenerateMS: res.GenerateTime.Milliseconds(),
		},
	}
	if s := res.GenerateTime.Seconds(); s > 0 && res.CompletionTokens > 1 {
		// The first token's time belongs to the prompt.
		out.Timings.TokensPerSecond = float64(res.CompletionTokens-1) / s
	}
	switch {
	case err != nil:
		out.Status = job.Failed
		out.FinishReason = string(engine.FinishError)
		out.Error = &job.Error{Code: "engine_error", Message: err.Error()}
		if errors.Is(err, engine.ErrPromptTooLong) || errors.Is(err, engine.ErrBadRequest) {
			out.Status = job.Rejected
			out.Error.Code = "bad_request"
		}
	case res.FinishReason == engine.FinishCancelled:
		out.Status = job.Cancelled
	case res.FinishReason == engine.FinishDeadline && res.CompletionTokens == 0:
		out.Status = job.Expired
	}
	return out
}
