package filter

import (
	"cmp"
	"math"
	"slices"
	"unicode"
	"unicode/utf8"
)

// span is a match that a part acted on, in offsets of the original text.
type span struct {
	start, end int
	own        *owner
	rank       int32
	part       int
}

// composite is a Stream over a Filter with parts (lists that see the text
// through different views). Every part filters the whole text on its own
// view, as if it were the only one, and logs the matches it acts on; the
// composite releases the original text only once every part has settled
// it, and applies the parts' matches in order: leftmost first, then the
// longest, the stronger action and the earlier list, and none that
// overlaps one already applied from another part. A block in any part
// cuts the text where its match begins, or after an applied match that
// reaches over that point. Each part is the same whatever the pieces, and
// so is what the composite makes of their logs.
type composite struct {
	f     *Filter
	parts []*Stream
	logs  [][]span // what each part logged and the composite has not applied yet

	buf         []byte // original text from base on
	base        int
	rel         int // offset up to which the text was released or replaced
	last        int // part of the last match applied; -1 before the first
	afterRedact bool

	out    []byte
	outLen int
	hits   []Hit
	srcs   []int

	blocked, closed bool

	ready [][]span // advance's, kept to spare an allocation per piece
}

func (f *Filter) newComposite(where Where) *composite {
	c := &composite{f: f, last: -1, logs: make([][]span, len(f.parts))}
	for i, p := range f.parts {
		s := p.NewStream(where)
		s.spans = &c.logs[i]
		c.parts = append(c.parts, s)
	}
	return c
}

func (c *composite) done() bool { return c.blocked || c.closed }

func (c *composite) write(piece []byte, final bool) Result {
	c.out, c.hits = c.out[:0], c.hits[:0]
	if c.done() {
		return c.result()
	}
	c.buf = append(c.buf, piece...)
	for _, p := range c.parts {
		if p.done() {
			continue
		}
		if final {
			p.Close()
		} else {
			p.Write(piece)
		}
	}
	c.advance(final)
	if final && !c.blocked {
		c.closed = true
	}
	return c.result()
}

func (c *composite) result() Result {
	return Result{Text: c.out, Hits: c.hits, Blocked: c.blocked}
}

// advance applies what every part has settled.
func (c *composite) advance(final bool) {
	limit, blockAt := math.MaxInt, math.MaxInt
	var block *span
	blockPart := -1
	for i, p := range c.parts {
		if p.blocked {
			// A part's block is the last match it logged; of several, the
			// first wins, then the longest, the stronger list, the first
			// part.
			b := &c.logs[i][len(c.logs[i])-1]
			if block == nil || cmp.Or(cmp.Compare(b.start, block.start), cmp.Compare(block.end, b.end), cmp.Compare(b.rank, block.rank)) < 0 {
				blockAt, block, blockPart = b.start, b, i
			}
			continue
		}
		limit = min(limit, p.floor())
	}
	cut := min(limit, blockAt)
	// What each part settled: before cut, and for the part that blocks,
	// all it logged before its block (which may start where it does).
	ready := c.ready[:0]
	for i := range c.logs {
		k := 0
		if i == blockPart && (blockAt < limit || limit == math.MaxInt) {
			k = len(c.logs[i]) - 1
		} else {
			for k < len(c.logs[i]) && c.logs[i][k].start < cut {
				k++
			}
		}
		ready = append(ready, c.logs[i][:k])
		c.logs[i] = c.logs[i][k:]
	}
	// Merged in order: start, then the longest, the best rank, the
	// first part; each part's own stay in their order.
	for {
		k := -1
		for i, r := range ready {
			if len(r) == 0 {
				continue
			}
			if k < 0 || cmp.Or(cmp.Compare(r[0].start, ready[k][0].start), cmp.Compare(ready[k][0].end, r[0].end), cmp.Compare(r[0].rank, ready[k][0].rank)) < 0 {
				k = i
			}
		}
		if k < 0 {
			break
		}
		sp := ready[k][0]
		ready[k] = ready[k][1:]
		sp.part = k
		c.apply(&sp)
	}
	c.ready = ready
	allBlocked := limit == math.MaxInt
	if allBlocked {
		limit = blockAt
	}
	c.release(min(cut, limit))
	if block != nil && (blockAt < limit || allBlocked) {
		// Every other part is past the block's start: none can log a
		// match that starts there any more, a block that would win
		// included.
		l := &c.f.lists[block.own.list]
		c.hits = append(c.hits, Hit{List: l.name, Action: Block, Start: c.outLen, End: c.outLen, Keyword: block.own.entry})
		c.srcs = append(c.srcs[:len(c.hits)-1], block.start)
		c.blocked = true
	}
	c.compact()
}

// apply acts on one part's match.
func (c *composite) apply(sp *span) {
	if sp.end <= c.rel || sp.start < c.rel && sp.part != c.last {
		return // inside or across one applied from another part
	}
	c.release(sp.start)
	l := &c.f.lists[sp.own.list]
	start := c.outLen
	if l.action == Redact {
		c.out = append(c.out, l.replacement...)
		c.outLen += len(l.replacement)
		c.rel = sp.end
		c.afterRedact = true
	} else {
		c.release(sp.end)
	}
	c.last = sp.part
	c.hits = append(c.hits, Hit{List: l.name, Action: l.action, Start: start, End: c.outLen, Keyword: sp.own.entry})
	c.srcs = append(c.srcs[:len(c.hits)-1], sp.start)
}

// release appends the original text up to offset r, as Stream.release
// does: invalid bytes as U+FFFD, stripped code points removed, combining
// marks right after a redaction dropped with it.
func (c *composite) release(r int) {
	for c.rel < r {
		b := c.buf[c.rel-c.base : r-c.base]
		// ASCII is released as it is, in one copy.
		if n := asciiPrefix(b); n > 0 {
			c.out = append(c.out, b[:n]...)
			c.outLen += n
			c.rel += n
			c.afterRedact = false
			continue
		}
		x, size := utf8.DecodeRune(b)
		switch {
		case x == utf8.RuneError && size == 1:
			c.out = append(c.out, "\uFFFD"...)
			c.outLen += len("\uFFFD")
			c.afterRedact = false
		case isStripped(x):
			c.afterRedact = false
		case c.afterRedact && unicode.In(x, unicode.Mn, unicode.Me):
		default:
			c.out = append(c.out, b[:size]...)
			c.outLen += size
			c.afterRedact = false
		}
		c.rel += size
	}
}

func (c *composite) compact() {
	if k := c.rel - c.base; k >= 1024 || k > 0 && k == len(c.buf) {
		c.buf = c.buf[:copy(c.buf, c.buf[k:])]
		c.base = c.rel
	}
}

func (c *composite) clone() *composite {
	d := *c
	d.buf = slices.Clone(c.buf)
	d.out = slices.Clone(c.out)
	d.hits = slices.Clone(c.hits)
	d.srcs = slices.Clone(c.srcs)
	d.logs = make([][]span, len(c.logs))
	d.parts = make([]*Stream, len(c.parts))
	for i, p := range c.parts {
		d.logs[i] = slices.Clone(c.logs[i])
		d.parts[i] = p.Clone()
		d.parts[i].spans = &d.logs[i]
	}
	return &d
}

// asciiPrefix is the length of b's leading ASCII bytes.
func asciiPrefix(b []byte) int {
	for i, c := range b {
		if c >= utf8.RuneSelf {
			return i
		}
	}
	return len(b)
}

// floor is the offset before which the part will log no more matches. It
// is its release point, except where a match ended inside a code point
// that folds to several (a ligature): the release point is then past
// the code point, but a match may still begin at it.
func (s *Stream) floor() int {
	if s.done() {
		return s.rel
	}
	_, held := s.holdPoint()
	return min(s.rel, held)
}
