package filter

import "sync"

// The traditional view does not fold Chinese text: an entry with a
// Simplified character is compiled with each of its Traditional
// spellings too (s2tTable: 贱 with 賤, 干 with 幹, 乾 and 榦). So a
// Simplified entry catches its Traditional spellings, while a
// Traditional entry matches only itself: 幹 does not catch 干, which
// also writes other words ("dry"), and 賤 does not catch ordinary
// Simplified prose's 贱 (as in 贫贱, "poor and lowly"). Folding the text
// Traditional to Simplified where that is one-to-one catches the same
// Traditional spellings with fewer patterns, but widens every
// Traditional entry onto Simplified prose: +13.5 % hits on fortunes-zh
// for naughty-words' Chinese list, against +0 % this way (BENCHMARKS).

// maxTradSpellings bounds the spellings one entry gets from s2tTable.
const maxTradSpellings = 64

// tradAlts maps a Simplified character of s2tTable to its Traditional
// spellings, the usual first. Both sides are fixed points of every
// strict view (strict_tables_test.go checks), so entries in the view's
// terms can be expanded directly.
var tradAlts = sync.OnceValue(func() map[rune][]rune {
	m := make(map[rune][]rune, len(s2tTable))
	for _, e := range s2tTable {
		m[e.s] = []rune(e.t)
	}
	return m
})

// tradSpellings returns the spellings of n (an entry in the view's
// terms) under s: n itself first, then, with StrictTraditional, n with
// each character of s2tTable replaced by each of its Traditional
// spellings, in every combination, so that text mixing the scripts is
// caught too. An entry whose combinations would exceed maxTradSpellings
// combines all spellings of its first such characters only, as many as
// keep the count within maxTradSpellings/2; the characters after them
// take one choice together: all as written, or all their usual
// Traditional spelling (the first of s2tTable). Text spelling those
// later characters some other way is missed; an entry needs four or
// more such characters to get there (干台 alone have four spellings
// each).
func tradSpellings(n string, s Strict) []string {
	if s&StrictTraditional == 0 {
		return []string{n}
	}
	alts := tradAlts()
	var rs []rune
	var pos []int
	for _, r := range n {
		if _, ok := alts[r]; ok {
			pos = append(pos, len(rs))
		}
		rs = append(rs, r)
	}
	if len(pos) == 0 {
		return []string{n}
	}
	full := len(pos) // characters combined in every way
	if tradCount(rs, pos, alts) > maxTradSpellings {
		full = 0
		for count := 2; full < len(pos); full++ {
			count *= 1 + len(alts[rs[pos[full]]])
			if count > maxTradSpellings {
				break
			}
		}
	}
	out := [][]rune{rs}
	for _, p := range pos[:full] {
		next := make([][]rune, 0, len(out)*(1+len(alts[rs[p]])))
		for _, v := range out {
			next = append(next, v)
			for _, a := range alts[rs[p]] {
				w := append([]rune(nil), v...)
				w[p] = a
				next = append(next, w)
			}
		}
		out = next
	}
	if full < len(pos) {
		for _, v := range out[:len(out):len(out)] {
			w := append([]rune(nil), v...)
			for _, p := range pos[full:] {
				w[p] = alts[rs[p]][0]
			}
			out = append(out, w)
		}
	}
	strs := make([]string, len(out))
	for i, v := range out {
		strs[i] = string(v)
	}
	return strs
}

// tradCount is the number of combinations of the spellings of rs at pos,
// or maxTradSpellings+1 if it is more.
func tradCount(rs []rune, pos []int, alts map[rune][]rune) int {
	n := 1
	for _, p := range pos {
		n *= 1 + len(alts[rs[p]])
		if n > maxTradSpellings {
			return maxTradSpellings + 1
		}
	}
	return n
}

// entrySpellings is every spelling an entry n (in the view's terms) is
// compiled to under s: its Traditional spellings (tradSpellings), each
// with its strict variants (strictVariants). They may repeat.
func entrySpellings(n string, s Strict) []string {
	ts := tradSpellings(n, s)
	if len(ts) == 1 {
		return strictVariants(n, s)
	}
	var out []string
	for _, t := range ts {
		out = append(out, strictVariants(t, s)...)
	}
	return out
}
