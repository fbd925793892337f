// Package pipeline runs a job from its raw bytes to its one final result:
// decode and validate, screen the input with the input lists, render
// ChatML, generate, pass every piece of output through the output filter,
// and shape the result.
//
// Whatever happens, Run returns exactly one result, and no byte of output
// reaches the chunk callback or the result without passing the filter.
// The package knows nothing of TOML syntax or of llama.cpp's C types; the
// transport (NATS, a file, a terminal) is the caller's.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/sieve-project/sieve/chatml"
	"github.com/sieve-project/sieve/config"
	"github.com/sieve-project/sieve/engine"
	"github.com/sieve-project/sieve/filter"
	"github.com/sieve-project/sieve/job"
)

// Runner runs jobs on one engine with the filter in force.
type Runner struct {
	Engine   engine.Engine
	Filters  *Filters
	Defaults config.Generate
	Log      *slog.Logger // nil: discard
}

// errBlocked ends generation when a block rule fires.
var errBlocked = errors.New("blocked by the output filter")

// Run generates j, calling chunk with each piece of moderated text as it
// is released, and returns the final result. chunk's text concatenated is
// the result's text. An error from chunk ends generation with status
// failed.
func (r *Runner) Run(ctx context.Context, j job.Job, chunk func(text string) error) job.Result {
	log := r.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("job", j.ID)
	res := job.Result{ID: j.ID, Metadata: j.Metadata, Filter: job.FilterReport{Input: []job.Hit{}, Output: []job.Hit{}}}
	reject := func(code, format string, args ...any) job.Result {
		res.Status, res.FinishReason = job.Rejected, string(engine.FinishError)
		res.Error = &job.Error{Code: code, Message: fmt.Sprintf(format, args...)}
		log.Info("job rejected", "code", code, "reason", res.Error.Message)
		return res
	}

	req, msgs, e := r.request(j)
	if e != nil {
		return reject(e.Code, "%s", e.Message)
	}
	flt, err := r.Filters.Policy(j.Policy)
	if err != nil {
		return reject("unknown_policy", "%v", err)
	}

	// Screen the input: block rejects, redact rewrites what the model
	// sees, flag reports.
	for i, m := range msgs {
		c := flt.Check(filter.Input, m.Content)
		for _, h := range c.Hits {
			res.Filter.Input = append(res.Filter.Input, job.Hit{Message: &i, List: h.List, Action: string(h.Action), Start: h.Start, End: h.End, Keyword: h.Keyword})
		}
		if c.Blocked {
			last := c.Hits[len(c.Hits)-1]
			return reject("input_blocked", "message %d matches list %q (keyword %q), whose action is block", i, last.List, last.Keyword)
		}
		msgs[i].Content = c.Text
	}

	prompt, err := chatml.Tokens(r.Engine, msgs)
	if err != nil {
		// Tokenizing fails only when the engine does (or the model is not
		// a ChatML model): not the job's fault, so it may be retried.
		res.Status, res.FinishReason = job.Failed, string(engine.FinishError)
		res.Error = &job.Error{Code: "engine_error", Message: fmt.Sprintf("render prompt: %v", err)}
		log.Error("render prompt failed", "err", err)
		return res
	}
	req.Prompt = prompt
	log.Debug("prompt", "text", chatml.Text(msgs))

	out := flt.NewStream(filter.Output, nil)
	var (
		text    []byte
		chunkEr error
	)
	release := func(fr filter.Result) error {
		for _, h := range fr.Hits {
			res.Filter.Output = append(res.Filter.Output, job.Hit{List: h.List, Action: string(h.Action), Start: h.Start, End: h.End, Keyword: h.Keyword})
		}
		if len(fr.Text) > 0 {
			text = append(text, fr.Text...)
			if err := chunk(string(fr.Text)); err != nil {
				chunkEr = err
				return err
			}
		}
		if fr.Blocked {
			return errBlocked
		}
		return nil
	}
	gen, err := r.Engine.Generate(ctx, req, func(piece string) error {
		return release(out.Write([]byte(piece)))
	})
	if err == nil {
		err = release(out.Close())
	}

	res.Text = string(text)
	res.FinishReason = string(gen.FinishReason)
	res.Usage = job.Usage{PromptTokens: gen.PromptTokens, CompletionTokens: gen.CompletionTokens}
	res.Timings = timings(gen)
	res.Status = job.Completed
	switch {
	case errors.Is(err, errBlocked):
		res.Status, res.FinishReason = job.Filtered, "filtered"
	case errors.Is(err, engine.ErrPromptTooLong):
		return reject("prompt_too_long", "%v", err)
	case errors.Is(err, engine.ErrBadRequest):
		return reject("bad_request", "%v", err)
	case chunkEr != nil:
		res.Status, res.FinishReason = job.Failed, string(engine.FinishError)
		res.Error = &job.Error{Code: "publish_failed", Message: chunkEr.Error()}
	case err != nil:
		res.Status, res.FinishReason = job.Failed, string(engine.FinishError)
		res.Error = &job.Error{Code: "engine_error", Message: err.Error()}
	case gen.FinishReason == engine.FinishCancelled:
		res.Status = job.Cancelled
	case gen.FinishReason == engine.FinishDeadline && gen.CompletionTokens == 0 && gen.PromptTime == 0:
		res.Status = job.Expired
	}
	log.Info("job done", "status", res.Status, "finish", res.FinishReason,
		"prompt_tokens", res.Usage.PromptTokens, "completion_tokens", res.Usage.CompletionTokens,
		"hits_in", len(res.Filter.Input), "hits_out", len(res.Filter.Output))
	return res
}

func timings(g engine.Result) job.Timings {
	t := job.Timings{
		QueuedMS:   g.QueueTime.Milliseconds(),
		PromptMS:   g.PromptTime.Milliseconds(),
		GenerateMS: g.GenerateTime.Milliseconds(),
	}
	// The first token's time belongs to the prompt.
	if s := g.GenerateTime.Seconds(); s > 0 && g.CompletionTokens > 1 {
		t.TokensPerSecond = float64(g.CompletionTokens-1) / s
	}
	return t
}

// request validates j against the defaults and limits and returns the
// engine request (without its prompt) and the prepared messages.
func (r *Runner) request(j job.Job) (engine.Request, []chatml.Message, *job.Error) {
	d := r.Defaults
	bad := func(code, format string, args ...any) (engine.Request, []chatml.Message, *job.Error) {
		return engine.Request{}, nil, &job.Error{Code: code, Message: fmt.Sprintf(format, args...)}
	}
	msgs, err := chatml.Prepare(append([]chatml.Message(nil), j.Messages...), d.System)
	switch {
	case errors.Is(err, chatml.ErrNoMessages):
		return bad("no_messages", "messages is empty: give at least one {\"role\": \"user\", \"content\": ...}")
	case errors.Is(err, chatml.ErrBadRole):
		return bad("bad_role", "%v", err)
	case errors.Is(err, chatml.ErrInvalidUTF8):
		return bad("invalid_utf8", "%v", err)
	case err != nil:
		return bad("bad_messages", "%v", err)
	}
	req := engine.Request{MaxTokens: d.MaxTokens, Stop: j.Stop, Sampling: engine.Sampling{
		Temperature:   float32(d.Temperature),
		TopK:          d.TopK,
		TopP:          float32(d.TopP),
		MinP:          float32(d.MinP),
		RepeatPenalty: float32(d.RepeatPenalty),
		Seed:          engine.RandomSeed,
	}}
	if j.MaxTokens != nil {
		if *j.MaxTokens < 1 || *j.MaxTokens > d.MaxTokensLimit {
			return bad("max_tokens_over_limit", "max_tokens %d: want 1 to %d", *j.MaxTokens, d.MaxTokensLimit)
		}
		req.MaxTokens = *j.MaxTokens
	}
	s := &req.Sampling
	if v := j.Temperature; v != nil {
		if *v < 0 || *v > 100 {
			return bad("bad_sampling", "temperature %g: want 0 to 100", *v)
		}
		s.Temperature = float32(*v)
	}
	if v := j.TopK; v != nil {
		if *v < 0 {
			return bad("bad_sampling", "top_k %d: want 0 or more", *v)
		}
		s.TopK = *v
	}
	if v := j.TopP; v != nil {
		if *v <= 0 || *v > 1 {
			return bad("bad_sampling", "top_p %g: want more than 0, at most 1", *v)
		}
		s.TopP = float32(*v)
	}
	if v := j.MinP; v != nil {
		if *v < 0 || *v > 1 {
			return bad("bad_sampling", "min_p %g: want 0 to 1", *v)
		}
		s.MinP = float32(*v)
	}
	if v := j.RepeatPenalty; v != nil {
		if *v <= 0 || *v > 10 {
			return bad("bad_sampling", "repeat_penalty %g: want more than 0, at most 10", *v)
		}
		s.RepeatPenalty = float32(*v)
	}
	if j.Seed != nil {
		if *j.Seed == engine.RandomSeed {
			return bad("bad_sampling", "seed %d is reserved for random; use 0 to %d", *j.Seed, engine.RandomSeed-1)
		}
		s.Seed = *j.Seed
	}
	for i, st := range j.Stop {
		if st == "" {
			return bad("bad_stop", "stop[%d] is empty", i)
		}
	}
	return req, msgs, nil
}
