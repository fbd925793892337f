package engine_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sieve-project/sieve/internal/engine"
	"github.com/sieve-project/sieve/internal/format"
	"github.com/sieve-project/sieve/job"
)

// boundedSchema has a few bounded fields: what a reply must fit within a
// couple of hundred tokens, whatever the model.
const boundedSchema = `{"type":"object","properties":{"mood":{"enum":["good","bad","fine"]},"ok":{"type":"boolean"},"n":{"type":"integer","minimum":0,"maximum":9},"note":{"type":"string","maxLength":12}},"required":["mood","ok","n","note"],"additionalProperties":false}`

// grammarOf is the engine's grammar and a validator for a JSON schema.
func grammarOf(t *testing.T, schema string) (string, *format.Validator) {
	t.Helper()
	g, err := engine.SchemaGrammar([]byte(schema))
	if err != nil {
		t.Fatal(err)
	}
	v, err := format.NewValidator(&job.Format{Type: job.FormatJSONSchema, Schema: []byte(schema)})
	if err != nil {
		t.Fatal(err)
	}
	return g, v
}

// TestGrammarHolds: a random model sampled under a schema's grammar says
// only what fits it: every reply that ends with its end token is valid
// against the schema, and one cut short is a prefix the grammar allows.
func TestGrammarHolds(t *testing.T) {
	e := load(t, writeRandom(t), func(c *engine.Config) { c.Context = 1024 })
	g, v := grammarOf(t, boundedSchema)
	stops := 0
	const n = 24
	for seed := range uint32(n) {
		req := engine.Request{Prompt: prompt(t, e, "How are you?"), MaxTokens: 200, Grammar: g,
			Sampling: engine.Sampling{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1.1, Seed: seed}}
		res, _, err := collect(t, context.Background(), e, req)
		if err != nil {
			t.Fatal(err)
		}
		if res.FinishReason != engine.FinishStop {
			if !strings.HasPrefix(res.Text, "{") {
				t.Fatalf("seed %d: cut short at %q, not in the grammar", seed, res.Text)
			}
			continue
		}
		stops++
		if err := v.Validate(res.Text); err != nil {
			t.Fatalf("seed %d: %q: %v", seed, res.Text, err)
		}
	}
	if stops < n/2 {
		t.Fatalf("%d of %d replies ended within 200 tokens", stops, n)
	}
}

// TestGrammarAfterRewinds: a guard that sends generation back every few
// tokens makes the grammar go back with it (its state rebuilt from the
// tokens kept), so the replies still fit.
func TestGrammarAfterRewinds(t *testing.T) {
	e := load(t, writeRandom(t), func(c *engine.Config) { c.Context = 1024 })
	g, v := grammarOf(t, boundedSchema)
	rewound, stops := 0, 0
	for seed := range uint32(8) {
		req := engine.Request{Prompt: prompt(t, e, "How are you?"), MaxTokens: 200, Grammar: g, MaxRewinds: 100,
			Guard:    &everyGuard{n: 3, vetoed: map[int]bool{}},
			Sampling: engine.Sampling{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1.1, Seed: seed}}
		res, _, err := collect(t, context.Background(), e, req)
		if err != nil {
			t.Fatal(err)
		}
		rewound += len(res.Rewinds)
		if res.FinishReason == engine.FinishStop {
			stops++
			if err := v.Validate(res.Text); err != nil {
				t.Fatalf("seed %d after %d rewinds: %q: %v", seed, len(res.Rewinds), res.Text, err)
			}
		}
	}
	if rewound == 0 || stops == 0 {
		t.Fatalf("%d rewinds, %d replies ended: the test tested nothing", rewound, stops)
	}
}

// braceGuard vetoes every "{": under a JSON object grammar the reply's
// first token must begin with one, so the bans leave no token and the
// veto stands rather than loop.
type braceGuard struct{ text []byte }

func (g *braceGuard) Write(b []byte) (int, *engine.Veto) {
	start := len(g.text)
	g.text = append(g.text, b...)
	if i := strings.IndexByte(string(b), '{'); i >= 0 {
		return start, &engine.Veto{Start: start + i, Tag: "brace"}
	}
	return len(g.text), nil
}
func (g *braceGuard) End() *engine.Veto            { return nil }
func (g *braceGuard) Mark() engine.GuardState      { return len(g.text) }
func (g *braceGuard) Restore(st engine.GuardState) { g.text = g.text[:st.(int)] }

func TestGrammarLeavesNoTokenTheVetoStands(t *testing.T) {
	e := load(t, writeRandom(t), func(c *engine.Config) { c.Context = 1024 })
	g, err := engine.SchemaGrammar([]byte(format.ObjectSchema))
	if err != nil {
		t.Fatal(err)
	}
	req := engine.Request{Prompt: prompt(t, e, "Say something."), MaxTokens: 60, Grammar: g, MaxRewinds: 1000, MaxTries: 1000,
		Guard: &braceGuard{}, Sampling: engine.Sampling{Temperature: 0, TopK: 40, TopP: 1, RepeatPenalty: 1}}
	res, _, err := collect(t, context.Background(), e, req)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.Text, "{") {
		t.Fatalf("reply %q: want the grammar's object", res.Text)
	}
	if len(res.Rewinds) == 0 || !res.Rewinds[len(res.Rewinds)-1].Stood {
		t.Fatalf("rewinds %+v: want the last veto to stand", res.Rewinds)
	}
	if len(res.Rewinds) > 200 {
		t.Fatalf("%d rewinds: the veto should stand once no token is left", len(res.Rewinds))
	}
}

func TestSchemaGrammarRefuses(t *testing.T) {
	if _, err := engine.SchemaGrammar([]byte(`{"type":"string","pattern":"no anchors"}`)); err == nil {
		t.Fatal("a pattern the converter cannot take: want an error")
	}
}
