package filter

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestTraditional: a Simplified entry catches its Traditional spellings,
// mixed ones included; a Traditional entry catches only itself, not its
// Simplified spelling, which may also write other words (干) or be the
// ordinary spelling of Simplified prose (贱).
func TestTraditional(t *testing.T) {
	list := func(words ...string) []ListSpec {
		return []ListSpec{{Name: "zh", Action: Redact, Replacement: "*", Strict: StrictTraditional, Words: words}}
	}
	tests := []struct {
		name  string
		words []string
		text  string
		want  string
	}{
		// 干 writes 幹 (do), 乾 (dry) and 干 (shield); 榦 is a variant.
		{"Simplified many-to-one", []string{"干"}, "干 幹 乾 榦 千", "* * * * 千"},
		{"Traditional many-to-one", []string{"幹"}, "幹 干 乾 榦", "* 干 乾 榦"},
		{"Traditional many-to-one, other", []string{"乾"}, "乾 干 幹", "* 干 幹"},
		// 賤 and 贱 are one-to-one: still only the Simplified entry
		// catches both.
		{"Traditional one-to-one", []string{"賤"}, "賤 贱", "* 贱"},
		{"Simplified one-to-one", []string{"贱"}, "賤 贱", "* *"},
		// Both scripts and mixtures of them.
		{"Simplified entry, mixed text", []string{"后门"}, "後門 后門 後门 后门", "* * * *"},
		{"Traditional entry, mixed text", []string{"後門"}, "後門 後门 后門 后门", "* 後门 后門 后门"},
		{"two shared characters", []string{"头发"}, "頭髮 頭發 头髮 头发 頭发", "* * * * *"},
		// 麼 folds to 么, which writes only it; 麽 is a Simplified
		// character too, so it is kept apart from 么 and a spelling
		// of an entry with 么.
		{"one-to-one with a kept variant", []string{"什么"}, "什么 什麼 什麽 甚麼", "* * * 甚麼"},
		{"a kept variant as the entry", []string{"什麽"}, "什么 什麼 什麽", "什么 什麼 *"},
		// Entries of both scripts in one list.
		{"both", []string{"幹", "发"}, "干活 幹活 發 髮 发", "干活 *活 * * *"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := mustCompile(t, list(tc.words...), Options{Normalize: true})
			if got := f.Check(Output, tc.text).Text; got != tc.want {
				t.Errorf("%q: got %q, want %q", tc.text, got, tc.want)
			}
			checkAgainstReference(t, f, list(tc.words...), []byte(tc.text))
		})
	}
	// Without the switch, none of it.
	f := mustCompile(t, []ListSpec{{Name: "zh", Action: Redact, Replacement: "*", Words: []string{"干", "後門"}}}, Options{Normalize: true})
	if got := f.Check(Output, "幹 後门 後門").Text; got != "幹 後门 *" {
		t.Errorf("plain: got %q", got)
	}
}

// TestTradSpellings: the spellings an entry gets, and the bound.
func TestTradSpellings(t *testing.T) {
	for _, tc := range []struct {
		n    string
		want []string
	}{
		{"后门", []string{"后门", "后門", "後门", "後門"}},
		{"干", []string{"干", "幹", "乾", "榦"}},
		{"幹", []string{"幹"}},
		{"门", []string{"门", "門"}},
		{"发后", []string{"发后", "发後", "發后", "發後", "髮后", "髮後"}},
		{"abc", []string{"abc"}},
	} {
		if got := tradSpellings(tc.n, StrictTraditional); !slices.Equal(got, tc.want) {
			t.Errorf("tradSpellings(%q) = %q, want %q", tc.n, got, tc.want)
		}
		if got := tradSpellings(tc.n, StrictLookalikes); !slices.Equal(got, []string{tc.n}) {
			t.Errorf("without the switch: tradSpellings(%q) = %q", tc.n, got)
		}
	}
	// 4·4·3·2·4·3 = 2304 combinations: the first two characters (16,
	// doubled 32) combine freely, the others take one choice together.
	long := "干台发后面里"
	got := tradSpellings(long, StrictTraditional)
	if len(got) != 32 || got[0] != long || !slices.Contains(got, "幹臺發後麪裏") || !slices.Contains(got, "乾檯发后面里") || !slices.Contains(got, "榦颱發後麪裏") {
		t.Fatalf("%d spellings of %q: %q", len(got), long, got)
	}
	if slices.Contains(got, "干台發后面里") {
		t.Fatalf("the tied characters were combined: %q", got)
	}
	// However long, an entry stays within the bound.
	if n := len(tradSpellings(strings.Repeat("干", 200), StrictTraditional)); n > maxTradSpellings {
		t.Fatalf("%d spellings", n)
	}
	// With strict variants: each spelling gets its own.
	if got := entrySpellings("干i", StrictTraditional|StrictLeet); len(got) != 12 || !slices.Contains(got, "幹!") {
		t.Fatalf("entrySpellings = %q", got)
	}
}

// TestTradTables: each Traditional character of s2tTable has one
// Simplified character, and every character of s2tTable is its own fold
// in every strict view with the traditional switch, so that
// tradSpellings can work on entries in the view's terms.
func TestTradTables(t *testing.T) {
	seen := map[rune]bool{}
	for _, e := range s2tTable {
		if e.t == "" || strings.ContainsRune(e.t, e.s) {
			t.Errorf("s2tTable %c: %q", e.s, e.t)
		}
		for _, x := range e.t {
			if seen[x] {
				t.Errorf("%c has two Simplified characters", x)
			}
			seen[x] = true
		}
	}
	for v := range Strict(16) {
		if v&StrictTraditional == 0 {
			continue
		}
		f := &Filter{fold: foldTableFor(v)}
		for _, e := range s2tTable {
			for _, x := range string(e.s) + e.t {
				if got := f.normalize(string(x)); got != string(x) {
					t.Fatalf("view %v folds %c to %q", v, x, got)
				}
			}
		}
	}
}

// TestTraditionalMatchesReference is the central property on entries
// and texts made of characters with several Traditional spellings,
// long enough to reach the bound: Check and Streams split anywhere give
// what the reference gives.
func TestTraditionalMatchesReference(t *testing.T) {
	// Simplified characters with their Traditional spellings, a
	// one-to-one pair, and others.
	alphabet := []string{"干幹乾榦", "台臺檯颱", "发發髮", "后後", "面麪麫麵", "里裏裡", "门門", "么麼麽", "贱賤", "中", "a", "i", " "}
	rng := rand.New(rand.NewPCG(11, 26))
	iters := 300
	if testing.Short() {
		iters = 60
	}
	bounded := 0
	for it := range iters {
		var specs []ListSpec
		for li := range 1 + rng.IntN(3) {
			sp := ListSpec{Name: fmt.Sprintf("l%d", li), Action: []Action{Redact, Flag, Block}[rng.IntN(3)], Match: []Mode{Substring, Word}[rng.IntN(2)], Strict: StrictTraditional}
			if rng.IntN(3) == 0 {
				sp.Strict = StrictAll
			}
			if sp.Action == Block && rng.IntN(2) == 0 {
				sp.Action = Redact
			}
			for range 1 + rng.IntN(3) {
				// One in three long, of the largest groups: past the
				// bound.
				n, groups, long := 1+rng.IntN(4), len(alphabet), rng.IntN(3) == 0
				if long {
					n, groups = 4+rng.IntN(4), 6
				}
				var w []rune
				for range n {
					a := []rune(alphabet[rng.IntN(groups)])
					if long && rng.IntN(4) != 0 {
						w = append(w, a[0]) // Simplified
					} else {
						w = append(w, a[rng.IntN(len(a))])
					}
				}
				if strings.TrimSpace(string(w)) == "" {
					w = []rune("干")
				}
				sp.Words = append(sp.Words, string(w))
				if len(tradSpellings(string(w), StrictTraditional)) < tradCountOf(string(w)) {
					bounded++
				}
			}
			specs = append(specs, sp)
		}
		f := mustCompile(t, specs, Options{Normalize: rng.IntN(4) != 0})
		// Texts: the entries respelled at random, with other characters.
		var text []rune
		for range rng.IntN(8) {
			sp := specs[rng.IntN(len(specs))]
			w := []rune(sp.Words[rng.IntN(len(sp.Words))])
			// Respelled at random, or all as written or all in the
			// usual Traditional, but perhaps for one character: what
			// tells the bound's choices apart.
			how, one := rng.IntN(4), rng.IntN(len(w))
			for k, r := range w {
				switch {
				case how == 0:
					r = respell(rng, alphabet, r)
				case k == one:
					r = respellOther(rng, alphabet, r)
				case how == 1:
				default:
					if a := tradAlts()[r]; len(a) > 0 {
						r = a[0]
					}
				}
				text = append(text, r)
			}
			for range rng.IntN(3) {
				a := []rune(alphabet[rng.IntN(len(alphabet))])
				text = append(text, a[rng.IntN(len(a))])
			}
		}
		checkAgainstReference(t, f, specs, []byte(string(text)))
		if t.Failed() {
			t.Fatalf("iteration %d: specs %+v", it, specs)
		}
	}
	if bounded < iters/10 {
		t.Fatalf("%d entries reached the bound", bounded)
	}
}

// tradCountOf is the number of combinations of n's Traditional
// spellings, without the bound.
func tradCountOf(n string) int {
	c := 1
	for _, r := range n {
		c *= 1 + len(tradAlts()[r])
	}
	return c
}

// respell is r or, where r is in a group of alphabet, a character of
// that group.
func respell(rng *rand.Rand, alphabet []string, r rune) rune {
	for _, g := range alphabet {
		if strings.ContainsRune(g, r) && rng.IntN(2) == 0 {
			rs := []rune(g)
			return rs[rng.IntN(len(rs))]
		}
	}
	return r
}

// respellOther is another character of r's group in alphabet, if it
// has one.
func respellOther(rng *rand.Rand, alphabet []string, r rune) rune {
	for _, g := range alphabet {
		if rs := []rune(g); len(rs) > 1 && strings.ContainsRune(g, r) {
			rs = slices.DeleteFunc(rs, func(x rune) bool { return x == r })
			return rs[rng.IntN(len(rs))]
		}
	}
	return r
}

// checkAgainstReference checks Check and three Streams split at random
// against the reference model.
func checkAgainstReference(t *testing.T, f *Filter, specs []ListSpec, text []byte) {
	t.Helper()
	want := refCheck(t, f, specs, Output, text)
	c := f.Check(Output, string(text))
	if got := (refResult{Text: c.Text, Hits: c.Hits, Blocked: c.Blocked}); !sameResult(got, want) {
		t.Errorf("Check(%q) differs from reference\ngot  %+v\nwant %+v", text, got, want)
		return
	}
	rng := rand.New(rand.NewPCG(uint64(len(text)), 1))
	for range 3 {
		cuts := randCuts(rng, len(text))
		if got := runStream(t, f, Output, text, cuts); !sameResult(got, want) {
			t.Errorf("stream(%q, cuts %v) differs from reference\ngot  %+v\nwant %+v", text, cuts, got, want)
			return
		}
	}
}
