// Package bench measures a model's speed as sieve serves it: tokens/s at
// each concurrency, end to end through NATS and a 20,000-keyword filter
// against the engine alone (alternated rounds), the HTTP door against
// NATS, the first token at several prompt lengths and under a shared
// system prompt, whether a GPU computed, and peak memory. sieve bench is
// its command line.
//
// It measures; it does not decide what is fast enough, and asserts
// nothing about timings.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sieve-project/sieve/internal/app"
	"github.com/sieve-project/sieve/internal/broker"
	"github.com/sieve-project/sieve/internal/chatml"
	"github.com/sieve-project/sieve/internal/config"
	"github.com/sieve-project/sieve/internal/engine"
	"github.com/sieve-project/sieve/internal/filter"
	"github.com/sieve-project/sieve/internal/modelgen"
	"github.com/sieve-project/sieve/internal/policy"
	"github.com/sieve-project/sieve/job"
)

// Report is what Run measured; sieve bench --json prints it.
type Report struct {
	Model        string            `json:"model"`
	Parameters   uint64            `json:"parameters"`
	Threads      int               `json:"threads"`
	DecodeNice   int               `json:"decode_nice"`
	CPUBackend   string            `json:"cpu_backend"` // the CPU variant llama.cpp computes with
	PromptTokens int               `json:"prompt_tokens"`
	GenTokens    int               `json:"gen_tokens"`
	Concurrency  []concurrencyRow  `json:"concurrency"`
	NATS         *natsRow          `json:"nats,omitempty"`
	HTTP         *httpRow          `json:"http,omitempty"`
	Doors        *doorsRow         `json:"doors,omitempty"`
	FirstToken   []firstTokenRow   `json:"first_token"`
	Prefix       *prefixRow        `json:"shared_prefix,omitempty"`
	GPU          gpuRow            `json:"gpu"`
	PromptCache  bool              `json:"prompt_cache"`
	PeakRSSBytes int64             `json:"peak_rss_bytes"`
	Notes        map[string]string `json:"notes,omitempty"`
}

type concurrencyRow struct {
	Jobs            int     `json:"jobs"`
	Tokens          int     `json:"tokens"`
	Seconds         float64 `json:"seconds"`
	TokensPerSecond float64 `json:"tokens_per_second"`
	VsOneJob        float64 `json:"vs_one_job"`
}

type natsRow struct {
	Jobs              int       `json:"jobs"`
	Keywords          int       `json:"keywords"`
	Rounds            int       `json:"rounds"` // alternated pairs; the figures are medians
	RoundRatios       []float64 `json:"round_ratios"`
	TokensPerSecond   float64   `json:"tokens_per_second"`
	EngineTokensPerS  float64   `json:"engine_tokens_per_second"`
	Ratio             float64   `json:"ratio"`
	Chunks            int       `json:"chunks"`
	ChunkLatencyP50us float64   `json:"chunk_latency_p50_us"`
	ChunkLatencyP99us float64   `json:"chunk_latency_p99_us"`
}

// gpuRow says whether a GPU computed, and what it held.
type gpuRow struct {
	Used      bool     `json:"used"`                 // layers were offloaded to a CUDA device
	Devices   []string `json:"devices,omitempty"`    // "CUDA0 NVIDIA H200, compute 9.0"
	Archs     []string `json:"archs,omitempty"`      // what the CUDA backend was built for
	Reason    string   `json:"reason,omitempty"`     // why no GPU computed
	GPULayers int      `json:"gpu_layers"`           // as asked (-1 = all)
	VRAMBytes int64    `json:"vram_bytes,omitempty"` // GPU memory this process took: model, KV cache, buffers
	VRAMTotal int64    `json:"vram_total_bytes,omitempty"`
}

type firstTokenRow struct {
	PromptTokens int     `json:"prompt_tokens"`
	Milliseconds float64 `json:"ms"`
}

// Options are what to measure.
type Options struct {
	Model        string // GGUF file
	GPULayers    int    // -1: all
	Threads      int    // 0: one per physical core
	DecodeNice   int    // as model.decode_nice; -1 chooses
	Parallel     int    // most concurrent jobs (1, 2, 4, … up to this)
	PromptTokens int    // prompt length of the throughput jobs
	GenTokens    int    // tokens each throughput job generates
	Rounds       int    // alternated rounds of the comparisons
	SharedPrefix int    // tokens of a shared system prompt to time; 0: none
	NATS, HTTP   bool   // measure end to end through NATS, and the HTTP door
	Doors        bool   // with NATS, compare the Responses and completions doors with chat
	PromptCache  bool   // as model.prompt_cache
	RequireGPU   bool   // fail with ErrNoGPU unless the layers went to a GPU
}

// ErrNoGPU is Run's error when RequireGPU is set and no GPU computed.
var ErrNoGPU = errors.New("the GPU was not used")

// Run measures o.Model. progress, if not nil, hears what is being
// measured.
func Run(ctx context.Context, o Options, log *slog.Logger, progress func(format string, a ...any)) (Report, error) {
	if progress == nil {
		progress = func(string, ...any) {}
	}
	levels := benchLevels(o.Parallel)
	maxN := levels[len(levels)-1]
	slot := max(o.PromptTokens+o.GenTokens+64, 1024+64, o.SharedPrefix+256) // room for the first-token and shared-prefix rows too
	before := engine.GPUMemory()
	eng, err := app.LoadEngine(ctx, config.Model{Path: o.Model, GPULayers: o.GPULayers, Context: slot * maxN, Batch: 512,
		Threads: o.Threads, Parallel: maxN, DecodeNice: o.DecodeNice, PromptCache: o.PromptCache}, log)
	if err != nil {
		return Report{}, err
	}
	defer eng.Close()
	rep := newBenchReport(o.Model, eng.Info(), o.GenTokens)
	rep.PromptCache = o.PromptCache
	greedy := engine.Sampling{Temperature: 0, TopK: 40, TopP: 0.9, MinP: 0.05, RepeatPenalty: 1.1, Seed: 1}
	makePrompt, err := warmUp(ctx, eng, greedy)
	if err != nil {
		return rep, err
	}
	rep.GPU = gpuUse(o.GPULayers, modelSize(o.Model), before, engine.GPUMemory())
	progress("GPU: %s", rep.GPU)
	if o.RequireGPU && !rep.GPU.Used {
		return rep, fmt.Errorf("%w: %s", ErrNoGPU, rep.GPU.Reason)
	}
	rep.PromptTokens = len(makePrompt(o.PromptTokens)) // a short n is padded to the ChatML frame
	if err := benchConcurrency(ctx, eng, &rep, levels, makePrompt, o.PromptTokens, o.GenTokens, greedy, progress); err != nil {
		return rep, err
	}
	if o.NATS {
		progress("measuring %d concurrent job(s) through NATS and the filter, and the engine alone, alternated %d times…", maxN, o.Rounds)
		if err = benchPipeline(ctx, eng, maxN, o, greedy, &rep); err != nil {
			return rep, fmt.Errorf("nats: %w", err)
		}
	}
	if rep.FirstToken, err = benchFirstToken(ctx, eng, makePrompt, greedy, progress); err != nil {
		return rep, err
	}
	if o.SharedPrefix > 0 {
		if rep.Prefix, err = benchPrefix(ctx, eng, o.SharedPrefix, maxN, o.Rounds, greedy, progress); err != nil {
			return rep, fmt.Errorf("shared prefix: %w", err)
		}
	}
	rep.PeakRSSBytes = peakRSS()
	return rep, nil
}

// benchLevels are the numbers of concurrent jobs to measure: powers of
// two up to parallel, and parallel.
func benchLevels(parallel int) []int {
	var levels []int
	for n := 1; n <= parallel; n *= 2 {
		levels = append(levels, n)
	}
	if levels[len(levels)-1] != parallel {
		levels = append(levels, parallel)
	}
	return levels
}

func newBenchReport(model string, info engine.ModelInfo, genN int) Report {
	return Report{Model: model, Parameters: info.Parameters, Threads: info.Threads, DecodeNice: info.DecodeNice, CPUBackend: cpuBackend(info.Devices), GenTokens: genN,
		Notes: map[string]string{"sampling": "greedy; a job may end early at an end-of-generation token, tokens/s counts what was generated"}}
}

// warmUp pages the weights in with a short job and returns the prompt
// maker.
func warmUp(ctx context.Context, eng engine.Engine, greedy engine.Sampling) (func(int) []int, error) {
	makePrompt, err := promptMaker(eng)
	if err != nil {
		return nil, err
	}
	_, err = eng.Generate(ctx, engine.Request{Prompt: makePrompt(8), MaxTokens: 4, Sampling: greedy}, func(string) error { return nil })
	return makePrompt, err
}

// benchConcurrency measures tokens/s at each number of concurrent jobs.
func benchConcurrency(ctx context.Context, eng engine.Engine, rep *Report, levels []int, makePrompt func(int) []int, promptN, genN int, greedy engine.Sampling, progress func(string, ...any)) error {
	for _, n := range levels {
		progress("measuring %d concurrent job(s)…", n)
		prompts := make([][]int, n)
		for i := range prompts {
			prompts[i] = makePrompt(promptN)
		}
		start := time.Now()
		tokens, err := generateAll(ctx, n, func(i int) (engine.Result, error) {
			return eng.Generate(ctx, engine.Request{Prompt: prompts[i], MaxTokens: genN, Sampling: greedy}, func(string) error { return nil })
		})
		if err != nil {
			return err
		}
		secs := time.Since(start).Seconds()
		row := concurrencyRow{Jobs: n, Tokens: tokens, Seconds: secs, TokensPerSecond: float64(tokens) / secs, VsOneJob: 1}
		if len(rep.Concurrency) > 0 && rep.Concurrency[0].TokensPerSecond > 0 {
			row.VsOneJob = row.TokensPerSecond / rep.Concurrency[0].TokensPerSecond
		}
		rep.Concurrency = append(rep.Concurrency, row)
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// benchPipeline runs the same jobs through NATS and the filter and on the
// engine alone (benchNATS), and, with o.HTTP, through the HTTP door, and
// with o.Doors, through each of its doors.
func benchPipeline(ctx context.Context, eng engine.Engine, n int, o Options, greedy engine.Sampling, rep *Report) error {
	gen := o.GenTokens
	// The engine alone runs the same jobs: the prompt the pipeline makes
	// of the NATS jobs' message and the default system prompt.
	story := []job.Message{{Role: job.RoleUser, Content: "Tell me a long story about a lighthouse keeper."}}
	p, err := chatml.Tokens(eng, append([]job.Message{{Role: job.RoleSystem, Content: config.Default().Generate.System}}, story...))
	if err != nil {
		return err
	}
	alone := func() (float64, error) {
		start := time.Now()
		tokens, err := generateAll(ctx, n, func(int) (engine.Result, error) {
			return eng.Generate(ctx, engine.Request{Prompt: p, MaxTokens: gen, Sampling: greedy}, func(string) error { return nil })
		})
		return float64(tokens) / time.Since(start).Seconds(), err
	}
	return benchNATS(ctx, eng, n, o, story, greedy, alone, rep)
}

// benchFirstToken times the prompt of 32, 256 and 1024 tokens (those that
// fit a slot), the median of three each.
func benchFirstToken(ctx context.Context, eng engine.Engine, makePrompt func(int) []int, greedy engine.Sampling, progress func(string, ...any)) ([]firstTokenRow, error) {
	var rows []firstTokenRow
	for _, n := range []int{32, 256, 1024} {
		if n >= eng.Info().SlotContext-1 {
			break
		}
		progress("measuring time to first token, %d-token prompt…", n)
		var ms []float64
		for range 3 {
			res, err := eng.Generate(ctx, engine.Request{Prompt: makePrompt(n), MaxTokens: 1, Sampling: greedy}, func(string) error { return nil })
			if err != nil {
				return nil, err
			}
			ms = append(ms, float64(res.PromptTime.Microseconds())/1000)
		}
		slices.Sort(ms)
		rows = append(rows, firstTokenRow{PromptTokens: n, Milliseconds: ms[1]})
	}
	return rows, nil
}

// promptMaker returns a function that makes a ChatML prompt of about n
// tokens: a user message of plain English filler, so the model answers as
// it would a person. Each prompt begins with its own number, so no two
// share more than the ChatML frame and a prompt cache cannot serve them:
// the rows that use them time cold prompts.
func promptMaker(eng engine.Engine) (func(n int) []int, error) {
	const sentence = "Tell me a long story about a lighthouse keeper who finds a message in a bottle. "
	filler, err := eng.Tokenize(strings.Repeat(sentence, 64), false)
	if err != nil {
		return nil, err
	}
	// <|im_start|>user\n … <|im_end|>\n<|im_start|>assistant\n, with the
	// content after the first 1+len("user\n") tokens.
	frame, err := chatml.Tokens(eng, []job.Message{{Role: job.RoleUser}})
	if err != nil {
		return nil, err
	}
	userHead, err := eng.Tokenize("user\n", false)
	if err != nil {
		return nil, err
	}
	cut := 1 + len(userHead)
	calls := 0
	return func(n int) []int {
		calls++
		salt, _ := eng.Tokenize(fmt.Sprintf("%d. ", calls), false)
		k := max(0, n-len(frame))
		for len(filler) < k {
			filler = append(filler, filler...)
		}
		p := append([]int{}, frame[:cut]...)
		p = append(p, salt[:min(k, len(salt))]...)
		p = append(p, filler[:k-min(k, len(salt))]...)
		return append(p, frame[cut:]...)
	}, nil
}

func generateAll(ctx context.Context, n int, gen func(i int) (engine.Result, error)) (int, error) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	tokens := 0
	var first error
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := gen(i)
			mu.Lock()
			defer mu.Unlock()
			tokens += res.CompletionTokens
			if err != nil && first == nil {
				first = err
			}
		}()
	}
	wg.Wait()
	return tokens, first
}

// benchNATS runs n jobs at once through an embedded NATS server, a worker
// and a 20,000-keyword output filter, streaming chunks to a subscriber,
// and times each chunk from just before it is published to its arrival.
// It does so rounds times, alternating with alone (the same jobs on the
// engine alone) in both orders, so that the machine's drift hits both
// sides alike; the row has the medians and the median of the rounds'
// ratios.
// With o.HTTP, it then compares the HTTP door with NATS (benchHTTP), and
// with o.Doors the doors with each other (benchDoors).
func benchNATS(ctx context.Context, eng engine.Engine, n int, o Options, msgs []job.Message, sampling engine.Sampling, alone func() (float64, error), rep *Report) error {
	gen, rounds := o.GenTokens, o.Rounds
	cfg := config.Default()
	cfg.Generate.Temperature = new(float64) // greedy
	cfg.Generate.MaxTokens = gen
	l := slog.New(slog.DiscardHandler)
	local, err := broker.StartLocal(ctx, cfg.NATS, cfg.Queue, "sieve bench", l)
	if err != nil {
		return err
	}
	defer local.Close()
	conn, cons := local.Conn, local.Consumer
	words := benchKeywords(20000)
	flt, err := filter.Compile([]filter.ListSpec{{Name: "bench", Action: filter.Redact, Match: filter.Word, Words: words}}, filter.Options{Normalize: true})
	if err != nil {
		return err
	}
	var mu sync.Mutex
	sent := map[string]time.Time{}
	var lat []float64
	w, err := app.New(cfg, eng, policy.Static(flt), l).StartWorker(ctx, conn, cons, app.WorkerOptions{Name: "bench",
		BeforeChunk: func(id string, seq int) {
			mu.Lock()
			sent[id+"/"+strconv.Itoa(seq)] = time.Now()
			mu.Unlock()
		},
	})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		w.Shutdown(sctx)
	}()
	// The subscriber has a connection of its own, as a user's would.
	subNC, err := nats.Connect(conn.ClientURL())
	if err != nil {
		return err
	}
	defer subNC.Close()
	sub, err := subNC.Subscribe(conn.Subjects.StreamAll(), func(m *nats.Msg) {
		now := time.Now()
		var c job.Chunk
		if json.Unmarshal(m.Data, &c) != nil {
			return
		}
		mu.Lock()
		if t0, ok := sent[c.ID+"/"+strconv.Itoa(c.Seq)]; ok {
			lat = append(lat, float64(now.Sub(t0).Microseconds()))
		}
		mu.Unlock()
	})
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	subNC.Flush()

	through := func(round int) (float64, error) {
		start := time.Now()
		tokens, err := generateAll(ctx, n, func(i int) (engine.Result, error) {
			id := fmt.Sprintf("bench-%d-%d-%d", os.Getpid(), round, i)
			b, _ := job.Marshal(job.Job{ID: id, Messages: msgs, MaxTokens: &gen, Sampling: job.Sampling{Seed: &sampling.Seed}})
			res, err := conn.Submit(ctx, id, b, nil)
			return engine.Result{CompletionTokens: res.Usage.CompletionTokens}, err
		})
		return float64(tokens) / time.Since(start).Seconds(), err
	}
	viaNATS, engineOnly, ratios, err := alternate(rounds, through, func(int) (float64, error) { return alone() })
	if err != nil {
		return err
	}
	mu.Lock()
	slices.Sort(lat)
	row := &natsRow{Jobs: n, Keywords: len(words), Rounds: rounds, TokensPerSecond: median(viaNATS), EngineTokensPerS: median(engineOnly), Ratio: median(ratios), RoundRatios: ratios, Chunks: len(lat)}
	if len(lat) > 0 {
		row.ChunkLatencyP50us = lat[len(lat)/2]
		row.ChunkLatencyP99us = lat[min(len(lat)-1, len(lat)*99/100)]
	}
	mu.Unlock()
	rep.NATS = row
	if o.HTTP {
		if rep.HTTP, err = benchHTTP(ctx, conn, n, gen, rounds, msgs, sampling.Seed); err != nil {
			return fmt.Errorf("http: %w", err)
		}
	}
	if o.Doors {
		if rep.Doors, err = benchDoors(ctx, conn, n, gen, rounds, msgs[len(msgs)-1].Content, sampling.Seed); err != nil {
			return fmt.Errorf("doors: %w", err)
		}
	}
	return nil
}

// alternate runs a and b rounds times, a first in even rounds and b first
// in odd ones, so that the machine's drift hits both sides alike; it
// returns each side's figures and each round's ratio a/b.
func alternate(rounds int, a, b func(round int) (float64, error)) (as, bs, ratios []float64, err error) {
	for r := range rounds {
		var x, y float64
		if r%2 == 0 {
			if x, err = a(r); err == nil {
				y, err = b(r)
			}
		} else {
			if y, err = b(r); err == nil {
				x, err = a(r)
			}
		}
		if err != nil {
			return nil, nil, nil, err
		}
		as, bs, ratios = append(as, x), append(bs, y), append(ratios, x/y)
	}
	return as, bs, ratios, nil
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// benchKeywords makes n deterministic keywords, English-like and Chinese,
// that a model's story will rarely contain: the filter does all its work
// and changes little.
func benchKeywords(n int) []string {
	rng := rand.New(rand.NewPCG(7, 7))
	const letters = "abcdefghijklmnopqrstuvwxyz"
	out := make([]string, 0, n)
	seen := map[string]bool{}
	for len(out) < n {
		var b strings.Builder
		if len(out)%2 == 0 {
			for k := 5 + rng.IntN(6); k > 0; k-- {
				b.WriteByte(letters[rng.IntN(len(letters))])
			}
		} else {
			for k := 2 + rng.IntN(3); k > 0; k-- {
				b.WriteRune(rune(0x4E00 + rng.IntN(0x9FA5-0x4E00)))
			}
		}
		if s := b.String(); !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// WriteRandomModel writes a model of random weights of the named shape to
// path, unless a file is there already: speed depends on the shape, not
// the weights, so a machine can be sized before the real model is at hand.
func WriteRandomModel(path, shape, typ string) error {
	var r modelgen.Random
	switch shape {
	case "small":
		r = modelgen.Small()
	case "causallm14b":
		r = modelgen.CausalLM14B()
	default:
		return fmt.Errorf("--random %q: want small or causallm14b", shape)
	}
	r.Type = typ
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	tmp := path + ".tmp"
	if err := modelgen.WriteRandom(tmp, r); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// cpuBackend names the CPU variant llama.cpp computes with.
func cpuBackend(devs []engine.Device) string {
	for _, d := range devs {
		if d.Type == engine.DeviceCPU {
			return d.Variant
		}
	}
	return ""
}

// peakRSS is the process's peak resident set (Linux: VmHWM), or -1.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err == nil {
				return kb * 1024
			}
		}
	}
	return -1
}

// Print writes r for a person to read.
func Print(w io.Writer, r Report) {
	fmt.Fprintf(w, "model %s (%.0fM parameters), %d threads (decode nice %d), CPU backend %s, %s %s/%s\n", r.Model, float64(r.Parameters)/1e6, r.Threads, r.DecodeNice, r.CPUBackend, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "GPU: %s\n\n", r.GPU)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "jobs\ttokens\tseconds\ttokens/s\tvs 1 job\t\n")
	for _, c := range r.Concurrency {
		fmt.Fprintf(tw, "%d\t%d\t%.2f\t%.1f\t%.2f×\t\n", c.Jobs, c.Tokens, c.Seconds, c.TokensPerSecond, c.VsOneJob)
	}
	tw.Flush()
	if n := r.NATS; n != nil {
		fmt.Fprintf(w, "\nthrough NATS with a %d-keyword filter, %d jobs: %.1f tokens/s; engine alone %.1f; ratio %.3f (medians of %d alternated rounds)\n", n.Keywords, n.Jobs, n.TokensPerSecond, n.EngineTokensPerS, n.Ratio, n.Rounds)
		fmt.Fprintf(w, "chunk latency (publish → subscriber), %d chunks: median %.0f µs, p99 %.0f µs\n", n.Chunks, n.ChunkLatencyP50us, n.ChunkLatencyP99us)
	}
	if h := r.HTTP; h != nil {
		fmt.Fprintf(w, "through the HTTP door, %d streaming jobs: %.1f tokens/s, first text %.1f ms; submitted on NATS %.1f tokens/s, first text %.1f ms; ratio %.3f (medians of %d alternated rounds)\n",
			h.Jobs, h.TokensPerSecond, h.FirstTokenMS, h.NATSTokensPerSec, h.NATSFirstTokenMS, h.Ratio, h.Rounds)
	}
	if d := r.Doors; d != nil {
		fmt.Fprintf(w, "the doors, %d streaming jobs (medians of %d rotated rounds):\n", d.Jobs, d.Rounds)
		for _, name := range []string{"chat/completions", "responses", "completions"} {
			x := d.Doors[name]
			fmt.Fprintf(w, "  /v1/%-17s %.1f tokens/s (%.3f of chat), first text %.1f ms (%.3f of chat)\n", name, x.TokensPerSecond, x.VsChat, x.FirstTextMS, x.FirstVsChat)
		}
	}
	fmt.Fprintln(w)
	for _, f := range r.FirstToken {
		fmt.Fprintf(w, "time to first token, %4d-token prompt: %.1f ms\n", f.PromptTokens, f.Milliseconds)
	}
	if p := r.Prefix; p != nil {
		printPrefix(w, p)
	}
	fmt.Fprintf(w, "\npeak RSS: %.0f MiB\n", float64(r.PeakRSSBytes)/(1<<20))
}
