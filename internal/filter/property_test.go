package filter

import (
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"testing"
)

// Pieces that texts are built from: ASCII in both cases, CJK, forms that
// normalize to several code points or to nothing, bidi and tag characters,
// invalid and truncated UTF-8.
var textAtoms = []string{
	"a", "b", "c", "s", "f", "i", "A", "B", "S", " ", ".", "1", "_",
	"中", "文", "字", "ﬁ", "Ａ", "ｂ", "ß", "é", "e\u0301", "\u0301", "\u20dd", "\u200b", "\u00ad",
	"\u202e", "\U000E0041", "ﬃ", "ⓐ", "\xff", "\xe4\xb8", "İ",
	// What strict views fold: lookalikes, Traditional, leet, separators.
	"а", "ѕ", "ο", "В", "後", "后", "門", "$", "@", "!", "0", "l", "-",
}

// Entries: short, over a small alphabet so that matches overlap a lot.
var entryAtoms = []string{"a", "b", "c", "s", "f", "i", "中", "文", "ss", "fi", " ", "B", "é", "后", "o", "l"}

func randText(rng *rand.Rand, n int) []byte {
	var b []byte
	for range n {
		b = append(b, textAtoms[rng.IntN(len(textAtoms))]...)
	}
	return b
}

func randSpecs(rng *rand.Rand) []ListSpec {
	actions := []Action{Redact, Block, Flag}
	modes := []Mode{Substring, Word}
	var specs []ListSpec
	for li := range 1 + rng.IntN(3) {
		sp := ListSpec{
			Name:   fmt.Sprintf("l%d", li),
			Action: actions[rng.IntN(3)],
			Match:  modes[rng.IntN(2)],
		}
		if rng.IntN(4) == 0 {
			sp.Action = Block
		} else if sp.Action == Block {
			sp.Action = Redact // keep blocks rarer, so more text is compared
		}
		if rng.IntN(2) == 0 {
			sp.Replacement = "<x>"
		}
		if rng.IntN(3) == 0 {
			sp.Strict = Strict(rng.IntN(16))
		}
		for range 1 + rng.IntN(4) {
			var w string
			for range 1 + rng.IntN(3) {
				w += entryAtoms[rng.IntN(len(entryAtoms))]
			}
			if w == " " {
				w = "a"
			}
			sp.Words = append(sp.Words, w)
		}
		specs = append(specs, sp)
	}
	return specs
}

func randCuts(rng *rand.Rand, n int) []int {
	var cuts []int
	for p := 0; ; {
		p += rng.IntN(5)
		if p >= n {
			return cuts
		}
		cuts = append(cuts, p)
	}
}

// TestStreamMatchesReference is the central property: for random lists,
// texts and splits (including splits inside characters), the stream gives
// what the reference model gives for the whole text, and Check agrees.
func TestStreamMatchesReference(t *testing.T) {
	seed := uint64(1)
	if v, err := strconv.ParseUint(os.Getenv("SIEVE_SEED"), 10, 64); err == nil {
		seed = v
	}
	rng := rand.New(rand.NewPCG(seed, 2))
	iters := 3000
	if v, err := strconv.Atoi(os.Getenv("SIEVE_ITERS")); err == nil {
		iters = v
	}
	if testing.Short() {
		iters = 300
	}
	for it := range iters {
		checkReference(t, rng, it, rng.IntN(30))
	}
}

// TestLongStreamMatchesReference is the same property on texts long enough
// that a Stream drops what it no longer needs (see compact) many times,
// with matches waiting across the cut.
func TestLongStreamMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 2))
	iters := 100
	if testing.Short() {
		iters = 10
	}
	for it := range iters {
		checkReference(t, rng, it, 500+rng.IntN(1500))
	}
}

// checkReference checks Check and Streams with random splits against the
// reference model for random lists and a random text of n atoms.
func checkReference(t *testing.T, rng *rand.Rand, it, n int) {
	t.Helper()
	specs := randSpecs(rng)
	norm := rng.IntN(5) != 0
	f, err := Compile(specs, Options{Normalize: norm})
	if err != nil {
		// Random entries may normalize to nothing only through atoms
		// we do not use; any error is a bug.
		t.Fatalf("iteration %d: %v", it, err)
	}
	text := randText(rng, n)
	want := refCheck(t, f, specs, Output, text)
	c := f.Check(Output, string(text))
	if got := (refResult{Text: c.Text, Hits: c.Hits, Blocked: c.Blocked}); !sameResult(got, want) {
		t.Fatalf("iteration %d: Check differs from reference\nspecs %+v norm %v\ntext %q\ngot  %+v\nwant %+v", it, specs, norm, text, got, want)
	}
	for range 3 {
		cuts := randCuts(rng, len(text))
		got := runStream(t, f, Output, text, cuts)
		if !sameResult(got, want) {
			t.Fatalf("iteration %d: stream differs from reference\nspecs %+v norm %v\ntext %q cuts %v\ngot  %+v\nwant %+v", it, specs, norm, text, cuts, got, want)
		}
	}
}

func sameResult(a, b refResult) bool {
	if len(a.Hits) == 0 && len(b.Hits) == 0 {
		a.Hits, b.Hits = nil, nil
	}
	return reflect.DeepEqual(a, b)
}
