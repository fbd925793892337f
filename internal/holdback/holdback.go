// Package holdback turns the byte pieces a language model generates into
// text that is safe to release: always valid UTF-8, and never any part of a
// stop string.
//
// A token can end inside a multi-byte character, and a stop string can be
// split over several tokens. A Buffer therefore holds back exactly the
// bytes that may still turn out to be part of a character or of a stop
// string, and releases everything before them. The result does not depend
// on how the text was split into pieces.
//
// Bytes that can never become valid UTF-8 are released as U+FFFD, one per
// byte, so a model that emits garbage cannot stall the stream. The package
// knows nothing of tokens, models or keyword lists.
package holdback

import (
	"strings"
	"unicode/utf8"
)

// Buffer holds the unreleased tail of one generated text. The zero value
// is a Buffer with no stop strings. A Buffer is not safe for concurrent use.
type Buffer struct {
	stops   []string
	pending []byte
	stopped bool
}

// New returns a Buffer that stops at the stop string completed first (the
// one that ends earliest; of those ending together, the longest).
// Empty stop strings are ignored, and so are ones that are not valid
// UTF-8: released text is always valid UTF-8, so none could be cut
// consistently (a job's stop strings are valid: its JSON is).
func New(stops []string) *Buffer {
	b := &Buffer{}
	for _, s := range stops {
		if s != "" && utf8.ValidString(s) {
			b.stops = append(b.stops, s)
		}
	}
	return b
}

// Write adds a piece and returns the text that can no longer be part of a
// stop string or an unfinished character. Once a stop string is complete it
// returns the text before it and stopped; the stop string and anything
// after it are dropped, and later writes return nothing.
func (b *Buffer) Write(piece string) (out string, stopped bool) {
	if b.stopped {
		return "", true
	}
	b.pending = append(b.pending, piece...)
	if i := b.firstStop(); i >= 0 {
		out = valid(b.pending[:i])
		b.pending = b.pending[:0]
		b.stopped = true
		return out, true
	}
	keep := max(b.stopPrefixLen(), incompleteTail(b.pending))
	n := len(b.pending) - keep
	out = valid(b.pending[:n])
	b.pending = append(b.pending[:0], b.pending[n:]...)
	return out, false
}

// Flush releases what is still held, as when generation ends for another
// reason than a stop string. An unfinished character at the very end is
// dropped: it can no longer be completed, and releasing it would break
// UTF-8.
func (b *Buffer) Flush() string {
	if b.stopped {
		return ""
	}
	n := len(b.pending) - incompleteTail(b.pending)
	out := valid(b.pending[:n])
	b.pending = b.pending[:0]
	return out
}

// held reports how many bytes are held back.
func (b *Buffer) held() int { return len(b.pending) }

// firstStop returns the offset of the stop string completed first in
// pending (the one that ends earliest; of those ending at the same byte,
// the longest), or -1. Ends, not starts, decide: "bc" completes inside
// "abcd" before "abcd" does, so a text that arrives a token at a time
// stops there, and a text that arrives whole must stop there too.
func (b *Buffer) firstStop() int {
	first, end := -1, 0
	s := string(b.pending) // no copy: the compiler keeps it a view for Index
	for _, stop := range b.stops {
		i := strings.Index(s, stop) // the earliest start is the earliest end of this one
		if i < 0 {
			continue
		}
		if e := i + len(stop); first < 0 || e < end || e == end && i < first {
			first, end = i, e
		}
	}
	return first
}

// stopPrefixLen returns the length of the longest suffix of pending that
// is a proper prefix of some stop string.
func (b *Buffer) stopPrefixLen() int {
	best := 0
	for _, stop := range b.stops {
		for n := min(len(stop)-1, len(b.pending)); n > best; n-- {
			if string(b.pending[len(b.pending)-n:]) == stop[:n] {
				best = n
				break
			}
		}
	}
	return best
}

// incompleteTail returns how many trailing bytes of p form the start of a
// UTF-8 character that more bytes could still complete.
func incompleteTail(p []byte) int {
	for n := 1; n < utf8.UTFMax && n <= len(p); n++ {
		c := p[len(p)-n]
		if c < 0x80 {
			return 0 // ASCII: nothing open
		}
		if c >= 0xC0 { // a lead byte
			tail := p[len(p)-n:]
			if !utf8.FullRune(tail) {
				return n
			}
			return 0
		}
		// a continuation byte: look further back
	}
	return 0
}

// valid returns p as a string with every byte that is not part of a valid
// UTF-8 character replaced by U+FFFD. Replacing byte by byte, rather than
// run by run, keeps the result independent of where pieces were split.
func valid(p []byte) string {
	if utf8.Valid(p) {
		return string(p)
	}
	var sb strings.Builder
	sb.Grow(len(p) + 8)
	for len(p) > 0 {
		r, size := utf8.DecodeRune(p)
		if r == utf8.RuneError && size == 1 {
			sb.WriteString("\uFFFD")
		} else {
			sb.Write(p[:size])
		}
		p = p[size:]
	}
	return sb.String()
}
