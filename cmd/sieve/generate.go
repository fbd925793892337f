package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/sieve-project/sieve/internal/app"
	"github.com/sieve-project/sieve/internal/config"
	"github.com/sieve-project/sieve/job"
)

// generateFlags are sieve generate's overrides of the configuration.
type generateFlags struct {
	system    string
	maxTokens int
	temp      float64
	seed      int64
	stops     stringList
}

func runGenerate(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "generate", "[flags] PROMPT")
	var f generateFlags
	cfgPath := fs.String("config", "", "configuration `file` (TOML)")
	model := fs.String("model", "", "GGUF model `path` (overrides model.path)")
	asJSON := fs.Bool("json", false, "print only the final result as JSON")
	logLevel := fs.String("log-level", "warn", "log level: debug, info, warn, error")
	fs.StringVar(&f.system, "system", "", "system prompt (overrides generate.system)")
	fs.IntVar(&f.maxTokens, "max-tokens", 0, "most tokens to generate (default generate.max_tokens)")
	fs.Float64Var(&f.temp, "temperature", -1, "sampling temperature, 0 = greedy (default generate.temperature)")
	fs.Int64Var(&f.seed, "seed", -1, "sampling seed (default random)")
	fs.Var(&f.stops, "stop", "stop `string` (repeatable)")
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
	data, err := f.apply(&cfg, pos[0])
	if err != nil {
		fmt.Fprintf(e.stderr, "sieve generate: %v\n", err)
		return exitUsage
	}
	gen, err := app.Load(ctx, cfg, newLogger(e, *logLevel, cfg.Log.Format))
	if err != nil {
		fmt.Fprintf(e.stderr, "sieve generate: %v\n", err)
		return exitCode(err)
	}
	defer gen.Close()
	// The same verdict as a job from NATS gets: the job as bytes, through
	// the one parser.
	res := gen.Runner().Run(ctx, data, "cli", func(s string) error {
		if *asJSON {
			return nil
		}
		_, err := fmt.Fprint(e.stdout, s)
		return err
	})
	if *asJSON {
		b, _ := job.MarshalIndent(res, "", "  ")
		fmt.Fprintln(e.stdout, string(b))
	} else if res.Text != "" && !strings.HasSuffix(res.Text, "\n") {
		fmt.Fprintln(e.stdout)
	}
	return generateStatus(e, res)
}

// apply checks the flags, sets the defaults they override in cfg (system
// prompt, max tokens), and returns the job for prompt, which carries the
// rest (temperature, seed, stop strings).
func (f *generateFlags) apply(cfg *config.Config, prompt string) ([]byte, error) {
	g := &cfg.Generate
	if f.system != "" {
		g.System = f.system
	}
	if f.maxTokens != 0 && (f.maxTokens < 1 || f.maxTokens > g.MaxTokensLimit) {
		return nil, fmt.Errorf("--max-tokens %d: want 1 to %d (generate.max_tokens_limit)", f.maxTokens, g.MaxTokensLimit)
	}
	j := job.Job{Messages: []job.Message{{Role: job.RoleUser, Content: prompt}}, Stop: f.stops}
	if f.temp != -1 {
		j.Temperature = &f.temp
	}
	if f.seed != -1 {
		if f.seed < 0 || f.seed > math.MaxUint32 {
			return nil, fmt.Errorf("--seed %d: want 0 to %d", f.seed, uint32(math.MaxUint32-1))
		}
		s := uint32(f.seed)
		j.Seed = &s
	}
	// The job's own range check, named as the flags are.
	if ps := j.Sampling.Problems(); len(ps) > 0 {
		return nil, fmt.Errorf("--%s %s: want %s", ps[0].Field, ps[0].Value, ps[0].Want)
	}
	for _, s := range f.stops {
		if s == "" {
			return nil, errors.New("--stop: a stop string cannot be empty")
		}
	}
	if f.maxTokens != 0 {
		g.MaxTokens = f.maxTokens
	}
	return job.Marshal(j)
}

// generateStatus says how the reply ended and returns the exit status.
func generateStatus(e env, res job.Result) int {
	switch res.Status {
	case job.Completed:
		return exitOK
	case job.Filtered:
		fmt.Fprintln(e.stderr, "sieve generate: the reply was cut by a block rule")
		return exitBlocked
	case job.Rejected:
		fmt.Fprintf(e.stderr, "sieve generate: %s\n", res.Error.Message)
		if res.Error.Code == job.CodeInputBlocked {
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
