package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/sieve-project/sieve/internal/engine"
	"github.com/sieve-project/sieve/internal/format"
	"github.com/sieve-project/sieve/internal/modelgen"
	"github.com/sieve-project/sieve/job"
)

// BenchmarkSchemaOutputs runs 100 requests of the realistic-shape random
// model under boundedSchema's grammar (seeds 0-99, temperature 0.8) and
// reports how many ended with the end token within 256 tokens; it fails
// if any of those is not valid against the schema.
//
//	OLLAMA_LIBRARY_PATH=$PWD/lib/ollama go test -run '^$' -bench SchemaOutputs -benchtime 1x ./internal/engine/
func BenchmarkSchemaOutputs(b *testing.B) {
	e := loadBench(b, benchModel(b, "q4_0"))
	g, v := benchGrammar(b, boundedSchema)
	prompt := benchPrompt(b, e, "How was your day? Answer as JSON.")
	for b.Loop() {
		stops, tokens := 0, 0
		for seed := range uint32(100) {
			res, err := e.Generate(context.Background(), engine.Request{Prompt: prompt, MaxTokens: 256, Grammar: g,
				Sampling: engine.Sampling{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1.1, RepeatLastN: 64, Seed: seed}}, func(string) error { return nil })
			if err != nil {
				b.Fatal(err)
			}
			tokens += res.CompletionTokens
			if res.FinishReason != engine.FinishStop {
				continue
			}
			stops++
			if err := v.Validate(res.Text); err != nil {
				b.Fatalf("seed %d: %q: %v", seed, res.Text, err)
			}
		}
		b.ReportMetric(float64(stops), "stop_%")
		b.ReportMetric(float64(tokens)/100, "tokens/reply")
	}
}

// BenchmarkSchemaCost compares decode speed with and without a grammar
// (a JSON object with one unbounded string, so every reply runs its 128
// tokens) on the realistic-shape model (32,000 tokens) and on a small one
// with Qwen's 152,064-token vocabulary, where scanning the vocabulary
// weighs most. The two sides alternate within each iteration.
//
//	OLLAMA_LIBRARY_PATH=$PWD/lib/ollama go test -run '^$' -bench SchemaCost -benchtime 6x ./internal/engine/
func BenchmarkSchemaCost(b *testing.B) {
	const story = `{"type":"object","properties":{"story":{"type":"string"}},"required":["story"]}`
	g, _ := benchGrammar(b, story)
	for _, m := range []struct{ name, path string }{
		{"vocab32k", benchModel(b, "q4_0")},
		{"vocab152k", vocabModel(b, 152064)},
	} {
		b.Run(m.name, func(b *testing.B) {
			e := loadBench(b, m.path)
			prompt := benchPrompt(b, e, "Tell me a long story about a lighthouse keeper.")
			var plain, grammar []float64
			for i := 0; b.Loop(); i++ {
				for k := range 2 {
					withGrammar := (i+k)%2 == 1
					req := engine.Request{Prompt: prompt, MaxTokens: benchTokens,
						Sampling: engine.Sampling{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1.1, RepeatLastN: 64, Seed: uint32(i)}}
					if withGrammar {
						req.Grammar = g
					}
					res, err := e.Generate(context.Background(), req, func(string) error { return nil })
					if err != nil {
						b.Fatal(err)
					}
					tps := float64(res.CompletionTokens-1) / res.GenerateTime.Seconds()
					if withGrammar {
						grammar = append(grammar, tps)
					} else {
						plain = append(plain, tps)
					}
				}
			}
			p, q := medianOf(plain), medianOf(grammar)
			b.ReportMetric(p, "plain_tok/s")
			b.ReportMetric(q, "grammar_tok/s")
			b.ReportMetric(q/p, "ratio")
			b.ReportMetric(1000/q-1000/p, "ms/token_added")
		})
	}
}

func loadBench(b *testing.B, path string) engine.Engine {
	b.Helper()
	e, err := engine.Load(context.Background(), engine.Config{ModelPath: path, Context: 1024, Batch: 512, Threads: runtime.NumCPU(), Parallel: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	return e
}

func benchPrompt(b *testing.B, e engine.Engine, user string) []int {
	b.Helper()
	p, err := e.Tokenize("<|im_start|>user\n"+user+"<|im_end|>\n<|im_start|>assistant\n", true)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

func benchGrammar(b *testing.B, schema string) (string, *format.Validator) {
	b.Helper()
	g, err := engine.SchemaGrammar([]byte(schema))
	if err != nil {
		b.Fatal(err)
	}
	v, err := format.NewValidator(&job.Format{Type: job.FormatJSONSchema, Schema: []byte(schema)})
	if err != nil {
		b.Fatal(err)
	}
	return g, v
}

// vocabModel is a small model with a vocabulary of n tokens (written once
// into the benchmark models' folder).
func vocabModel(b *testing.B, n int) string {
	b.Helper()
	dir := filepath.Join(os.TempDir(), "sieve-bench-models")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, fmt.Sprintf("vocab-%d.gguf", n))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	tmp := path + ".tmp"
	if err := modelgen.WriteRandom(tmp, modelgen.Random{Embd: 64, Blocks: 1, Heads: 4, HeadsKV: 2, FF: 128, Vocab: n, Type: "f32", Seed: 5}); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	return path
}

func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	return s[len(s)/2]
}
