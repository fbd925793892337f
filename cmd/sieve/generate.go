package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sieve-project/sieve/internal/app"
	"github.com/sieve-project/sieve/internal/chatml"
	"github.com/sieve-project/sieve/internal/engine"
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
	cfg, ok := loadModelConfig(e, "generate", *cfgPath, *model)
	if !ok {
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
	if *seed != -1 && (*seed < 0 || *seed >= engine.RandomSeed) {
		fmt.Fprintf(e.stderr, "sieve generate: --seed %d: want 0 to %d\n", *seed, engine.RandomSeed-1)
		return exitUsage
	}
	for _, s := range stops {
		if s == "" {
			fmt.Fprintln(e.stderr, "sieve generate: --stop: a stop string cannot be empty")
			return exitUsage
		}
	}
	cfg.Generate = g
	parts, err := app.Load(ctx, cfg, newLogger(e, *logLevel, cfg.Log.Format))
	if err != nil {
		fmt.Fprintf(e.stderr, "sieve generate: %v\n", err)
		return exitCode(err)
	}
	defer parts.Close()
	r := parts.Runner()
	j := job.Job{Messages: []chatml.Message{{Role: chatml.User, Content: pos[0]}}, Stop: stops}
	if *seed != -1 {
		s := uint32(*seed)
		j.Seed = &s
	}
	// The same verdict as a job from NATS gets: the job as bytes, through
	// the one parser.
	data, err := json.Marshal(j)
	if err != nil {
		fmt.Fprintf(e.stderr, "sieve generate: %v\n", err)
		return exitFailure
	}
	res := r.Run(ctx, data, "cli", func(s string) error {
		if *asJSON {
			return nil
		}
		_, err := fmt.Fprint(e.stdout, s)
		return err
	})
	if *asJSON {
		b, _ := json.MarshalIndent(res, "", "  ")
		fmt.Fprintln(e.stdout, string(b))
	} else if res.Text != "" && !strings.HasSuffix(res.Text, "\n") {
		fmt.Fprintln(e.stdout)
	}
	switch res.Status {
	case job.Completed:
		return exitOK
	case job.Filtered:
		fmt.Fprintln(e.stderr, "sieve generate: the reply was cut by a block rule")
		return exitBlocked
	case job.Rejected:
		fmt.Fprintf(e.stderr, "sieve generate: %s\n", res.Error.Message)
		if res.Error.Code == "input_blocked" {
			return exitBlocked
		}
		return exitUsage
	case job.Cancelled:
		fmt.Fprintln(e.stderr, "sieve generate: interrupted")
	default:
		if res.Error != nil {
			fmt.Fprintf(e.stderr, "sieve generate: %s\n", res.Error.Message)
		}
	}
	return exitFailure
}
