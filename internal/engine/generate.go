package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sieve-project/sieve/internal/holdback"
)

// Generate runs req (see Engine): it queues the request until the loop
// has a slot for it, then reads what the loop sends (reader).
func (e *engine) Generate(ctx context.Context, req Request, emit func(string) error) (Result, error) {
	res := Result{PromptTokens: len(req.Prompt)}
	if err := e.check(req); err != nil {
		return res, err
	}
	s := e.newSeq(ctx, req)
	queued := time.Now()
	select {
	case e.work <- s:
	case <-ctx.Done():
		res.FinishReason, _ = s.stopped()
		res.QueueTime = time.Since(queued)
		return res, nil
	case <-e.stop:
		return res, ErrClosed
	}
	r := reader{s: s, pieces: e.pieces, emit: emit, hold: holdback.New(req.Stop), res: res}
	r.read()
	return r.result(queued)
}

// maxTopLogprobs bounds Request.TopLogprobs, as OpenAI's API does.
const maxTopLogprobs = 20

// newSeq makes the sequence that carries req to the loop.
func (e *engine) newSeq(ctx context.Context, req Request) *seq {
	s := &seq{
		ctx:       ctx,
		prompt:    req.Prompt,
		keep:      req.Keep,
		maxTokens: req.MaxTokens,
		sampling:  req.Sampling,
		grammar:   req.Grammar,
		logprobs:  -1,
		quit:      make(chan struct{}),
		// Room for every event the loop can send (eventAdmitted, an
		// eventToken for each token released, eventFinal), so that it
		// never waits on a slow reader: no more tokens than the slot
		// holds (the last one is sampled and never decoded), whatever
		// max_tokens says.
		out:        make(chan event, min(req.MaxTokens, e.info.SlotContext-len(req.Prompt)+1)+2),
		guard:      req.Guard,
		maxRewinds: req.MaxRewinds,
		maxTries:   req.MaxTries,
	}
	if req.Logprobs {
		s.logprobs = min(max(req.TopLogprobs, 0), maxTopLogprobs)
	}
	if s.sampling.RepeatLastN == 0 {
		s.sampling.RepeatLastN = 64
	}
	return s
}

// reader is the requester's side of a sequence the loop runs: it reads
// the loop's events, passes the tokens' text through the stop strings to
// emit, ends the sequence early (quit) at a stop string or when emit
// fails, and records what the Result reports.
type reader struct {
	s      *seq
	pieces []string // the engine's: token id → text
	emit   func(string) error
	hold   *holdback.Buffer
	res    Result // what is known before the loop runs it, then the counts

	text     strings.Builder // all text emitted
	admitted time.Time       // when the loop gave it a slot
	first    time.Time       // when its first token came
	reason   FinishReason    // a stop string's, else the loop's
	emitErr  error           // emit's first error; no text goes to emit after it
	loopErr  error           // the loop's: the request failed
}

// read reads the loop's events to the end. It reads on after a quit, for
// the final event's record; the loop, which sends the final event and
// closes the channel however the sequence ends, never waits on it.
func (r *reader) read() {
	for ev := range r.s.out {
		switch ev.kind {
		case eventAdmitted:
			r.admitted = ev.at
		case eventToken:
			r.token(ev.token, ev.lp, ev.at)
		case eventFinal:
			r.loopErr = ev.err
			r.res.Rewinds = ev.rewinds
			r.res.CachedTokens = ev.cached
			if r.reason == "" { // a stop string seen here outranks why the loop ended
				r.reason = ev.reason
			}
		}
	}
	r.release(r.hold.Flush()) // nothing after a stop string
}

// token takes a token the loop released at time at: its text goes through
// the stop strings to emit. Tokens that come after a stop string or an
// emit error were sampled before the loop saw quit, and count for nothing.
func (r *reader) token(tok int, lp *Logprob, at time.Time) {
	if r.first.IsZero() {
		r.first = at
	}
	if r.reason != "" || r.emitErr != nil {
		return // draining what the loop sampled before it saw quit
	}
	r.res.CompletionTokens++
	if lp != nil {
		r.res.Logprobs = append(r.res.Logprobs, *lp)
	}
	out, stopped := r.hold.Write(r.pieces[tok])
	r.release(out)
	if stopped {
		r.reason = FinishStop
		r.quit()
	}
}

// release emits text the stop strings let through, and ends the sequence
// if emit fails.
func (r *reader) release(out string) {
	if out == "" || r.emitErr != nil {
		return
	}
	r.text.WriteString(out)
	if err := r.emit(out); err != nil {
		r.emitErr = err
		r.quit()
	}
}

// quit asks the loop to end the sequence; it may be asked twice (a stop
// string, then emit failing on the text before it).
func (r *reader) quit() {
	select {
	case <-r.s.quit:
	default:
		close(r.s.quit)
	}
}

// result completes the Result once the loop is done: the text, why it
// ended, and the time spent queued (from queued to admission), on the
// prompt (to the first token) and generating (from it).
func (r *reader) result(queued time.Time) (Result, error) {
	res := r.res
	res.Text = r.text.String()
	res.FinishReason = r.reason
	admitted := r.admitted
	if admitted.IsZero() {
		admitted = time.Now()
	}
	res.QueueTime = admitted.Sub(queued)
	if !r.first.IsZero() {
		res.PromptTime = r.first.Sub(admitted)
		res.GenerateTime = time.Since(r.first)
	} else {
		res.PromptTime = time.Since(admitted)
	}
	switch {
	case r.emitErr != nil:
		res.FinishReason = FinishError
		return res, r.emitErr
	case r.loopErr != nil:
		res.FinishReason = FinishError
		return res, r.loopErr
	}
	return res, nil
}

func (e *engine) check(req Request) error {
	if e.closed.Load() {
		return ErrClosed
	}
	if len(req.Prompt) == 0 {
		return ErrEmptyPrompt
	}
	if len(req.Prompt) >= e.info.SlotContext {
		return fmt.Errorf("%w: %d prompt tokens, and a slot holds %d (context %d / parallel %d)",
			ErrPromptTooLong, len(req.Prompt), e.info.SlotContext, e.cfg.Context, e.cfg.Parallel)
	}
	var errs []error
	if req.MaxTokens < 1 {
		errs = append(errs, fmt.Errorf("max_tokens %d: want at least 1", req.MaxTokens))
	}
	if req.Keep < 0 || req.Keep > len(req.Prompt) {
		errs = append(errs, fmt.Errorf("keep %d: want 0 to the prompt's %d tokens", req.Keep, len(req.Prompt)))
	}
	for _, id := range req.Prompt {
		if id < 0 || id >= len(e.pieces) {
			errs = append(errs, fmt.Errorf("prompt token %d is outside the vocabulary of %d", id, len(e.pieces)))
			break
		}
	}
	for _, stop := range req.Stop {
		if stop == "" || !utf8.ValidString(stop) {
			errs = append(errs, fmt.Errorf("stop string %q: want non-empty UTF-8", stop))
		}
	}
	sp := req.Sampling
	if sp.Temperature < 0 || sp.TopK < 0 || sp.TopP < 0 || sp.TopP > 1 || sp.MinP < 0 || sp.MinP > 1 || sp.RepeatPenalty < 0 || sp.RepeatLastN < 0 {
		errs = append(errs, fmt.Errorf("sampling %+v: temperature, top_k, repeat_penalty ≥ 0 and top_p, min_p in [0, 1]", sp))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrBadRequest, errors.Join(errs...))
	}
	return nil
}
