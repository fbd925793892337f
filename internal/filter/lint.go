package filter

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// LintReport is what Lint finds in lists run over a clean corpus.
type LintReport struct {
	Fired    []Fired   // entries that matched the corpus, most hits first
	Warnings []Warning // entries likely to match more than their authors meant
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
// word the corpus uses.
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
		view := &Filter{}
		if opts.Normalize || v != 0 {
			view.fold = foldTableFor(v)
		}
		forEachEntry(sp, opts, func(pos, raw string) {
			n := view.normalize(raw)
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
			if n != strings.ToLower(raw) {
				if c := viewWords(v, view.normalize)[n]; c > 0 && !sp.Hide {
					warn("the view folds it to %q, a word the corpus uses %d times", n, c)
				} else if c > 0 {
					warn("the view folds it to a word the corpus uses %d times", c)
				}
			}
		})
	}
	return rep, nil
}
