package filter

import (
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// This file holds a slow, obviously-correct model of the filter that the
// streaming automaton is checked against: it normalizes the whole text,
// tries every entry at every position, and applies the greedy
// leftmost-longest rule directly.

type refEntry struct {
	norm      []rune
	list      int
	rank      int
	needStart bool
	needEnd   bool
	entry     string
}

type refResult struct {
	Text    string
	Hits    []Hit
	Blocked bool
	Stopped bool
}

func refEntries(t testing.TB, f *Filter, specs []ListSpec, where Where) []refEntry {
	t.Helper()
	var ents []refEntry
	for li, sp := range specs {
		apply := sp.ApplyTo
		if len(apply) == 0 {
			apply = []Where{Output}
		}
		if !slices.Contains(apply, where) {
			continue
		}
		seen := map[string]bool{}
		for _, w := range sp.Words {
			n := f.normalize(w)
			if seen[n] {
				continue
			}
			seen[n] = true
			rs := []rune(n)
			ents = append(ents, refEntry{
				norm:      rs,
				list:      li,
				rank:      int(actionRank(sp.Action))*len(specs) + li,
				needStart: sp.Match == Word && isWordRune(rs[0]),
				needEnd:   sp.Match == Word && isWordRune(rs[len(rs)-1]),
				entry:     w,
			})
		}
	}
	return ents
}

func refCheck(t testing.TB, f *Filter, specs []ListSpec, where Where, text []byte, stops []string) refResult {
	t.Helper()
	var res refResult
	// Stop strings: the first code point boundary at which one ends; the
	// longest one ending there.
	if len(stops) > 0 {
	scan:
		for e := 0; e < len(text); {
			_, n := utf8.DecodeRune(text[e:])
			if !utf8.FullRune(text[e:]) {
				break // an incomplete character at the end is never scanned
			}
			e += n
			cut := -1
			for _, s := range stops {
				if s != "" && utf8.ValidString(s) && strings.HasSuffix(string(text[:e]), s) && (cut < 0 || e-len(s) < cut) {
					cut = e - len(s)
				}
			}
			if cut >= 0 {
				text = text[:cut]
				res.Stopped = true
				break scan
			}
		}
	}
	// Source code points and the normalized view.
	type src struct {
		o, n int
		r    rune
	}
	type nrm struct {
		r   rune
		src int
	}
	var srcs []src
	var view []nrm
	for o := 0; o < len(text); {
		r, n := utf8.DecodeRune(text[o:])
		srcs = append(srcs, src{o, n, r})
		out := []rune{r}
		if f.fold != nil {
			if r < utf8.RuneSelf {
				out = []rune{rune(f.fold.ascii[r])}
			} else if v := f.fold.lookup(r); v != 0 {
				out = f.fold.expansion(v)
			}
		}
		for _, c := range out {
			view = append(view, nrm{c, len(srcs) - 1})
		}
		o += n
	}
	word := func(i int) bool { return i >= 0 && i < len(view) && isWordRune(view[i].r) }
	type match struct{ st, en, rank, ent int }
	var all []match
	ents := refEntries(t, f, specs, where)
	for st := range view {
		for ei, e := range ents {
			if st+len(e.norm) > len(view) {
				continue
			}
			ok := true
			for k, c := range e.norm {
				if view[st+k].r != c {
					ok = false
					break
				}
			}
			if !ok || e.needStart && word(st-1) || e.needEnd && word(st+len(e.norm)) {
				continue
			}
			all = append(all, match{st, st + len(e.norm), e.rank, ei})
		}
	}
	// Output.
	var out []byte
	rel := 0
	release := func(to int) {
		for _, s := range srcs {
			if s.o < rel || s.o >= to {
				continue
			}
			switch {
			case s.n == 1 && s.r == utf8.RuneError:
				out = append(out, "\uFFFD"...)
			case isStripped(s.r):
			default:
				out = append(out, text[s.o:s.o+s.n]...)
			}
		}
		rel = max(rel, to)
	}
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
			break
		}
		cursor = best.en
		e := ents[best.ent]
		sp := specs[e.list]
		oS := srcs[view[best.st].src].o
		last := srcs[view[best.en-1].src]
		oE := last.o + last.n
		release(oS)
		start := len(out)
		switch sp.Action {
		case Block:
			res.Hits = append(res.Hits, Hit{sp.Name, Block, start, start, e.entry})
			res.Text, res.Blocked, res.Stopped = string(out), true, false
			return res
		case Redact:
			if oE <= rel {
				continue
			}
			repl := sp.Replacement
			if repl == "" {
				repl = DefaultReplacement
			}
			out = append(out, repl...)
			rel = oE
			// Combining marks right after it go with it.
			for _, s := range srcs {
				if s.o == rel && unicode.In(s.r, unicode.Mn, unicode.Me) {
					rel += s.n
				}
			}
		default:
			if oE <= rel {
				continue
			}
			release(oE)
		}
		res.Hits = append(res.Hits, Hit{sp.Name, sp.Action, start, len(out), e.entry})
	}
	release(len(text))
	res.Text = string(out)
	return res
}

// runStream feeds text to a new Stream in pieces cut at cuts (ascending
// offsets) and checks that every piece released is valid UTF-8.
func runStream(t testing.TB, f *Filter, where Where, stops []string, text []byte, cuts []int) refResult {
	t.Helper()
	s := f.NewStream(where, stops)
	var res refResult
	var out []byte
	take := func(r Result) {
		t.Helper()
		if !utf8.Valid(r.Text) {
			t.Fatalf("released invalid UTF-8 %q", r.Text)
		}
		out = append(out, r.Text...)
		res.Hits = append(res.Hits, r.Hits...)
		res.Blocked, res.Stopped = r.Blocked, r.Stopped
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
