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
