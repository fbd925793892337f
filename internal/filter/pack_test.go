package filter

import (
	"math/rand/v2"
	"testing"
)

// Without ext packed in the transitions (the path for tables too large to
// leave room for it), streams must still match the reference.
func TestStreamMatchesReferenceUnpacked(t *testing.T) {
	noPackExt = true
	defer func() { noPackExt = false }()
	rng := rand.New(rand.NewPCG(7, 3))
	iters := 1000
	if testing.Short() {
		iters = 100
	}
	for it := range iters {
		specs := randSpecs(rng)
		f, err := Compile(specs, Options{Normalize: rng.IntN(5) != 0})
		if err != nil {
			t.Fatalf("iteration %d: %v", it, err)
		}
		for _, p := range append([]*Filter{f}, f.parts...) {
			if p.m[1] != nil && p.m[1].d.extShift != 0 {
				t.Fatal("ext packed despite noPackExt")
			}
		}
		text := randText(rng, rng.IntN(30))
		want := refCheck(t, f, specs, Output, text)
		for range 3 {
			cuts := randCuts(rng, len(text))
			if got := runStream(t, f, Output, text, cuts); !sameResult(got, want) {
				t.Fatalf("iteration %d: stream differs from reference\nspecs %+v\ntext %q cuts %v\ngot  %+v\nwant %+v", it, specs, text, cuts, got, want)
			}
		}
	}
}

// The keyword automaton of the benchmark lists packs ext.
func TestBenchAutomatonPacksExt(t *testing.T) {
	f := mustCompile(t, benchSpecs(benchOnce()), Options{Normalize: true})
	if f.m[1].d.extShift == 0 {
		t.Fatal("ext not packed")
	}
}
