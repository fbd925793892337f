package filter

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// LintReport is what Lint finds in lists run over a clean corpus.
type LintReport struct {
	Fired    []Fired   // entries that matched the corpus, most hits first
	Warnings []Warning // entries likely to match more than their authors meant
	// WidenedByStrict are the entries of lists with strict switches
	// that match the corpus more often through the strict view than
	// through the plain one, most added hits first: what the switches
	// cost on this corpus.
	WidenedByStrict []Widened
}

// Widened is one entry of a strict list with its hits on the corpus
// without the list's strict switches (Plain) and with them (Strict).
// Entry is empty for a hidden list; Pos says where the entry is.
type Widened struct {
	List   string
	Pos    string
	Entry  string
	Plain  int
	Strict int
}

// Fired counts one entry's matches. Entry is empty for a hidden list
// (ListSpec.Hide), whose hits are counted by list.
type Fired struct {
	List  string
	Entry string
	Hits  int
}

// Warning names an entry and why it may over-match. Entry is empty for a
// hidden list; Pos says where the entry is.
type Warning struct {
	List  string
	Pos   string
	Entry string
	Why   string
}

// Lint runs specs over corpus (texts that should not match: the user's
// own clean prose), every list as a flag list so that nothing stops the
// scan, and checks each entry for what tends to over-match: one Chinese,
// Japanese or Korean character in substring mode, one or two Latin
// letters, and entries that the normalized or strict view folds into a
// word the corpus uses. For each list with strict switches it compares
// every entry's hits on the corpus with and without them
// (WidenedByStrict), and it warns of entries written in Traditional
// Chinese whose Simplified spelling is not listed: the traditional view
// widens Simplified entries onto Traditional text, not the other way.
func Lint(specs []ListSpec, opts Options, corpus []string) (LintReport, error) {
	var rep LintReport
	flags := slices.Clone(specs)
	for i := range flags {
		flags[i].Action, flags[i].ApplyTo = Flag, []Where{Output}
	}
	f, err := Compile(flags, opts)
	if err != nil {
		return rep, err
	}
	type key struct{ list, entry string }
	counts := map[key]int{}
	for _, text := range corpus {
		for _, h := range f.Check(Output, text).Hits {
			counts[key{h.List, h.Keyword}]++
		}
	}
	for k, n := range counts {
		rep.Fired = append(rep.Fired, Fired{List: k.list, Entry: k.entry, Hits: n})
	}
	slices.SortFunc(rep.Fired, func(a, b Fired) int {
		return cmp.Or(cmp.Compare(b.Hits, a.Hits), cmp.Compare(a.List, b.List), cmp.Compare(a.Entry, b.Entry))
	})

	// The corpus's words in each view a list uses.
	words := map[Strict]map[string]int{}
	viewWords := func(v Strict, norm func(string) string) map[string]int {
		if w, ok := words[v]; ok {
			return w
		}
		w := map[string]int{}
		for _, text := range corpus {
			for _, t := range strings.FieldsFunc(norm(text), func(r rune) bool { return !isWordRune(r) }) {
				w[t]++
			}
		}
		words[v] = w
		return w
	}
	for _, sp := range specs {
		mode := cmp.Or(sp.Match, Substring)
		v := sp.Strict.forMode(mode)
		view, words := &Filter{}, &Filter{}
		if opts.Normalize || v != 0 {
			view.fold = foldTableFor(v)
		}
		if opts.Normalize || v&^StrictLeet != 0 {
			words.fold = foldTableFor(v &^ StrictLeet)
		}
		listed := map[string]bool{}
		forEachEntry(sp, opts, func(_, raw string) { listed[view.entryView(raw)] = true })
		forEachEntry(sp, opts, func(pos, raw string) {
			n := view.entryView(raw)
			warn := func(format string, args ...any) {
				w := Warning{List: sp.Name, Pos: pos, Why: fmt.Sprintf(format, args...)}
				if !sp.Hide {
					w.Entry = raw
				}
				rep.Warnings = append(rep.Warnings, w)
			}
			r, size := utf8.DecodeRuneInString(n)
			switch {
			case n == "":
			case mode == Substring && size == len(n) && isCJK(r):
				warn("one character in substring mode: it matches inside every word that has it")
			case len(n) <= 2 && !strings.ContainsFunc(n, func(r rune) bool { return r < 'a' || r > 'z' }):
				letters := []string{1: "one letter", 2: "two letters"}[len(n)]
				if mode == Substring {
					warn("%s in substring mode: it matches inside words", letters)
				} else {
					warn("%s: it matches initials and abbreviations", letters)
				}
			}
			if v&StrictTraditional != 0 {
				if kept, forms, simp := tradChars(n); kept != "" && !listed[simp] {
					if sp.Hide {
						warn("written in Traditional: strict catches Traditional spellings of Simplified entries, not the other way, so the Simplified spelling does not match unless listed")
					} else {
						warn("written in Traditional (%s; Simplified %s): strict catches Traditional spellings of Simplified entries, not the other way, so %q does not match unless listed", kept, forms, simp)
					}
				}
			}
			// Folds other than leet's: a leet spelling matches only
			// text that writes a digit or symbol (textAsk), so "h3ll0"
			// is no "hello".
			if wn := words.normalize(raw); wn != strings.ToLower(raw) {
				if c := viewWords(v&^StrictLeet, words.normalize)[wn]; c > 0 && !sp.Hide {
					warn("the view folds it to %q, a word the corpus uses %d times", wn, c)
				} else if c > 0 {
					warn("the view folds it to a word the corpus uses %d times", c)
				}
			}
		})
	}
	w, err := widenedByStrict(specs, opts, corpus)
	rep.WidenedByStrict = w
	return rep, err
}

// tradChars returns the Traditional characters of n (in the
// traditional view's terms: s2tTable), their Simplified forms, and n
// with each of them in its Simplified form; kept is "" if n has none.
func tradChars(n string) (kept, forms, simp string) {
	var k, f, out []rune
	for _, r := range n {
		if s, ok := tradToSimp()[r]; ok {
			k, f = append(k, r), append(f, s)
			r = s
		}
		out = append(out, r)
	}
	return string(k), string(f), string(out)
}

// tradToSimp maps each Traditional character of s2tTable to its
// Simplified form, but those that are Simplified characters too
// (tradAlsoSimplified: 乾 is also "qián"), which do not tell that an
// entry is written in Traditional.
var tradToSimp = sync.OnceValue(func() map[rune]rune {
	m := map[rune]rune{}
	for _, e := range s2tTable {
		for _, x := range e.t {
			if !strings.ContainsRune(tradAlsoSimplified, x) {
				m[x] = e.s
			}
		}
	}
	return m
})

// widenedByStrict compiles each list with strict switches alone, with
// them and without, runs both over corpus, and returns the entries that
// hit more with them, most added hits first.
func widenedByStrict(specs []ListSpec, opts Options, corpus []string) ([]Widened, error) {
	var out []Widened
	for _, sp := range specs {
		if sp.Strict.forMode(cmp.Or(sp.Match, Substring)) == 0 {
			continue
		}
		// Counted by entry as written, so hidden lists are compiled
		// visible here; the report names their entries' places only.
		strict := sp
		strict.Action, strict.ApplyTo, strict.Hide = Flag, []Where{Output}, false
		plain := strict
		plain.Strict = 0
		var hits [2]map[string]int
		for i, s := range []ListSpec{plain, strict} {
			f, err := Compile([]ListSpec{s}, opts)
			if err != nil {
				return nil, err
			}
			hits[i] = map[string]int{}
			for _, text := range corpus {
				for _, h := range f.Check(Output, text).Hits {
					hits[i][h.Keyword]++
				}
			}
		}
		pos := map[string]string{}
		forEachEntry(sp, opts, func(p, raw string) {
			if _, ok := pos[raw]; !ok {
				pos[raw] = p
			}
		})
		for e, n := range hits[1] {
			if n <= hits[0][e] {
				continue
			}
			w := Widened{List: sp.Name, Pos: pos[e], Plain: hits[0][e], Strict: n}
			if !sp.Hide {
				w.Entry = e
			}
			out = append(out, w)
		}
	}
	slices.SortFunc(out, func(a, b Widened) int {
		return cmp.Or(cmp.Compare(b.Strict-b.Plain, a.Strict-a.Plain), cmp.Compare(a.List, b.List), cmp.Compare(a.Pos, b.Pos))
	})
	return out, nil
}
