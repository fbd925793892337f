package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/ollama/ollama/llama"

	"github.com/sieve-project/sieve/internal/engine"
	"github.com/sieve-project/sieve/internal/modelgen"
)

// benchModel writes (once, into a cache folder kept between runs, since a
// 246M-parameter model takes a while to make) a realistic-shape random
// model of the given weight type.
func benchModel(b *testing.B, typ string) string {
	b.Helper()
	dir := filepath.Join(os.TempDir(), "sieve-bench-models")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	shape := modelgen.Small()
	shape.Type = typ
	path := filepath.Join(dir, fmt.Sprintf("small-%d-%d-%s.gguf", shape.Embd, shape.Blocks, typ))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	tmp := path + ".tmp"
	if err := modelgen.WriteRandom(tmp, shape); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	return path
}

const benchTokens = 128

var benchSampling = engine.Sampling{Temperature: 0, TopK: 40, TopP: 0.9, MinP: 0.05, RepeatPenalty: 1.1, RepeatLastN: 64}

// BenchmarkDecode compares single-stream generation through the engine
// with a minimal loop over the binding on the same model, prompt, sampler
// and thread count: the engine's overhead per token is what separates them.
//
//	go test -run '^$' -bench BenchmarkDecode -benchtime 4x -count 5 ./internal/engine/
func BenchmarkDecode(b *testing.B) {
	threads := runtime.NumCPU()
	for _, typ := range []string{"q8_0", "q4_0"} {
		path := benchModel(b, typ)
		e, err := engine.Load(context.Background(), engine.Config{ModelPath: path, Context: 1024, Batch: 512, Threads: threads, Parallel: 1})
		if err != nil {
			b.Fatal(err)
		}
		prompt, err := e.Tokenize("<|im_start|>user\nTell me a long story about a lighthouse keeper.<|im_end|>\n<|im_start|>assistant\n", true)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("engine/"+typ, func(b *testing.B) {
			tokens := 0
			start := time.Now()
			for b.Loop() {
				res, err := e.Generate(context.Background(), engine.Request{Prompt: prompt, MaxTokens: benchTokens, Sampling: benchSampling}, func(string) error { return nil })
				if err != nil {
					b.Fatal(err)
				}
				tokens += res.CompletionTokens
			}
			b.ReportMetric(float64(tokens)/time.Since(start).Seconds(), "tok/s")
		})
		e.Close()

		b.Run("loop/"+typ, func(b *testing.B) {
			model, err := llama.LoadModelFromFile(path, llama.ModelParams{UseMmap: true})
			if err != nil {
				b.Fatal(err)
			}
			defer llama.FreeModel(model)
			lctx, err := llama.NewContextWithModel(model, llama.NewContextParams(1024, 512, 1, threads, false, ""))
			if err != nil {
				b.Fatal(err)
			}
			defer engine.FreeContext(lctx)
			batch, err := llama.NewBatch(512, 1, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer batch.Free()
			tokens := 0
			start := time.Now()
			for b.Loop() {
				tokens += minimalLoop(b, model, lctx, batch, prompt)
			}
			b.ReportMetric(float64(tokens)/time.Since(start).Seconds(), "tok/s")
		})
	}
}

// minimalLoop is the least a program can do to generate with the binding:
// decode the prompt, then sample and decode one token at a time, stopping
// at an end-of-generation token or benchTokens, detokenizing each token.
func minimalLoop(b *testing.B, model *llama.Model, lctx *llama.Context, batch *llama.Batch, prompt []int) int {
	s := benchSampling
	sampler, err := llama.NewSamplingContext(model, llama.SamplingParams{
		TopK: s.TopK, TopP: s.TopP, MinP: s.MinP, TypicalP: 1, Temp: s.Temperature,
		RepeatLastN: s.RepeatLastN, PenaltyRepeat: s.RepeatPenalty, Seed: engine.RandomSeed,
	})
	if err != nil {
		b.Fatal(err)
	}
	lctx.KvCacheSeqRm(0, -1, -1)
	batch.Clear()
	for i, t := range prompt {
		batch.Add(t, nil, i, i == len(prompt)-1, 0)
	}
	if err := lctx.Decode(batch); err != nil {
		b.Fatal(err)
	}
	pos, idx, n := len(prompt), len(prompt)-1, 0
	for n < benchTokens {
		tok := sampler.Sample(lctx, idx)
		sampler.Accept(tok, true)
		if model.TokenIsEog(tok) {
			break
		}
		n++
		_ = model.TokenToPiece(tok)
		if n == benchTokens {
			break
		}
		batch.Clear()
		batch.Add(tok, nil, pos, true, 0)
		pos, idx = pos+1, 0
		if err := lctx.Decode(batch); err != nil {
			b.Fatal(err)
		}
	}
	return n
}

// BenchmarkStep measures one decode step of width k: the next token of k
// sequences in one batch, each with a history of 64 tokens or more, as the
// loop decodes them when k jobs generate at once. No scheduler can give k
// jobs more than k/(ns/op at k) tokens a second, so the ratio of the k=4 and
// k=1 rows is the ceiling of what batching can gain on a machine.
//
//	go test -run '^$' -bench BenchmarkStep -benchtime 40x -count 5 ./internal/engine/
func BenchmarkStep(b *testing.B) {
	threads := runtime.NumCPU()
	const history = 64
	for _, typ := range []string{"q4_0", "q8_0"} {
		path := benchModel(b, typ)
		model, err := llama.LoadModelFromFile(path, llama.ModelParams{UseMmap: true})
		if err != nil {
			b.Fatal(err)
		}
		lctx, err := llama.NewContextWithModel(model, llama.NewContextParams(8*1024, 512, 8, threads, false, ""))
		if err != nil {
			b.Fatal(err)
		}
		batch, err := llama.NewBatch(512, 8, 0)
		if err != nil {
			b.Fatal(err)
		}
		for _, k := range []int{1, 2, 3, 4, 8} {
			b.Run(fmt.Sprintf("%s/k=%d", typ, k), func(b *testing.B) {
				pos := 0
				fill := func() {
					for s := range k {
						lctx.KvCacheSeqRm(s, -1, -1)
						batch.Clear()
						for i := range history {
							batch.Add(100+i, nil, i, false, s)
						}
						if err := lctx.Decode(batch); err != nil {
							b.Fatal(err)
						}
					}
					pos = history
				}
				fill()
				for b.Loop() {
					if pos == 1024-1 {
						b.StopTimer()
						fill()
						b.StartTimer()
					}
					batch.Clear()
					for s := range k {
						batch.Add(200+pos%50, nil, pos, true, s)
					}
					if err := lctx.Decode(batch); err != nil {
						b.Fatal(err)
					}
					pos++
				}
				b.ReportMetric(float64(k)*float64(b.N)/b.Elapsed().Seconds(), "tok/s")
			})
		}
		batch.Free()
		engine.FreeContext(lctx)
		llama.FreeModel(model)
	}
}
