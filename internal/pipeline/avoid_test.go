package pipeline_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sieve-project/sieve/internal/config"
	"github.com/sieve-project/sieve/internal/engine"
	"github.com/sieve-project/sieve/internal/modelgen"
	"github.com/sieve-project/sieve/internal/pipeline"
	"github.com/sieve-project/sieve/internal/policy"
	"github.com/sieve-project/sieve/job"
)

// avoidRunner runs a scripted model behind a configuration with an avoid
// list of words (and a redact list of "heck").
func avoidRunner(t *testing.T, s modelgen.Scripted, words []string, mod func(*config.Config)) *pipeline.Runner {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.gguf")
	if err := modelgen.WriteScripted(p, s); err != nil {
		t.Fatal(err)
	}
	e, err := engine.Load(context.Background(), engine.Config{ModelPath: p, Context: 512, Batch: 64, Threads: 1, Parallel: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	cfg := config.Default()
	cfg.Generate.Temperature = new(float64) // greedy
	cfg.Filter.Lists = []config.List{
		{Name: "polite", Action: "avoid", Match: "word", Words: words},
		{Name: "mild", Action: "redact", Match: "word", Words: []string{"heck"}},
	}
	if mod != nil {
		mod(&cfg)
	}
	f, err := policy.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &pipeline.Runner{Engine: e, Policies: f, Defaults: cfg.Generate, Limits: pipeline.Limits(cfg.Generate, cfg.Queue)}
}

func avoidHits(r job.Result) []job.Hit {
	var out []job.Hit
	for _, h := range r.Filter.Output {
		if h.Action == "avoid" {
			out = append(out, h)
		}
	}
	return out
}

// TestAvoidSaysSomethingElse: a keyword of an avoid list, in full-width
// letters and split over tokens, is never said; the reply goes on with the
// model's runner-up, and no chunk holds a byte of what was taken back.
func TestAvoidSaysSomethingElse(t *testing.T) {
	r := avoidRunner(t, modelgen.Scripted{
		Pieces:       []string{"Oh", " ＤＡ", "RN", " it", ", what the", " heck", "."},
		Alternatives: map[string][]string{"Oh": {" gosh"}},
		Then:         map[string]string{" gosh": " it"},
	}, []string{"darn"}, nil)
	res, chunks := run(t, r, context.Background(), job.Job{ID: "a", Messages: user("hi")})
	if res.Status != job.Completed || res.Text != "Oh gosh it, what the ***." {
		t.Fatalf("got %q (%s)", res.Text, res.Status)
	}
	for _, c := range chunks {
		if strings.Contains(c, "Ｄ") || strings.Contains(c, "Ａ") || strings.Contains(c, "RN") {
			t.Fatalf("chunk %q holds rewound text (chunks %q)", c, chunks)
		}
	}
	// Three tokens thrown away: a whole-word match is certain only once
	// the next one shows the word has ended.
	av := avoidHits(res)
	if len(av) != 1 || av[0].List != "polite" || *av[0].Token != 1 || av[0].Tries != 1 || av[0].Discarded != 3 || av[0].Fallback != "" || av[0].Start != 2 {
		t.Fatalf("avoid hits %+v", av)
	}
	if res.Usage.CompletionTokens != 6 {
		t.Fatalf("%d completion tokens, want the 6 kept", res.Usage.CompletionTokens)
	}
}

// TestAvoidFallsBack: when every alternative says the keyword too, the
// tries run out, the list's fallback (redact by default) applies, and the
// result says so.
func TestAvoidFallsBack(t *testing.T) {
	script := modelgen.Scripted{
		Pieces:       []string{"Oh", " dar", "n", "."},
		Alternatives: map[string][]string{"Oh": {" darn", " DARN"}},
		Then:         map[string]string{" darn": ".", " DARN": "."},
	}
	for _, tt := range []struct {
		name, fallback, text string
		status               job.Status
	}{
		{"redact", "", "Oh ***.", job.Completed},
		{"block", "block", "Oh ", job.Filtered},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := avoidRunner(t, script, []string{"darn"}, func(c *config.Config) {
				c.Filter.AvoidMaxTries = 2
				c.Filter.Lists[0].Fallback = tt.fallback
			})
			res, _ := run(t, r, context.Background(), job.Job{ID: "b", Messages: user("hi")})
			if res.Text != tt.text || res.Status != tt.status {
				t.Fatalf("got %q (%s), want %q", res.Text, res.Status, tt.text)
			}
			av := avoidHits(res)
			want := cmpOr(tt.fallback, "redact")
			if len(av) != 3 || av[0].Tries != 1 || av[1].Tries != 2 || av[2].Fallback != want || av[0].Fallback != "" {
				t.Fatalf("avoid hits %+v: want two tries, then the fallback %s", av, want)
			}
			found := false
			for _, h := range res.Filter.Output {
				found = found || (h.List == "polite" && h.Action == want)
			}
			if !found {
				t.Fatalf("no %s hit of the avoid list: %+v", want, res.Filter.Output)
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestAvoidSeededIsReproducible: with sampling, where the model's
// alternatives are likely too, a seed gives the same reply and the same
// rewinds every time.
func TestAvoidSeededIsReproducible(t *testing.T) {
	r := avoidRunner(t, modelgen.Scripted{
		Pieces:       []string{"Oh", " dar", "n", " it", "."},
		Alternatives: map[string][]string{"Oh": {" gosh", " dang", " dar"}, " dar": {"ling"}, " gosh": {" dar"}},
		Then:         map[string]string{" gosh": " it", " dang": " it", "ling": " it"},
	}, []string{"darn"}, func(c *config.Config) {
		// The script and its first alternatives, nothing else.
		c.Generate.Temperature, c.Generate.TopK, c.Generate.TopP, c.Generate.MinP = new(2.0), new(0), new(1.0), new(0.1)
	})
	var texts []string
	seeds := []uint32{7, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	for _, seed := range seeds {
		res, _ := run(t, r, context.Background(), job.Job{ID: "c", Messages: user("hi"), Sampling: job.Sampling{Seed: &seed}})
		if strings.Contains(strings.ToLower(res.Text), "darn") {
			t.Fatalf("seed %d said %q", seed, res.Text)
		}
		texts = append(texts, res.Text+" "+fmtHits(avoidHits(res)))
	}
	if texts[0] != texts[1] {
		t.Fatalf("seed 7 twice: %q and %q", texts[0], texts[1])
	}
	distinct := map[string]bool{}
	for _, s := range texts {
		distinct[s] = true
	}
	if len(distinct) < 2 {
		t.Fatalf("nine seeds, one reply %q: the sampling is not exercised", texts[0])
	}
}

func fmtHits(hs []job.Hit) string {
	var b strings.Builder
	for _, h := range hs {
		b.WriteString(h.List + "@" + string(rune('0'+*h.Token)) + "#" + string(rune('0'+h.Tries)) + " ")
	}
	return b.String()
}
