package bench

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/sieve-project/sieve/internal/chatml"
	"github.com/sieve-project/sieve/internal/engine"
	"github.com/sieve-project/sieve/job"
)

// prefixRow is what --shared-prefix measures: the time to the first
// token of jobs that share a system prompt, the first of them computing
// it (cold) and the next ones taking it from the prompt cache (warm).
type prefixRow struct {
	SharedTokens int     `json:"shared_tokens"` // what the jobs of a round have in common
	PromptTokens int     `json:"prompt_tokens"` // a whole job's prompt
	Rounds       int     `json:"rounds"`        // each with a new system prompt
	ColdMS       float64 `json:"cold_ms"`       // the first job of a round, one at a time (median)
	WarmMS       float64 `json:"warm_ms"`       // the four after it, one at a time (median)
	Speedup      float64 `json:"speedup"`       // cold / warm
	WarmCached   int     `json:"warm_cached_tokens"`
	// Jobs at once: a new system prompt reaching them together, and
	// then, with it computed, again.
	Jobs             int       `json:"jobs"`
	TogetherMS       []float64 `json:"together_ms,omitempty"` // each job's first token, the last round, sorted
	TogetherMedianMS float64   `json:"together_median_ms,omitempty"`
	TogetherComputed float64   `json:"together_computed_tokens,omitempty"` // prompt tokens computed for the wave (median over rounds)
	WaveMS           []float64 `json:"wave_ms,omitempty"`                  // each job's first token, the last round, sorted
	WaveMedianMS     float64   `json:"wave_median_ms,omitempty"`
}

// benchPrefix times first tokens under a shared system prompt of about
// shared tokens, rounds times with a new one each round.
func benchPrefix(ctx context.Context, eng engine.Engine, shared, jobs, rounds int, greedy engine.Sampling, progress func(string, ...any)) (*prefixRow, error) {
	progress("measuring first tokens under a shared %d-token system prompt, %d rounds…", shared, rounds)
	b := prefixBench{ctx: ctx, eng: eng, greedy: greedy, row: &prefixRow{Rounds: rounds, Jobs: jobs}}
	for r := range rounds {
		if err := b.oneAtATime(r, shared); err != nil {
			return nil, err
		}
		if jobs < 2 {
			continue
		}
		if err := b.waves(r, shared, jobs); err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	row := b.row
	row.ColdMS, row.WarmMS = median(b.cold), median(b.warm)
	if row.WarmMS > 0 {
		row.Speedup = row.ColdMS / row.WarmMS
	}
	slices.Sort(b.cached)
	row.WarmCached = b.cached[len(b.cached)/2]
	if len(b.togetherMed) > 0 {
		row.TogetherMedianMS, row.TogetherComputed, row.WaveMedianMS = median(b.togetherMed), median(b.computed), median(b.wave)
	}
	return row, nil
}

// prefixBench is one --shared-prefix measurement: the figures of every
// round, gathered for the medians.
type prefixBench struct {
	ctx    context.Context
	eng    engine.Engine
	greedy engine.Sampling
	row    *prefixRow

	cold, warm, wave, togetherMed, computed []float64
	cached                                  []int
}

// first runs req and returns its time to the first token.
func (b *prefixBench) first(req engine.Request) (engine.Result, float64, error) {
	req.Sampling = b.greedy
	res, err := b.eng.Generate(b.ctx, req, func(string) error { return nil })
	return res, float64((res.QueueTime + res.PromptTime).Microseconds()) / 1000, err
}

// together runs prompts at once; it returns their first tokens' times,
// sorted, and the prompt tokens they computed between them.
func (b *prefixBench) together(prompts []engine.Request) (ms []float64, computed int, err error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range prompts {
		wg.Go(func() {
			res, t, e := b.first(p)
			mu.Lock()
			defer mu.Unlock()
			ms = append(ms, t)
			computed += res.PromptTokens - res.CachedTokens
			if e != nil && err == nil {
				err = e
			}
		})
	}
	wg.Wait()
	slices.Sort(ms)
	return ms, computed, err
}

// oneAtATime runs five jobs under a new system prompt, one after the
// other: the first computes it (cold), the next ones reuse it (warm).
func (b *prefixBench) oneAtATime(round, shared int) error {
	system, err := systemPrompt(b.eng, fmt.Sprintf("Policy %d.", round), shared)
	if err != nil {
		return err
	}
	for j := range 5 {
		p, err := prefixJob(b.eng, system, j)
		if err != nil {
			return err
		}
		res, t, err := b.first(p)
		if err != nil {
			return err
		}
		b.row.PromptTokens = res.PromptTokens
		if j == 0 {
			next, err := prefixJob(b.eng, system, 1)
			if err != nil {
				return err
			}
			b.row.SharedTokens = sharedLen(p.Prompt, next.Prompt)
			b.cold = append(b.cold, t)
			continue
		}
		b.warm = append(b.warm, t)
		b.cached = append(b.cached, res.CachedTokens)
	}
	return nil
}

// waves runs jobs at once under a new system prompt (it reaches them
// together), and then jobs more with it computed.
func (b *prefixBench) waves(round, shared, jobs int) error {
	system, err := systemPrompt(b.eng, fmt.Sprintf("Policy %d, for many.", round), shared)
	if err != nil {
		return err
	}
	wave := func(from int) ([]float64, int, error) {
		var ps []engine.Request
		for j := range jobs {
			p, err := prefixJob(b.eng, system, from+j)
			if err != nil {
				return nil, 0, err
			}
			ps = append(ps, p)
		}
		return b.together(ps)
	}
	ms, n, err := wave(0)
	if err != nil {
		return err
	}
	b.row.TogetherMS = ms
	b.togetherMed = append(b.togetherMed, median(ms))
	b.computed = append(b.computed, float64(n))
	if ms, _, err = wave(jobs); err != nil {
		return err
	}
	b.row.WaveMS = ms
	b.wave = append(b.wave, ms...)
	return nil
}

// systemPrompt makes a system prompt of about n tokens that begins with
// head, so that no two rounds share more than the ChatML frame.
func systemPrompt(eng engine.Engine, head string, n int) (string, error) {
	const rule = "Answer in plain words, keep to the facts the user gives, and never repeat a word a moderator would remove. "
	var b strings.Builder
	b.WriteString(head + " ")
	for {
		ids, err := eng.Tokenize(b.String(), false)
		if err != nil {
			return "", err
		}
		if len(ids) >= n {
			return b.String(), nil
		}
		b.WriteString(rule)
	}
}

func prefixQuestion(j int) string {
	return fmt.Sprintf("Question %d: which of these rules matters most when a reply is about item %d, and why?", j, 7*j+3)
}

// prefixJob is job j of a round: its prompt, and how much of it the
// cache keeps (the system prompt), as package pipeline asks.
func prefixJob(eng engine.Engine, system string, j int) (engine.Request, error) {
	ids, keep, err := chatml.TokensAndHistory(eng, []job.Message{{Role: job.RoleSystem, Content: system}, {Role: job.RoleUser, Content: prefixQuestion(j)}})
	return engine.Request{Prompt: ids, Keep: keep, MaxTokens: 1}, err
}

// sharedLen is how many leading tokens a and b have in common.
func sharedLen(a, b []int) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

func printPrefix(w io.Writer, p *prefixRow) {
	fmt.Fprintf(w, "\nshared system prompt of %d tokens, %d-token prompts, %d rounds each with a new one:\n", p.SharedTokens, p.PromptTokens, p.Rounds)
	fmt.Fprintf(w, "  one at a time: first job %.1f ms (computes it), the next ones %.1f ms (%d tokens cached): %.1f× faster\n", p.ColdMS, p.WarmMS, p.WarmCached, p.Speedup)
	if p.Jobs > 1 && len(p.TogetherMS) > 0 {
		fmt.Fprintf(w, "  %d jobs at once with a new one: median %.1f ms, %.0f prompt tokens computed; last round %s ms\n", p.Jobs, p.TogetherMedianMS, p.TogetherComputed, msList(p.TogetherMS))
		fmt.Fprintf(w, "  %d jobs at once with it computed: median %.1f ms; last round %s ms\n", p.Jobs, p.WaveMedianMS, msList(p.WaveMS))
	}
}

func msList(ms []float64) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = fmt.Sprintf("%.0f", m)
	}
	return strings.Join(s, " ")
}
