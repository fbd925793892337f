package filter

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Strict is a set of extra foldings for a list, on top of the normalized
// view (Options.Normalize). Each catches one kind of disguise that the
// normalized view lets through, and each costs some precision; see
// doc.go for what each does and costs.
type Strict uint8

const (
	// StrictLookalikes folds letters of other scripts to the Latin
	// letters they are drawn like (Cyrillic а, Greek ο): UTS #39
	// confusables, one code point at a time.
	StrictLookalikes Strict = 1 << iota
	// StrictTraditional lets a Simplified entry catch its Traditional
	// spellings: an entry with a Simplified character also matches with
	// each Traditional character OpenCC's t2s table gives it for (贱:
	// 賤; 干: 幹 乾) in its place (tradSpellings). The text is not
	// folded, so a Traditional entry (賤, 幹) catches only itself, not
	// Simplified text.
	StrictTraditional
	// StrictSpaced reads '.', '-', tabs and other spaces and dashes as
	// a space, and '_' as a separator that still joins words, a run of
	// them as one, and lets a word-mode entry of three or more
	// characters, of one word or several, match with every character
	// one space apart ("s h i t", "s_h_i_t", "b a l l g a g" for "ball
	// gag"); words separated by spaces do not ("this hit").
	StrictSpaced
	// StrictLeet folds digits and symbols written for letters (0 o, 1 l
	// or i, 2 z, 3 e, 4 a, 5 s, 6 g, 7 t, 8 b, 9 g, $ s, @ a, | l or i,
	// and the multi-character symbols of leetSymbols: () o, |-| h, …)
	// and spells entries' i with l or !, c with (, t with + and h with
	// # (leetSpelled) in word-mode lists.
	StrictLeet

	// StrictAll is every switch: what `strict = true` means.
	StrictAll = StrictLookalikes | StrictTraditional | StrictSpaced | StrictLeet
)

var strictNames = []struct {
	s    Strict
	name string
}{{StrictLookalikes, "lookalikes"}, {StrictTraditional, "traditional"}, {StrictSpaced, "spaced"}, {StrictLeet, "leet"}}

// ParseStrict reads switch names (lookalikes, traditional, spaced, leet).
func ParseStrict(names []string) (Strict, error) {
	var s Strict
	for _, n := range names {
		i := slices.IndexFunc(strictNames, func(x struct {
			s    Strict
			name string
		}) bool {
			return x.name == n
		})
		if i < 0 {
			return 0, fmt.Errorf("strict switch %q: want lookalikes, traditional, spaced or leet", n)
		}
		s |= strictNames[i].s
	}
	return s, nil
}

func (s Strict) String() string {
	var names []string
	for _, x := range strictNames {
		if s&x.s != 0 {
			names = append(names, x.name)
		}
	}
	return strings.Join(names, ",")
}

// forMode is s as it applies to a list of mode m: spaced and leet apply
// to word-mode lists only.
func (s Strict) forMode(m Mode) Strict {
	if m != Word { // "" is substring
		return s &^ (StrictSpaced | StrictLeet)
	}
	return s
}

// leetView are the characters the leet view reads as letters, and the
// brackets it reads as "(", which entries spell c with (leetSpelled). 1
// and | are l here, and entries with i gain variants with l (1, |) and !
// for it: reading 1 as i would make "heil" the same as "hell". Symbols
// of several characters are read across code points (leetSymbols,
// view.go).
var leetView = map[byte]byte{'0': 'o', '1': 'l', '3': 'e', '4': 'a', '5': 's', '7': 't', '8': 'b', '9': 'g', '6': 'g', '2': 'z', '$': 's', '@': 'a', '|': 'l', '<': '(', '[': '(', '{': '('}

// leetSpelled are the letters that entries of a leet list also spell
// with symbols the view leaves as they are: i as l (1 and | read as l)
// or !, c as ( (or < [ {, which the view reads as "("), t as +, h as #,
// as the common leet tables write them. They are spellings of entries,
// not folds of the text, because ordinary text writes these symbols
// beside words: read as letters, "(ass)" would be "cass)" and "#hell"
// "hhell". As spellings they stand for a letter only where an entry has
// that letter, and the entry's first and last letters still need a
// non-word character beside them ("(ock" is cock, "a(ock" is nothing).
var leetSpelled = [...]struct {
	letter byte
	as     string
}{{'i', "l!"}, {'c', "("}, {'t', "+"}, {'h', "#"}}

// maxLeetSpellings bounds the spellings one entry gets from leetSpelled.
const maxLeetSpellings = 64

// strictTables are built once per set of switches that change the view.
var strictTables [16]struct {
	once sync.Once
	t    *foldTable
}

// foldTableFor returns the fold table of the normalized view with the
// switches of s that work on the text: one lookup per code point, as the
// plain view, so strict matching costs no more per byte.
func foldTableFor(s Strict) *foldTable {
	s &= StrictLookalikes | StrictTraditional | StrictSpaced | StrictLeet
	if s == 0 {
		return foldTableOnce()
	}
	e := &strictTables[s]
	e.once.Do(func() {
		e.t = buildStrictTable(s)
		e.t.readAcross(s) // leet symbols, squeezed spaces (view.go)
	})
	return e.t
}

func buildStrictTable(s Strict) *foldTable {
	base := foldTableOnce()
	post := map[rune][]rune{}
	if s&StrictLookalikes != 0 {
		for _, l := range lookalikeTable {
			post[l.r] = []rune(l.s)
		}
	}
	if s&StrictSpaced != 0 {
		// Separators between spaced letters read as one space; other
		// spaces and dashes fold to it too, as NFKD does not.
		for r := rune(0x80); r < 0x3100; r++ {
			if unicode.In(r, unicode.Zs, unicode.Pd) {
				post[r] = []rune{' '}
			}
		}
	}
	ascii := base.ascii
	if s&StrictSpaced != 0 {
		// '_' stays itself, a word character, but is a separator
		// too (viewSep): "s_h_i_t" is spaced, "gai_strerror" one word.
		for _, c := range []byte{'.', '-', '\t'} {
			ascii[c] = ' '
		}
	}
	if s&StrictLeet != 0 {
		for c, l := range leetView {
			ascii[c] = l
		}
	}
	mapRune := func(c rune) []rune {
		if c < utf8.RuneSelf {
			return []rune{rune(ascii[c])}
		}
		if p, ok := post[c]; ok {
			return p
		}
		return []rune{c}
	}
	return newFoldTable(ascii, func(r rune) []rune {
		out := []rune{r}
		if v := base.lookup(r); v != 0 {
			out = base.expansion(v)
		}
		// Once: the base fold is done, look-alike targets are plain
		// a-z, and nothing maps to a separator or a leet character
		// that would fold again.
		var next []rune
		for _, c := range out {
			next = append(next, mapRune(c)...)
		}
		out = next
		if out == nil {
			out = []rune{} // folds to nothing (not "unchanged")
		}
		return out
	})
}

// strictVariants returns the other spellings an entry of a word-mode list
// gets under s, in the view's terms (n is the entry normalized by that
// view): with symbols for letters (leet: leetSpellings), and with its
// characters spaced out (spaced: "ball gag" also as "b a l l g a g", see
// spaceable).
func strictVariants(n string, s Strict) []string {
	out := []string{n}
	if s&StrictLeet != 0 {
		out = leetSpellings(n)
	}
	if s&StrictSpaced != 0 && spaceable(n) {
		for _, v := range out[:len(out):len(out)] {
			// Spaced out as written and with i's spellings only: with
			// ( + # too, the spellings of a list would double again
			// (3.6k entries: 14 MiB to 22) for text that both spaces
			// an entry out and writes those symbols in it.
			if !onlyIRespelled(n, v) {
				continue
			}
			// The words' own spaces go: every character one space
			// from the next.
			out = append(out, strings.Join(strings.Split(strings.ReplaceAll(v, " ", ""), ""), " "))
		}
	}
	return out
}

// onlyIRespelled reports whether v, a leet spelling of n, differs from
// n only where n has an i.
func onlyIRespelled(n, v string) bool {
	for i := range len(n) {
		if n[i] != v[i] && n[i] != 'i' {
			return false
		}
	}
	return true
}

// leetSpellings returns n and its spellings with the symbols of
// leetSpelled for its letters, n first, at most maxLeetSpellings. The
// letters are taken in leetSpelled's order (i first: 1 and ! for i are
// the commonest), each spelled in every combination of its places if
// that keeps within the bound, else one way in all its places if that
// does, else only as written.
func leetSpellings(n string) []string {
	out := []string{n}
	for _, l := range leetSpelled {
		k := strings.Count(n, string(l.letter))
		if k == 0 {
			continue
		}
		full := 1
		for range k {
			full = min(full*(1+len(l.as)), maxLeetSpellings+1)
		}
		switch {
		case len(out)*full <= maxLeetSpellings:
			for i := range len(n) {
				if n[i] != l.letter {
					continue
				}
				next := make([]string, 0, len(out)*(1+len(l.as)))
				for _, v := range out {
					next = append(next, v)
					for k := range len(l.as) {
						next = append(next, v[:i]+l.as[k:k+1]+v[i+1:])
					}
				}
				out = next
			}
		case len(out)*(1+len(l.as)) <= maxLeetSpellings:
			for _, v := range out[:len(out):len(out)] {
				for k := range len(l.as) {
					out = append(out, strings.ReplaceAll(v, string(l.letter), l.as[k:k+1]))
				}
			}
		}
	}
	return out
}

// spaceable: words of ASCII letters, digits and symbols, one space
// apart (the spaced view squeezes runs of separators to one), three or
// more characters in all, spaces not counted. Digits and symbols count
// as letters: "2 girls 1 cup" and "2g1c" have digits, "s&m" and "f*ck"
// symbols, and leet spellings stand for letters with them ("sh!+").
func spaceable(n string) bool {
	chars := 0
	for i := 0; i < len(n); i++ {
		switch c := n[i]; {
		case c > ' ' && c < utf8.RuneSelf-1:
			chars++
		case c == ' ' && i > 0 && i < len(n)-1 && n[i-1] != ' ':
		default:
			return false
		}
	}
	return chars >= 3
}
