package stage_test

import (
	"slices"
	"testing"

	"github.com/sieve-project/sieve/internal/filter"
	"github.com/sieve-project/sieve/internal/policy"
	"github.com/sieve-project/sieve/internal/stage"
)

// keywordPolicy is a policy of one list, for a stage of its own.
func keywordPolicy(t *testing.T, spec filter.ListSpec) *policy.Policy {
	t.Helper()
	f, err := filter.Compile([]filter.ListSpec{spec}, filter.Options{Normalize: true})
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Static(f).Lookup("")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestChain: two stages run as one give, over every split of the text,
// what the second gives on the whole of what the first released; the
// hits of both are reported; a block in either ends the text where it
// cut it.
func TestChain(t *testing.T) {
	redact := keywordPolicy(t, filter.ListSpec{Name: "mild", Action: filter.Redact, Replacement: "heck", Words: []string{"darn"}})
	block := keywordPolicy(t, filter.ListSpec{Name: "strong", Action: filter.Block, Words: []string{"heck"}})
	flag := keywordPolicy(t, filter.ListSpec{Name: "note", Action: filter.Flag, Words: []string{"the"}})
	tests := []struct {
		name    string
		stages  []*policy.Policy
		text    string
		want    string
		lists   []string
		blocked bool
	}{
		{"second sees the first's output", []*policy.Policy{redact, block}, "oh darn it", "oh ", []string{"mild", "strong"}, true},
		{"first blocks, second flushes", []*policy.Policy{block, flag}, "the end heck the", "the end ", []string{"strong", "note"}, true},
		{"nothing blocks", []*policy.Policy{flag, redact}, "the darn cat", "the heck cat", []string{"note", "mild"}, false},
		{"one stage", []*policy.Policy{redact}, "darn", "heck", []string{"mild"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for cut := 0; cut <= len(tt.text); cut++ {
				stages := make([]stage.Output, len(tt.stages))
				for i, p := range tt.stages {
					stages[i] = p.Output()
				}
				c := stage.Chain(stages...)
				var out []byte
				var lists []string
				blocked := false
				take := func(r stage.Result) { // valid until the next call
					out = append(out, r.Text...)
					for _, h := range r.Hits {
						lists = append(lists, h.List)
					}
					blocked = blocked || r.Blocked
				}
				take(c.Write([]byte(tt.text[:cut])))
				take(c.Write([]byte(tt.text[cut:])))
				take(c.Close())
				// Which stage reports first depends on where the text was
				// split: compare the hits as a set.
				slices.Sort(lists)
				if string(out) != tt.want || blocked != tt.blocked || !slices.Equal(lists, slices.Sorted(slices.Values(tt.lists))) {
					t.Fatalf("cut %d: %q blocked=%v hits %v; want %q blocked=%v hits %v", cut, out, blocked, lists, tt.want, tt.blocked, tt.lists)
				}
				if r := c.Write([]byte("more")); len(r.Text) > 0 || len(r.Hits) > 0 {
					t.Fatalf("cut %d: released %q after the end", cut, r.Text)
				}
			}
		})
	}
}

// TestScreens: input stages run in order on what the one before let
// through; a block stops the screening.
func TestScreens(t *testing.T) {
	redact := keywordPolicy(t, filter.ListSpec{Name: "mild", Action: filter.Redact, Replacement: "heck", Words: []string{"darn"}, ApplyTo: []filter.Where{filter.Input}})
	block := keywordPolicy(t, filter.ListSpec{Name: "strong", Action: filter.Block, Words: []string{"heck"}, ApplyTo: []filter.Where{filter.Input}})
	r := stage.Screens(redact.Input(), block.Input()).Screen("oh darn")
	if !r.Blocked || len(r.Hits) != 2 || r.Hits[0].List != "mild" || r.Hits[1].List != "strong" {
		t.Fatalf("got %+v; want mild's redaction blocked by strong", r)
	}
	r = stage.Screens(block.Input(), redact.Input()).Screen("oh darn")
	if r.Blocked || string(r.Text) != "oh heck" || len(r.Hits) != 1 {
		t.Fatalf("got %+v; want %q", r, "oh heck")
	}
}
