package filter

import (
	"math/bits"
	"unicode/utf8"
)

// dfa is an Aho–Corasick automaton flattened into a dense transition table
// over byte classes. A state is the offset of its row in trans, so a step is
// one load: trans[state+cls[b]]. Each row starts with two info columns:
//
//	col 0: matchBit | ext, where ext is the length (in units, see build) of
//	       the longest suffix of the text read so far that can still grow
//	       into a match. Everything before it can be released.
//	col 1: 1 + the longest pattern ending here, 0 if none; further patterns
//	       ending here follow pattern.next.
//
// The state is all a stream needs to carry between pieces; no library we
// measured keeps such state (see doc.go), which is why this exists.
type dfa struct {
	cls    [256]uint32 // byte → column
	stride uint32
	trans  []uint32

	// Keyword automata only (buildKeys): the mid-code states.
	mids  []midState
	dense []uint32 // 64-column rows, see midState
	exc   []uint32
	// root2[k] is the state two-byte code k leads to from the root: the
	// default of every mid-code state after k's lead byte (see step2).
	root2 *[codes2]uint32

	// Keyword automata only: a transition to a code point state may carry
	// the state's ext above its offset (see pack), so that the hold point
	// needs no look at the state's info column, another cache line. off
	// masks the offset out of such a value (and drops matchBit); extShift
	// is 0 where the table is too large to leave room for ext.
	off      uint32
	extShift uint32
}

// noPackExt makes buildKeys leave ext out of the transitions, as it does
// for a table too large; tests set it to run that path.
var noPackExt = false

// ext returns the ext of code point state v (a transition value, matchBit
// and packed ext allowed).
func (d *dfa) ext(v uint32) int {
	if d.extShift != 0 {
		return int((v &^ matchBit) >> d.extShift)
	}
	return int(d.trans[v&d.off+colInfo] & extMask)
}

// midState is a state inside a code (after its lead byte, or after the
// middle byte of a 3-byte code). Its transitions on continuation byte c
// are those of the dense row at dense[def:], except where bit c of mask is
// set: those are listed in exc from base on, in order of c.
//
// The dense row is that of the same partial code read from the root, and
// a state deep in a pattern differs from it only where patterns continue.
// So the rows that a text walks through all the time are small (16 bytes
// plus a few exceptions) and stay in the cache, where dense 64-column rows
// for every state did not: a Chinese character cost a cache miss each.
type midState struct {
	mask      uint64
	base, def uint32
}

// step2 moves from code point state st (an offset) over two-byte code k
// (index, not 1 + index).
//
// It gives what midStep gives after the lead byte, but takes the default
// from root2, which depends on k alone, and tests the mask in a branch: a
// text mostly takes the default, the branch is predicted, and the CPU
// goes on to the next step while the state's row and mask are still being
// loaded. midStep's result depends on both loads: three loads in a row
// per Chinese character.
func (d *dfa) step2(st, k uint32) uint32 {
	m := &d.mids[d.trans[st+d.cls[0xC0+k>>6]]]
	if c := k & 63; m.mask>>c&1 != 0 {
		return d.exc[m.base+uint32(bits.OnesCount64(m.mask&(1<<c-1)))]
	}
	return d.root2[k]
}

// midStep moves from mid-code state v over continuation byte c (as c-0x80).
func (d *dfa) midStep(v, c uint32) uint32 {
	m := &d.mids[v]
	if m.mask>>(c&63)&1 == 0 {
		return d.dense[m.def+c]
	}
	return d.exc[m.base+uint32(bits.OnesCount64(m.mask&(1<<(c&63)-1)))]
}

const (
	matchBit = 1 << 31
	extMask  = matchBit - 1
	colInfo  = 0
	colOut   = 1
	colFirst = 2 // first transition column; colFirst itself is "any byte in no pattern"
)

// build makes the automaton for pats (non-empty, distinct byte strings).
// next[i] receives 1 + the next shorter pattern that is a suffix of pats[i]
// (the dictionary link), 0 if none. With runeUnits, ext counts code points
// (a pattern's length is counted the same way, see runeLen); otherwise bytes.
func build(pats []string, runeUnits bool) (d *dfa, next []int32) {
	d = &dfa{}
	// Byte classes: one column per byte used by some pattern, one shared
	// column for all others (which always lead back to the root).
	used := usedBytes(pats)
	col := uint32(colFirst + 1)
	for b := range 256 {
		d.cls[b] = colFirst
		if used[b] {
			d.cls[b] = col
			col++
		}
	}
	d.stride = col

	nodes := buildTrie(pats, runeUnits)

	// Breadth-first: a node's failure state is shallower, so its row is
	// complete before the node copies it.
	stride := d.stride
	d.trans = make([]uint32, len(nodes)*int(stride))
	fail := make([]int32, len(nodes))
	out := make([]int32, len(nodes)) // 1 + longest pattern ending at node
	ext := make([]int32, len(nodes))
	next = make([]int32, len(pats))
	row := func(u int32) []uint32 { return d.trans[uint32(u)*stride : uint32(u+1)*stride] }
	queue := make([]int32, 0, len(nodes))
	queue = append(queue, 0)
	for qi := 0; qi < len(queue); qi++ {
		u := queue[qi]
		r := row(u)
		if u != 0 {
			copy(r, row(fail[u]))
		}
		for v := nodes[u].child; v != 0; v = nodes[v].sib {
			queue = append(queue, v)
			if u != 0 {
				fail[v] = int32(row(fail[u])[d.cls[nodes[v].label]] / stride)
			}
			r[d.cls[nodes[v].label]] = uint32(v) * stride
		}
		setLinks(nodes, u, fail[u], out, ext, next)
		r[colInfo] = uint32(ext[u])
		if out[u] != 0 {
			r[colInfo] |= matchBit
		}
		r[colOut] = uint32(out[u])
	}
	return d, next
}

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

// bytes reports the memory held by the automaton.
func (d *dfa) bytes() int {
	n := len(d.trans)*4 + len(d.cls)*4 + len(d.mids)*16 + len(d.dense)*4 + len(d.exc)*4
	if d.root2 != nil {
		n += len(d.root2) * 4
	}
	return n
}

// Code points other than ASCII reach the automaton as short private codes
// instead of UTF-8: each non-ASCII code point used by some pattern gets an
// index k, written as two bytes (lead 0xC0–0xF7, then 0x80–0xBF) for the
// first 3,584 and three bytes (lead 0xF9–0xFE) for the rest. A Chinese
// character then costs two automaton steps instead of three, and there is
// no tier of states for UTF-8 lead bytes (see BENCH_NOTES.md). Code points used by no pattern reset the automaton to
// the root directly. Lead bytes stay non-continuation bytes, so counting
// them still counts code points.
const (
	codes2   = (0xF8 - 0xC0) * 64
	maxCodes = codes2 + (0xFF-0xF9)*4096
)

// codeTable maps a code point to 1 + its index, 0 for unused ones.
type codeTable struct {
	idx  [(0x10FFFF + 1) >> 8]uint16
	vals []uint16
}

func (t *codeTable) lookup(r rune) uint16 {
	return t.vals[int(t.idx[r>>8])<<8|int(r&0xff)]
}

// newCodeTable assigns codes to the non-ASCII code points of pats, in order
// of first use, and returns pats encoded. ok is false if there are more
// than maxCodes of them.
func newCodeTable(pats []string) (t *codeTable, enc []string, ok bool) {
	t = &codeTable{vals: make([]uint16, 256)}
	n := 0
	enc = make([]string, len(pats))
	var b []byte
	for i, p := range pats {
		b = b[:0]
		for _, r := range p {
			if r < utf8.RuneSelf {
				b = append(b, byte(r))
				continue
			}
			if t.idx[r>>8] == 0 {
				t.idx[r>>8] = uint16(len(t.vals) >> 8)
				t.vals = append(t.vals, make([]uint16, 256)...)
			}
			c := t.lookup(r)
			if c == 0 {
				if n == maxCodes {
					return nil, nil, false
				}
				n++
				c = uint16(n)
				t.vals[int(t.idx[r>>8])<<8|int(r&0xff)] = c
			}
			b = appendCode(b, c)
		}
		enc[i] = string(b)
	}
	return t, enc, true
}

// appendCode appends the private encoding of code c (1 + index).
func appendCode(b []byte, c uint16) []byte {
	k := int(c) - 1
	if k < codes2 {
		return append(b, byte(0xC0+k>>6), byte(0x80+k&63))
	}
	k -= codes2
	return append(b, byte(0xF9+k>>12), byte(0x80+(k>>6)&63), byte(0x80+k&63))
}

// buildKeys makes the keyword automaton for pats, which are encoded with
// private codes (see newCodeTable). It has the same interface as build with
// runeUnits, but two kinds of states:
//
//   - a code point state (after ASCII or a complete code) is a row of trans
//     as in build, with one column per ASCII or lead byte used; its lead
//     byte columns hold the index of a mid-code state;
//   - a mid-code state is a midState, stepped over continuation bytes by
//     midStep.
//
// cls maps a continuation byte to c-0x80, any other byte to its column. A
// text fed as ASCII and whole codes (matcher.step) only ever looks up a
// transition of the right kind.
//
// A transition to a code point state at which some pattern ends carries
// matchBit, so the step itself says whether to look for matches; the info
// columns are read only then, or when the ext is needed.
func buildKeys(pats []string) (d *dfa, next []int32) {
	d = &dfa{}
	used := usedBytes(pats)
	col := uint32(colFirst + 1)
	for b := range 256 {
		switch {
		case isCont(byte(b)):
			d.cls[b] = uint32(b - 0x80)
		case used[b]:
			d.cls[b] = col
			col++
		default:
			d.cls[b] = colFirst
		}
	}
	d.stride = col
	d.off = extMask
	const midStride = 64

	nodes := buildTrie(pats, true)

	// Breadth-first order: a state's failure state is shallower, so its row
	// is complete before the state copies it.
	queue := make([]int32, 0, len(nodes))
	queue = append(queue, 0)
	for qi := 0; qi < len(queue); qi++ {
		for v := nodes[queue[qi]].child; v != 0; v = nodes[v].sib {
			queue = append(queue, v)
		}
	}

	// First pass: dense rows of node numbers for every state.
	toff := make([]uint32, len(nodes))
	size := uint32(0)
	for _, u := range queue {
		toff[u] = size
		if nodes[u].mid {
			size += midStride
		} else {
			size += d.stride
		}
	}
	tmp := make([]uint32, size)
	row := func(u int32) []uint32 {
		if nodes[u].mid {
			return tmp[toff[u] : toff[u]+midStride]
		}
		return tmp[toff[u] : toff[u]+d.stride]
	}
	fail := make([]int32, len(nodes))
	out := make([]int32, len(nodes)) // 1 + longest pattern ending at node
	ext := make([]int32, len(nodes))
	next = make([]int32, len(pats))
	for _, u := range queue {
		r := row(u)
		// The failure state of a code point state is one too, that of a
		// mid-code state is one too or the root; a mid-code state whose
		// failure state is the root starts from an all-root row, as no
		// pattern starts with a continuation byte.
		if u != 0 && (!nodes[u].mid || fail[u] != 0) {
			copy(r, row(fail[u]))
		}
		for v := nodes[u].child; v != 0; v = nodes[v].sib {
			c := d.cls[nodes[v].label]
			if u != 0 && (fail[u] != 0 || !nodes[u].mid) {
				fail[v] = int32(row(fail[u])[c])
			}
			r[c] = uint32(v)
		}
		setLinks(nodes, u, fail[u], out, ext, next)
	}

	// Second pass: code point states get their offsets in trans, mid-code
	// states their index in mids.
	ref := make([]uint32, len(nodes))
	size = 0
	nmid := uint32(1) // mids[0] leads back to the root, as does trans[0]
	for _, u := range queue {
		if nodes[u].mid {
			ref[u] = nmid
			nmid++
		} else {
			ref[u] = size
			size += d.stride
		}
	}
	// Room for ext above the offsets? ext is at most maxEntryRunes, but
	// buildKeys does not rely on that.
	maxExt := int32(0)
	for _, e := range ext {
		maxExt = max(maxExt, e)
	}
	if sh := uint32(bits.Len32(size)); sh+uint32(bits.Len32(uint32(maxExt))) <= 31 && !noPackExt {
		d.extShift = sh
		d.off = 1<<sh - 1
	}
	conv := func(v uint32) uint32 {
		t := ref[v]
		if !nodes[v].mid {
			if out[v] != 0 {
				t |= matchBit
			}
			if d.extShift != 0 {
				t |= uint32(ext[v]) << d.extShift
			}
		}
		return t
	}
	d.trans = make([]uint32, size)
	d.mids = make([]midState, nmid)
	d.dense = make([]uint32, midStride) // dense[0:64]: all to the root
	// def[u]: for a mid-code state, the state the same partial code leads
	// to from the root (0 if none); such a state owns a dense row.
	def := make([]int32, len(nodes))
	denseAt := make(map[int32]uint32)
	for _, u := range queue {
		r := row(u)
		if !nodes[u].mid {
			t := d.trans[ref[u] : ref[u]+d.stride]
			t[colInfo] = uint32(ext[u])
			if out[u] != 0 {
				t[colInfo] |= matchBit
			}
			t[colOut] = uint32(out[u])
			for i := colFirst; i < len(r); i++ {
				t[i] = conv(r[i])
			}
			for v := nodes[u].child; v != 0; v = nodes[v].sib {
				if nodes[v].mid {
					def[v] = int32(row(0)[d.cls[nodes[v].label]])
				}
			}
			continue
		}
		for v := nodes[u].child; v != 0; v = nodes[v].sib {
			if nodes[v].mid && def[u] != 0 {
				def[v] = int32(row(def[u])[d.cls[nodes[v].label]])
			}
		}
		m := &d.mids[ref[u]]
		if def[u] == u {
			m.def = uint32(len(d.dense))
			denseAt[u] = m.def
			for _, v := range r {
				d.dense = append(d.dense, conv(v))
			}
			continue
		}
		var dr []uint32
		if def[u] != 0 {
			dr = row(def[u])
			m.def = denseAt[def[u]] // breadth-first: def[u] came first
		}
		m.base = uint32(len(d.exc))
		for c, v := range r {
			w := uint32(0)
			if dr != nil {
				w = dr[c]
			}
			if v != w {
				m.mask |= 1 << c
				d.exc = append(d.exc, conv(v))
			}
		}
	}
	// The default row of a mid-code state after a lead byte is that of
	// the root's state after the lead byte (def above), or all to the root
	// where there is none: in both, root2 is the row step2 needs.
	d.root2 = new([codes2]uint32)
	for k := range uint32(codes2) {
		if c := d.cls[0xC0+k>>6]; c != colFirst {
			d.root2[k] = d.midStep(d.trans[c], k&63)
		}
	}
	return d, next
}

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
