package filter

import (
	"slices"
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
}

func refEntries(t testing.TB, f *Filter, specs []ListSpec, where Where, want func(int) bool) []refEntry {
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
		seen := map[string]bool{}
		mode := sp.Match
		if mode == "" {
			mode = Substring
		}
		for _, w := range sp.Words {
			for _, n := range strictVariants(f.normalize(w), sp.Strict.forMode(mode)) {
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
	}
	return ents
}

// refCheck is what the model gives for the whole text.
func refCheck(t testing.TB, f *Filter, specs []ListSpec, where Where, text []byte) refResult {
	t.Helper()
	if f.parts == nil {
		return refRender(specs, f.lists, text, [][]refSpan{refMatches(t, f, specs, where, text, nil)})
	}
	// The views, as Compile groups the lists.
	viewOf, views := groupViews(specs, Options{})
	var parts [][]refSpan
	for k, p := range f.parts {
		parts = append(parts, refMatches(t, p, specs, where, text, func(li int) bool { return viewOf[li] == views[k] }))
	}
	return refRender(specs, f.lists, text, parts)
}

type refSpan struct {
	oS, oE, rank, list int
	entry              string
}

// refMatches is the greedy leftmost-longest choice of one view's matches
// in text, up to and with the first block, in original offsets.
func refMatches(t testing.TB, f *Filter, specs []ListSpec, where Where, text []byte, want func(int) bool) []refSpan {
	t.Helper()
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
	ents := refEntries(t, f, specs, where, want)
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
