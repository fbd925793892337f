package filter

import (
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
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
	// What spaced and leet read across code points: leet symbols, runs
	// of separators.
	"()", "|-|", "\\/", "  ",
	// Traditional characters that share a Simplified one (幹 乾 → 干),
	// which the traditional view does not fold.
	"干", "幹", "乾", "髮",
}

// Entries: short, over a small alphabet so that matches overlap a lot.
var entryAtoms = []string{"a", "b", "c", "s", "f", "i", "中", "文", "ss", "fi", " ", "B", "é", "后", "o", "l", "干", "後", "发"}

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

// Pieces of what the spaced and leet views read across code points:
// separators alone and in runs, leet symbols whole and in their
// characters, digits, and the letters the symbols stand for.
var strictTextAtoms = []string{
	"a", "s", "h", "i", "o", "d", "k", "l", "m", "t", "g", "n", "u", "w", "v", "c", "x", "2", "1", "0", "4", "!",
	" ", "  ", ".", "-", "_", "\t", " - ", "\u2013", "\u3000", "\u200b", "中", "Ⓐ",
	"|", "(", ")", "[", "]", "{", "/", "\\", "<", "*", "3", "+", "#", "()", "|-|", "|_|", "|<", "|)", "[)", "|\\|", "/\\/\\", "|\\/|", "\\/", "\\/\\/",
	"/-\\", "|3", "]-[", "|{", "/\\/", "|*", "|2", "(_)",
}

// strictSymbols are ways of writing a letter that the leet view reads as
// it, for strictFormText.
var strictSymbols = map[rune][]string{
	'o': {"()", "0"}, 'h': {"|-|"}, 'u': {"|_|"}, 'k': {"|<"}, 'd': {"|)", "[)"}, 'n': {"|\\|"},
	'm': {"/\\/\\", "|\\/|"}, 'v': {"\\/"}, 'w': {"\\/\\/"}, 'i': {"1", "!", "|"}, 'l': {"1", "|"}, 'a': {"4", "@", "/-\\"}, 's': {"5", "$"},
	'b': {"|3", "8"}, 'p': {"|*"}, 'r': {"|2"}, 'c': {"(", "<", "[", "{"}, 't': {"+", "7"},
}

// strictFormSpecs are random word lists (mostly) with spaced and leet
// switches, of entries of one or two words over few letters, digits and
// now and then a symbol.
func strictFormSpecs(rng *rand.Rand) []ListSpec {
	letters := []string{"a", "s", "h", "i", "o", "d", "k", "m", "w", "v", "u", "n", "c", "t", "b", "r", "p", "2", "1", "()", "|", "+", "中"}
	var specs []ListSpec
	for li := range 1 + rng.IntN(3) {
		sp := ListSpec{
			Name:   fmt.Sprintf("l%d", li),
			Action: []Action{Redact, Flag, Redact, Block}[rng.IntN(4)],
			Match:  Word,
			Strict: Strict(rng.IntN(4)) * StrictSpaced, // spaced and leet, in every combination
		}
		if rng.IntN(4) == 0 {
			sp.Match = Substring
		}
		if rng.IntN(4) == 0 {
			sp.Strict |= StrictLookalikes
		}
		for range 1 + rng.IntN(3) {
			var w string
			for k := range 1 + rng.IntN(2) {
				if k > 0 {
					w += " "
				}
				for range 1 + rng.IntN(4) {
					w += letters[rng.IntN(len(letters))]
				}
			}
			sp.Words = append(sp.Words, w)
		}
		specs = append(specs, sp)
	}
	return specs
}

// strictFormText is a text of random atoms and of the entries of specs
// disguised: letters as symbols, spaced out with runs of separators.
func strictFormText(rng *rand.Rand, specs []ListSpec) []byte {
	seps := []string{" ", ".", "-", "_", "  ", " - ", ". ", "\t", "\u2013", "\u3000"}
	var b []byte
	for range rng.IntN(8) {
		if rng.IntN(2) == 0 {
			for range 1 + rng.IntN(4) {
				b = append(b, strictTextAtoms[rng.IntN(len(strictTextAtoms))]...)
			}
			continue
		}
		sp := specs[rng.IntN(len(specs))]
		w := sp.Words[rng.IntN(len(sp.Words))]
		spaced := rng.IntN(2) == 0
		if spaced {
			w = strings.ReplaceAll(w, " ", "")
		}
		for k, r := range w {
			if k > 0 && spaced {
				b = append(b, seps[rng.IntN(len(seps))]...)
			}
			if alts := strictSymbols[r]; len(alts) > 0 && rng.IntN(2) == 0 {
				b = append(b, alts[rng.IntN(len(alts))]...)
				continue
			}
			if r == ' ' && rng.IntN(3) == 0 {
				b = append(b, seps[rng.IntN(len(seps))]...)
				continue
			}
			b = utf8.AppendRune(b, r)
		}
		b = append(b, " ,.x"[rng.IntN(4)])
	}
	return b
}

// TestStrictFormsMatchReference is the central property for the spaced
// and leet views: entries spelled with leet symbols, spaced out with runs
// of separators, among the pieces of such spellings, split anywhere
// (symbols included), through feed's loop and without it, give what the
// reference gives, which knows the rules on its own (ref_test.go).
func TestStrictFormsMatchReference(t *testing.T) {
	seed := uint64(26)
	if v, err := strconv.ParseUint(os.Getenv("SIEVE_SEED"), 10, 64); err == nil {
		seed = v
	}
	rng := rand.New(rand.NewPCG(seed, 4))
	iters := 3000
	if v, err := strconv.Atoi(os.Getenv("SIEVE_ITERS")); err == nil {
		iters = v
	}
	if testing.Short() {
		iters = 300
	}
	defer func() { noFastFeed = false }()
	hits := 0
	for it := range iters {
		specs := strictFormSpecs(rng)
		f, err := Compile(specs, Options{Normalize: rng.IntN(4) != 0})
		if err != nil {
			t.Fatalf("iteration %d: %v", it, err)
		}
		text := strictFormText(rng, specs)
		noFastFeed = rng.IntN(4) == 0
		want := refCheck(t, f, specs, Output, text)
		hits += len(want.Hits)
		c := f.Check(Output, string(text))
		if got := (refResult{Text: c.Text, Hits: c.Hits, Blocked: c.Blocked}); !sameResult(got, want) {
			t.Fatalf("iteration %d: Check differs from reference\nspecs %+v\ntext %q\ngot  %+v\nwant %+v", it, specs, text, got, want)
		}
		for range 2 {
			cuts := randCuts(rng, len(text))
			if got := runStream(t, f, Output, text, cuts); !sameResult(got, want) {
				t.Fatalf("iteration %d: stream differs from reference\nspecs %+v\ntext %q cuts %v\ngot  %+v\nwant %+v", it, specs, text, cuts, got, want)
			}
		}
	}
	if hits < iters/3 {
		t.Fatalf("%d hits in %d texts: the texts do not exercise the views", hits, iters)
	}
}

// checkEverySplit checks that text reads as the reference reads it: in
// Check, in every way of cutting it into two or three pieces, and byte
// by byte.
func checkEverySplit(t *testing.T, f *Filter, specs []ListSpec, text string) {
	t.Helper()
	want := refCheck(t, f, specs, Output, []byte(text))
	if c := f.Check(Output, text); !sameResult(refResult{Text: c.Text, Hits: c.Hits, Blocked: c.Blocked}, want) {
		t.Fatalf("Check(%q) = %+v, want %+v", text, c, want)
	}
	for i := 0; i <= len(text); i++ {
		for j := i; j <= len(text); j++ {
			if got := runStream(t, f, Output, []byte(text), []int{i, j}); !sameResult(got, want) {
				t.Fatalf("%q cut at %d, %d: %+v, want %+v", text, i, j, got, want)
			}
		}
	}
	var all []int
	for i := 1; i < len(text); i++ {
		all = append(all, i)
	}
	if got := runStream(t, f, Output, []byte(text), all); !sameResult(got, want) {
		t.Fatalf("%q byte by byte: %+v, want %+v", text, got, want)
	}
}

// A leet symbol or a run of separators split between pieces, at every
// place and byte by byte, reads as it does in one piece.
func TestStrictFormsEverySplit(t *testing.T) {
	specs := []ListSpec{
		{Name: "en", Action: Redact, Match: Word, Strict: StrictAll, Words: []string{"cock", "hell", "dick", "wank", "shit", "ball gag", "2 girls 1 cup", "mom", "vibe"}},
		{Name: "plain", Action: Flag, Words: []string{"x", "/"}},
	}
	f := mustCompile(t, specs, Options{Normalize: true})
	for _, text := range []string{
		"c()ck", "a c()ck!", "|-|3||", "|)!ck", "\\/\\/4nk", "/\\/\\()/\\/\\", "|\\/|om", "\\/!8e", "\\/\\/",
		"s  h-i.t", "s - h - i - t", "s\u3000 h\t\ti . t", "b a l l  g a g", "2 g i r l s 1 c u p", "ball - gag",
		"c()", "(()", "|-", "|-x|-|", "\\/\\", "x() |", "c () c k", "c.().c.|<",
	} {
		checkEverySplit(t, f, specs, text)
	}
	// And they match: a symbol split over two pieces still is one.
	s := f.NewStream(Output)
	var out []byte
	for _, p := range []string{"oh c(", ")ck and |", "-", "|ell and s - ", " h-i", ".t"} {
		out = append(out, s.Write([]byte(p)).Text...)
	}
	out = append(out, s.Close().Text...)
	if string(out) != "oh *** and *** and ***" {
		t.Fatalf("streamed %q", out)
	}
}
