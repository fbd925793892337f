package filter

import (
	"slices"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// The normalized view is built one code point at a time from a table
// computed once per process. Running golang.org/x/text transformers on every
// piece costs ~14 MB/s on 4-byte writes (docs/design.md); a table lookup costs a
// few nanoseconds. A per-code-point map is only exact if the normalization
// is per-code-point too, which is why the policy below is "fully decompose
// and drop marks" rather than NFKC: composition is the only step of NFKC
// that looks at neighbours, and once combining marks are dropped there is
// nothing left to compose (Hangul excepted, see foldSlow).

// foldTable maps a code point to its normalized form: itself (the common
// case), nothing (dropped), or a short sequence of code points.
type foldTable struct {
	ascii [utf8.RuneSelf]byte
	// Two-level trie: idx[r>>8] selects a 256-entry block of vals; block 0
	// is all zeros (identity) and is shared by most of the code space.
	idx  [(unicode.MaxRune + 1) >> 8]uint16
	vals []uint32
	exp  []rune
	// What a strict view reads across code points (view.go): wide is
	// ascii with flags above the byte (symStart: it may begin a leet
	// symbol; squeezed: it is a space the view squeezes), and with
	// squeeze a view space right after a view space is dropped.
	wide    [utf8.RuneSelf]uint16
	squeeze bool
}

// A vals entry is 0 for identity, else off<<6 | n<<1 | 1: the n runes at
// exp[off:] (n may be 0: the code point is dropped).
func (t *foldTable) lookup(r rune) uint32 {
	return t.vals[int(t.idx[r>>8])<<8|int(r&0xff)]
}

// expansion returns the runes r folds to when lookup returned v != 0.
func (t *foldTable) expansion(v uint32) []rune {
	off, n := v>>6, (v>>1)&31
	return t.exp[off : off+n]
}

// foldTableOnce builds the table on first use (about 0.1 s); afterwards it is
// read-only and shared by every Filter.
var foldTableOnce = sync.OnceValue(buildFoldTable)

// foldRanges are the only code points where foldSlow can differ from the
// identity: planes 0–2 hold every decomposition, case mapping and mark, and
// plane 14 holds tags and variation selectors. Everything else (CJK
// extensions in plane 3, private use, unassigned) maps to itself.
var foldRanges = [][2]rune{{utf8.RuneSelf, 0x30000}, {0xE0000, 0xE1000}}

func buildFoldTable() *foldTable {
	var ascii [utf8.RuneSelf]byte
	for b := range utf8.RuneSelf {
		ascii[b] = byte(unicode.ToLower(rune(b)))
	}
	var buf string
	return newFoldTable(ascii, func(r rune) []rune {
		if !mayFold(r, &buf) {
			return nil
		}
		return foldSlow(r)
	})
}

// newFoldTable makes a table with the given ASCII row and, for the code
// points of foldRanges, what fold says (nil for the code point itself).
func newFoldTable(ascii [utf8.RuneSelf]byte, fold func(r rune) []rune) *foldTable {
	t := &foldTable{ascii: ascii, vals: make([]uint32, 256)} // block 0: identity
	for b, c := range ascii {
		t.wide[b] = uint16(c)
	}
	block := make([]uint32, 256)
	for _, rg := range foldRanges {
		for hi := rg[0] &^ 0xff; hi < rg[1]; hi += 256 {
			clear(block)
			used := false
			for lo := range rune(256) {
				r := hi | lo
				if r < rg[0] || r >= rg[1] {
					continue
				}
				out := fold(r)
				if out == nil || len(out) == 1 && out[0] == r {
					continue
				}
				block[lo] = uint32(len(t.exp))<<6 | uint32(len(out))<<1 | 1
				t.exp = append(t.exp, out...)
				used = true
			}
			if used {
				t.idx[hi>>8] = uint16(len(t.vals) >> 8)
				t.vals = append(t.vals, block...)
			}
		}
	}
	return t
}

// mayFold is a cheap pre-check that is true for every code point whose fold
// could differ from itself; buildFoldTable calls foldSlow only for those.
// fold_test.go checks the pre-check against foldSlow on the whole range.
func mayFold(r rune, buf *string) bool {
	if isIgnorable(r) || unicode.In(r, unicode.Mn, unicode.Me) || unicode.SimpleFold(r) != r {
		return true
	}
	*buf = string(r)
	return !norm.NFKD.IsNormalString(*buf)
}

// foldSlow is the definition of the normalized view of one code point:
//
//   - Default_Ignorable_Code_Point → nothing (zero-width characters, soft
//     hyphen, bidi controls, variation selectors, tags, Hangul fillers …);
//   - NFKD (compatibility decomposition: full-width and half-width forms,
//     ligatures, circled and mathematical letters, superscripts …);
//   - Unicode case folding, simple where full folding would write one
//     letter as several (ß stays ß, ẞ becomes ß: "aß" is not "ass"), then
//     NFKD again for what folding produced;
//   - nonspacing and enclosing marks (Mn, Me) dropped: "café" matches
//     "cafe", and Zalgo or strike-through overlays (U+0336) cannot split a
//     keyword. This also drops vowel signs of some Indic and Southeast Asian
//     scripts; lists in those scripts lose precision, not recall.
//
// Precomposed Hangul syllables are kept as they are (NFKC keeps them; NFKD
// would triple Korean text). A Korean word written with conjoining jamo
// therefore does not match the same word written with syllables.
//
// The result is a fixed point: folding it again changes nothing. (x/text's
// case folding swaps Cherokee upper and lower case instead of mapping both
// to upper case as CaseFolding.txt does; such 2-cycles resolve to the
// smaller code point, the upper case.)
func foldSlow(r rune) []rune {
	out := foldStep(r)
	for range 4 {
		var again []rune
		for _, c := range out {
			s := foldStep(c)
			if len(s) == 1 && s[0] != c {
				if back := foldStep(s[0]); len(back) == 1 && back[0] == c {
					s = []rune{min(c, s[0])}
				}
			}
			again = append(again, s...)
		}
		if slices.Equal(again, out) {
			break
		}
		out = again
	}
	if out == nil {
		out = []rune{}
	}
	return out
}

func foldStep(r rune) []rune {
	if isIgnorable(r) {
		return nil
	}
	if r >= 0xAC00 && r <= 0xD7A3 {
		return []rune{r}
	}
	var folded []rune
	for _, c := range norm.NFKD.String(string(r)) {
		f := []rune(cases.Fold().String(string(c)))
		if len(f) > 1 {
			// Full folding writes some letters as several (ß → ss,
			// ᾳ → αι): a word would gain letters it does not have, and
			// German "aß" would match "ass". Simple folding keeps one.
			f = []rune{unicode.ToLower(c)}
		}
		folded = append(folded, f...)
	}
	s := norm.NFKD.String(string(folded))
	var out []rune
	for _, c := range s {
		if isIgnorable(c) || unicode.In(c, unicode.Mn, unicode.Me) {
			continue
		}
		out = append(out, c)
	}
	return out
}

// isIgnorable reports Default_Ignorable_Code_Point (Unicode 15.1
// DerivedCoreProperties.txt). The standard library has only the
// Other_Default_Ignorable_Code_Point contributory property, so the derived
// set is spelled out.
func isIgnorable(r rune) bool {
	switch {
	case r < 0xAD:
		return false
	case r == 0x00AD, r == 0x034F, r == 0x061C, r == 0x115F, r == 0x1160,
		r == 0x17B4, r == 0x17B5, r >= 0x180B && r <= 0x180F,
		r >= 0x200B && r <= 0x200F, r >= 0x202A && r <= 0x202E,
		r >= 0x2060 && r <= 0x206F, r == 0x3164,
		r >= 0xFE00 && r <= 0xFE0F, r == 0xFEFF, r == 0xFFA0,
		r >= 0xFFF0 && r <= 0xFFF8,
		r >= 0x1BCA0 && r <= 0x1BCA3, r >= 0x1D173 && r <= 0x1D17A,
		r >= 0xE0000 && r <= 0xE0FFF:
		return true
	}
	return false
}

// isStripped reports the code points removed from every released text,
// whatever the lists say: bidi controls (Trojan Source) and tag characters
// (ASCII smuggling). Both let text read differently from what it says.
func isStripped(r rune) bool {
	switch {
	case r < 0x61C:
		return false
	case r == 0x061C, r == 0x200E, r == 0x200F,
		r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069,
		r >= 0xE0000 && r <= 0xE007F:
		return true
	}
	return false
}

// isWordRune decides word boundaries for word-mode entries, on normalized
// text. Han, kana, Hangul and Bopomofo count as non-word: Chinese and
// Japanese put no spaces between words, so an English keyword next to a
// Chinese character is still a whole word, and an all-CJK entry has no
// boundary to check (CJK entries always match as substrings).
func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return asciiWord[r]
	}
	if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r) {
		return false
	}
	return !isCJK(r)
}

func isCJK(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul, unicode.Bopomofo)
}

var asciiWord = func() (w [utf8.RuneSelf]bool) {
	for c := range utf8.RuneSelf {
		w[c] = c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	return w
}()
