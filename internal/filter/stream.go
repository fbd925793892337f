package filter

import (
	"encoding/binary"
	"slices"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// Hit is one match acted on. Start and End are byte offsets in the released
// text (the concatenation of everything a Stream released, or
// CheckResult.Text): for redact the replacement, for flag the passed-through
// text, for block the empty span where the text was cut.
type Hit struct {
	List    string `json:"list"`
	Action  Action `json:"action"`
	Start   int    `json:"start"`
	End     int    `json:"end"`
	Keyword string `json:"keyword,omitempty"` // the list entry as written; empty for a hidden list (ListSpec.Hide)
}

// Result is what one Stream.Write or Stream.Close releases. Text and Hits
// alias the Stream's buffers and are valid until its next call.
type Result struct {
	Text    []byte
	Hits    []Hit
	Blocked bool // a block rule fired; nothing more will be released
}

// CheckResult is the filtered form of a whole text.
type CheckResult struct {
	Text    string `json:"text"`
	Hits    []Hit  `json:"hits"`
	Blocked bool   `json:"blocked"`
}

// Check filters a whole text. It gives exactly what a Stream gives for the
// same text, however the text is split.
func (f *Filter) Check(where Where, text string) CheckResult {
	if f.parts != nil {
		c := f.newComposite(where)
		r := c.write([]byte(text), false)
		out, hits := append([]byte(nil), r.Text...), append([]Hit{}, r.Hits...)
		if !r.Blocked {
			r = c.write(nil, true)
			out, hits = append(out, r.Text...), append(hits, r.Hits...)
		}
		return CheckResult{Text: string(out), Hits: hits, Blocked: c.blocked}
	}
	s := f.NewStream(where)
	s.out = make([]byte, 0, len(text))
	s.hits = []Hit{}
	// In slices, so that what is settled is dropped as it goes.
	const slice = 16 << 10
	s.buf = make([]byte, 0, min(len(text), 2*slice))
	s.recs = make([]rec, 0, min(len(text), 2*slice))
	for len(text) > 0 && !s.blocked {
		n := min(len(text), slice)
		s.buf = append(s.buf, text[:n]...)
		text = text[n:]
		s.process(false)
	}
	if !s.blocked {
		s.process(true)
	}
	// s.out is not used after this: no copy.
	return CheckResult{Text: unsafe.String(unsafe.SliceData(s.out), len(s.out)), Hits: s.hits, Blocked: s.blocked}
}

// Stream filters one text that arrives in pieces, such as a model's output.
// A Stream keeps the Filter it was made from, whatever reloads happen later.
// It is not safe for concurrent use.
//
// The text is processed as code points: in the original bytes (to decide
// what to release) and in the normalized view (for the keyword automaton).
// Each normalized code point is kept as a rec until it is released, so
// matches map back to original bytes.
type Stream struct {
	f    *Filter
	m    *matcher
	d    *keyDFA // m.d, one load nearer
	fold *foldTable

	buf   []byte // original bytes from offset base on
	base  int
	fed   int   // offset up to which code points became recs
	rel   int   // offset up to which text was released
	dirty []int // offsets of code points that are rewritten on release (invalid, stripped)

	recs    []rec
	st      uint32 // automaton state after recs (from the last restart)
	prev    rune   // the normalized code point before recs[0]; 0 at the start (no word character)
	best    cand   // best match so far, not yet final
	hasBest bool
	pending []cand // matches waiting for the next code point (word end)

	out    []byte
	outLen int // bytes released so far, all calls together
	hits   []Hit
	srcs   []int // where each hit starts in the text written (HitSources)

	blocked, closed bool
	// spans, in a part of a Filter with parts, logs every match acted on
	// for the composite (parts.go).
	spans *[]span
	// c is set for a Filter with parts: the Stream is then only its shell.
	c *composite
	// afterRedact: nothing was released since a redaction ended, so
	// combining marks there belong to its last character and go with it.
	afterRedact bool
}

// rec is one code point of the normalized view.
type rec struct {
	o int   // offset of its source code point in the original text
	r rune  // normalized code point
	n uint8 // byte length of the source code point
}

// cand is a match [st, en) in rec indices.
type cand struct {
	st, en int
	own    int32 // index in matcher.owners
	rank   int32
}

// better reports whether a wins over b: leftmost, then longest, then the
// stronger action, then the earlier list, then the earlier entry (two
// entries of a list may share a spelling with different word
// boundaries, and one that waited for the next code point may be
// considered after one that did not).
func better(a, b *cand) bool {
	if a.st != b.st {
		return a.st < b.st
	}
	if a.en != b.en {
		return a.en > b.en
	}
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	return a.own < b.own
}

// NewStream starts filtering a text for one side of a job. Stop strings
// are not its business: package holdback cuts the text at the first one
// before it reaches the Stream.
func (f *Filter) NewStream(where Where) *Stream {
	if f.parts != nil {
		return &Stream{f: f, c: f.newComposite(where)}
	}
	m := f.m[whereIndex(where)]
	return &Stream{f: f, m: m, d: m.d, fold: f.fold, out: make([]byte, 0, 64)}
}

// Write adds the next piece of text and returns what is now safe to
// release. A piece may end inside a multi-byte character; Write never
// releases invalid UTF-8. After a block, Write releases nothing.
func (s *Stream) Write(piece []byte) Result {
	if s.c != nil {
		return s.c.write(piece, false)
	}
	// Small enough to be inlined: a Result returned from a call is copied
	// with loads wider than the stores that wrote it, a stall per piece.
	s.write(piece)
	return Result{Text: s.out, Hits: s.hits, Blocked: s.blocked}
}

func (s *Stream) write(piece []byte) {
	s.out, s.hits = s.out[:0], s.hits[:0]
	if s.done() {
		return
	}
	b, n, k := s.buf, len(s.buf), len(piece)
	if k > 8 || k < 2 || cap(b)-n < 16 {
		s.buf = append(b, piece...)
		s.process(false)
		return
	}
	// The few bytes of a typical piece are copied with two overlapping
	// loads and one 8-byte store (past len(b) lies nothing that matters)
	// instead of a call of memmove; nothing of piece past its length is
	// read, as it may be the caller's.
	var v uint64
	if k >= 4 {
		v = uint64(binary.LittleEndian.Uint32(piece)) | uint64(binary.LittleEndian.Uint32(piece[k-4:]))<<(8*(k-4))
	} else {
		v = uint64(binary.LittleEndian.Uint16(piece)) | uint64(binary.LittleEndian.Uint16(piece[k-2:]))<<(8*(k-2))
	}
	binary.LittleEndian.PutUint64(b[n:n+8], v)
	s.buf = s.buf[:n+k] // not b[:n+k]: the compiler stores just the length
	// What process does for a piece comes down to feed: called here, it
	// is one call less per piece.
	s.feed(s.base+n+k, false, true)
}

// Close releases the rest of the text: the end of the text decides what
// was still held back. Bytes of an incomplete character at the end are
// released as U+FFFD.
func (s *Stream) Close() Result {
	if s.c != nil {
		return s.c.write(nil, true)
	}
	s.out, s.hits = s.out[:0], s.hits[:0]
	if !s.done() {
		s.process(true)
	}
	return s.result()
}

func (s *Stream) done() bool { return s.blocked || s.closed }

func (s *Stream) result() Result {
	return Result{Text: s.out, Hits: s.hits, Blocked: s.blocked}
}

// process feeds everything written so far; with final the text has
// ended, and every match is settled and the rest released.
func (s *Stream) process(final bool) {
	end := s.base + len(s.buf)
	if final {
		s.feed(end, true, false)
		s.flush()
		if !s.blocked {
			s.release(s.fed)
		}
		s.closed = true
		return
	}
	s.feed(end, false, true)
}

// settle releases what the matcher no longer holds and drops what can no
// longer matter. feed does it in line for the common case.
func (s *Stream) settle() {
	h, r := s.holdPoint()
	s.release(r)
	s.compact(h)
}

// noFastFeed makes feed leave its loop for ASCII and whole characters to
// feedCodePoint, code point by code point, so that tests check the two
// paths against each other.
var noFastFeed = false

// feed turns the code points in [s.fed, limit) into recs and steps the
// matcher over each as it is made. Unless final, it stops before an
// incomplete character. With settle it settles afterwards (see settle),
// unless a block rule fired: that is the end of every Write, done by
// endFeed on what the loop holds in registers.
//
// Its inner loop takes the common case: ASCII and complete three-byte
// characters that fold to themselves, no match waiting. It stays in line
// (as a method of its own, called once a piece, it cost 4 %:
// BENCH_NOTES.md, 2026-12-03) and has no call in it; every other code
// point goes to feedCodePoint, and a state with a match to actOnMatches.
// The values the loop works on are loaded afresh after each of those
// calls: a value kept across a call is kept on the stack, and reloaded in
// every step of the loop.
//
// recs has room for a rec per byte at most, and the sentinel. Where the
// view squeezes spaces, a view space right after one is dropped: last
// holds the flags of the view's last byte, and a byte that is squeezed as
// it was makes no rec and no step (a test of each byte for a space would
// be a branch the predictor cannot guess; this one is almost never
// taken). An ASCII byte c is read as the view reads it, with its flags; a
// byte that may start a leet symbol goes to feedCodePoint. Three-byte
// characters are decoded against all bytes at hand, as the whole text
// would be (limit is always at a code point boundary); a piece that ends
// inside one (as often as not inside a Chinese character) waits for the
// rest, as one would after utf8.FullRune, without its call. m.next is in
// line for the common case of a two-byte code.
func (s *Stream) feed(limit int, final, settle bool) {
	var d *keyDFA
	var pos, base int
	var buf []byte
	var recs []rec
	var st uint32
	for {
		m, fold := s.m, s.fold
		d = s.d
		trans, cls, off := d.trans, &d.cls, d.off
		pos, buf, base, st, recs = s.fed, s.buf, s.base, s.st, s.recs
		if pos < limit && !s.hasBest && len(s.pending) == 0 && !noFastFeed {
			if cap(recs)-len(recs) <= limit-pos {
				s.recs = slices.Grow(recs, limit-pos+1)
				continue
			}
			all, n := recs[:cap(recs)], len(recs)
			last := uint32(0)
			if fold != nil && fold.squeeze && viewSep(s.lastView()) {
				last = squeezed
			}
			for pos < limit {
				i := pos - base
				b := buf[i]
				if b < utf8.RuneSelf {
					c := uint32(b)
					if fold != nil {
						if c = uint32(fold.wide[b]); c&symStart != 0 {
							break // feedCodePoint reads a leet symbol
						}
					}
					if c&last&squeezed != 0 {
						pos++
						continue
					}
					last = c
					all[n] = rec{o: pos, r: rune(byte(c)), n: 1}
					n++
					pos++
					if st = trans[st&off+cls[byte(c)]]; st&matchBit != 0 {
						break
					}
					continue
				}
				if b&0xF0 != 0xE0 {
					break
				}
				if i+2 >= len(buf) {
					if !final && (i+1 == len(buf) || prefix3(b, buf[i+1])) {
						limit = pos
					}
					break
				}
				b1, b2 := buf[i+1], buf[i+2]
				r := rune(b&0x0F)<<12 | rune(b1&0x3F)<<6 | rune(b2&0x3F)
				if b1&0xC0 != 0x80 || b2&0xC0 != 0x80 || r < 0x800 || r >= 0xD800 && r <= 0xDFFF {
					break
				}
				if fold != nil && fold.lookup(r) != 0 || fold == nil && isStripped(r) {
					break
				}
				c := m.codes.lookup(r)
				k := uint32(c) - 1
				if c != 0 && k >= codes2 {
					break
				}
				all[n] = rec{o: pos, r: r, n: 3}
				n++
				pos += 3
				last = 0
				if c == 0 {
					st = 0
				} else if st = d.step2(st&off, k); st&matchBit != 0 {
					break
				}
			}
			recs = all[:n]
		}
		if pos >= limit && st&matchBit == 0 {
			break
		}
		s.recs, s.fed = recs, pos
		if st&matchBit != 0 {
			s.st = s.actOnMatches(st)
			if s.blocked {
				return
			}
			continue
		}
		s.st = st
		if !s.feedCodePoint(final) {
			if s.blocked {
				return
			}
			limit = s.fed // stopped before an incomplete character
		}
	}
	s.endFeed(recs, pos, st, settle)
}

// endFeed ends feed: it stores what feed's loop holds in registers (recs
// for s.recs, pos for s.fed, st the state after them) and, with settle,
// settles (see settle). It is split off feed to keep feed short, and is
// still the only call feed makes after its loop: the common case of
// settle (no match waiting, nothing to rewrite) is done here in line.
func (s *Stream) endFeed(recs []rec, pos int, st uint32, settle bool) {
	s.st = st
	if !settle || s.hasBest || len(s.pending) > 0 || len(s.dirty) > 0 || s.afterRedact {
		s.recs, s.fed = recs, pos
		if settle {
			s.settle()
		}
		return
	}
	d, buf, base := s.d, s.buf, s.base
	// Which of its cases a piece takes depends on the text (whether it
	// ends inside a keyword prefix, how much was held), so it is done
	// without branches on them: a branch that goes either way at random
	// costs more than the work it would skip.
	//
	// The hold point: a sentinel rec past the end gives pos when nothing
	// is held.
	n := len(recs)
	if n == cap(recs) {
		recs = slices.Grow(recs, 1)
	}
	recs[:n+1][n].o = pos
	h := n - d.ext(st)
	r := recs[:n+1][h].o
	// Release [s.rel, r): up to 8 bytes with one 8-byte copy whatever
	// their number (write leaves 8 bytes of room in buf, NewStream in
	// out), more with append.
	out, k := s.out, max(r-s.rel, 0)
	if from := s.rel - base; uint(k) <= 8 && cap(buf)-from >= 8 && cap(out)-len(out) >= 8 {
		binary.LittleEndian.PutUint64(out[len(out):len(out)+8], binary.LittleEndian.Uint64(buf[from:from+8]))
		s.out = out[:len(out)+k]
	} else if k > 0 {
		s.out = append(out, buf[from:r-base]...)
	}
	s.outLen += k
	s.rel += k
	s.recs, s.fed = recs, pos
	// Compaction only in bulk: dropping a few bytes and recs every piece
	// costs more than moving what is held once in a while.
	if h >= 64 || s.rel-base >= 1024 {
		s.compact(h)
	}
}

// prefix3 reports whether lead byte b (0xE0–0xEF) and the byte c after
// it can still become a valid three-byte character: utf8.FullRune is
// false for the two bytes alone exactly then.
func prefix3(b, c byte) bool {
	lo, hi := byte(0x80), byte(0xBF)
	switch b {
	case 0xE0:
		lo = 0xA0
	case 0xED:
		hi = 0x9F
	}
	return lo <= c && c <= hi
}

// feedCodePoint turns the one code point at s.fed into recs (several where
// it folds to several, none where it folds to nothing) and steps the
// matcher over each: what feed does for every code point its loop does not
// take (one that folds or is stripped, one that is invalid or of two or
// four bytes, any while a match is waiting), kept out of that loop so that
// the loop has no call. It reports false if feed must stop: a block rule
// fired, or the code point is incomplete (not final).
func (s *Stream) feedCodePoint(final bool) bool {
	m, fold := s.m, s.fold
	pos, buf := s.fed, s.buf
	i := pos - s.base
	if b := buf[i]; b < utf8.RuneSelf {
		if fold != nil {
			v := fold.wide[b]
			if v&symStart != 0 {
				// A leet symbol is one rec of all its bytes.
				l, n, ok := readSymbol(buf[i:], final)
				if !ok {
					return false // wait for the rest
				}
				if n > 0 {
					return s.appendView(rec{o: pos, r: rune(l), n: uint8(n)}, pos+n)
				}
			}
			b = byte(v)
		}
		return s.appendView(rec{o: pos, r: rune(b), n: 1}, pos+1)
	}
	r, size := utf8.DecodeRune(buf[i:])
	if size == 1 {
		if !final && !utf8.FullRune(buf[i:]) {
			return false
		}
		s.dirty = append(s.dirty, pos)
	}
	end := pos + size
	if fold != nil {
		if v := fold.lookup(r); v != 0 {
			// Every stripped code point is ignorable, so folds to
			// nothing: only here can it occur.
			if isStripped(r) {
				s.dirty = append(s.dirty, pos)
			}
			for _, c := range fold.expansion(v) {
				if !s.appendView(rec{o: pos, r: c, n: uint8(size)}, end) {
					return false
				}
			}
			s.fed = end
			return true
		}
	} else if isStripped(r) {
		s.dirty = append(s.dirty, pos)
	}
	return s.appendRec(rec{o: pos, r: r, n: uint8(size)}, end, m.next(s.st, r))
}

// appendView appends rc, a rec of the code point or leet symbol that ends
// at offset end, and steps the matcher over it (appendRec), unless the
// view squeezes spaces and rc is a space after a space: that one is
// dropped. It reports false if a block rule fired.
func (s *Stream) appendView(rc rec, end int) bool {
	if s.fold != nil && s.fold.squeeze && viewSep(rc.r) && viewSep(s.lastView()) {
		s.fed = end
		return true
	}
	return s.appendRec(rc, end, s.m.next(s.st, rc.r))
}

// lastView is the view's last code point so far (0 at the start).
func (s *Stream) lastView() rune {
	if n := len(s.recs); n > 0 {
		return s.recs[n-1].r
	}
	return s.prev
}

// appendRec appends rc, a rec of the code point that ends at offset end,
// after the matcher stepped over it into state st, and acts on what the
// rec and the state say: the rec settles the matches that waited for the
// code point after them (a word end), and the state may end matches or
// make the best one final (actOnMatches). It reports false if a block
// rule fired.
func (s *Stream) appendRec(rc rec, end int, st uint32) bool {
	s.recs = append(s.recs, rc)
	s.fed = end
	if len(s.pending) > 0 {
		s.validate(isWordRune(rc.r))
	}
	if st&matchBit != 0 || s.hasBest {
		st = s.actOnMatches(st)
	}
	s.st = st
	return !s.blocked
}

// next moves the automaton from state st over normalized code point r.
// st and the result may carry matchBit and the packed ext (see
// keyDFA.ext).
func (m *matcher) next(st uint32, r rune) uint32 {
	trans, cls := m.d.trans, &m.d.cls
	st &= m.d.off
	if r < utf8.RuneSelf {
		return trans[st+cls[r]]
	}
	c := m.codes.lookup(r)
	if c == 0 {
		return 0 // in no pattern
	}
	d := m.d
	if k := uint32(c) - 1; k < codes2 {
		return d.step2(st, k)
	} else {
		k -= codes2
		v := d.midStep(trans[st+cls[0xF9+k>>12]], (k>>6)&63)
		return d.midStep(v, k&63)
	}
}

// actOnMatches is called after the automaton stepped over the last rec,
// into state st, if st carries matchBit or a match is waiting: it collects
// the matches ending here and acts on the best one once it is final
// (emit), restarting the matcher after it. It is out of feed's loop as
// matches are rare. It returns the state after the last rec (without
// matchBit).
func (s *Stream) actOnMatches(st uint32) uint32 {
	j := len(s.recs)
	if st&matchBit != 0 {
		st &^= matchBit
		s.collect(j, st)
	}
	// The best match is final once no match still growing can start at or
	// before it: all such matches start inside the last ext code points.
	if s.hasBest && j-s.d.ext(st) > s.best.st && !s.pendingFrom(s.best.st) {
		if j := s.finalize(); !s.blocked {
			s.scan(j)
		}
		return s.st
	}
	return st
}

// scan runs the automaton over recs[j:] from the root. It is how matching
// restarts after a final match: leftmost-longest matches never overlap, so
// the next one is searched from the root at the end of the last.
func (s *Stream) scan(j int) {
	m := s.m
	st := uint32(0)
	for j < len(s.recs) {
		r := s.recs[j].r
		if len(s.pending) > 0 {
			s.validate(isWordRune(r))
		}
		st = m.next(st, r)
		j++
		if st&matchBit != 0 {
			st &^= matchBit
			s.collect(j, st)
		}
		if s.hasBest && j-m.d.ext(st) > s.best.st && !s.pendingFrom(s.best.st) {
			j = s.finalize()
			st = 0
			if s.blocked {
				return
			}
		}
	}
	s.st = st
}

// collect records the matches that end after rec en-1.
func (s *Stream) collect(en int, st uint32) {
	m := s.m
	for pid := m.d.trans[st&m.d.off+colOut]; pid != 0; pid = uint32(m.heads[pid-1].next) {
		h := &m.heads[pid-1]
		start := en - int(h.runes)
		if h.needStart && s.wordAt(start-1) {
			continue // no owner can match here; spares a look at the owners
		}
		if h.single {
			// The loop below for one owner, whose needStart is the
			// pattern's, without a look at the owner.
			if h.ask != 0 && !s.textHas(start, en, h.ask) {
				continue
			}
			c := cand{st: start, en: en, own: h.first, rank: h.rank}
			if h.needEnd {
				s.pending = append(s.pending, c)
			} else {
				s.consider(&c)
			}
			continue
		}
		p := &m.pats[pid-1]
		for oi := range p.owners {
			o := &p.owners[oi]
			if o.needStart && s.wordAt(start-1) || o.ask != 0 && !s.textHas(start, en, o.ask) {
				continue
			}
			c := cand{st: start, en: en, own: p.first + int32(oi), rank: o.rank}
			if o.needEnd {
				// Valid only if the next code point is not a word character;
				// a lower-ranked owner may still match unconditionally.
				s.pending = append(s.pending, c)
				continue
			}
			s.consider(&c)
			break
		}
	}
}

// textHas reports whether the text of recs [st, en) has what a asks
// (see textAsk): with askLeet a digit or symbol, with askWord a letter,
// a symbol or four digits or more. It reads the recs' source code
// points, which compact keeps while their recs are held, each as the
// normalized view has it (a full-width or circled letter is a letter).
func (s *Stream) textHas(st, en int, a textAsk) bool {
	var letter, digit, symbol bool
	chars := 0
	for _, rc := range s.recs[st:en] {
		if viewSep(rc.r) {
			continue
		}
		chars++
		i := rc.o - s.base
		r, _ := utf8.DecodeRune(s.buf[i : i+int(rc.n)])
		switch {
		case rc.n > 1 && r < utf8.RuneSelf: // a leet symbol of several characters
			symbol = true
		default:
			switch sourceClass(r) {
			case 'L':
				letter = true
			case 'N':
				digit = true
			default:
				symbol = true
			}
		}
	}
	return (a&askLeet == 0 || digit || symbol) && (a&askWord == 0 || letter || symbol || chars >= minDigitWord)
}

// sourceClass is 'L' if text code point r is a letter, 'N' a digit and
// 'S' anything else, as the normalized view (without strict switches)
// has it: by the first code point it folds to, so "ⓢ" and "ｓ" are
// letters, "５" a digit and "＄" a symbol.
func sourceClass(r rune) byte {
	if r >= utf8.RuneSelf {
		if base := foldTableOnce(); base.lookup(r) != 0 {
			if x := base.expansion(base.lookup(r)); len(x) > 0 {
				r = x[0]
			}
		}
	}
	switch {
	case unicode.IsLetter(r):
		return 'L'
	case unicode.IsDigit(r):
		return 'N'
	}
	return 'S'
}

func (s *Stream) wordAt(i int) bool {
	if i < 0 {
		return isWordRune(s.prev) // asked rarely: not worth a test per Write
	}
	return isWordRune(s.recs[i].r)
}

func (s *Stream) consider(c *cand) {
	if !s.hasBest || better(c, &s.best) {
		s.best, s.hasBest = *c, true
	}
}

// validate settles the pending matches now that the code point after them
// is known.
func (s *Stream) validate(nextWord bool) {
	if !nextWord {
		for i := range s.pending {
			s.consider(&s.pending[i])
		}
	}
	s.pending = s.pending[:0]
}

func (s *Stream) pendingFrom(st int) bool {
	for i := range s.pending {
		if s.pending[i].st <= st {
			return true
		}
	}
	return false
}

// finalize acts on the best match and restarts matching after it. It
// returns the rec index to rescan from.
func (s *Stream) finalize() int {
	c := s.best
	s.hasBest = false
	s.pending = s.pending[:0]
	s.st = 0
	s.emit(&c)
	return c.en
}

// flush settles everything at the end of the text.
func (s *Stream) flush() {
	for !s.blocked {
		s.validate(false)
		if !s.hasBest {
			return
		}
		j := s.finalize()
		if s.blocked {
			return
		}
		s.scan(j)
	}
}

// emit releases the text before match c and applies its action.
func (s *Stream) emit(c *cand) {
	o := &s.m.owners[c.own]
	l := &s.f.lists[o.list]
	// A match may begin or end inside the expansion of one source code
	// point (a ligature); it then covers the whole code point, and a later
	// match sharing that code point covers only what is left of it.
	oStart := s.recs[c.st].o
	last := &s.recs[c.en-1]
	oEnd := last.o + int(last.n)
	if s.spans != nil {
		// Every match, also one this part covered already: the composite
		// may not have applied the one that covered it.
		*s.spans = append(*s.spans, span{start: oStart, end: oEnd, own: o, rank: c.rank})
	}
	s.release(oStart)
	start := s.outLen
	switch l.action {
	case Block:
		s.blocked = true
	case Redact:
		if oEnd <= s.rel {
			return
		}
		s.out = append(s.out, l.replacement...)
		s.outLen += len(l.replacement)
		s.rel = oEnd
		s.afterRedact = true
	default:
		if oEnd <= s.rel {
			return
		}
		s.release(oEnd)
	}
	if len(s.hits) == 0 { // the first of this call's (hits is emptied by each)
		s.srcs = s.srcs[:0]
	}
	s.hits = append(s.hits, Hit{List: l.name, Action: l.action, Start: start, End: s.outLen, Keyword: o.entry})
	s.srcs = append(s.srcs, oStart)
}

// holdPoint returns the first rec that must stay held and the original
// offset it starts at (everything before can be released).
func (s *Stream) holdPoint() (int, int) {
	h := len(s.recs) - s.d.ext(s.st)
	if s.hasBest {
		h = min(h, s.best.st)
	}
	for i := range s.pending {
		h = min(h, s.pending[i].st)
	}
	if h < len(s.recs) {
		return h, s.recs[h].o
	}
	return h, s.fed
}

// release appends the original text up to offset r to the output, with
// invalid bytes as U+FFFD and stripped code points removed.
func (s *Stream) release(r int) {
	if s.afterRedact {
		s.skipMarks(r)
	}
	if r <= s.rel {
		return
	}
	from := s.rel
	for len(s.dirty) > 0 && s.dirty[0] < r {
		d := s.dirty[0]
		s.dirty = s.dirty[1:]
		if d < from {
			continue // inside a redacted match
		}
		s.out = append(s.out, s.buf[from-s.base:d-s.base]...)
		_, size := utf8.DecodeRune(s.buf[d-s.base:])
		if size == 1 {
			s.out = append(s.out, "\uFFFD"...)
			s.outLen += len("\uFFFD")
		}
		s.outLen += d - from
		from = d + size
	}
	s.out = appendOwn(s.out, s.buf[from-s.base:r-s.base])
	s.outLen += r - from
	s.rel = r
}

// skipMarks drops the combining marks (Mn, Me) at the start of the text
// to release, up to r, right after a redaction: an accent on the last
// letter of a redacted word ("darń") is part of what was redacted, not
// left dangling on the replacement. Marks fold to nothing, so the match
// cannot know of them; they are decided here, when released, which is
// the same moment whatever the pieces.
func (s *Stream) skipMarks(r int) {
	for s.rel < r {
		c, size := utf8.DecodeRune(s.buf[s.rel-s.base : r-s.base])
		if !unicode.In(c, unicode.Mn, unicode.Me) {
			s.afterRedact = false
			return
		}
		s.rel += size
	}
}

// appendOwn is append(b, p...) for p within the Stream's own buffer: one
// 8-byte load and store, reading past len(p) but within cap(p), where the
// Stream keeps nothing that another goroutine could write.
func appendOwn(b, p []byte) []byte {
	n := len(b)
	if len(p) <= 8 && cap(p) >= 8 && cap(b)-n >= 8 {
		binary.LittleEndian.PutUint64(b[n:n+8], binary.LittleEndian.Uint64(p[:8]))
		return b[:n+len(p)]
	}
	return append(b, p...)
}

// compact drops what can no longer matter: recs before h and released
// bytes.
//
// Compaction is lazy: moving a few bytes costs less than the call, and
// indices stay valid as long as nothing is dropped.
func (s *Stream) compact(h int) {
	if h >= 64 || h > 0 && h == len(s.recs) {
		s.prev = s.recs[h-1].r
		if h == len(s.recs) {
			s.recs = s.recs[:0] // the common case, without a call of memmove
		} else {
			s.recs = s.recs[:copy(s.recs, s.recs[h:])]
		}
		s.best.st -= h
		s.best.en -= h
		for i := range s.pending {
			s.pending[i].st -= h
			s.pending[i].en -= h
		}
	}
	k := s.rel - s.base
	if len(s.recs) > 0 {
		// The source of a rec stays while the rec does: a match ending
		// inside a code point that folds to several (⒜ is "(a)")
		// releases it whole, with recs of it still held, and textHas
		// reads their source.
		k = min(k, s.recs[0].o-s.base)
	}
	if k >= 1024 || k > 0 && k == len(s.buf) {
		if k == len(s.buf) {
			s.buf = s.buf[:0]
		} else {
			s.buf = s.buf[:copy(s.buf, s.buf[k:])]
		}
		s.base += k
	}
}

// Clone returns a copy of s that goes on independently: writes to one do
// not reach the other. A caller that may want to return to this point of
// the text keeps the copy (package pipeline's avoid lists do).
func (s *Stream) Clone() *Stream {
	if s.c != nil {
		return &Stream{f: s.f, c: s.c.clone()}
	}
	c := *s
	c.buf = slices.Clone(s.buf)
	c.dirty = slices.Clone(s.dirty)
	c.recs = slices.Clone(s.recs)
	c.pending = slices.Clone(s.pending)
	c.out = slices.Clone(s.out)
	c.hits = slices.Clone(s.hits)
	c.srcs = slices.Clone(s.srcs)
	return &c
}

// Settled is how many bytes of the text written to s it has released or
// replaced: no match can start before there any more.
func (s *Stream) Settled() int {
	if s.c != nil {
		return s.c.rel
	}
	return s.rel
}

// HitSources says, for each hit of the last Write or Close, where its
// match starts in the text written to s (the hits' Start is in the
// released text, which replacements and stripped characters shift).
func (s *Stream) HitSources() []int {
	if s.c != nil {
		return s.c.srcs[:len(s.c.hits)]
	}
	return s.srcs[:len(s.hits)]
}
