// Package pipeline runs a job from its raw bytes to its one final result:
// Admit decodes and validates it (job.Parse), picks its policy, screens
// the input with the policy's input stage and renders ChatML tokens;
// Generate runs the engine (with the policy's avoid lists as its guard),
// passes every piece of output through the policy's output stages, and
// shapes the result. Run is both.
//
// Whatever happens, Run returns exactly one result, and no byte of output
// reaches the chunk callback or the result without passing the output
// stages. The package knows nothing of TOML syntax, of the keyword
// filter's insides or of llama.cpp's C types; the transport (NATS, a
// file, a terminal) is the caller's.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sieve-project/sieve/internal/chatml"
	"github.com/sieve-project/sieve/internal/config"
	"github.com/sieve-project/sieve/internal/engine"
	"github.com/sieve-project/sieve/internal/format"
	"github.com/sieve-project/sieve/internal/policy"
	"github.com/sieve-project/sieve/internal/stage"
	"github.com/sieve-project/sieve/job"
)

// Runner runs jobs on one engine with the filter in force.
type Runner struct {
	Engine   engine.Engine
	Policies *policy.Registry
	Defaults config.Generate
	Limits   job.Limits
	Log      *slog.Logger // nil: discard
}

// Limits are the job limits of a configuration.
func Limits(g config.Generate, q config.Queue) job.Limits {
	return job.Limits{MaxPayload: q.MaxPayload, MaxTokensLimit: g.MaxTokensLimit, MaxTimeout: q.MaxTimeout.Duration}
}

// errBlocked ends generation when a block rule fires.
var errBlocked = errors.New("blocked by the output filter")

// Admitted is a job that passed every check, ready to generate.
type Admitted struct {
	Job     job.Job
	Timeout time.Duration // the job's deadline, counted from when it was queued; 0: none
	req     engine.Request
	pol     *policy.Policy
	inHits  []job.Hit
	format  *format.Validator // nil: plain text
}

// WithDeadline is ctx with the job's deadline, counted from queued (when
// it was published; now, for a job that did not wait in a queue), and
// that deadline; no deadline when the job has none.
func (a *Admitted) WithDeadline(ctx context.Context, queued time.Time) (context.Context, context.CancelFunc, time.Time) {
	if a.Timeout <= 0 {
		return ctx, func() {}, time.Time{}
	}
	deadline := queued.Add(a.Timeout)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	return ctx, cancel, deadline
}

// Admit decides a job's verdict, the same for every way a job arrives:
// queued on JetStream, request/reply, a batch line, the command line. It
// parses data as the job id (job.Parse: shape, field names, id, ranges,
// timeout), then checks what needs the configuration and the model: the
// policy, the input screen, and that the prompt fits a slot. It returns
// the admitted job, or the rejected result.
func (r *Runner) Admit(data []byte, id string) (*Admitted, *job.Result) {
	j, e := job.Parse(data, id, r.Limits)
	if e != nil {
		return nil, r.reject(j, nil, e)
	}
	msgs, err := chatml.Prepare(append([]job.Message(nil), j.Messages...), r.Defaults.System)
	if err != nil { // Parse has checked what Prepare checks
		return nil, r.reject(j, nil, &job.Error{Code: job.CodeBadRole, Message: err.Error()})
	}
	pol, err := r.Policies.Lookup(j.Policy)
	if err != nil {
		return nil, r.reject(j, nil, &job.Error{Code: job.CodeUnknownPolicy, Message: err.Error()})
	}
	a := &Admitted{Job: j, Timeout: j.Timeout(r.Limits), req: r.request(j), pol: pol, inHits: []job.Hit{}}
	if e := a.constrain(j.Format); e != nil {
		return nil, r.reject(j, nil, e)
	}

	// Screen the input: block rejects, redact rewrites what the model
	// sees, flag reports.
	screen := pol.Input()
	for i, m := range msgs {
		c := screen.Screen(m.Content)
		for _, h := range c.Hits {
			h.Message = &i
			a.inHits = append(a.inHits, h)
		}
		if c.Blocked {
			last := job.Hit{List: "(a stage)", Action: "block"} // a stage that blocks without a hit
			if len(c.Hits) > 0 {
				last = c.Hits[len(c.Hits)-1]
			}
			what := fmt.Sprintf("keyword %q", last.Keyword)
			if last.Keyword == "" { // a hidden list: its place, not its text
				what = fmt.Sprintf("at bytes %d-%d", last.Start, last.End)
			}
			return nil, r.reject(j, a.inHits, &job.Error{Code: job.CodeInputBlocked,
				Message: fmt.Sprintf("message %d matches list %q (%s), whose action is %s", i, last.List, what, last.Action)})
		}
		msgs[i].Content = string(c.Text)
	}
	prompt, history, err := chatml.TokensAndHistory(r.Engine, msgs)
	if err != nil {
		// Tokenizing fails only when the engine does (or the model is
		// not a ChatML model): not the job's fault, so it may be retried.
		res := result(j, a.inHits)
		res.Status, res.FinishReason = job.Failed, string(engine.FinishError)
		res.Error = &job.Error{Code: job.CodeEngineError, Message: fmt.Sprintf("render prompt: %v", err)}
		r.log(j.ID).Error("render prompt failed", "err", err)
		return nil, &res
	}
	if slot := r.Engine.Info().SlotContext; len(prompt) >= slot {
		info := r.Engine.Info()
		return nil, r.reject(j, a.inHits, &job.Error{Code: job.CodePromptTooLong,
			Message: fmt.Sprintf("the prompt is %d tokens, and a slot holds %d (model.context %d / model.parallel %d)", len(prompt), slot, slot*info.Parallel, info.Parallel)})
	}
	a.req.Prompt, a.req.Keep = prompt, history
	r.log(j.ID).Debug("prompt", "text", chatml.Text(msgs))
	return a, nil
}

// maxGrammar bounds the grammar a format may make.
const maxGrammar = 256 << 10

// constrain sets the grammar and the validator of a job's format, or says
// why sieve cannot enforce it.
func (a *Admitted) constrain(f *job.Format) *job.Error {
	schema := format.Schema(f)
	if schema == nil {
		return nil
	}
	bad := func(msg string, args ...any) *job.Error {
		return &job.Error{Code: job.CodeBadFormat, Message: fmt.Sprintf(msg, args...)}
	}
	if err := format.Check(schema); err != nil {
		return bad("format.schema %v", err)
	}
	v, err := format.NewValidator(f)
	if err != nil {
		return bad("format.schema is not a valid JSON Schema: %v", err)
	}
	g, err := engine.SchemaGrammar(schema)
	if err != nil {
		return bad("format.schema: %v (check its patterns and $refs)", err)
	}
	if len(g) > maxGrammar {
		// The engine parses the grammar when the job starts and again at
		// each rewind, on the loop every job shares.
		return bad("format.schema makes a grammar of %d bytes: want at most %d (fewer or smaller bounds, shorter enums)", len(g), maxGrammar)
	}
	a.req.Grammar, a.format = g, v
	return nil
}

func (r *Runner) log(id string) *slog.Logger {
	l := r.Log
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return l.With("job", id)
}

// result starts j's result, with the input screen's hits.
func result(j job.Job, inHits []job.Hit) job.Result {
	res := job.NewResult(j)
	if inHits != nil {
		res.Filter.Input = inHits
	}
	return res
}

func (r *Runner) reject(j job.Job, inHits []job.Hit, e *job.Error) *job.Result {
	res := result(j, inHits)
	res.Status, res.FinishReason, res.Error = job.Rejected, string(engine.FinishError), e
	r.log(j.ID).Info("job rejected", "code", e.Code, "reason", e.Message)
	return &res
}

// Run admits data as job id and generates it: Admit, then Generate, with
// the job's deadline counted from now.
func (r *Runner) Run(ctx context.Context, data []byte, id string, chunk func(text string) error) job.Result {
	a, rej := r.Admit(data, id)
	if rej != nil {
		return *rej
	}
	ctx, cancel, _ := a.WithDeadline(ctx, time.Now())
	defer cancel()
	return r.Generate(ctx, a, chunk)
}

// Generate generates an admitted job, calling chunk with each piece of
// moderated text as it is released, and returns the final result.
// chunk's text concatenated is the result's text. An error from chunk
// ends generation with status failed. The caller sets the deadline.
func (r *Runner) Generate(ctx context.Context, a *Admitted, chunk func(text string) error) job.Result {
	log := r.log(a.Job.ID)
	res := result(a.Job, a.inHits)
	out := a.pol.Output()
	var (
		text    []byte
		chunkEr error
		in      []byte // what the output stages were written, for logprobs
		srcs    []int  // where each output hit starts in in; nil once a stage cannot say
	)
	srcsKnown := true
	release := func(fr stage.Result) error {
		res.Filter.Output = append(res.Filter.Output, fr.Hits...)
		if a.Job.Logprobs {
			srcsKnown = srcsKnown && (fr.Sources != nil || len(fr.Hits) == 0)
			srcs = append(srcs, fr.Sources...)
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
	req := a.req
	if avoid, rewinds, tries := a.pol.Avoid(); avoid != nil {
		req.Guard, req.MaxRewinds, req.MaxTries = newAvoidGuard(avoid), rewinds, tries
		if rewinds == 0 && tries == 0 { // a policy made without a configuration
			req.MaxRewinds, req.MaxTries = engine.DefaultMaxRewinds, engine.DefaultMaxTries
		}
	}
	gen, err := r.Engine.Generate(ctx, req, func(piece string) error {
		if a.Job.Logprobs {
			in = append(in, piece...)
		}
		return release(out.Write([]byte(piece)))
	})
	if err == nil {
		err = release(out.Close())
	}

	res.Text = string(text)
	if a.Job.Logprobs && (err == nil || errors.Is(err, errBlocked)) {
		// Only where the output stages saw the text to its end: one cut
		// short still holds back what could be a keyword, which the
		// entries would show.
		if !srcsKnown {
			srcs = nil
		}
		res.Logprobs = logprobs(gen.Logprobs, string(in), res.Text, res.Filter.Output, srcs, a.pol)
	}
	for _, rw := range gen.Rewinds {
		h := job.Hit{List: rw.Tag, Action: "avoid", Start: rw.Offset, End: rw.Offset, Token: &rw.Token, Tries: rw.Tries, Discarded: rw.Discarded}
		if rw.Stood {
			h.Fallback = a.pol.Fallback(rw.Tag)
		}
		res.Filter.Output = append(res.Filter.Output, h)
	}
	res.FinishReason = string(gen.FinishReason)
	res.Usage = job.Usage{PromptTokens: gen.PromptTokens, CachedTokens: gen.CachedTokens, CompletionTokens: gen.CompletionTokens}
	res.Timings = timings(gen)
	res.Status = job.Completed
	switch {
	case errors.Is(err, errBlocked):
		res.Status, res.FinishReason = job.Filtered, "filtered"
	case chunkEr != nil:
		res.Status, res.FinishReason = job.Failed, string(engine.FinishError)
		res.Error = &job.Error{Code: job.CodePublishFailed, Message: chunkEr.Error()}
	case err != nil:
		// Admit checked the request; what the engine refuses now is its
		// failure, to be retried.
		res.Status, res.FinishReason = job.Failed, string(engine.FinishError)
		res.Error = &job.Error{Code: job.CodeEngineError, Message: err.Error()}
	case gen.FinishReason == engine.FinishCancelled:
		res.Status = job.Cancelled
	case gen.FinishReason == engine.FinishDeadline && gen.CompletionTokens == 0 && gen.PromptTime == 0:
		res.Status = job.Expired
	}
	if a.format != nil && res.Status == job.Completed && res.FinishReason == string(engine.FinishStop) {
		// The grammar made the model's text fit; the output stages may
		// have changed it since (a redaction inside a string, longer
		// than maxLength allows, or outside one). A reply that ends
		// "stop" is one the caller can parse.
		if err := a.format.Validate(res.Text); err != nil {
			res.Status, res.FinishReason = job.Filtered, "filtered"
			res.Error = &job.Error{Code: job.CodeFormatBroken, Message: err.Error()}
		}
	}
	log.Info("job done", "status", res.Status, "finish", res.FinishReason,
		"prompt_tokens", res.Usage.PromptTokens, "cached_tokens", res.Usage.CachedTokens, "completion_tokens", res.Usage.CompletionTokens,
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

// request is the engine request for j, with the defaults where j names
// nothing; job.Parse has checked the ranges, config.Load the defaults'.
func (r *Runner) request(j job.Job) engine.Request {
	req := engine.Request{MaxTokens: r.Defaults.MaxTokens, Stop: j.Stop, Logprobs: j.Logprobs}
	if j.TopLogprobs != nil {
		req.TopLogprobs = *j.TopLogprobs
	}
	if j.MaxTokens != nil {
		req.MaxTokens = *j.MaxTokens
	}
	s := j.Sampling.OrDefaults(r.Defaults.Sampling)
	req.Sampling = engine.Sampling{
		Temperature:   float32(value(s.Temperature)),
		TopK:          value(s.TopK),
		TopP:          float32(value(s.TopP)),
		MinP:          float32(value(s.MinP)),
		RepeatPenalty: float32(value(s.RepeatPenalty)),
		Seed:          engine.RandomSeed,
	}
	if s.Seed != nil {
		req.Sampling.Seed = *s.Seed
	}
	return req
}

// value is *v, or the zero value (the setting off) for a Runner built
// without the configuration's defaults.
func value[T any](v *T) T {
	if v == nil {
		var zero T
		return zero
	}
	return *v
}
