package main

import (
	"context"
	"fmt"

	"github.com/sieve-project/sieve/internal/bench"
	"github.com/sieve-project/sieve/job"
)

// benchFlags are sieve bench's flags.
type benchFlags struct {
	model, random, wtype                        string
	parallel, promptN, genN, threads, nice, gpu int
	rounds, sharedPrefix                        int
	withNATS, withHTTP, asJSON, promptCache     bool
	doors                                       bool
	requireGPU                                  bool
}

func parseBenchFlags(e env, args []string) (benchFlags, int) {
	var f benchFlags
	fs := newFlagSet(e, "bench", "--model PATH [flags]")
	fs.StringVar(&f.model, "model", "", "GGUF model `path` (required)")
	fs.IntVar(&f.parallel, "parallel", 8, "most concurrent jobs to measure (1, 2, 4, … up to this)")
	fs.IntVar(&f.promptN, "prompt-tokens", 32, "prompt length of the throughput jobs")
	fs.IntVar(&f.genN, "gen-tokens", 128, "tokens each throughput job generates")
	fs.IntVar(&f.threads, "threads", 0, "llama.cpp threads (0 = one per physical core)")
	fs.IntVar(&f.nice, "decode-nice", -1, "niceness added to the decode threads (0 to 19, Linux; -1 = choose), as model.decode_nice")
	fs.IntVar(&f.gpu, "gpu-layers", 0, "layers offloaded to a GPU (-1 = all)")
	fs.BoolVar(&f.withNATS, "nats", true, "also measure end to end through an embedded NATS server with a 20,000-keyword filter")
	fs.BoolVar(&f.withHTTP, "http", false, "with --nats, also measure the OpenAI HTTP door against submitting on NATS, streaming, alternated --rounds times")
	fs.BoolVar(&f.doors, "doors", false, "with --nats, also compare the Responses and completions doors with the chat door, streaming, rotated --rounds times")
	fs.StringVar(&f.random, "random", "", "first write a model of random weights to --model if no file is there: `shape` small (246M parameters) or causallm14b (14.2B, ~8 GB in q4_0)")
	fs.StringVar(&f.wtype, "type", "q4_0", "weight type of a --random model: q4_0, q8_0 or f32")
	fs.BoolVar(&f.asJSON, "json", false, "print the report as JSON")
	fs.IntVar(&f.rounds, "rounds", 5, "rounds of the NATS comparison (each runs the jobs through NATS and on the engine alone, in alternating order) and of --shared-prefix")
	fs.IntVar(&f.sharedPrefix, "shared-prefix", 0, "also time first tokens of jobs that share a system prompt of this many `tokens` (each round a new one: its first job computes it, the next ones reuse it), one at a time and --parallel at once")
	fs.BoolVar(&f.requireGPU, "require-gpu", false, "fail (exit 1) unless the model's layers went to a GPU: a GPU check")
	fs.BoolVar(&f.promptCache, "prompt-cache", true, "keep computed prompts for jobs that begin the same way (model.prompt_cache); the throughput and first-token rows use prompts that share nothing, so they measure cold prompts either way")
	if err := fs.Parse(args); err != nil {
		return f, flagError(err)
	}
	if f.model == "" || fs.NArg() > 0 || f.parallel < 1 || f.promptN < 1 || f.genN < 1 || f.rounds < 1 || f.sharedPrefix < 0 {
		fmt.Fprintln(e.stderr, "sieve bench: give --model PATH; --parallel, --prompt-tokens, --gen-tokens and --rounds must be at least 1, --shared-prefix 0 or more")
		return f, exitUsage
	}
	return f, -1
}

func runBench(ctx context.Context, e env, args []string) int {
	f, code := parseBenchFlags(e, args)
	if code >= 0 {
		return code
	}
	if f.random != "" {
		if err := bench.WriteRandomModel(f.model, f.random, f.wtype); err != nil {
			fmt.Fprintf(e.stderr, "sieve bench: %v\n", err)
			return exitUsage
		}
	}
	progress := func(format string, a ...any) {
		if !f.asJSON {
			fmt.Fprintf(e.stderr, format+"\n", a...)
		}
	}
	rep, err := bench.Run(ctx, bench.Options{
		Model: f.model, GPULayers: f.gpu, Threads: f.threads, DecodeNice: f.nice,
		Parallel: f.parallel, PromptTokens: f.promptN, GenTokens: f.genN, Rounds: f.rounds, SharedPrefix: f.sharedPrefix,
		NATS: f.withNATS, HTTP: f.withHTTP, Doors: f.doors, PromptCache: f.promptCache, RequireGPU: f.requireGPU,
	}, newLogger(e, "warn", "text"), progress)
	if err != nil {
		fmt.Fprintf(e.stderr, "sieve bench: %v\n", err)
		return exitFailure
	}
	if f.asJSON {
		b, _ := job.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(e.stdout, string(b))
		return exitOK
	}
	bench.Print(e.stdout, rep)
	return exitOK
}
