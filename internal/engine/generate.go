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

func (e *engine) Generate(ctx context.Context, req Request, emit func(string) error) (Result, error) {
	res := Result{PromptTokens: len(req.Prompt)}
	if err := e.check(req); err != nil {
		return res, err
	}
	s := &seq{
		ctx:       ctx,
		prompt:    req.Prompt,
		keep:      req.Keep,
		maxTokens: req.MaxTokens,
		sampling:  req.Sampling,
		quit:      make(chan struct{}),
		// Room for every event the loop can send (admitted, each token
		// released, final), so that it never waits on a slow reader: no
		// more tokens than the slot holds (the last one is sampled and
		// never decoded), whatever max_tokens says.
		out:        make(chan event, min(req.MaxTokens, e.info.SlotContext-len(req.Prompt)+1)+2),
		guard:      req.Guard,
		maxRewinds: req.MaxRewinds,
		maxTries:   req.MaxTries,
	}
	if s.sampling.RepeatLastN == 0 {
		s.sampling.RepeatLastN = 64
	}
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

	var (
		text     strings.Builder
		hold     = holdback.New(req.Stop)
		admitted time.Time
		first    time.Time
		quit     = func() {
			select {
			case <-s.quit:
			default:
				close(s.quit)
			}
		}
		emitErr error
		reason  FinishReason
		loopErr error
	)
	release := func(out string) {
		if out == "" || emitErr != nil {
			return
		}
		text.WriteString(out)
		if err := emit(out); err != nil {
			emitErr = err
			quit()
		}
	}
	for ev := range s.out {
		switch {
		case ev.final:
			loopErr = ev.err
			res.Rewinds = ev.rewinds
			res.CachedTokens = ev.cached
			if reason == "" { // a stop string seen here outranks why the loop ended
				reason = ev.reason
			}
		case ev.token < 0:
			admitted = ev.at
		default:
			if first.IsZero() {
				first = ev.at
			}
			if reason != "" || emitErr != nil {
				continue // draining what the loop sampled before it saw quit
			}
			res.CompletionTokens++
			out, stopped := hold.Write(e.pieces[ev.token])
			release(out)
			if stopped {
				reason = FinishStop
				quit()
			}
		}
	}
	release(hold.Flush()) // nothing after a stop string

	res.Text = text.String()
	res.FinishReason = reason
	if admitted.IsZero() {
		admitted = time.Now()
	}
	res.QueueTime = admitted.Sub(queued)
	if !first.IsZero() {
		res.PromptTime = first.Sub(admitted)
		res.GenerateTime = time.Since(first)
	} else {
		res.PromptTime = time.Since(admitted)
	}
	switch {
	case emitErr != nil:
		res.FinishReason = FinishError
		return res, emitErr
	case loopErr != nil:
		res.FinishReason = FinishError
		return res, loopErr
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
