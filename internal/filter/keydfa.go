package filter

import (
	"math/bits"
	"unicode/utf8"
)

// keyDFA is the keyword automaton: a byteDFA whose text is normalized
// code points, ASCII as bytes and the others as short private codes (see
// newCodeTable), with states of two kinds (see buildKeys): code point
// states are rows of trans, as in byteDFA; mid-code states, inside a
// code, are midStates over shared dense rows.
type keyDFA struct {
	byteDFA

	mids  []midState
	dense []uint32 // 64-column rows, see midState
	exc   []uint32
	// root2[k] is the state two-byte code k leads to from the root: the
	// default of every mid-code state after k's lead byte (see step2).
	root2 *[codes2]uint32

	// A transition to a code point state may carry the state's ext above
	// its offset (see buildKeys), so that the hold point needs no look at
	// the state's info column, another cache line. off masks the offset
	// out of such a value (and drops matchBit); extShift is 0 where the
	// table is too large to leave room for ext.
	off      uint32
	extShift uint32
}

// noPackExt makes buildKeys leave ext out of the transitions, as it does
// for a table too large; tests set it to run that path.
var noPackExt = false

// ext returns the ext of code point state v (a transition value, matchBit
// and packed ext allowed).
func (d *keyDFA) ext(v uint32) int {
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
func (d *keyDFA) step2(st, k uint32) uint32 {
	m := &d.mids[d.trans[st+d.cls[0xC0+k>>6]]]
	if c := k & 63; m.mask>>c&1 != 0 {
		return d.exc[m.base+uint32(bits.OnesCount64(m.mask&(1<<c-1)))]
	}
	return d.root2[k]
}

// midStep moves from mid-code state v over continuation byte c (as c-0x80).
func (d *keyDFA) midStep(v, c uint32) uint32 {
	m := &d.mids[v]
	if m.mask>>(c&63)&1 == 0 {
		return d.dense[m.def+c]
	}
	return d.exc[m.base+uint32(bits.OnesCount64(m.mask&(1<<(c&63)-1)))]
}

// bytes reports the memory held by the automaton.
func (d *keyDFA) bytes() int {
	n := d.byteDFA.bytes() + len(d.mids)*16 + len(d.dense)*4 + len(d.exc)*4
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
// text fed as ASCII and whole codes (matcher.next) only ever looks up a
// transition of the right kind.
//
// A transition to a code point state at which some pattern ends carries
// matchBit, so the step itself says whether to look for matches; the info
// columns are read only then, or when the ext is needed.
//
// A worked example: the patterns "ab" and "中a", where 中 has the private
// code C0 80 (two bytes, see appendCode). The trie is
//
//	root ─a─► 1 ─b─► 2 ("ab" ends)
//	root ─C0─► 3 ─80─► 4 ─a─► 5 ("中a" ends)
//
// Nodes 0, 1, 2, 4 and 5 are code point states: rows of trans with the
// columns info, out, "other", a, b, C0. Node 3 is a mid-code state (after
// the lead byte C0): a midState whose default row is its own 64-column
// dense row (no shallower state reads the same partial code, so
// defaultOf[3] = 3), where column 0 (the continuation byte 80) leads to
// 4 and every other column to the root. From node 4, "a" leads to 5,
// where "中a" ends (out = 1 + its index, matchBit on the transition); from
// node 5 the failure link is node 1 (the longest suffix "a" that is a
// prefix), so "b" leads on to 2, where "ab" ends: the text "中ab" finds
// both. ext at node 4 is 1 (the code point 中 may still begin "中a"); at
// the root it is 0.
func buildKeys(pats []string) (d *keyDFA, next []int32) {
	d = &keyDFA{}
	d.setClasses(pats)
	g := newKeyGraph(pats, d.cls, d.stride)
	d.place(g)
	d.fill(g)
	return d, g.next
}

// midStride is the width of a mid-code state's row: one column per
// continuation byte.
const midStride = 64

// setClasses gives every continuation byte its own column (c-0x80, as a
// mid-code state's row reads it), every other byte used by a pattern a
// column of code point rows, and the rest the shared "other" column.
func (d *keyDFA) setClasses(pats []string) {
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
}

// keyGraph is the automaton as node numbers, before it is laid out: every
// state's full row of next nodes, its failure link, and what build
// computes for it.
type keyGraph struct {
	nodes  []trieNode
	order  []int32  // breadth-first: a state's failure state comes before it
	rowAt  []uint32 // where node u's row starts in cells
	cells  []uint32 // the rows, of node numbers
	stride uint32
	fail   []int32
	out    []int32 // 1 + longest pattern ending at the node
	ext    []int32
	next   []int32 // per pattern, as build's
	// placeOf is where each node goes in the tables: the offset of its
	// row in trans (code point states) or its index in mids.
	placeOf []uint32
}

func (g *keyGraph) row(u int32) []uint32 {
	if g.nodes[u].mid {
		return g.cells[g.rowAt[u] : g.rowAt[u]+midStride]
	}
	return g.cells[g.rowAt[u] : g.rowAt[u]+g.stride]
}

// newKeyGraph builds the trie of pats and, breadth-first, every state's
// row: its failure state's row, with its own children written over it.
func newKeyGraph(pats []string, cls [256]uint32, stride uint32) *keyGraph {
	nodes := buildTrie(pats, true)
	g := &keyGraph{nodes: nodes, stride: stride, rowAt: make([]uint32, len(nodes)),
		fail: make([]int32, len(nodes)), out: make([]int32, len(nodes)), ext: make([]int32, len(nodes)), next: make([]int32, len(pats))}
	g.order = append(make([]int32, 0, len(nodes)), 0)
	for qi := 0; qi < len(g.order); qi++ {
		for v := nodes[g.order[qi]].child; v != 0; v = nodes[v].sib {
			g.order = append(g.order, v)
		}
	}
	size := uint32(0)
	for _, u := range g.order {
		g.rowAt[u] = size
		if nodes[u].mid {
			size += midStride
		} else {
			size += stride
		}
	}
	g.cells = make([]uint32, size)
	for _, u := range g.order {
		r := g.row(u)
		// The failure state of a code point state is one too, that of a
		// mid-code state is one too or the root; a mid-code state whose
		// failure state is the root starts from an all-root row, as no
		// pattern starts with a continuation byte.
		if u != 0 && (!nodes[u].mid || g.fail[u] != 0) {
			copy(r, g.row(g.fail[u]))
		}
		for v := nodes[u].child; v != 0; v = nodes[v].sib {
			c := cls[nodes[v].label]
			if u != 0 && (g.fail[u] != 0 || !nodes[u].mid) {
				g.fail[v] = int32(g.row(g.fail[u])[c])
			}
			r[c] = uint32(v)
		}
		setLinks(nodes, u, g.fail[u], g.out, g.ext, g.next)
	}
	return g
}

// place gives code point states their offsets in trans and mid-code
// states their index in mids, and packs ext into transitions where the
// offsets leave room for it.
func (d *keyDFA) place(g *keyGraph) {
	g.placeOf = make([]uint32, len(g.nodes))
	size := uint32(0)
	nmid := uint32(1) // mids[0] leads back to the root, as does trans[0]
	for _, u := range g.order {
		if g.nodes[u].mid {
			g.placeOf[u] = nmid
			nmid++
		} else {
			g.placeOf[u] = size
			size += d.stride
		}
	}
	// Room for ext above the offsets? ext is at most maxEntryRunes, but
	// buildKeys does not rely on that.
	maxExt := int32(0)
	for _, e := range g.ext {
		maxExt = max(maxExt, e)
	}
	if sh := uint32(bits.Len32(size)); sh+uint32(bits.Len32(uint32(maxExt))) <= 31 && !noPackExt {
		d.extShift = sh
		d.off = 1<<sh - 1
	}
	d.trans = make([]uint32, size)
	d.mids = make([]midState, nmid)
	d.dense = make([]uint32, midStride) // dense[0:64]: all to the root
}

// transition is the table value of a transition to node v: its place,
// and for a code point state matchBit where a pattern ends and the packed
// ext.
func (d *keyDFA) transition(g *keyGraph, v uint32) uint32 {
	t := g.placeOf[v]
	if !g.nodes[v].mid {
		if g.out[v] != 0 {
			t |= matchBit
		}
		if d.extShift != 0 {
			t |= uint32(g.ext[v]) << d.extShift
		}
	}
	return t
}

// fill writes the tables: code point states' rows into trans, mid-code
// states as midStates over dense rows, and root2.
func (d *keyDFA) fill(g *keyGraph) {
	// defaultOf[u]: for a mid-code state, the state the same partial code
	// leads to from the root (0 if none); such a state owns a dense row,
	// which every mid-code state that reads the same code defaults to.
	defaultOf := make([]int32, len(g.nodes))
	denseAt := make(map[int32]uint32)
	nodes := g.nodes
	for _, u := range g.order {
		r := g.row(u)
		if !nodes[u].mid {
			t := d.trans[g.placeOf[u] : g.placeOf[u]+d.stride]
			t[colInfo] = uint32(g.ext[u])
			if g.out[u] != 0 {
				t[colInfo] |= matchBit
			}
			t[colOut] = uint32(g.out[u])
			for i := colFirst; i < len(r); i++ {
				t[i] = d.transition(g, r[i])
			}
			for v := nodes[u].child; v != 0; v = nodes[v].sib {
				if nodes[v].mid {
					defaultOf[v] = int32(g.row(0)[d.cls[nodes[v].label]])
				}
			}
			continue
		}
		for v := nodes[u].child; v != 0; v = nodes[v].sib {
			if nodes[v].mid && defaultOf[u] != 0 {
				defaultOf[v] = int32(g.row(defaultOf[u])[d.cls[nodes[v].label]])
			}
		}
		m := &d.mids[g.placeOf[u]]
		if defaultOf[u] == u {
			m.def = uint32(len(d.dense))
			denseAt[u] = m.def
			for _, v := range r {
				d.dense = append(d.dense, d.transition(g, v))
			}
			continue
		}
		var dr []uint32
		if defaultOf[u] != 0 {
			dr = g.row(defaultOf[u])
			m.def = denseAt[defaultOf[u]] // breadth-first: it came first
		}
		m.base = uint32(len(d.exc))
		for c, v := range r {
			w := uint32(0)
			if dr != nil {
				w = dr[c]
			}
			if v != w {
				m.mask |= 1 << c
				d.exc = append(d.exc, d.transition(g, v))
			}
		}
	}
	// The default row of a mid-code state after a lead byte is that of
	// the root's state after the lead byte (defaultOf above), or all to
	// the root where there is none: in both, root2 is the row step2 needs.
	d.root2 = new([codes2]uint32)
	for k := range uint32(codes2) {
		if c := d.cls[0xC0+k>>6]; c != colFirst {
			d.root2[k] = d.midStep(d.trans[c], k&63)
		}
	}
}
