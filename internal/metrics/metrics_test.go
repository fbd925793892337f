package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sieve-project/sieve/job"
)

func TestAvoidCounts(t *testing.T) {
	m := New(2)
	tok := 3
	m.Result(job.Result{Status: job.Completed, Usage: job.Usage{CompletionTokens: 9}, Filter: job.FilterReport{Output: []job.Hit{
		{List: "tone", Action: "avoid", Token: &tok, Tries: 1, Discarded: 3},
		{List: "tone", Action: "avoid", Token: &tok, Tries: 2, Discarded: 2},
		{List: "tone", Action: "avoid", Token: &tok, Tries: 2, Fallback: "redact"}, // stood: no rewind
		{List: "tone", Action: "redact"},
	}}})
	want := `
# HELP sieve_avoid_discarded_tokens_total Tokens generated and thrown away to avoid a keyword, by list.
# TYPE sieve_avoid_discarded_tokens_total counter
sieve_avoid_discarded_tokens_total{list="tone"} 5
# HELP sieve_avoid_rewinds_total Times generation went back to avoid a keyword of an avoid list, by list.
# TYPE sieve_avoid_rewinds_total counter
sieve_avoid_rewinds_total{list="tone"} 2
`
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(want), "sieve_avoid_rewinds_total", "sieve_avoid_discarded_tokens_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(m.hits.WithLabelValues("tone", "avoid", "output")); n != 3 {
		t.Fatalf("%v avoid hits counted, want 3", n)
	}
}

func TestPromptCacheCounts(t *testing.T) {
	m := New(1)
	m.Result(job.Result{Status: job.Completed, Usage: job.Usage{PromptTokens: 100, CompletionTokens: 5}})
	m.Result(job.Result{Status: job.Completed, Usage: job.Usage{PromptTokens: 100, CachedTokens: 90, CompletionTokens: 5}})
	m.Result(job.Result{Status: job.Rejected, Usage: job.Usage{PromptTokens: 50}}) // never ran
	want := `
# HELP sieve_prompt_cache_hit_ratio Share of the prompt tokens of jobs that ran which came from the prompt cache, since start.
# TYPE sieve_prompt_cache_hit_ratio gauge
sieve_prompt_cache_hit_ratio 0.45
# HELP sieve_prompt_cache_hits_total Jobs that took at least one prompt token from the prompt cache.
# TYPE sieve_prompt_cache_hits_total counter
sieve_prompt_cache_hits_total 1
# HELP sieve_prompt_tokens_cached_total Prompt tokens of jobs that ran which came from the prompt cache instead.
# TYPE sieve_prompt_tokens_cached_total counter
sieve_prompt_tokens_cached_total 90
# HELP sieve_prompt_tokens_evaluated_total Prompt tokens of jobs that ran which llama.cpp computed.
# TYPE sieve_prompt_tokens_evaluated_total counter
sieve_prompt_tokens_evaluated_total 110
`
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(want), "sieve_prompt_cache_hit_ratio", "sieve_prompt_cache_hits_total",
		"sieve_prompt_tokens_cached_total", "sieve_prompt_tokens_evaluated_total"); err != nil {
		t.Fatal(err)
	}
}
