package engine_test

import (
	"context"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sieve-project/sieve/internal/engine"
	"github.com/sieve-project/sieve/internal/modelgen"
)

// wordGuard vetoes every occurrence of a word in the raw text: the
// engine's side of a guard, without the filter.
type wordGuard struct {
	word string
	text []byte
}

func (g *wordGuard) Write(b []byte) (int, *engine.Veto) {
	from := max(0, len(g.text)-len(g.word)+1) // occurrences this write completes
	g.text = append(g.text, b...)
	if i := strings.Index(string(g.text[from:]), g.word); i >= 0 {
		return g.safe(), &engine.Veto{Start: from + i, Tag: "word"}
	}
	return g.safe(), nil
}

// safe: everything but the longest tail that could begin the word.
func (g *wordGuard) safe() int {
	for k := min(len(g.word)-1, len(g.text)); k > 0; k-- {
		if strings.HasSuffix(string(g.text), g.word[:k]) {
			return len(g.text) - k
		}
	}
	return len(g.text)
}

func (g *wordGuard) End() *engine.Veto            { return nil }
func (g *wordGuard) Mark() engine.GuardState      { return len(g.text) }
func (g *wordGuard) Restore(st engine.GuardState) { g.text = g.text[:st.(int)] }

func TestGuardGoesBackAndSaysSomethingElse(t *testing.T) {
	e := load(t, writeScripted(t, modelgen.Scripted{
		Pieces:       []string{"Oh", " dar", "n", " it", "."},
		Alternatives: map[string][]string{"Oh": {" gosh"}},
		Then:         map[string]string{" gosh": " it"},
	}))
	res, pieces, err := collect(t, context.Background(), e, engine.Request{Prompt: prompt(t, e, "hi"), MaxTokens: 20, Sampling: greedy,
		Guard: &wordGuard{word: "darn"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != "Oh gosh it." || res.FinishReason != engine.FinishStop || res.CompletionTokens != 4 {
		t.Fatalf("got %q (%s, %d tokens)", res.Text, res.FinishReason, res.CompletionTokens)
	}
	for _, p := range pieces {
		if strings.Contains(p, "dar") || p == "n" {
			t.Fatalf("a rewound piece was emitted: %q", pieces)
		}
	}
	want := engine.Rewind{Tag: "word", Token: 1, Offset: 2, Tries: 1, Discarded: 2}
	if len(res.Rewinds) != 1 || res.Rewinds[0] != want {
		t.Fatalf("rewinds %+v, want %+v", res.Rewinds, want)
	}
}

func TestGuardTriesRunOut(t *testing.T) {
	e := load(t, writeScripted(t, modelgen.Scripted{
		Pieces:       []string{"Oh", " dar", "n", "."},
		Alternatives: map[string][]string{"Oh": {" dare", " darling"}},
		Then:         map[string]string{" dare": ".", " darling": "."},
	}))
	res, _, err := collect(t, context.Background(), e, engine.Request{Prompt: prompt(t, e, "hi"), MaxTokens: 20, Sampling: greedy,
		Guard: &wordGuard{word: "dar"}, MaxTries: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != "Oh darling." {
		t.Fatalf("got %q: want the last try's text, standing", res.Text)
	}
	var tries []int
	for _, r := range res.Rewinds {
		tries = append(tries, r.Tries)
	}
	if len(res.Rewinds) != 3 || !res.Rewinds[2].Stood || res.Rewinds[0].Stood || res.Rewinds[1].Stood || tries[0] != 1 || tries[1] != 2 {
		t.Fatalf("rewinds %+v: want two tries, then the text stands", res.Rewinds)
	}
	// MaxRewinds bounds the whole request the same way.
	res, _, _ = collect(t, context.Background(), e, engine.Request{Prompt: prompt(t, e, "hi"), MaxTokens: 20, Sampling: greedy,
		Guard: &wordGuard{word: "dar"}, MaxRewinds: 1})
	if res.Text != "Oh dare." || len(res.Rewinds) != 2 || !res.Rewinds[1].Stood {
		t.Fatalf("MaxRewinds 1: %q %+v", res.Text, res.Rewinds)
	}
}

// TestGuardedBatchingGivesSameAnswers: jobs whose guard vetoes often
// give, batched with others (guarded or not), what they give alone.
func TestGuardedBatchingGivesSameAnswers(t *testing.T) {
	path := writeRandom(t)
	prompts := []string{"a short one", strings.Repeat("a much longer prompt that spans several batches ", 12), "third", "fourth, medium length prompt"}
	guards := []string{"a", "", "e", "o"}
	req := func(e engine.Engine, i int) engine.Request {
		r := engine.Request{Prompt: prompt(t, e, prompts[i]), MaxTokens: 30, Sampling: engine.Sampling{Temperature: 0, TopK: 40, TopP: 0.9, MinP: 0.05, RepeatPenalty: 1.1}}
		if guards[i] != "" {
			r.Guard = &wordGuard{word: guards[i]}
		}
		return r
	}
	alone := load(t, path, func(c *engine.Config) { c.Context = 1024; c.Batch = 32 })
	want := make([]engine.Result, len(prompts))
	rewound := 0
	for i := range prompts {
		res, _, err := collect(t, context.Background(), alone, req(alone, i))
		if err != nil {
			t.Fatal(err)
		}
		want[i] = res
		rewound += len(res.Rewinds)
	}
	alone.Close()
	if rewound == 0 {
		t.Fatal("no guard vetoed anything: the test proves nothing")
	}
	e := load(t, path, func(c *engine.Config) { c.Context = 4096; c.Parallel = 4; c.Batch = 32 })
	var wg sync.WaitGroup
	for i := range prompts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 15 * time.Millisecond)
			res, _, err := collect(t, context.Background(), e, req(e, i))
			if err != nil {
				t.Error(err)
				return
			}
			if res.Text != want[i].Text || len(res.Rewinds) != len(want[i].Rewinds) {
				t.Errorf("job %d: batched %q (%d rewinds), alone %q (%d)", i, res.Text, len(res.Rewinds), want[i].Text, len(want[i].Rewinds))
			}
		}()
	}
	wg.Wait()
}

// writeRandom writes the small random model of the batching tests.
func writeRandom(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "random.gguf")
	if err := modelgen.WriteRandom(path, modelgen.Random{Embd: 128, Blocks: 2, Heads: 4, HeadsKV: 2, FF: 256, Vocab: 800, Type: "f32", Seed: 9}); err != nil {
		t.Fatal(err)
	}
	return path
}

// everyGuard vetoes the token at every nth position once (the first time
// it is there), holding back one token: what a rewind costs, whatever the
// text. With n 0 it never vetoes: what a guard costs.
type everyGuard struct {
	n      int
	lens   []int // bytes of each token kept
	vetoed map[int]bool
}

func (g *everyGuard) Write(b []byte) (int, *engine.Veto) {
	g.lens = append(g.lens, len(b))
	total := 0
	for _, l := range g.lens {
		total += l
	}
	i := len(g.lens) - 1
	if g.n > 0 && i > 0 && i%g.n == 0 && !g.vetoed[i] {
		g.vetoed[i] = true
		return total - len(b), &engine.Veto{Start: total - len(b), Tag: "every"}
	}
	return total - len(b), nil // the last token stays held
}

func (g *everyGuard) End() *engine.Veto            { return nil }
func (g *everyGuard) Mark() engine.GuardState      { return len(g.lens) }
func (g *everyGuard) Restore(st engine.GuardState) { g.lens = g.lens[:st.(int)] }

// BenchmarkRewind times 128 tokens of the realistic-shape model without a
// guard, with one that never vetoes, and with one that sends generation
// back at every 8th token; the third's extra time over the first, per
// token thrown away, is what a rewound token costs.
//
//	go test -run '^$' -bench BenchmarkRewind -benchtime 6x -count 3 ./internal/engine/
func BenchmarkRewind(b *testing.B) {
	path := benchModel(b, "q4_0")
	e, err := engine.Load(context.Background(), engine.Config{ModelPath: path, Context: 1024, Batch: 512, Threads: runtime.NumCPU(), Parallel: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	prompt, err := e.Tokenize("<|im_start|>user\nTell me a long story about a lighthouse keeper.<|im_end|>\n<|im_start|>assistant\n", true)
	if err != nil {
		b.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		n    int // 0 none, -1 a guard that never vetoes
	}{{"no_guard", 0}, {"guard_never_vetoes", -1}, {"rewind_every_8", 8}} {
		b.Run(tt.name, func(b *testing.B) {
			tokens, discarded := 0, 0
			start := time.Now()
			for b.Loop() {
				req := engine.Request{Prompt: prompt, MaxTokens: benchTokens, Sampling: benchSampling, MaxRewinds: 1000}
				if tt.n != 0 {
					req.Guard = &everyGuard{n: max(tt.n, 0), vetoed: map[int]bool{}}
				}
				res, err := e.Generate(context.Background(), req, func(string) error { return nil })
				if err != nil {
					b.Fatal(err)
				}
				tokens += res.CompletionTokens
				for _, r := range res.Rewinds {
					discarded += r.Discarded
				}
			}
			secs := time.Since(start).Seconds()
			b.ReportMetric(float64(tokens)/secs, "tok/s")
			b.ReportMetric(float64(discarded)/float64(b.N), "discarded/op")
			b.ReportMetric(secs*1000/float64(b.N), "ms/op")
		})
	}
}
