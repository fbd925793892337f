package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ollama/ollama/llama"

	"github.com/sieve-project/sieve/internal/modelgen"
)

// TestKeptMatchesLlama: for top_k 0, the tail keeps the tokens llama.cpp's
// top_p and min_p stages keep, over logit shapes from flat to peaked, with
// ties. Tied tokens are interchangeable, so the kept logits are compared.
func TestKeptMatchesLlama(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	shapes := []struct {
		name string
		make func(n int) []float32
	}{
		{"gaussian σ1", func(n int) []float32 { return gauss(rng, n, 1) }},
		{"gaussian σ4", func(n int) []float32 { return gauss(rng, n, 4) }},
		{"one peak", func(n int) []float32 {
			l := gauss(rng, n, 1)
			l[rng.IntN(n)] += 12
			return l
		}},
		{"zipf", func(n int) []float32 {
			l := make([]float32, n)
			for i := range l {
				l[i] = float32(-1.1 * math.Log(float64(i+1)))
			}
			rng.Shuffle(n, func(i, j int) { l[i], l[j] = l[j], l[i] })
			return l
		}},
		{"ties", func(n int) []float32 {
			l := make([]float32, n)
			for i := range l {
				l[i] = float32(rng.IntN(6))
			}
			return l
		}},
		{"all equal", func(n int) []float32 { return make([]float32, n) }},
	}
	for _, sh := range shapes {
		name, shape := sh.name, sh.make
		for _, n := range []int{1, 7, 100, 5000} {
			for _, topP := range []float32{0.1, 0.5, 0.9, 0.95, 1} {
				for _, minP := range []float32{0, 0.05, 0.3} {
					logits := shape(n)
					got, want := keptLogits(logits, keptIDs(logits, topP, minP, false)), keptLogits(logits, keptIDs(logits, topP, minP, true))
					if !slices.Equal(got, want) && !roundingZone(logits, topP, got, want) {
						t.Errorf("%s, %d tokens, top_p %v, min_p %v: kept %d tokens, llama.cpp %d\n got  %v\n want %v",
							name, n, topP, minP, len(got), len(want), head(got), head(want))
					}
				}
			}
		}
	}
}

// roundingZone reports whether got and want differ only where llama.cpp's
// float arithmetic decides the top_p boundary: by one token, at a point
// where the probability kept equals top_p to within that arithmetic's
// error (all-equal logits, say: 50 of 100 is exactly 0.5, and llama.cpp's
// float sum of fifty 0.01 falls short of it).
func roundingZone(logits []float32, topP float32, got, want []float32) bool {
	short, long := got, want
	if len(short) > len(long) {
		short, long = long, short
	}
	if len(long)-len(short) != 1 || !slices.Equal(short, long[1:]) {
		return false
	}
	s := slices.Clone(logits)
	slices.Sort(s)
	slices.Reverse(s)
	total, kept := 0.0, 0.0
	for i, l := range s {
		w := math.Exp(float64(l - s[0]))
		total += w
		if i < len(short) {
			kept += w
		}
	}
	// llama.cpp adds the probabilities up in float, one at a time: its
	// sum drifts by up to about one float rounding (2^-24) per term.
	return math.Abs(kept/total-float64(topP)) < max(1e-6, float64(len(long))*0x1p-24)
}

func gauss(rng *rand.Rand, n int, sigma float64) []float32 {
	l := make([]float32, n)
	for i := range l {
		l[i] = float32(rng.NormFloat64() * sigma)
	}
	return l
}

func keptLogits(logits []float32, ids []int32) []float32 {
	out := make([]float32, len(ids))
	for i, id := range ids {
		out[i] = logits[id]
	}
	slices.Sort(out)
	return out
}

func head(s []float32) []float32 { return s[:min(len(s), 8)] }

// randomModel writes a small random model with a vocabulary of n tokens.
func randomModel(t testing.TB, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "random.gguf")
	if err := modelgen.WriteRandom(path, modelgen.Random{Embd: 64, Blocks: 1, Heads: 4, HeadsKV: 2, FF: 128, Vocab: n, Type: "f32", Seed: 5}); err != nil {
		t.Fatal(err)
	}
	return path
}

// out is the batch index of the prompt token decoded loads with logits.
const out = 3

// decoded loads path and decodes a short prompt; its last token, at
// batch index out, has logits.
func decoded(t testing.TB, path string) (*llama.Model, *llama.Context) {
	t.Helper()
	devices()
	m, err := llama.LoadModelFromFile(path, llama.ModelParams{UseMmap: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := llama.NewContextWithModel(m, llama.NewContextParams(512, 64, 1, 1, false, ""))
	if err != nil {
		t.Fatal(err)
	}
	b, err := llama.NewBatch(64, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.Free()
		freeContext(c)
		llama.FreeModel(m)
	})
	for i, tok := range []int{300, 301, 302, 303} {
		b.Add(tok, nil, i, i == out, 0)
	}
	if err := c.Decode(b); err != nil {
		t.Fatal(err)
	}
	return m, c
}

// TestChainMatchesCommonSampler: with top_k above 0, sieve's chain is
// llama.cpp's common sampler, draw for draw. Both sample the same logits
// each step, under the same seed, with their own repeat-penalty history.
func TestChainMatchesCommonSampler(t *testing.T) {
	m, c := decoded(t, randomModel(t, 700))
	for _, sp := range []Sampling{
		{Temperature: 0.8, TopK: 40, TopP: 0.9, MinP: 0.05, RepeatPenalty: 1.1, RepeatLastN: 64, Seed: 11},
		{Temperature: 1.5, TopK: 300, TopP: 1, MinP: 0, RepeatPenalty: 1.3, RepeatLastN: 8, Seed: 12},
		{Temperature: 0, TopK: 40, TopP: 0.9, MinP: 0.05, RepeatPenalty: 1.1, RepeatLastN: 64, Seed: 13},
	} {
		ours, err := newSampler(m, sp, "", false)
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := llama.NewSamplingContext(m, llama.SamplingParams{TopK: sp.TopK, TopP: sp.TopP, MinP: sp.MinP, TypicalP: 1,
			Temp: sp.Temperature, RepeatLastN: sp.RepeatLastN, PenaltyRepeat: sp.RepeatPenalty, Seed: sp.Seed})
		if err != nil {
			t.Fatal(err)
		}
		var seq []int
		for i := 0; i < 200; i++ {
			a, b := ours.sample(c, out, nil), theirs.Sample(c, out)
			if a != b {
				t.Fatalf("%+v: draw %d: sieve %d, llama.cpp %d (after %v)", sp, i, a, b, seq)
			}
			ours.accept(a)
			theirs.Accept(b, true)
			seq = append(seq, a)
		}
		ours.free()
		if sp.Temperature > 0 && len(slices.Compact(slices.Sorted(slices.Values(seq)))) < 3 {
			t.Errorf("%+v: the draws hardly vary: %v", sp, seq)
		}
	}
}

// TestTailDraws: with top_k 0, the draws follow the softmax of the kept
// logits at the temperature, a seed repeats its draws, greedy takes the
// top, and the repeat penalty applies.
func TestTailDraws(t *testing.T) {
	m, c := decoded(t, randomModel(t, 700))
	logits := slices.Clone(logitsOf(c, out, 700))
	draw := func(sp Sampling, n int) []int {
		s, err := newSampler(m, sp, "", false)
		if err != nil {
			t.Fatal(err)
		}
		defer s.free()
		draws := make([]int, n)
		for i := range draws {
			draws[i] = s.sample(c, out, nil) // no accept: the same distribution each time
		}
		return draws
	}
	sp := Sampling{Temperature: 0.7, TopP: 0.95, MinP: 0.02, RepeatPenalty: 1, Seed: 3}
	const n = 40000
	got := draw(sp, n)
	if again := draw(sp, n); !slices.Equal(got, again) {
		t.Fatal("the same seed drew differently")
	}
	if other := draw(Sampling{Temperature: 0.7, TopP: 0.95, MinP: 0.02, RepeatPenalty: 1, Seed: 4}, 200); slices.Equal(got[:200], other) {
		t.Fatal("seeds 3 and 4 drew the same")
	}
	// Expected frequencies: softmax(l/T) over what llama.cpp keeps.
	kept := keptIDs(logits, sp.TopP, sp.MinP, true)
	mx := logits[kept[0]]
	for _, id := range kept {
		mx = max(mx, logits[id])
	}
	want := map[int]float64{}
	sum := 0.0
	for _, id := range kept {
		w := math.Exp(float64(logits[id]-mx) / float64(sp.Temperature))
		want[int(id)] = w
		sum += w
	}
	counts := map[int]int{}
	for _, id := range got {
		counts[id]++
	}
	for id, cnt := range counts {
		if _, ok := want[id]; !ok {
			t.Fatalf("drew token %d, which top_p/min_p drop", id)
		}
		_ = cnt
	}
	chi := 0.0
	for id, w := range want {
		e := w / sum * n
		d := float64(counts[id]) - e
		chi += d * d / e
	}
	// Degrees of freedom len(kept)-1; the mean is that, the standard
	// deviation sqrt(2·df): 6 of them is far beyond chance.
	df := float64(len(kept) - 1)
	if df > 0 && chi > df+6*math.Sqrt(2*df) {
		t.Fatalf("draws over %d kept tokens: chi-square %.1f for %v degrees of freedom", len(kept), chi, df)
	}

	// Greedy takes the largest logit.
	top := 0
	for i, l := range logits {
		if l > logits[top] {
			top = i
		}
	}
	for _, id := range draw(Sampling{Temperature: 0, RepeatPenalty: 1, Seed: 1}, 5) {
		if id != top {
			t.Fatalf("greedy drew %d, want %d", id, top)
		}
	}
	// A strong repeat penalty moves greedy off a token it just accepted.
	s, err := newSampler(m, Sampling{Temperature: 0, RepeatPenalty: 50, RepeatLastN: 4, Seed: 1}, "", false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.free()
	s.accept(top)
	if id := s.sample(c, out, nil); id == top {
		t.Fatalf("greedy with token %d penalized drew it again", top)
	}
}

// BenchmarkSample times one token's sampling (logits copied in, repeat
// penalty, filters, the draw) on a vocabulary of CausalLM 14B's size,
// 152,064 tokens, with top_k 40 and top_k 0, and top_k 0 through
// llama.cpp's own chain (which sorts the vocabulary) for comparison. The
// logits are the random model's own ("flat": top_p 0.9 keeps 115,428
// tokens, the worst case for top_k 0), or a trained model's shape
// ("peaked": a few likely tokens over a Gaussian background).
//
//	go test -run '^$' -bench BenchmarkSample -count 6 ./internal/engine/
func BenchmarkSample(b *testing.B) {
	const vocab = 152064
	dir := filepath.Join(os.TempDir(), "sieve-bench-models")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, fmt.Sprintf("vocab-%d.gguf", vocab))
	if _, err := os.Stat(path); err != nil {
		tmp := path + ".tmp"
		if err := modelgen.WriteRandom(tmp, modelgen.Random{Embd: 64, Blocks: 1, Heads: 4, HeadsKV: 2, FF: 128, Vocab: vocab, Type: "f32", Seed: 5}); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			b.Fatal(err)
		}
	}
	m, c := decoded(b, path)
	logits := logitsOf(c, out, vocab) // llama.cpp's buffer, rewritten for "peaked"
	flat := slices.Clone(logits)
	rng := rand.New(rand.NewPCG(3, 4))
	peaked := gauss(rng, vocab, 2)
	for i, boost := range []float32{12, 11, 10, 9, 8} {
		peaked[1000+i*7919] += boost
	}
	base := Sampling{Temperature: 0.7, TopP: 0.9, MinP: 0.05, RepeatPenalty: 1.1, RepeatLastN: 64, Seed: 1}
	for _, shape := range []struct {
		name   string
		logits []float32
	}{{"flat", flat}, {"peaked", peaked}} {
		copy(logits, shape.logits)
		for _, tt := range []struct {
			name   string
			topK   int
			common bool
		}{
			{"top_k=40", 40, false},
			{"top_k=0", 0, false},
			{"top_k=0,llama.cpp_chain", 0, true},
		} {
			b.Run(shape.name+"/"+tt.name, func(b *testing.B) {
				sp := base
				sp.TopK = tt.topK
				s, err := newSampler(m, sp, "", tt.common)
				if err != nil {
					b.Fatal(err)
				}
				defer s.free()
				for i := 0; i < 64; i++ { // a full repeat-penalty window
					s.accept(1000 + i)
				}
				start := time.Now()
				for b.Loop() {
					s.accept(s.sample(c, out, nil))
				}
				b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/token")
			})
		}
	}
}
