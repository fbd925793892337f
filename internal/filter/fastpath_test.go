package filter

import (
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// feed relies on this: a stripped code point (see isStripped) is always
// ignorable, so with normalization on it folds to nothing and is found on
// the folding path only.
func TestStrippedFoldsToNothing(t *testing.T) {
	fold := foldTableOnce()
	for r := rune(0); r <= 0x10FFFF; r++ {
		if !isStripped(r) {
			continue
		}
		v := fold.lookup(r)
		if v == 0 || len(fold.expansion(v)) != 0 {
			t.Errorf("U+%04X is stripped but does not fold to nothing", r)
		}
	}
}

// The mid-code states of the keyword automaton are stepped through
// exceptions over a dense row; stepping them must give what the plain
// byte automaton gives, for codes of both lengths.
func TestKeyAutomatonAgreesWithBuild(t *testing.T) {
	var pats []string
	for i := range 5000 {
		// Many distinct code points, so that 3-byte codes occur too.
		r := rune(0x4E00 + i*7%20000)
		pats = append(pats, string([]rune{r, rune(0x4E00 + (i*13)%20000), 'a' + rune(i%26)}))
		if i%3 == 0 {
			pats = append(pats, string([]rune{'a' + rune(i%26), r}))
		}
	}
	codes, enc, ok := newCodeTable(pats)
	if !ok {
		t.Fatal("too many codes")
	}
	n := 0
	for _, v := range codes.vals {
		if v != 0 {
			n++
		}
	}
	if n <= codes2 {
		t.Fatalf("%d codes: no 3-byte codes", n)
	}
	ref, refNext := build(enc, true)
	d, next := buildKeys(enc)
	for i := range next {
		if next[i] != refNext[i] {
			t.Fatalf("next[%d] = %d, want %d", i, next[i], refNext[i])
		}
	}
	m := &matcher{d: d, codes: codes}
	var text []rune
	for _, p := range pats[:800] {
		text = append(text, []rune(p)...)
		text = append(text, rune(0x4E00+len(text)*31%20000), 'z')
	}
	rs, st := uint32(0), uint32(0)
	for i, r := range text {
		raw := m.step(st, r)
		st = raw &^ matchBit
		if c := codes.lookup(r); r < 0x80 {
			rs = ref.trans[rs+ref.cls[r]]
		} else if c == 0 {
			rs = 0
		} else {
			for _, b := range []byte(string(appendCode(nil, c))) {
				rs = ref.trans[rs+ref.cls[b]]
			}
		}
		if raw&matchBit != ref.trans[rs+colInfo]&matchBit || ref.trans[rs+colInfo] != d.trans[st+colInfo] || ref.trans[rs+colOut] != d.trans[st+colOut] {
			t.Fatalf("at %d: info %x/%d, want %x/%d", i, d.trans[st+colInfo], d.trans[st+colOut], ref.trans[rs+colInfo], ref.trans[rs+colOut])
		}
	}
}

// feed decides without utf8.FullRune that a piece ends inside a
// three-byte character.
func TestPrefix3AgreesWithFullRune(t *testing.T) {
	for b := 0xE0; b <= 0xEF; b++ {
		for c := range 256 {
			p := []byte{byte(b), byte(c)}
			if got, want := prefix3(byte(b), byte(c)), !utf8.FullRune(p); got != want {
				t.Errorf("prefix3(%#x, %#x) = %v, want %v", b, c, got, want)
			}
		}
	}
}

// step is next for a plain offset, without the packed ext.
func (m *matcher) step(st uint32, r rune) uint32 { return m.next(st, r) & (m.d.off | matchBit) }

// The worked example in buildKeys's comment, checked.
func TestBuildKeysWorkedExample(t *testing.T) {
	codes, enc, ok := newCodeTable([]string{"ab", "中a"})
	if !ok || enc[1] != "\xC0\x80a" {
		t.Fatalf("codes: %q", enc)
	}
	d, _ := buildKeys(enc)
	m := &matcher{d: d, codes: codes}
	info := func(st uint32) (ext, out uint32) {
		return d.trans[st&d.off+colInfo] & extMask, d.trans[st&d.off+colOut]
	}
	var outs []uint32
	st := uint32(0)
	for i, r := range []rune("中ab") {
		st = m.next(st, r)
		ext, out := info(st)
		if i == 0 && (ext != 1 || out != 0) {
			t.Fatalf("after 中: ext %d out %d, want 1 and 0", ext, out)
		}
		if out != 0 {
			if st&matchBit == 0 {
				t.Fatalf("at %d: a pattern ends but the transition has no matchBit", i)
			}
			outs = append(outs, out)
		}
	}
	if len(outs) != 2 || outs[0] != 2 || outs[1] != 1 {
		t.Fatalf("patterns ending: %v, want 中a (2) then ab (1)", outs)
	}
}

// feed's loop for ASCII and whole characters and its code point by code
// point path give the same: the property test without the loop.
func TestStreamMatchesReferenceWithoutFastFeed(t *testing.T) {
	noFastFeed = true
	defer func() { noFastFeed = false }()
	rng := rand.New(rand.NewPCG(11, 5))
	for it := range 500 {
		specs := randSpecs(rng)
		f, err := Compile(specs, Options{Normalize: rng.IntN(5) != 0})
		if err != nil {
			t.Fatalf("iteration %d: %v", it, err)
		}
		text := randText(rng, rng.IntN(40))
		want := refCheck(t, f, specs, Output, text)
		if got := runStream(t, f, Output, text, randCuts(rng, len(text))); !sameResult(got, want) {
			t.Fatalf("iteration %d: differs from reference\nspecs %+v\ntext %q\ngot  %+v\nwant %+v", it, specs, text, got, want)
		}
	}
}
