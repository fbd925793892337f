// Package stage is the seam between a job's text and the steps that
// moderate it. An Output stage takes the model's text as it is generated
// and releases what may be published; an Input stage screens each message
// before the model sees it. The keyword filter is the first of each
// (package policy makes them from a policy's lists); a classifier or a
// grammar check is another Output stage, added to a policy without
// touching the worker, the pipeline or the engine.
//
// Stages see text only: they know nothing of tokens, NATS or llama.cpp,
// and they report what they found as job.Hit values, the shape every
// result carries. Chain runs several as one, each on what the one before
// it released, as benthos runs its processors.
package stage

import "github.com/sieve-project/sieve/job"

// Result is what a stage releases.
type Result struct {
	// Text may be published: a stage never takes back what it released.
	// Valid until the stage's next call.
	Text []byte
	// Hits are what the stage acted on, with Start and End in the text
	// the stage has released so far (for an Input stage, in Text). Valid
	// until the stage's next call. A stage that blocks reports the hit
	// that blocked last.
	Hits []job.Hit
	// Sources, when not nil, says for each hit where its match starts in
	// the text the stage was written (Hits' offsets are in what it
	// released): what lets a caller map the hits back onto the tokens.
	Sources []int
	// Blocked: the stage refuses the rest. Nothing more is released.
	Blocked bool
}

// Output processes one generated text that arrives in pieces. Write takes
// the next piece (p is the caller's: a stage copies what it keeps) and
// returns what can be released now; Close says the text is complete and
// returns the rest. The output must not depend on how the text was split.
// An Output is used by one job's goroutine at a time.
type Output interface {
	Write(p []byte) Result
	Close() Result
}

// Input screens one message of a job's input: Text is what the model is
// to see instead.
type Input interface {
	Screen(text string) Result
}

// Chain is stages run as one: each gets what the one before it released,
// hits are gathered, and a block anywhere ends the text there (the
// stages after it still release what they hold of the text before it).
// Hits come as each stage reports them: which comes first may depend on
// where the text was split, and each hit's offsets are in the text its
// own stage released (a later stage that changes lengths does not move
// an earlier stage's offsets).
// One stage is returned as it is.
func Chain(stages ...Output) Output {
	if len(stages) == 1 {
		return stages[0]
	}
	return &chain{stages: stages}
}

type chain struct {
	stages []Output
	text   []byte
	hits   []job.Hit
	done   bool
}

func (c *chain) Write(p []byte) Result { return c.run(p, false) }
func (c *chain) Close() Result         { return c.run(nil, true) }

func (c *chain) run(p []byte, closing bool) Result {
	c.text, c.hits = c.text[:0], c.hits[:0]
	if c.done {
		return Result{}
	}
	// ending: the stages from here on have seen the whole text, because
	// the caller closed or a stage before them blocked.
	ending, blocked := closing, false
	for _, s := range c.stages {
		var r Result
		if len(p) > 0 {
			r = s.Write(p)
		}
		c.hits = append(c.hits, r.Hits...)
		p = r.Text
		switch {
		case r.Blocked:
			ending, blocked = true, true
		case ending:
			// Close invalidates r.Text: keep it first.
			out := append([]byte(nil), r.Text...)
			rest := s.Close()
			c.hits = append(c.hits, rest.Hits...)
			p, blocked = append(out, rest.Text...), blocked || rest.Blocked
		}
	}
	c.text = append(c.text, p...)
	c.done = ending
	// No Sources: a later stage's matches start in an earlier one's
	// output, not in the text written to the chain.
	return Result{Text: c.text, Hits: c.hits, Blocked: blocked}
}

// Screens is input stages run as one: each screens what the one before it
// let through, and a block ends the screening.
func Screens(inputs ...Input) Input {
	if len(inputs) == 1 {
		return inputs[0]
	}
	return screens(inputs)
}

type screens []Input

func (ss screens) Screen(text string) Result {
	var hits []job.Hit
	out := []byte(text)
	for _, s := range ss {
		r := s.Screen(string(out))
		hits = append(hits, r.Hits...)
		out = append(out[:0:0], r.Text...)
		if r.Blocked {
			return Result{Text: out, Hits: hits, Blocked: true}
		}
	}
	return Result{Text: out, Hits: hits}
}
