package engine_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/sieve-project/sieve/internal/chatml"
	"github.com/sieve-project/sieve/internal/engine"
	"github.com/sieve-project/sieve/job"
)

// BenchmarkPromptCacheOutputs measures how often the prompt cache leaves
// a realistic random model's output unchanged: 100 prompts share a
// system prompt and differ in their question; each is generated cold
// (cache off) and then with the cache, one at a time on one slot (the
// system prompt reused in place) and four at a time on four slots (it is
// copied between sequences), greedy and seeded; and, as a control, four
// at a time without the cache. It reports the share of outputs identical
// byte for byte, and where the first differing ones part. A difference
// means llama.cpp computed a token's logits differently when the prompt
// was split into other decode calls or its cells lay elsewhere, not a
// wrong cache: the tests in cache_test.go show the cells themselves are
// right.
//
// Run it on the backends `make` built (the plain test binary computes on
// the baseline x86-64 backend, tens of times slower):
//
//	OLLAMA_LIBRARY_PATH=$PWD/lib/ollama go test -run '^$' -bench PromptCacheOutputs -benchtime 1x ./internal/engine/
func BenchmarkPromptCacheOutputs(b *testing.B) {
	const prompts, gen = 100, 32
	threads := runtime.NumCPU()
	for _, typ := range []string{"q4_0"} {
		b.Run(typ, func(b *testing.B) {
			path := benchModel(b, typ)
			samplings := map[string]engine.Sampling{
				"greedy": benchSampling,
				"seeded": {Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1.1, Seed: 1234},
			}
			system := strings.Repeat("You moderate replies for a family forum: keep to the question, be brief, and never use a word the rules forbid. ", 6)
			for range b.N {
				for name, sp := range samplings {
					reqs := make([]engine.Request, prompts)
					load := func(pc engine.PromptCache, parallel int) engine.Engine {
						e, err := engine.Load(context.Background(), engine.Config{ModelPath: path, Context: 2048 * parallel, Batch: 512, Threads: threads, Parallel: parallel}, engine.WithPromptCache(pc))
						if err != nil {
							b.Fatal(err)
						}
						return e
					}
					gen1 := func(e engine.Engine, r engine.Request) engine.Result {
						res, err := e.Generate(context.Background(), r, func(string) error { return nil })
						if err != nil {
							b.Error(err)
						}
						return res
					}
					cold := load(engine.PromptCache{Off: true}, 1)
					want := make([]string, prompts)
					for i := range reqs {
						ids, keep, err := chatml.TokensAndHistory(cold, []job.Message{{Role: job.RoleSystem, Content: system},
							{Role: job.RoleUser, Content: fmt.Sprintf("Question %d: is it fine to call item %d a bargain, and why?", i, 17*i+5)}})
						if err != nil {
							b.Fatal(err)
						}
						reqs[i] = engine.Request{Prompt: ids, Keep: keep, MaxTokens: gen, Sampling: sp}
						want[i] = gen1(cold, reqs[i]).Text
					}
					cold.Close()

					compare := func(label string, got []engine.Result) {
						same, cached := 0, 0
						var parted []string
						for i, r := range got {
							cached += r.CachedTokens
							if r.Text == want[i] {
								same++
								continue
							}
							n := 0
							for n < min(len(r.Text), len(want[i])) && r.Text[n] == want[i][n] {
								n++
							}
							parted = append(parted, fmt.Sprintf("#%d at byte %d", i, n))
						}
						b.ReportMetric(float64(same)/float64(len(got)), label+"-identical")
						b.ReportMetric(float64(cached)/float64(len(got)), label+"-cached-tokens")
						b.Logf("%s %s %s: %d of %d identical, %.0f prompt tokens cached per request; differing: %v", typ, name, label, same, len(got), float64(cached)/float64(len(got)), parted)
					}

					one := load(engine.PromptCache{}, 1)
					got := make([]engine.Result, prompts)
					for i, r := range reqs {
						got[i] = gen1(one, r)
					}
					one.Close()
					compare(name+"-1slot", got)

					fourAtATime := func(e engine.Engine) []engine.Result {
						got := make([]engine.Result, prompts)
						for i := 0; i < prompts; i += 4 {
							var wg sync.WaitGroup
							for j := i; j < min(i+4, prompts); j++ {
								wg.Add(1)
								go func() {
									defer wg.Done()
									got[j] = gen1(e, reqs[j])
								}()
							}
							wg.Wait()
						}
						e.Close()
						return got
					}
					// The control: no cache, four at a time. Batched with
					// others, a prompt's cells lie elsewhere among theirs.
					compare(name+"-4slots-nocache", fourAtATime(load(engine.PromptCache{Off: true}, 4)))
					got = fourAtATime(load(engine.PromptCache{}, 4))
					compare(name+"-4slots", got)
				}
			}
		})
	}
}
