package filter

// byteDFA is an Aho–Corasick automaton over bytes, flattened into a dense
// transition table over byte classes: a state is the offset of its row in
// trans, so a step is one load, trans[state+cls[b]]. The keyword automaton
// (keyDFA) is one with more to it; build, the plain automaton over the
// same patterns, is the tests' reference for it.
type byteDFA struct {
	cls    [256]uint32 // byte → column
	stride uint32
	trans  []uint32
}

// build makes the automaton for pats (non-empty, distinct byte strings).
// next[i] receives 1 + the next shorter pattern that is a suffix of pats[i]
// (the dictionary link), 0 if none. With runeUnits, ext counts code points
// (a pattern's length is counted the same way, see runeLen); otherwise bytes.
func build(pats []string, runeUnits bool) (d *byteDFA, next []int32) {
	d = &byteDFA{}
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

// bytes reports the memory held by the automaton.
func (d *byteDFA) bytes() int { return len(d.trans)*4 + len(d.cls)*4 }
