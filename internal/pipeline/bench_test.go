package pipeline_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/sieve-project/sieve/internal/config"
	"github.com/sieve-project/sieve/internal/engine"
	"github.com/sieve-project/sieve/internal/modelgen"
	"github.com/sieve-project/sieve/internal/pipeline"
	"github.com/sieve-project/sieve/internal/policy"
)

// BenchmarkAvoidList times 128 tokens of the realistic-shape model
// through the pipeline with no avoid list and with 20,000 avoid keywords
// that never fire: what watching for them costs, the hold-back, a clone of
// the guard's state per token.
//
//	OLLAMA_LIBRARY_PATH=$PWD/lib/ollama go test -run '^$' -bench BenchmarkAvoidList -benchtime 6x -count 4 ./internal/pipeline/
func BenchmarkAvoidList(b *testing.B) {
	dir := filepath.Join(os.TempDir(), "sieve-bench-models")
	shape := modelgen.Small()
	path := filepath.Join(dir, fmt.Sprintf("small-%d-%d-%s.gguf", shape.Embd, shape.Blocks, shape.Type))
	if _, err := os.Stat(path); err != nil {
		b.Skipf("%s: write it first (sieve bench --random small --model %s)", path, path)
	}
	e, err := engine.Load(context.Background(), engine.Config{ModelPath: path, Context: 1024, Batch: 512, Threads: runtime.NumCPU(), Parallel: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	rng := rand.New(rand.NewPCG(7, 7))
	words := make([]string, 0, 20000)
	for len(words) < cap(words) {
		w := make([]byte, 6+rng.IntN(5))
		for i := range w {
			w[i] = byte('a' + rng.IntN(26))
		}
		words = append(words, string(w))
	}
	body := []byte(`{"messages":[{"role":"user","content":"Tell me a long story about a lighthouse keeper."}],"max_tokens":128,"temperature":0}`)
	for _, tt := range []struct {
		name  string
		lists []config.List
	}{
		{"no_avoid_list", nil},
		{"avoid_20k_never_fires", []config.List{{Name: "avoid", Action: "avoid", Match: "word", Words: words}}},
	} {
		cfg := config.Default()
		cfg.Filter.Lists = tt.lists
		f, err := policy.Load(cfg)
		if err != nil {
			b.Fatal(err)
		}
		r := &pipeline.Runner{Engine: e, Policies: f, Defaults: cfg.Generate, Limits: pipeline.Limits(cfg.Generate, cfg.Queue)}
		b.Run(tt.name, func(b *testing.B) {
			tokens := 0
			start := time.Now()
			for b.Loop() {
				res := r.Run(context.Background(), body, "bench", func(string) error { return nil })
				if len(res.Filter.Output) != 0 || res.Usage.CompletionTokens == 0 {
					b.Fatalf("result %+v", res)
				}
				tokens += res.Usage.CompletionTokens
			}
			b.ReportMetric(float64(tokens)/time.Since(start).Seconds(), "tok/s")
		})
	}
}
