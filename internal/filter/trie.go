package filter

import "unicode/utf8"

// The keywords' automaton (buildKeys) and the plain byte automaton that
// tests check it against (build) both start from a trie of their patterns
// and flatten it breadth-first into rows of a transition table. Each row
// starts with two info columns:
//
//	col 0: matchBit | ext, where ext is the length (in units, see build) of
//	       the longest suffix of the text read so far that can still grow
//	       into a match. Everything before it can be released.
//	col 1: 1 + the longest pattern ending here, 0 if none; further patterns
//	       ending here follow pattern.next.
//
// The state is all a stream needs to carry between pieces; no library we
// measured keeps such state (see doc.go), which is why this exists.

const (
	matchBit = 1 << 31
	extMask  = matchBit - 1
	colInfo  = 0
	colOut   = 1
	colFirst = 2 // first transition column; colFirst itself is "any byte in no pattern"
)

// trieNode is a node of the trie of the patterns, kept as first-child/
// next-sibling lists; node 0 is the root.
type trieNode struct {
	child, sib int32
	label      byte
	mid        bool  // inside a code: the next byte of the patterns through it is a continuation byte
	term       int32 // 1 + pattern index
	depth      int32 // in units, as build counts them
}

// buildTrie makes the trie both automata start from. With runeUnits,
// depth counts code points (non-continuation bytes); otherwise bytes.
func buildTrie(pats []string, runeUnits bool) []trieNode {
	nodes := make([]trieNode, 1, 1+len(pats)*4)
	for pi, p := range pats {
		u := int32(0)
		for i := 0; i < len(p); i++ {
			b := p[i]
			v := nodes[u].child
			for v != 0 && nodes[v].label != b {
				v = nodes[v].sib
			}
			if v == 0 {
				depth := nodes[u].depth
				if !runeUnits || !isCont(b) {
					depth++
				}
				v = int32(len(nodes))
				mid := i+1 < len(p) && isCont(p[i+1])
				nodes = append(nodes, trieNode{sib: nodes[u].child, label: b, mid: mid, depth: depth})
				nodes[u].child = v
			}
			u = v
		}
		nodes[u].term = int32(pi) + 1
	}
	return nodes
}

// setLinks works out, for node u whose failure state f is complete (the
// walk is breadth-first), what build and buildKeys both need: out[u] (1 +
// the longest pattern ending at u), the next of the pattern ending at u,
// and ext[u].
func setLinks(nodes []trieNode, u, f int32, out, ext, next []int32) {
	out[u] = out[f]
	if t := nodes[u].term; t != 0 {
		next[t-1] = out[f]
		out[u] = t
	}
	ext[u] = ext[f]
	if nodes[u].child != 0 {
		ext[u] = nodes[u].depth
	}
}

func isCont(b byte) bool { return b&0xC0 == 0x80 }

// runeLen counts units the way build does with runeUnits.
func runeLen(s string) int32 { return int32(utf8.RuneCountInString(s)) }

// usedBytes marks the bytes that occur in some pattern: each gets a column
// of its own, the rest share one.
func usedBytes(pats []string) (used [256]bool) {
	for _, p := range pats {
		for i := 0; i < len(p); i++ {
			used[p[i]] = true
		}
	}
	return used
}
