package pipeline_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/sieve-project/sieve/internal/filter"
	"github.com/sieve-project/sieve/internal/modelgen"
	"github.com/sieve-project/sieve/internal/pipeline"
	"github.com/sieve-project/sieve/internal/policy"
	"github.com/sieve-project/sieve/internal/sievetest"
	"github.com/sieve-project/sieve/job"
)

// leaky is a model whose runner-up tokens hold the keywords: after "The"
// it would rather have said " launch code" (the block list's), and it
// says "dar" + "n" (the redact list's) split over two tokens, with "n"
// a runner-up after " dar" as well.
var leaky = modelgen.Scripted{
	Pieces:       []string{"The", " code", " is", " dar", "n", " secret", ".", " launch", " co", "de", " 0000"},
	Alternatives: map[string][]string{"The": {" launch code", " darn"}, " is": {" launch"}, " dar": {"ned"}},
}

func logprobRunner(t *testing.T) *pipeline.Runner {
	t.Helper()
	f, err := filter.Compile([]filter.ListSpec{
		{Name: "profanity", Action: filter.Redact, Match: filter.Word, Words: []string{"darn"}},
		{Name: "secrets", Action: filter.Block, Words: []string{"launch code"}},
	}, filter.Options{Normalize: true})
	if err != nil {
		t.Fatal(err)
	}
	return sievetest.Generator(t, sievetest.Options{Model: leaky, Registry: policy.Static(f)}).Runner()
}

// TestLogprobsRevealNoKeyword tries to read the lists' keywords out of
// the logprobs: from the tokens, their bytes, and every alternative, on
// its own and after the text before it. It fails to: the redacted
// tokens carry the replacement, nothing follows the block, and the
// alternatives that would complete a keyword are not offered.
func TestLogprobsRevealNoKeyword(t *testing.T) {
	r := logprobRunner(t)
	top := 5
	res, _ := run(t, r, context.Background(), job.Job{ID: "lp", Messages: user("tell me"), Logprobs: true, TopLogprobs: &top})
	if res.Status != job.Filtered || res.Text != "The code is *** secret. " {
		t.Fatalf("got %s %q", res.Status, res.Text)
	}
	var joined strings.Builder
	var seen []string // every text a client could read, with what came before it
	for i, lp := range res.Logprobs {
		if string(intsToBytes(lp.Bytes)) != lp.Token {
			t.Fatalf("entry %d: bytes %v are not the token %q", i, lp.Bytes, lp.Token)
		}
		before := joined.String()
		joined.WriteString(lp.Token)
		seen = append(seen, joined.String())
		if lp.Redacted && len(lp.Top) > 0 {
			t.Fatalf("entry %d: a redacted token offers alternatives %+v", i, lp.Top)
		}
		if !lp.Redacted && (lp.Logprob > 0 || math.IsNaN(lp.Logprob)) {
			t.Fatalf("entry %d: logprob %g", i, lp.Logprob)
		}
		for _, alt := range lp.Top {
			seen = append(seen, alt.Token, before+alt.Token)
		}
	}
	if joined.String() != res.Text {
		t.Fatalf("tokens join to %q, the reply is %q", joined.String(), res.Text)
	}
	for _, s := range seen {
		if c := strings.ToLower(s); strings.Contains(c, "darn") || strings.Contains(c, "launch") && strings.Contains(c, "code") {
			t.Fatalf("a keyword can be read from the logprobs: %q", s)
		}
	}
	if len(res.Logprobs) < 4 || len(res.Logprobs[0].Top) == 0 {
		t.Fatalf("entries %+v: want the clean tokens' alternatives kept", res.Logprobs)
	}
	if n := len(res.Logprobs[1].Top); n == 0 || n >= top {
		t.Fatalf("after %q: %d alternatives: want the model's likeliest less the two that hold keywords", res.Logprobs[0].Token, n)
	}
}

// TestLogprobsPlain: without lists acting, every token has its entry, the
// sampled one is the likeliest (greedy), and top_logprobs bounds the
// alternatives.
func TestLogprobsPlain(t *testing.T) {
	r := runner(t, []string{"Hello", ",", " world", "."}, false)
	top := 3
	res, _ := run(t, r, context.Background(), job.Job{ID: "p", Messages: user("hi"), Logprobs: true, TopLogprobs: &top})
	if res.Status != job.Completed || len(res.Logprobs) != 4 {
		t.Fatalf("got %s, %d entries: %+v", res.Status, len(res.Logprobs), res.Logprobs)
	}
	for i, lp := range res.Logprobs {
		if len(lp.Top) != top || lp.Top[0].Token != lp.Token || lp.Top[0].Logprob != lp.Logprob {
			t.Fatalf("entry %d: %+v: want %d alternatives, the token first", i, lp, top)
		}
	}
	res, _ = run(t, r, context.Background(), job.Job{ID: "q", Messages: user("hi")})
	if res.Logprobs != nil {
		t.Fatal("logprobs not asked for, but given")
	}
	bad := 21
	res, _ = run(t, r, context.Background(), job.Job{ID: "b", Messages: user("hi"), Logprobs: true, TopLogprobs: &bad})
	if res.Status != job.Rejected || res.Error.Code != job.CodeBadLogprobs {
		t.Fatalf("top_logprobs 21: %s %+v", res.Status, res.Error)
	}
}

func intsToBytes(v []int) []byte {
	b := make([]byte, len(v))
	for i, x := range v {
		b[i] = byte(x)
	}
	return b
}

// TestLogprobsAfterRewinds: the tokens an avoid list sent back are not
// in the entries; the entries are the tokens of the reply, one each.
func TestLogprobsAfterRewinds(t *testing.T) {
	s := modelgen.Scripted{
		Pieces:       []string{"Honestly", ", it", " is", " stu", "pid", " and", " slow", "."},
		Alternatives: map[string][]string{" is": {" clumsy"}},
		Then:         map[string]string{" clumsy": " and"},
	}
	r := avoidRunner(t, s, []string{"stupid"}, nil)
	top := 2
	res, _ := run(t, r, context.Background(), job.Job{ID: "rw", Messages: user("how is my code?"), Logprobs: true, TopLogprobs: &top})
	if res.Text != "Honestly, it is clumsy and slow." || len(res.Filter.Output) == 0 {
		t.Fatalf("got %q, hits %+v: want the avoided word replaced", res.Text, res.Filter.Output)
	}
	var joined strings.Builder
	for _, lp := range res.Logprobs {
		joined.WriteString(lp.Token)
		if lp.Redacted {
			t.Fatalf("entry %q redacted: nothing was", lp.Token)
		}
	}
	if joined.String() != res.Text || len(res.Logprobs) != res.Usage.CompletionTokens {
		t.Fatalf("%d entries joining to %q for %d tokens of %q", len(res.Logprobs), joined.String(), res.Usage.CompletionTokens, res.Text)
	}
}
