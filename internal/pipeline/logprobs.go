package pipeline

import (
	"strings"

	"github.com/sieve-project/sieve/internal/engine"
	"github.com/sieve-project/sieve/internal/policy"
	"github.com/sieve-project/sieve/job"
)

// redactedLogprob is a redacted token's log probability: OpenAI's -9999
// for "not known", since the model never said the replacement.
const redactedLogprob = -9999

// contextBytes is how much of the reply before a position an alternative
// there is checked with: enough for any keyword it could complete.
const contextBytes = 256

// span is a stretch of the engine's text that the output stages changed:
// a redaction, or from a block on (to the end).
type span struct {
	from, to int    // in the text written to the output stages
	text     string // what the reply has in its place
	block    bool
}

// logprobs turns the engine's entries into the result's, moderated so
// that no keyword an output list redacts or blocks can be read from them:
// the tokens of a redacted stretch carry what the reply has there (the
// replacement, on the first of them), a logprob of -9999 (not known) and
// no alternatives, none follows
// a block, and an alternative that would complete a keyword after the
// text before it is left out. The entries' tokens joined are the reply.
//
// in is the text written to the output stages, out the reply; hits are
// the output stages' (in the reply) and srcs where each match starts in
// in. Where the mapping is unknown (srcs nil and a hit acted, or text
// the engine repaired before the stages saw it), every entry from the
// first doubt on is withheld rather than guessed at: the entries' tokens
// joined are then the beginning of the reply.
func logprobs(entries []engine.Logprob, in, out string, hits []job.Hit, srcs []int, pol *policy.Policy) []job.Logprob {
	var raw strings.Builder
	for _, e := range entries {
		raw.WriteString(e.Text)
	}
	r := raw.String()
	// Where the engine's text and the stages' input agree: all of in,
	// unless the engine repaired bytes (a stop string only cuts it).
	same := commonPrefix(r, in)
	diverged := same < len(in)
	spans, known := changed(hits, srcs, in, out)
	acted := len(spans) > 0 || !known
	res := make([]job.Logprob, 0, len(entries))
	taken := make([]bool, len(spans))
	at := 0
	for _, e := range entries {
		a, b := at, at+len(e.Text)
		at = b
		if a >= len(in) || diverged && b > same || acted && !known {
			// After a stop string; where the engine repaired the text
			// (invalid UTF-8) the stages saw other bytes than the tokens
			// hold; or where the hits cannot be placed.
			break
		}
		b = min(b, len(in))
		tok, redacted, blocked := moderated(in, a, b, spans, taken)
		lp := job.Logprob{Token: tok, Logprob: redactedLogprob, Bytes: bytesOf(tok), Top: []job.TopLogprob{}, Redacted: redacted}
		if !redacted {
			lp.Logprob = float64(e.Logprob)
			lp.Top = alternatives(e.Top, in[max(0, a-contextBytes):a], pol)
		}
		res = append(res, lp)
		if blocked {
			break
		}
	}
	return res
}

// moderated is what the reply has for in[a:b]: the text outside the
// changed spans, and each span's text on the first entry that reaches
// it.
func moderated(in string, a, b int, spans []span, taken []bool) (tok string, redacted, blocked bool) {
	var sb strings.Builder
	pos := a
	for i, sp := range spans {
		if sp.to <= a || sp.from >= b {
			continue
		}
		if sp.from > pos {
			sb.WriteString(in[pos:sp.from])
		}
		if !taken[i] {
			sb.WriteString(sp.text)
			taken[i] = true
		}
		redacted = true
		pos = max(pos, sp.to)
		if sp.block {
			return sb.String(), true, true
		}
	}
	if pos < b {
		sb.WriteString(in[pos:b])
	}
	return sb.String(), redacted, false
}

// changed maps the hits that changed the text (redact, block) onto in:
// between them the reply is in's text as it was. known is false when a
// hit has no source, or the arithmetic does not hold.
func changed(hits []job.Hit, srcs []int, in, out string) ([]span, bool) {
	var acting []int
	for i, h := range hits {
		if h.Action == "redact" || h.Action == "block" {
			acting = append(acting, i)
		}
	}
	if len(acting) == 0 {
		return nil, true
	}
	if len(srcs) < len(hits) {
		return nil, false
	}
	spans := make([]span, len(acting))
	for k, i := range acting {
		h := hits[i]
		sp := span{from: srcs[i], text: out[min(h.Start, len(out)):min(h.End, len(out))], block: h.Action == "block"}
		switch {
		case sp.block:
			sp.to = len(in)
		case k+1 < len(acting):
			next := hits[acting[k+1]]
			sp.to = srcs[acting[k+1]] - (next.Start - h.End)
		default:
			sp.to = len(in) - (len(out) - h.End)
		}
		if sp.from < 0 || sp.to < sp.from || sp.to > len(in) || k > 0 && sp.from < spans[k-1].to {
			return nil, false
		}
		spans[k] = sp
	}
	return spans, true
}

// alternatives are the likeliest tokens at a position, less those that
// would complete a keyword after context.
func alternatives(top []engine.TopLogprob, context string, pol *policy.Policy) []job.TopLogprob {
	alts := make([]job.TopLogprob, 0, len(top))
	reveals := pol.Reveals(context)
	for _, t := range top {
		if reveals(t.Text) {
			continue
		}
		alts = append(alts, job.TopLogprob{Token: t.Text, Logprob: float64(t.Logprob), Bytes: bytesOf(t.Text)})
	}
	return alts
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

func bytesOf(s string) []int {
	b := make([]int, len(s))
	for i := range len(s) {
		b[i] = int(s[i])
	}
	return b
}
