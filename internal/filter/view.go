package filter

import (
	"strings"
	"unicode/utf8"
)

// Two strict switches read the text a little across code points, which a
// fold table, one code point at a time, cannot do:
//
//   - leet reads a few sequences of ASCII symbols as the one letter they
//     are drawn like (leetSymbols): "|-|" is h, "()" is o;
//   - spaced reads a run of separators as one space: a view space right
//     after a view space is dropped. '_' is the one separator that is
//     not a space in the view: it joins words ("gai_strerror" is no word
//     "gai", as in the plain view), but the automaton reads it as a
//     space (viewSep), so "s_h_i_t" is "s h i t", and it squeezes with
//     spaces.
//
// Both are decided on the text alone, the same way for the whole text and
// for every way of splitting it: a Stream that has a possible symbol at
// the end of what it was given waits for the next piece (as it does for
// an incomplete UTF-8 character), and the view's last code point is in
// its recs. A symbol becomes one rec whose source is all its bytes, so a
// match that ends in "()" redacts both brackets. Entries are read the
// same way (Filter.normalize).

// leetSymbols are the sequences a leet view reads as one letter: the
// multi-character forms of the common leet tables whose characters are
// rare together in ordinary text. Where several begin at the same place
// the longest wins ("\/\/" is w, not v v).
//
// Left out because they occur in ordinary text or code, where reading
// them as letters would join words or make new ones: "[]" and "<>" for o
// (arrays, generics, HTML), "(" "[" "{" "<" for c, "+" for t, "#" for h
// (hashtags: "#ass" must stay a word; entries spell these letters with
// them instead, leetSpelled), "><" and "}{" for x (HTML: "</b><i>"; "}{"
// is h too), "|>" for p or d (a pipe operator), "|_" for l (tables and
// rules; 1 and | cover it), "/\" for a (paths; @, 4 and "/-\" cover
// it), "^" for a, "&" for e or g, "12" for r and "13" for b (numbers),
// and spellings with letters ("ph" for f, "vv" for w), which are words'
// own letters.
var leetSymbols = [...]struct {
	s      string
	letter byte
}{
	{"/-\\", 'a'},
	{"|3", 'b'},
	{"|)", 'd'},
	{"[)", 'd'},
	{"|-|", 'h'},
	{"]-[", 'h'},
	{"|<", 'k'},
	{"|{", 'k'},
	{"/\\/\\", 'm'},
	{"|\\/|", 'm'},
	{"|\\|", 'n'},
	{"/\\/", 'n'},
	{"()", 'o'},
	{"|*", 'p'},
	{"|2", 'r'},
	{"|_|", 'u'},
	{"(_)", 'u'},
	{"\\/", 'v'},
	{"\\/\\/", 'w'},
}

// Flags of foldTable.wide, above the byte a byte folds to: symStart for
// a byte that may begin a leet symbol (feed's loop leaves it to
// feedCodePoint), squeezed for one that folds to a space where the view
// squeezes spaces (feed's loop drops it right after another).
const (
	symStart = 0x100
	squeezed = 0x200
)

// readAcross sets what the view of switches s reads across code points.
func (t *foldTable) readAcross(s Strict) {
	if s&StrictLeet != 0 {
		for _, sym := range leetSymbols {
			t.wide[sym.s[0]] |= symStart
		}
	}
	t.squeeze = s&StrictSpaced != 0
	for b := range t.wide {
		if t.squeeze && viewSep(rune(t.ascii[b])) {
			t.wide[b] |= squeezed
		}
	}
}

// viewSep reports whether view code point r is a separator where the
// view squeezes spaces: a space, or '_' (which the automaton of such a
// view reads as a space, and word boundaries as a word character).
func viewSep(r rune) bool { return r == ' ' || r == '_' }

// readSymbol reads the leet symbol at the start of p: its letter and
// length, n = 0 if there is none. ok is false if that is not decided yet:
// p (all the text there is, unless final) is the start of a symbol longer
// than any that p holds whole.
func readSymbol[T string | []byte](p T, final bool) (letter byte, n int, ok bool) {
	for _, sym := range leetSymbols {
		k := min(len(p), len(sym.s))
		if string(p[:k]) != sym.s[:k] {
			continue
		}
		if k < len(sym.s) {
			if !final {
				return 0, 0, false
			}
			continue
		}
		if k > n {
			letter, n = sym.letter, k
		}
	}
	return letter, n, true
}

// view is the view of s as a whole text: each code point folded, leet
// symbols read as letters and runs of spaces squeezed where the view does.
func (t *foldTable) view(s string) string {
	var b strings.Builder
	last := rune(0)
	add := func(c rune) {
		if t.squeeze && viewSep(c) && viewSep(last) {
			return
		}
		last = c
		b.WriteRune(c)
	}
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			v := t.wide[c]
			if v&symStart != 0 {
				if l, n, _ := readSymbol(s[i:], true); n > 0 {
					add(rune(l))
					i += n
					continue
				}
			}
			add(rune(byte(v)))
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		v := t.lookup(r)
		if v == 0 {
			add(r)
			continue
		}
		for _, c := range t.expansion(v) {
			add(c)
		}
	}
	return b.String()
}
