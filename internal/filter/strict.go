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
	// spellings: Traditional characters fold to Simplified ones where
	// that is one-to-one (OpenCC's t2s and s2t character tables), and
	// an entry with a Simplified character that writes several
	// Traditional ones (干: 幹 乾) also matches with each of them
	// (tradSpellings). A Traditional entry (幹) does not catch such a
	// Simplified character.
	StrictTraditional
	// StrictSpaced reads '.', '-', '_', tabs and other spaces and
	// dashes as a space, a run of them as one, and lets a word-mode
	// entry of three or more letters and digits, of one word or several,
	// match with every character one space apart ("s h i t",
	// "s - h - i - t", "b a l l g a g" for "ball gag"); words separated
	// by spaces do not ("this hit").
	StrictSpaced
	// StrictLeet folds digits and symbols written for letters (0 o, 1 l
	// or i, 2 z, 3 e, 4 a, 5 s, 6 g, 7 t, 8 b, 9 g, $ s, @ a, | l or i, ! i, and
	// the multi-character symbols of leetSymbols: () o, |-| h, …) in
	// word-mode entries.
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

// leetView are the characters the leet view reads as letters. 1 and |
// are l here, and entries with i gain variants with l (1, |) and ! for it
// (strictVariants): reading 1 as i would make "heil" the same as "hell".
// Symbols of several characters are read across code points
// (leetSymbols, view.go).
var leetView = map[byte]byte{'0': 'o', '1': 'l', '3': 'e', '4': 'a', '5': 's', '7': 't', '8': 'b', '9': 'g', '6': 'g', '2': 'z', '$': 's', '@': 'a', '|': 'l'}

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
	if s&StrictTraditional != 0 {
		// One-to-one pairs only; the others are spellings of entries
		// (s2tTable, tradSpellings).
		for _, p := range t2sTable {
			post[p[0]] = []rune{p[1]}
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
		for _, c := range []byte{'.', '-', '_', '\t'} {
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
		// Twice: a Traditional character may fold to one that folds
		// again; lookalike targets are plain a-z.
		for range 2 {
			var next []rune
			for _, c := range out {
				next = append(next, mapRune(c)...)
			}
			out = next
		}
		if out == nil {
			out = []rune{} // folds to nothing (not "unchanged")
		}
		return out
	})
}

// strictVariants returns the other spellings an entry of a word-mode list
// gets under s, in the view's terms (n is the entry normalized by that
// view): with 1 or ! for i (leet), and with its characters spaced out
// (spaced: "ball gag" also as "b a l l g a g", see spaceable).
func strictVariants(n string, s Strict) []string {
	out := []string{n}
	if s&StrictLeet != 0 && strings.ContainsRune(n, 'i') {
		// Each i as i, 1 (read as l) or !; at most 27 spellings, beyond
		// three i's the same choice for all.
		is := strings.Count(n, "i")
		if is <= 3 {
			out = expandI(n)
		} else {
			out = append(out, strings.ReplaceAll(n, "i", "l"), strings.ReplaceAll(n, "i", "!"))
		}
	}
	if s&StrictSpaced != 0 && spaceable(n) {
		for _, v := range out[:len(out):len(out)] {
			// The words' own spaces go: every character one space
			// from the next.
			out = append(out, strings.Join(strings.Split(strings.ReplaceAll(v, " ", ""), ""), " "))
		}
	}
	return out
}

func expandI(n string) []string {
	out := []string{""}
	for _, c := range n {
		var alts []string
		if c == 'i' {
			alts = []string{"i", "l", "!"}
		} else {
			alts = []string{string(c)}
		}
		var next []string
		for _, p := range out {
			for _, a := range alts {
				next = append(next, p+a)
			}
		}
		out = next
	}
	return out
}

// spaceable: words of ASCII letters, digits or '!' (a leet i), one space
// apart (the spaced view squeezes runs of separators to one), three or
// more characters in all, spaces not counted. Digits count as letters
// ("2 girls 1 cup", "2g1c"); in a leet view most have become the
// letters they stand for already.
func spaceable(n string) bool {
	chars := 0
	for i := 0; i < len(n); i++ {
		switch c := n[i]; {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '!':
			chars++
		case c == ' ' && i > 0 && i < len(n)-1 && n[i-1] != ' ':
		default:
			return false
		}
	}
	return chars >= 3
}
