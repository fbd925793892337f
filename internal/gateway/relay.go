package gateway

import (
	"bytes"

	"github.com/sieve-project/sieve/job"
)

// relay turns a job's chunks into the text a streaming client has not
// seen yet. Chunks are numbered from 1 per attempt: when the queue
// retries a job, its chunks start again at 1, and a client that has a
// prefix of the reply must not get it twice. Chunks may also go missing
// (a slow client lets the NATS buffer overflow); after a gap, relay sends
// nothing more until the next attempt's chunks catch up with what was
// sent, or the final result supplies the rest.
type relay struct {
	sent []byte // what the client has
	cur  []byte // this attempt's text so far
	next int    // the seq expected next; 0 after a gap
}

// chunk returns the new text c brings, if any.
func (r *relay) chunk(c job.Chunk) []byte {
	switch {
	case c.Seq == 1:
		r.cur = r.cur[:0]
	case c.Seq != r.next || r.next == 0:
		r.next = 0
		return nil
	}
	r.cur = append(r.cur, c.Text...)
	r.next = c.Seq + 1
	if len(r.cur) <= len(r.sent) || !bytes.HasPrefix(r.cur, r.sent) {
		return nil // behind what was sent, or an attempt that says something else
	}
	d := r.cur[len(r.sent):]
	r.sent = append(r.sent, d...)
	return d
}

// final returns the rest of the result's text after what was sent, and
// false when what was sent is not the start of it (a retried attempt
// generated another reply after part of the first had been sent).
func (r *relay) final(text string) (string, bool) {
	if len(text) < len(r.sent) || text[:len(r.sent)] != string(r.sent) {
		return "", false
	}
	return text[len(r.sent):], true
}
