package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/sieve-project/sieve/internal/chatml"
	"github.com/sieve-project/sieve/internal/engine"
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
	row := &prefixRow{Rounds: rounds, Jobs: jobs}
	first := func(req engine.Request) (engine.Result, float64, error) {
		req.Sampling = greedy
		res, err := eng.Generate(ctx, req, func(string) error { return nil })
		return res, float64((res.QueueTime + res.PromptTime).Microseconds()) / 1000, err
	}
	together := func(prompts []engine.Request) (ms []float64, computed int, err error) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, p := range prompts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, t, e := first(p)
				mu.Lock()
				defer mu.Unlock()
				ms = append(ms, t)
				computed += res.PromptTokens - res.CachedTokens
				if e != nil && err == nil {
					err = e
				}
			}()
		}
		wg.Wait()
		slices.Sort(ms)
		return ms, computed, err
	}
	var cold, warm, wave, togetherMed, computed []float64
	var cached []int
	for r := range rounds {
		system, err := systemPrompt(eng, fmt.Sprintf("Policy %d.", r), shared)
		if err != nil {
			return nil, err
		}
		for j := range 5 {
			p, err := prefixJob(eng, system, j)
			if err != nil {
				return nil, err
			}
			res, t, err := first(p)
			if err != nil {
				return nil, err
			}
			row.PromptTokens = res.PromptTokens
			if j == 0 {
				next, err := prefixJob(eng, system, 1)
				if err != nil {
					return nil, err
				}
				row.SharedTokens = sharedLen(p.Prompt, next.Prompt)
				cold = append(cold, t)
				continue
			}
			warm = append(warm, t)
			cached = append(cached, res.CachedTokens)
		}
		if jobs < 2 {
			continue
		}
		system, err = systemPrompt(eng, fmt.Sprintf("Policy %d, for many.", r), shared)
		if err != nil {
			return nil, err
		}
		wavePrompts := func(from int) ([]engine.Request, error) {
			var ps []engine.Request
			for j := range jobs {
				p, err := prefixJob(eng, system, from+j)
				if err != nil {
					return nil, err
				}
				ps = append(ps, p)
			}
			return ps, nil
		}
		ps, err := wavePrompts(0)
		if err != nil {
			return nil, err
		}
		ms, n, err := together(ps)
		if err != nil {
			return nil, err
		}
		row.TogetherMS = ms
		togetherMed = append(togetherMed, median(ms))
		computed = append(computed, float64(n))
		if ps, err = wavePrompts(jobs); err != nil {
			return nil, err
		}
		if ms, _, err = together(ps); err != nil {
			return nil, err
		}
		row.WaveMS = ms
		wave = append(wave, ms...)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	row.ColdMS, row.WarmMS = median(cold), median(warm)
	if row.WarmMS > 0 {
		row.Speedup = row.ColdMS / row.WarmMS
	}
	slices.Sort(cached)
	row.WarmCached = cached[len(cached)/2]
	if len(togetherMed) > 0 {
		row.TogetherMedianMS, row.TogetherComputed, row.WaveMedianMS = median(togetherMed), median(computed), median(wave)
	}
	return row, nil
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
	ids, keep, err := chatml.TokensAndHistory(eng, []chatml.Message{{Role: chatml.System, Content: system}, {Role: chatml.User, Content: prefixQuestion(j)}})
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

func printPrefix(e env, p *prefixRow) {
	fmt.Fprintf(e.stdout, "\nshared system prompt of %d tokens, %d-token prompts, %d rounds each with a new one:\n", p.SharedTokens, p.PromptTokens, p.Rounds)
	fmt.Fprintf(e.stdout, "  one at a time: first job %.1f ms (computes it), the next ones %.1f ms (%d tokens cached): %.1f× faster\n", p.ColdMS, p.WarmMS, p.WarmCached, p.Speedup)
	if p.Jobs > 1 && len(p.TogetherMS) > 0 {
		fmt.Fprintf(e.stdout, "  %d jobs at once with a new one: median %.1f ms, %.0f prompt tokens computed; last round %s ms\n", p.Jobs, p.TogetherMedianMS, p.TogetherComputed, msList(p.TogetherMS))
		fmt.Fprintf(e.stdout, "  %d jobs at once with it computed: median %.1f ms; last round %s ms\n", p.Jobs, p.WaveMedianMS, msList(p.WaveMS))
	}
}

func msList(ms []float64) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = fmt.Sprintf("%.0f", m)
	}
	return strings.Join(s, " ")
}
