package filter

import (
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// This file holds a slow, obviously-correct model of the filter that the
// streaming automaton is checked against: it normalizes the whole text,
// tries every entry at every position, and applies the greedy
// leftmost-longest rule directly.

type refEntry struct {
	norm []rune
	// alts, where not nil, is what each position accepts instead of
	// norm's character: it and the Traditional spellings of a
	// Simplified character, or one of them (see refTrad).
	alts      [][]rune
	list      int
	rank      int
	needStart bool
	needEnd   bool
	// With leet: leetOnly, a spelling the entry does not have without
	// leet, matches only text with a digit or symbol in it; numberless,
	// of an entry with letters, does not match text of fewer than four
	// digits alone.
	leetOnly, numberless bool
	entry                string
}

type refResult struct {
	Text    string
	Hits    []Hit
	Blocked bool
}

// refEntries are the spellings of the entries of specs (those want
// gives) in view v, f's: each entry read as the text is (refView), with
// the model's strict variants (refStrictVariants).
func refEntries(t testing.TB, f *Filter, v Strict, specs []ListSpec, where Where, want func(int) bool) []refEntry {
	t.Helper()
	var ents []refEntry
	for li, sp := range specs {
		if want != nil && !want(li) {
			continue
		}
		apply := sp.ApplyTo
		if len(apply) == 0 {
			apply = []Where{Output}
		}
		if !slices.Contains(apply, where) {
			continue
		}
		mode := sp.Match
		if mode == "" {
			mode = Substring
		}
		view := sp.Strict.forMode(mode)
		for _, w := range sp.Words {
			vw := []rune(refViewString(f, v, w))
			own := map[string]bool{}
			if view&StrictLeet != 0 {
				for _, n := range refStrictVariants(refViewString(f, v&^StrictLeet, w), view&^StrictLeet) {
					own[n] = true
				}
			}
			for _, n := range refStrictVariants(string(vw), view) {
				leetOnly := view&StrictLeet != 0 && !own[n]
				numberless := view&StrictLeet != 0 && strings.ContainsFunc(w, unicode.IsLetter)
				// Every spelling of every entry, repeats too: each
				// matches where its own demands hold, and of those that
				// match the same text the first is named.
				rs := []rune(n)
				e := refEntry{
					norm:       rs,
					list:       li,
					rank:       int(actionRank(sp.Action))*len(specs) + li,
					needStart:  sp.Match == Word && isWordRune(vw[0]),
					needEnd:    sp.Match == Word && isWordRune(vw[len(vw)-1]),
					leetOnly:   leetOnly,
					numberless: numberless,
					entry:      w,
				}
				if view&StrictTraditional == 0 {
					ents = append(ents, e)
					continue
				}
				for _, alts := range refTrad(t, f, rs) {
					e.alts = alts
					ents = append(ents, e)
				}
			}
		}
	}
	return ents
}

// refTrad is the traditional view's rule for an entry rs in the view's
// terms, as position sets: a Simplified character c also matches each
// Traditional character that OpenCC's t2s gives c for (s2tTable; the
// generator checks it against OpenCC) and that the view leaves as it is, in every
// combination, up to maxTradSpellings combinations. Beyond, the first
// such positions whose combinations, doubled, stay within the bound
// combine freely, and the others match either all as written or all as
// their usual Traditional spelling (the first of s2tTable): two sets of
// sets.
func refTrad(t testing.TB, f *Filter, rs []rune) [][][]rune {
	t.Helper()
	t2s := map[rune]rune{}
	usual := map[rune]rune{}
	for _, e := range s2tTable {
		for i, x := range []rune(e.t) {
			t2s[x] = e.s
			if i == 0 {
				usual[e.s] = x
			}
		}
	}
	sets := make([][]rune, len(rs))
	var free []int
	combos := 1
	for k, c := range rs {
		sets[k] = []rune{c}
		for x, s := range t2s {
			if s == c && f.normalize(string(x)) == string(x) {
				sets[k] = append(sets[k], x)
			}
		}
		if len(sets[k]) > 1 {
			free = append(free, k)
			combos = min(combos*len(sets[k]), 1<<20)
			if usual[c] == 0 {
				t.Fatalf("%c has Traditional spellings %q but none in s2tTable", c, string(sets[k]))
			}
		}
	}
	if combos <= maxTradSpellings {
		return [][][]rune{sets}
	}
	n := 2
	for i, k := range free {
		if n *= len(sets[k]); n > maxTradSpellings {
			free = free[i:]
			break
		}
	}
	asWritten, asUsual := slices.Clone(sets), slices.Clone(sets)
	for _, k := range free {
		asWritten[k] = []rune{rs[k]}
		asUsual[k] = []rune{usual[rs[k]]}
	}
	return [][][]rune{asWritten, asUsual}
}

// refCheck is what the model gives for the whole text.
func refCheck(t testing.TB, f *Filter, specs []ListSpec, where Where, text []byte) refResult {
	t.Helper()
	// The views, as Compile groups the lists.
	viewOf, views := groupViews(specs, Options{})
	if f.parts == nil {
		v := Strict(0)
		if len(views) > 0 {
			v = views[0]
		}
		return refRender(specs, f.lists, text, [][]refSpan{refMatches(t, f, v, specs, where, text, nil)})
	}
	var parts [][]refSpan
	for k, p := range f.parts {
		parts = append(parts, refMatches(t, p, views[k], specs, where, text, func(li int) bool { return viewOf[li] == views[k] }))
	}
	return refRender(specs, f.lists, text, parts)
}

type refSpan struct {
	oS, oE, rank, list int
	entry              string
}

// refMatches is the greedy leftmost-longest choice of one view's matches
// (f's, of strict switches v) in text, up to and with the first block, in
// original offsets.
func refMatches(t testing.TB, f *Filter, v Strict, specs []ListSpec, where Where, text []byte, want func(int) bool) []refSpan {
	t.Helper()
	srcs, view := refView(f, v, text)
	word := func(i int) bool { return i >= 0 && i < len(view) && isWordRune(view[i].r) }
	type match struct{ st, en, rank, ent int }
	var all []match
	ents := refEntries(t, f, v, specs, where, want)
	for st := range view {
		for ei, e := range ents {
			if st+len(e.norm) > len(view) {
				continue
			}
			ok := true
			for k, c := range e.norm {
				r := view[st+k].r
				if v&StrictSpaced != 0 && refSep(r) {
					r = ' '
				}
				if e.alts == nil && r != c || e.alts != nil && !slices.Contains(e.alts[k], r) {
					ok = false
					break
				}
			}
			if !ok || e.needStart && word(st-1) || e.needEnd && word(st+len(e.norm)) {
				continue
			}
			if e.leetOnly || e.numberless {
				// What the text of the match writes, space aside.
				letter, digit, symbol, chars := false, false, false, 0
				for _, x := range view[st : st+len(e.norm)] {
					if refSep(x.r) {
						continue
					}
					chars++
					src := text[srcs[x.src].o : srcs[x.src].o+srcs[x.src].n]
					r, size := utf8.DecodeRune(src)
					if len(src) > size { // a leet symbol of several characters
						symbol = true
						continue
					}
					// A code point is what its compatibility
					// decomposition begins with: ⓢ and ｓ are letters.
					if d := []rune(norm.NFKD.String(string(r))); len(d) > 0 && r >= utf8.RuneSelf {
						r = d[0]
					}
					letter = letter || unicode.IsLetter(r)
					digit = digit || unicode.IsDigit(r)
					symbol = symbol || !unicode.IsLetter(r) && !unicode.IsDigit(r)
				}
				if e.leetOnly && !digit && !symbol || e.numberless && !letter && !symbol && chars < 4 {
					continue
				}
			}
			all = append(all, match{st, st + len(e.norm), e.rank, ei})
		}
	}
	var spans []refSpan
	cursor := 0
	for {
		var best *match
		for i := range all {
			m := &all[i]
			if m.st < cursor {
				continue
			}
			if best == nil || m.st < best.st || m.st == best.st && (m.en > best.en || m.en == best.en && m.rank < best.rank) {
				best = m
			}
		}
		if best == nil {
			return spans
		}
		cursor = best.en
		e := ents[best.ent]
		last := srcs[view[best.en-1].src]
		spans = append(spans, refSpan{oS: srcs[view[best.st].src].o, oE: last.o + last.n, rank: e.rank, list: e.list, entry: e.entry})
		if specs[e.list].Action == Block {
			return spans
		}
	}
}

// refRender applies the views' matches to text as the composite does
// (for one view, as a Stream does): in order of start, then length, rank
// and view, each view's own in its order; none overlapping one applied
// from another view; the earliest block cuts.
func refRender(specs []ListSpec, lists []listInfo, text []byte, parts [][]refSpan) refResult {
	var res refResult
	// The block that cuts: the first, then the longest, the stronger
	// list, the first view.
	blockAt, blockPart := len(text)+1, -1
	for k, p := range parts {
		n := len(p)
		if n == 0 || specs[p[n-1].list].Action != Block {
			continue
		}
		b := p[n-1]
		if blockPart < 0 {
			blockAt, blockPart = b.oS, k
			continue
		}
		w := parts[blockPart][len(parts[blockPart])-1]
		if b.oS < w.oS || b.oS == w.oS && (b.oE > w.oE || b.oE == w.oE && b.rank < w.rank) {
			blockAt, blockPart = b.oS, k
		}
	}
	var out []byte
	rel, last, afterRedact := 0, -1, false
	release := func(to int) {
		for rel < to {
			r, n := utf8.DecodeRune(text[rel:to])
			switch {
			case r == utf8.RuneError && n == 1:
				out = append(out, "\uFFFD"...)
				afterRedact = false
			case isStripped(r):
				afterRedact = false
			case afterRedact && unicode.In(r, unicode.Mn, unicode.Me):
			default:
				out = append(out, text[rel:rel+n]...)
				afterRedact = false
			}
			rel += n
		}
	}
	next := make([]int, len(parts))
	for {
		k := -1
		for i, p := range parts {
			if next[i] >= len(p) || i == blockPart && next[i] == len(p)-1 || i != blockPart && p[next[i]].oS >= blockAt {
				continue // the block, or what comes at or after it
			}
			a := p[next[i]]
			if k < 0 {
				k = i
				continue
			}
			b := parts[k][next[k]]
			if a.oS < b.oS || a.oS == b.oS && (a.oE > b.oE || a.oE == b.oE && a.rank < b.rank) {
				k = i
			}
		}
		if k < 0 {
			break
		}
		sp := parts[k][next[k]]
		next[k]++
		if sp.oE <= rel || sp.oS < rel && k != last {
			continue
		}
		release(sp.oS)
		start := len(out)
		if specs[sp.list].Action == Redact {
			out = append(out, lists[sp.list].replacement...)
			rel, afterRedact = sp.oE, true
		} else {
			release(sp.oE)
		}
		last = k
		res.Hits = append(res.Hits, Hit{specs[sp.list].Name, specs[sp.list].Action, start, len(out), sp.entry})
	}
	if blockPart >= 0 {
		release(blockAt)
		b := parts[blockPart][len(parts[blockPart])-1]
		res.Hits = append(res.Hits, Hit{specs[b.list].Name, Block, len(out), len(out), b.entry})
		res.Text, res.Blocked = string(out), true
		return res
	}
	release(len(text))
	res.Text = string(out)
	return res
}

// runStream feeds text to a new Stream in pieces cut at cuts (ascending
// offsets) and checks that every piece released is valid UTF-8.
func runStream(t testing.TB, f *Filter, where Where, text []byte, cuts []int) refResult {
	t.Helper()
	s := f.NewStream(where)
	var res refResult
	var out []byte
	take := func(r Result) {
		t.Helper()
		if !utf8.Valid(r.Text) {
			t.Fatalf("released invalid UTF-8 %q", r.Text)
		}
		out = append(out, r.Text...)
		res.Hits = append(res.Hits, r.Hits...)
		res.Blocked = r.Blocked
	}
	prev := 0
	for _, c := range cuts {
		take(s.Write(text[prev:c]))
		prev = c
	}
	take(s.Write(text[prev:]))
	take(s.Close())
	res.Text = string(out)
	return res
}

// refSrc is a piece of the text the view reads as a whole: one code
// point, or a leet symbol.
type refSrc struct{ o, n int }

// refNrm is one code point of the view and the piece it came from.
type refNrm struct {
	r   rune
	src int
}

// The model's own copy of the strict views' rules for ASCII (doc.go):
// spaced reads . - and tab as a space, and _ as a separator that is a
// word character (refSep), leet reads these characters as letters and
// these symbols as one letter each, the longest where several begin at
// one place.
var (
	refSpacedASCII = ".-\t"
	refLeetChars   = map[byte]byte{'0': 'o', '1': 'l', '3': 'e', '4': 'a', '5': 's', '7': 't', '8': 'b', '9': 'g', '6': 'g', '2': 'z', '$': 's', '@': 'a', '|': 'l', '<': '(', '[': '(', '{': '('}
	refLeetSymbols = map[string]byte{"()": 'o', "|-|": 'h', "|_|": 'u', "|<": 'k', "|)": 'd', "[)": 'd', "|\\|": 'n', "/\\/\\": 'm', "|\\/|": 'm', "\\/": 'v', "\\/\\/": 'w',
		"/-\\": 'a', "|3": 'b', "]-[": 'h', "|{": 'k', "/\\/": 'n', "|*": 'p', "|2": 'r', "(_)": 'u'}
)

// refView reads the whole text as view v (f's) does: code point by code
// point through f's table (ASCII by the rules above), a leet symbol as
// its letter, and in a spaced view a run of spaces as one. Without
// normalization or strict switches (f.fold nil) the view is the text.
func refView(f *Filter, v Strict, text []byte) (srcs []refSrc, view []refNrm) {
	for o := 0; o < len(text); {
		if f.fold != nil && v&StrictLeet != 0 {
			best := ""
			for sym := range refLeetSymbols {
				if len(sym) > len(best) && len(text[o:]) >= len(sym) && string(text[o:o+len(sym)]) == sym {
					best = sym
				}
			}
			if best != "" {
				srcs = append(srcs, refSrc{o, len(best)})
				view = append(view, refNrm{rune(refLeetSymbols[best]), len(srcs) - 1})
				o += len(best)
				continue
			}
		}
		r, n := utf8.DecodeRune(text[o:])
		srcs = append(srcs, refSrc{o, n})
		out := []rune{r}
		switch {
		case f.fold == nil:
		case r < utf8.RuneSelf:
			c := byte(unicode.ToLower(r))
			if v&StrictSpaced != 0 && strings.IndexByte(refSpacedASCII, c) >= 0 {
				c = ' '
			}
			if l, ok := refLeetChars[c]; ok && v&StrictLeet != 0 {
				c = l
			}
			out = []rune{rune(c)}
		default:
			if x := f.fold.lookup(r); x != 0 {
				out = f.fold.expansion(x)
			}
		}
		for _, c := range out {
			if v&StrictSpaced != 0 && refSep(c) && len(view) > 0 && refSep(view[len(view)-1].r) {
				continue
			}
			view = append(view, refNrm{c, len(srcs) - 1})
		}
		o += n
	}
	return srcs, view
}

// refSep: in a spaced view, runs of spaces and underscores read as one
// separator, and a pattern's space matches either.
func refSep(r rune) bool { return r == ' ' || r == '_' }

// refViewString is an entry w as view v reads it (refView), its
// separators spaces in a spaced view.
func refViewString(f *Filter, v Strict, w string) string {
	_, view := refView(f, v, []byte(w))
	rs := make([]rune, len(view))
	for i, x := range view {
		rs[i] = x.r
		if v&StrictSpaced != 0 && refSep(x.r) {
			rs[i] = ' '
		}
	}
	return string(rs)
}

// refStrictVariants are the spellings of entry n (in the view's terms)
// under s, the rules of doc.go: with leet, each i also as l (1 and | read
// as l) or !, then each c as (, each t as +, each h as #: for each
// letter in turn, every combination of its places if that keeps within
// 64 spellings, else all its places alike if that does, else as written;
// with spaced, where n is words of ASCII letters, digits or symbols one
// space apart, three characters or more, each spelling that writes no
// ( + # for c t h also with all its characters one space apart.
func refStrictVariants(n string, s Strict) []string {
	out := []string{n}
	if s&StrictLeet != 0 {
		for _, l := range []struct {
			letter string
			as     []string
		}{{"i", []string{"l", "!"}}, {"c", []string{"("}}, {"t", []string{"+"}}, {"h", []string{"#"}}} {
			// Every combination of the letter's places, if that keeps
			// within 64 spellings.
			full := []string{}
			for _, x := range out {
				forms := []string{""}
				for _, part := range strings.SplitAfter(x, "") {
					var next []string
					for _, f := range forms {
						next = append(next, f+part)
						if part == l.letter {
							for _, a := range l.as {
								next = append(next, f+a)
							}
						}
					}
					forms = next
				}
				full = append(full, forms...)
			}
			if len(full) <= 64 {
				out = full
				continue
			}
			// Else one way in all its places, if that does.
			if len(out)*(1+len(l.as)) <= 64 {
				for _, x := range out[:len(out):len(out)] {
					for _, a := range l.as {
						out = append(out, strings.ReplaceAll(x, l.letter, a))
					}
				}
			}
		}
	}
	if s&StrictSpaced == 0 {
		return out
	}
	chars := 0
	for _, w := range strings.Split(n, " ") {
		if w == "" || strings.ContainsFunc(w, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
			return out
		}
		chars += len(w)
	}
	if chars < 3 {
		return out
	}
	for _, x := range out[:len(out):len(out)] {
		// Not the spellings with ( + # for c t h.
		if strings.Count(x, "(")+strings.Count(x, "+")+strings.Count(x, "#") > strings.Count(n, "(")+strings.Count(n, "+")+strings.Count(n, "#") {
			continue
		}
		out = append(out, strings.Join(strings.Split(strings.ReplaceAll(x, " ", ""), ""), " "))
	}
	return out
}
