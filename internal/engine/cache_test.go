package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sieve-project/sieve/internal/chatml"
	"github.com/sieve-project/sieve/internal/engine"
	"github.com/sieve-project/sieve/internal/modelgen"
	"github.com/sieve-project/sieve/job"
)

// recallModel says "plain." after a prompt without the marker "§" and
// "marked!" after one with it anywhere: its attention reads every
// position, so a request given the wrong KV cells says the wrong thing.
var recallModel = modelgen.Scripted{
	Pieces: []string{"pla", "in", "."},
	Recall: &modelgen.Recall{Marker: "§", Pieces: []string{"mark", "ed", "!"}},
}

const (
	plainText  = "plain."
	markedText = "marked!"
)

// chatPrompt renders a system prompt and a user message as ChatML tokens.
func chatPrompt(t *testing.T, e engine.Engine, system, user string) []int {
	t.Helper()
	msgs, err := chatml.Prepare([]job.Message{{Role: job.RoleUser, Content: user}}, system)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := chatml.Tokens(e, msgs)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// loadCache loads path with the prompt cache set to pc.
func loadCache(t *testing.T, path string, pc engine.PromptCache, mod ...func(*engine.Config)) engine.Engine {
	t.Helper()
	cfg := engine.Config{ModelPath: path, Context: 2048, Batch: 64, Threads: 1, Parallel: 1}
	for _, m := range mod {
		m(&cfg)
	}
	e, err := engine.Load(context.Background(), cfg, engine.WithPromptCache(pc))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func run(t *testing.T, e engine.Engine, p []int) engine.Result {
	t.Helper()
	res, _, err := collect(t, context.Background(), e, engine.Request{Prompt: p, MaxTokens: 20, Sampling: greedy})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// policy is a long system prompt; marked is the same with the marker
// near its end, so the two share all but their last few tokens.
var (
	policy = strings.Repeat("Answer briefly and politely, and never repeat a word the rules forbid. ", 8)
	marked = policy + "Rule §: be kind."
	plain  = policy + "Rule 7: be kind."
)

func TestRecallModelReadsItsContext(t *testing.T) {
	e := loadCache(t, writeScripted(t, recallModel), engine.PromptCache{Off: true})
	marker, err := e.Tokenize("§", false)
	if err != nil || len(marker) != 1 {
		t.Fatalf("the marker is %v (%v), want one token", marker, err)
	}
	p := chatPrompt(t, e, marked, "hi")
	if !slices.Contains(p, marker[0]) {
		t.Fatal("the marked prompt does not hold the marker token")
	}
	for _, tt := range []struct {
		system, user, want string
	}{
		{plain, "hi", plainText},
		{marked, "hi", markedText},
		{"short", "§", markedText},
		{"short", "no marker here", plainText},
		{strings.Repeat("long context, ", 100) + "§", "hi", markedText},
	} {
		if got := run(t, e, chatPrompt(t, e, tt.system, tt.user)).Text; got != tt.want {
			t.Errorf("system %.20q… user %q: said %q, want %q", tt.system, tt.user, got, tt.want)
		}
	}
}

// TestPromptCacheSameOutput: a sequence of requests whose prompts share
// long prefixes and differ where it matters (the marker) says the same,
// byte for byte, with the cache on and off, on one slot and on four; with
// the cache on, the requests after the first take their shared prefix
// from it.
func TestPromptCacheSameOutput(t *testing.T) {
	path := writeScripted(t, recallModel)
	type req struct{ system, user string }
	seq := []req{
		{plain, "hi"}, {plain, "hello"}, {marked, "hi"}, {plain, "hi"},
		{marked, "hello"}, {marked, "hello"}, {"short §", "x"}, {plain, "x"}, {policy, "§"}, {policy, "y"},
	}
	want := make([]string, len(seq))
	off := loadCache(t, path, engine.PromptCache{Off: true})
	for i, r := range seq {
		res := run(t, off, chatPrompt(t, off, r.system, r.user))
		if res.CachedTokens != 0 {
			t.Fatalf("cache off: request %d took %d tokens from a cache", i, res.CachedTokens)
		}
		want[i] = res.Text
	}
	for _, parallel := range []int{1, 4} {
		t.Run(fmt.Sprintf("parallel %d", parallel), func(t *testing.T) {
			e := loadCache(t, path, engine.PromptCache{}, func(c *engine.Config) { c.Parallel = parallel; c.Context = 2048 * parallel })
			cachedAny := 0
			for i, r := range seq {
				p := chatPrompt(t, e, r.system, r.user)
				res := run(t, e, p)
				if res.Text != want[i] {
					t.Errorf("request %d: cache on said %q, off %q", i, res.Text, want[i])
				}
				if res.CachedTokens >= len(p) || res.PromptTokens != len(p) {
					t.Errorf("request %d: %d of %d prompt tokens cached (reported %d)", i, res.CachedTokens, len(p), res.PromptTokens)
				}
				cachedAny += res.CachedTokens
			}
			// Request 1 shares all of request 0's system prompt.
			if cachedAny < len(seq)/2*len(chatPrompt(t, e, policy, "")) {
				t.Errorf("only %d prompt tokens came from the cache in all", cachedAny)
			}
		})
	}
}

// TestPromptCacheReusesTheLongestPrefix: a second request with the same
// system prompt evaluates only what differs, and one with the whole
// prompt of an earlier one evaluates just its last token again.
func TestPromptCacheReusesTheLongestPrefix(t *testing.T) {
	e := loadCache(t, writeScripted(t, recallModel), engine.PromptCache{})
	first := chatPrompt(t, e, plain, "hi")
	second := chatPrompt(t, e, plain, "hello there")
	if r := run(t, e, first); r.CachedTokens != 0 {
		t.Fatalf("first request: %d cached, want 0", r.CachedTokens)
	}
	shared := 0
	for shared < len(first) && first[shared] == second[shared] {
		shared++
	}
	if r := run(t, e, second); r.CachedTokens != shared {
		t.Fatalf("second request: %d cached, want the %d tokens it shares with the first", r.CachedTokens, shared)
	}
	if r := run(t, e, second); r.CachedTokens != len(second)-1 || r.Text != plainText {
		t.Fatalf("same prompt again: %d cached (want %d), said %q", r.CachedTokens, len(second)-1, r.Text)
	}
}

// TestPromptCacheAcrossSlots: a prefix one slot computed is given to the
// others, while the first still runs and after it ended; four requests
// that arrive together with a new prefix compute it once.
func TestPromptCacheAcrossSlots(t *testing.T) {
	// Pieces the preamble does not hold: a piece whose predecessor fills
	// the context would outscore the recall (see modelgen.Recall).
	path := writeScripted(t, modelgen.Scripted{Pieces: []string{"α", "β", "γ"}, Loop: true, Recall: recallModel.Recall})
	e := loadCache(t, path, engine.PromptCache{}, func(c *engine.Config) { c.Parallel = 4; c.Context = 4 * 1024; c.Batch = 32 })
	long := strings.Repeat("A shared preamble that takes many batches to compute. ", 12)
	job := func(i int) []int { return chatPrompt(t, e, long+fmt.Sprintf(" Job %d.", i), "go") }
	prefix := 0
	for a, b := job(0), job(1); a[prefix] == b[prefix]; prefix++ {
	}

	// Four at once, nothing cached: one computes the preamble, the others
	// wait for it and start on it.
	var mu sync.Mutex
	var cached []int
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, _, err := collect(t, context.Background(), e, engine.Request{Prompt: job(i), MaxTokens: 30, Sampling: greedy})
			if err != nil || res.Text != strings.Repeat("αβγ", 10) {
				t.Errorf("job %d: %q %v", i, res.Text, err)
			}
			mu.Lock()
			cached = append(cached, res.CachedTokens)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(cached)
	if cached[1] < prefix {
		t.Fatalf("cached tokens %v: the preamble (%d tokens) was computed more than once", cached, prefix)
	}

	// A request with the marker after the shared preamble says so: it got
	// the preamble's cells and computed its own rest.
	p := chatPrompt(t, e, long+" §", "go")
	res, _, err := collect(t, context.Background(), e, engine.Request{Prompt: p, MaxTokens: 10, Sampling: greedy})
	shared := 0
	for a := job(0); a[shared] == p[shared]; shared++ {
	}
	if err != nil || res.Text != markedText || res.CachedTokens != shared {
		t.Fatalf("marked after the preamble: %q, %d cached, %v", res.Text, res.CachedTokens, err)
	}
}

// TestPromptCacheEvicts: many distinct long prompts through a small
// cache never fail for want of cells, and say what they should; the
// entries evicted are the least recently used, so a system prompt used
// all along stays cached, and only it: its request's own message is
// freed once another request starts.
func TestPromptCacheEvicts(t *testing.T) {
	e := loadCache(t, writeScripted(t, recallModel), engine.PromptCache{}, func(c *engine.Config) { c.Context = 2048; c.Parallel = 2; c.Batch = 64 })
	hot, keep, err := chatml.TokensAndHistory(e, []job.Message{{Role: job.RoleSystem, Content: plain}, {Role: job.RoleUser, Content: "hot"}})
	if err != nil {
		t.Fatal(err)
	}
	runHot := func() engine.Result {
		res, _, err := collect(t, context.Background(), e, engine.Request{Prompt: hot, Keep: keep, MaxTokens: 20, Sampling: greedy})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	runHot()
	for i := range 30 {
		system := strings.Repeat(fmt.Sprintf("Distinct preamble number %d. ", i), 6)
		want := plainText
		if i%3 == 0 {
			system += "§"
			want = markedText
		}
		if got := run(t, e, chatPrompt(t, e, system, "hi")).Text; got != want {
			t.Fatalf("request %d said %q, want %q", i, got, want)
		}
		if i%4 == 3 {
			// Its system prompt stays: what it kept (Request.Keep).
			if r := runHot(); r.CachedTokens != keep || r.Text != plainText {
				t.Fatalf("after %d others, the hot prompt had %d tokens cached (want its system prompt, %d) and said %q", i+1, r.CachedTokens, keep, r.Text)
			}
		}
	}
}

// TestPromptCacheRandomModel: on a realistic random model, where every
// weight and every cell matters, cached and cold requests say the same,
// greedy and seeded, in place on one slot and copied across four.
func TestPromptCacheRandomModel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "random.gguf")
	if err := modelgen.WriteRandom(path, modelgen.Random{Embd: 128, Blocks: 2, Heads: 4, HeadsKV: 2, FF: 256, Vocab: 800, Type: "f32", Seed: 9}); err != nil {
		t.Fatal(err)
	}
	type req struct {
		user string
		sp   engine.Sampling
	}
	var reqs []req
	for _, sp := range []engine.Sampling{
		{Temperature: 0, TopK: 40, TopP: 0.9, MinP: 0.05, RepeatPenalty: 1.1},
		{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1.1, Seed: 42},
	} {
		for _, u := range []string{"one", "two, a little longer", "three", "one"} {
			reqs = append(reqs, req{u, sp})
		}
	}
	gen := func(e engine.Engine, r req) engine.Result {
		res, _, err := collect(t, context.Background(), e, engine.Request{Prompt: chatPrompt(t, e, policy, r.user), MaxTokens: 24, Sampling: r.sp})
		if err != nil {
			t.Error(err)
		}
		return res
	}
	cold := loadCache(t, path, engine.PromptCache{Off: true})
	want := make([]string, len(reqs))
	for i, r := range reqs {
		want[i] = gen(cold, r).Text
	}

	one := loadCache(t, path, engine.PromptCache{})
	cached := 0
	for i, r := range reqs {
		res := gen(one, r)
		cached += res.CachedTokens
		if res.Text != want[i] {
			t.Errorf("one slot, request %d: cached %q, cold %q", i, res.Text, want[i])
		}
	}
	if cached == 0 {
		t.Fatal("one slot: nothing came from the cache")
	}

	// Four slots: a warm-up, then all at once, each copying the prefix
	// from the warm-up's cells or from each other's.
	four := loadCache(t, path, engine.PromptCache{}, func(c *engine.Config) { c.Parallel = 4; c.Context = 4 * 2048; c.Batch = 32 })
	gen(four, req{"warm-up", reqs[0].sp})
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := gen(four, r)
			if res.Text != want[i] || res.CachedTokens == 0 {
				t.Errorf("four slots, request %d: cached %q (%d tokens from the cache), cold %q", i, res.Text, res.CachedTokens, want[i])
			}
		}()
	}
	wg.Wait()
}

// TestPromptCacheGuardRewinds: a guard that vetoes a reply's first token
// sends the request back to its prompt's last token, which it computed
// itself even when the rest of the prompt came from the cache (of its own
// slot, or shared with another running request): the cached cells stay
// as they were, and every run says the same.
func TestPromptCacheGuardRewinds(t *testing.T) {
	e := loadCache(t, writeScripted(t, modelgen.Scripted{
		Pieces:       []string{"Dar", "n", " it", "."},
		Alternatives: map[string][]string{"": {"Gosh"}},
		Then:         map[string]string{"Gosh": " it"},
	}), engine.PromptCache{}, func(c *engine.Config) { c.Parallel = 2; c.Context = 2 * 1024 })
	p := chatPrompt(t, e, policy, "hi")
	want := engine.Rewind{Tag: "word", Token: 0, Offset: 0, Tries: 1, Discarded: 1}
	check := func(res engine.Result, err error) {
		t.Helper()
		if err != nil || res.Text != "Gosh it." || len(res.Rewinds) != 1 || res.Rewinds[0] != want {
			t.Fatalf("got %q %+v %v", res.Text, res.Rewinds, err)
		}
	}
	guarded := func() (engine.Result, error) {
		res, _, err := collect(t, context.Background(), e, engine.Request{Prompt: p, MaxTokens: 10, Sampling: greedy, Guard: &wordGuard{word: "Dar"}})
		return res, err
	}
	check(guarded())
	res, err := guarded()
	check(res, err)
	if res.CachedTokens != len(p)-1 {
		t.Fatalf("second run: %d cached, want %d", res.CachedTokens, len(p)-1)
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := guarded()
			if err != nil || res.Text != "Gosh it." || res.CachedTokens == 0 {
				t.Errorf("at once: %q, %d cached, %v", res.Text, res.CachedTokens, err)
			}
		}()
	}
	wg.Wait()
	check(guarded())
}
