package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ollama/ollama/llama"
)

type engine struct {
	cfg    Config
	log    *slog.Logger
	onMain func() bool
	info   ModelInfo
	model  *llama.Model
	lctx   *llama.Context
	batch  *llama.Batch

	pieces []string     // token id → text; read-only after Load
	eog    map[int]bool // end-of-generation tokens; read-only after Load

	// The prompt cache (cache.go); loop-owned.
	cache PromptCache
	kv    []*kvseq // llama.cpp's sequences: the running requests' and idle ones
	cells int      // KV cells in all
	clock uint64   // counts requests started, for least-recently-used order

	work   chan *seq     // Generate → loop; unbuffered: a request waits for a slot
	stop   chan struct{} // closed by Close
	done   chan struct{} // closed when the loop has returned
	closed atomic.Bool
	// freeing is held for writing while Close frees the model, and for
	// reading by Tokenize, which may run on any goroutine.
	freeing sync.RWMutex
}

// seq is one request while it holds a slot. Fields below "loop-owned" are
// touched only by the loop goroutine.
type seq struct {
	ctx                  context.Context
	prompt               []int
	keep                 int // Request.Keep
	maxTokens            int
	sampling             Sampling
	grammar              string        // Request.Grammar
	logprobs             int           // -1: none; else Request.TopLogprobs
	quit                 chan struct{} // closed by Generate to end early (stop string, emit error)
	guard                Guard
	maxRewinds, maxTries int
	out                  chan event // loop → Generate; room for every event, so sends never block

	// loop-owned
	slot    int
	kv      *kvseq // the llama.cpp sequence it computes in
	sampler *sampler
	// started is set once its prompt's cached prefix is in kv; until
	// then it waits for wait, which is computing the first waitFor
	// tokens of its prompt.
	started    bool
	wait       *seq
	waitFor    int
	cached     int      // prompt tokens taken from the cache
	limit      int      // positions it may fill: its prompt, max tokens, the slot's room
	batchStart int      // its first position in the batch being decoded, -1 for none
	fed        int      // prompt tokens decoded so far (cached ones included)
	pos        int      // next KV position
	last       int      // last sampled token, to decode next
	produced   int      // tokens generated (and kept, if guarded): counts towards maxTokens
	logitsAt   int      // index of its logits in the current batch, -1 for none
	guarded    *guarded // nil unless the request has a Guard
	// grammarLost: a rewind could not put the grammar back; the request
	// ends with an error at its next step.
	grammarLost bool
}

// guarded is the loop's record of a guarded sequence: every token it
// generated and kept, and the guard's state before each one not yet
// released.
type guarded struct {
	guard                Guard
	maxRewinds, maxTries int
	kept                 []int32         // tokens generated and kept, in order
	offsets              []int           // byte offset of each in the generated text
	textLen              int             // bytes of text generated and kept: where the next token's text starts
	released             int             // tokens sent to the requester: kept[:released]
	marks                []GuardState    // the guard's state before kept[released+i]
	bans                 map[int][]int32 // position (index into kept) → tokens vetoed there, banned when that position is sampled again
	tries                map[int]int     // position → vetoes acted on there
	rewinds              []Rewind        // every veto, for the Result
	lps                  []*Logprob      // with logprobs: kept[i]'s entry
}

// eventKind says what an event reports.
type eventKind uint8

const (
	// eventToken is a token released to the requester.
	eventToken eventKind = iota
	// eventAdmitted says the request has a slot: its queue wait is over.
	// It comes first, once, unless the request fails on admission.
	eventAdmitted
	// eventFinal is the end of the sequence, always the last event:
	// the loop closes the channel after it.
	eventFinal
)

// event is what the loop sends a request's Generate on seq.out.
type event struct {
	kind    eventKind
	token   int      // eventToken: the token
	lp      *Logprob // eventToken: its log probability, if asked for
	at      time.Time
	reason  FinishReason // eventFinal
	err     error        // eventFinal
	rewinds []Rewind     // eventFinal: a guarded sequence's record
	cached  int          // eventFinal: prompt tokens taken from the cache
}

func (e *engine) loop() {
	defer close(e.done)
	if e.cfg.DecodeNice == 0 {
		e.run()
		return
	}
	e.runNiced()
}

// runNiced runs the loop at the lowered priority. The goroutine keeps its
// thread to its end, when the thread exits with it: no other goroutine
// ever runs at that priority. Go never ends the process's main thread,
// though (it parks it), so that one must not be lowered: while this
// goroutine holds it, another one, necessarily on another thread, decodes.
func (e *engine) runNiced() {
	runtime.LockOSThread()
	if !e.onMain() {
		e.lowerPriority()
		e.run()
		return
	}
	held := make(chan struct{})
	go func() {
		defer close(held)
		e.runNiced()
	}()
	<-held
	runtime.UnlockOSThread()
}

func (e *engine) lowerPriority() {
	n := e.cfg.DecodeNice
	if err := lowerThreadPriority(n); err != nil {
		e.log.Warn("decode threads keep the process's priority", "decode_nice", n, "err", err)
		return
	}
	e.log.Debug("decode threads niced", "decode_nice", n)
}

// run decodes until Close.
func (e *engine) run() {
	// Started here, on the thread that decodes, so the pool's threads
	// inherit its priority.
	pool := attachThreadpool(e.lctx, e.info.Threads, poll)
	if pool == nil {
		e.log.Warn("llama.cpp's CPU backend offers no thread pool; its threads start and stop with every decode step")
	}
	defer pool.detach()
	slots := make([]*seq, e.cfg.Parallel)
	defer func() {
		for _, s := range slots {
			if s != nil {
				e.finish(slots, s, FinishError, ErrClosed)
			}
		}
	}()
	for {
		if active(slots) == 0 {
			// Idle: sleep until there is work or we are told to stop.
			select {
			case <-e.stop:
				return
			case s := <-e.work:
				e.admit(slots, s)
			}
		}
		select {
		case <-e.stop:
			return
		default:
		}
		for free := slices.Index(slots, nil); free >= 0; free = slices.Index(slots, nil) {
			select {
			case s := <-e.work:
				e.admit(slots, s)
				continue
			default:
			}
			break
		}
		e.step(slots)
	}
}

func active(slots []*seq) int {
	n := 0
	for _, s := range slots {
		if s != nil {
			n++
		}
	}
	return n
}

func (e *engine) admit(slots []*seq, s *seq) {
	i := slices.Index(slots, nil)
	sampler, err := newSampler(e.model, s.sampling, s.grammar, false)
	if err != nil {
		s.out <- event{kind: eventFinal, reason: FinishError, err: fmt.Errorf("engine: %w", err), at: time.Now()}
		close(s.out)
		return
	}
	s.slot, s.sampler = i, sampler
	s.limit = min(e.info.SlotContext, len(s.prompt)+s.maxTokens)
	if s.guard != nil {
		s.guarded = &guarded{guard: s.guard, maxRewinds: cmp.Or(s.maxRewinds, DefaultMaxRewinds), maxTries: cmp.Or(s.maxTries, DefaultMaxTries),
			bans: map[int][]int32{}, tries: map[int]int{}}
	}
	s.kv = e.pick(s.prompt)
	s.kv.owner = s
	slots[i] = s
	s.out <- event{kind: eventAdmitted, at: time.Now()} // ends the queue wait
	e.plan(s)
	e.trim()
}

// step decodes one batch: the next token of every generating slot, then
// prompt tokens of the others, up to the batch size. Generating slots go
// first so a long prompt delays them by at most one batch.
func (e *engine) step(slots []*seq) {
	e.settle(slots)
	e.fit(slots)
	e.batch.Clear()
	room := e.batchNext(slots, e.cfg.Batch)
	e.batchPrompts(slots, room)
	if e.batch.NumTokens() == 0 {
		return
	}
	if err := e.decode(slots); err != nil {
		e.failAll(slots, err)
		return
	}
	e.sampleBatch(slots, time.Now())
}

// settle brings every slot up to date before a batch is made: a sequence
// its requester ended (quit, cancelled, past its deadline) finishes now,
// so that it costs no decode and fit reserves no cells for it, and one
// waiting for another's prefix that may now go on is planned again (it
// may start on the cells that one computed).
func (e *engine) settle(slots []*seq) {
	for _, s := range slots {
		if s == nil {
			continue
		}
		if r, ok := s.stopped(); ok {
			e.finish(slots, s, r, nil)
			continue
		}
		if s.wait != nil && s.ready() {
			e.plan(s)
		}
	}
}

// batchNext adds the last sampled token of every generating sequence to
// the batch, for the logits of its next one, and returns the room left
// of room. A sequence whose slot has no position left ends here instead
// (endFull).
func (e *engine) batchNext(slots []*seq, room int) int {
	for _, s := range slots {
		if s == nil {
			continue
		}
		s.logitsAt, s.batchStart = -1, -1
		if !s.started || s.fed < len(s.prompt) {
			continue
		}
		if s.pos >= e.info.SlotContext && !e.endFull(slots, s) {
			continue
		}
		s.logitsAt = e.batch.NumTokens()
		e.add(s, s.last, true)
		room--
	}
	return room
}

// endFull ends s, whose slot has no position left. A guarded sequence's
// guard has a last word first, and a veto there sends it back to a
// position it already filled: endFull then reports true, and s decodes
// again.
func (e *engine) endFull(slots []*seq, s *seq) bool {
	if s.guarded == nil {
		e.finish(slots, s, FinishLength, nil)
		return false
	}
	e.endGuarded(slots, s, FinishLength, time.Now())
	return slots[s.slot] == s
}

// batchPrompts fills the room left in the batch with prompt tokens of the
// sequences still reading theirs, in slot order. Logits are asked for
// only at a prompt's last token: they give its first generated one.
func (e *engine) batchPrompts(slots []*seq, room int) {
	for _, s := range slots {
		if s == nil || !s.started || s.fed >= len(s.prompt) || room == 0 {
			continue
		}
		n := min(room, len(s.prompt)-s.fed)
		for j := 0; j < n; j++ {
			lastOfPrompt := s.fed+j == len(s.prompt)-1
			if lastOfPrompt {
				s.logitsAt = e.batch.NumTokens()
			}
			e.add(s, s.prompt[s.fed+j], lastOfPrompt)
		}
		s.fed += n
		room -= n
	}
}

// failAll ends every sequence after a failed decode: the batch is lost
// for everyone in it, and their KV state is unknown.
func (e *engine) failAll(slots []*seq, err error) {
	err = fmt.Errorf("%w: %w", ErrDecode, err)
	e.log.Error("decode failed", "tokens", e.batch.NumTokens(), "err", err)
	for _, s := range slots {
		if s != nil {
			e.finish(slots, s, FinishError, err)
		}
	}
}

// sampleBatch samples the next token of every sequence the decoded batch
// has logits for, never one a veto banned at that position, and hands it
// on: to guardedToken for a guarded sequence, else to plainToken.
func (e *engine) sampleBatch(slots []*seq, now time.Time) {
	for _, s := range slots {
		if s == nil || s.logitsAt < 0 {
			continue
		}
		var banned []int32
		g := s.guarded
		if g != nil {
			banned = g.bans[len(g.kept)]
		}
		if s.grammarLost {
			e.finish(slots, s, FinishError, fmt.Errorf("%w: the grammar could not go back with a rewind", ErrDecode))
			continue
		}
		tok := s.sampler.sample(e.lctx, s.logitsAt, banned)
		if tok == noAllowed && len(banned) > 0 {
			// The grammar allows nothing here but what a veto banned:
			// the text cannot avoid the list, so the veto stands (the
			// list's fallback acts on it) instead of trying again.
			g.tries[len(g.kept)] = g.maxTries
			tok = s.sampler.sample(e.lctx, s.logitsAt, nil)
		}
		switch tok {
		case noLogits:
			e.finish(slots, s, FinishError, fmt.Errorf("%w: no logits for the sequence", ErrDecode))
			continue
		case noAllowed:
			e.finish(slots, s, FinishError, fmt.Errorf("%w: the grammar allows no next token", ErrDecode))
			continue
		case samplerErr:
			e.finish(slots, s, FinishError, fmt.Errorf("%w: the sampler failed (out of memory, or its grammar)", ErrDecode))
			continue
		}
		if !s.sampler.accept(tok) {
			e.finish(slots, s, FinishError, fmt.Errorf("%w: the grammar refused the token it allowed", ErrDecode))
			continue
		}
		var lp *Logprob
		if s.logprobs >= 0 && !e.eog[tok] {
			var ok bool
			if lp, ok = logprob(e.lctx, s.logitsAt, e.info.VocabSize, tok, s.logprobs, e.pieces); !ok {
				e.finish(slots, s, FinishError, fmt.Errorf("%w: no logits for the sequence", ErrDecode))
				continue
			}
		}
		if s.guarded != nil {
			e.guardedToken(slots, s, tok, lp, now)
			continue
		}
		e.plainToken(slots, s, tok, lp, now)
	}
}

// plainToken takes an unguarded sequence's next token: nothing can take
// it back, so it goes to the requester at once, unless it ends the
// sequence.
func (e *engine) plainToken(slots []*seq, s *seq, tok int, lp *Logprob, now time.Time) {
	if e.eog[tok] {
		e.finish(slots, s, FinishStop, nil)
		return
	}
	s.last = tok
	s.produced++
	s.out <- event{kind: eventToken, token: tok, lp: lp, at: now}
	if s.produced >= s.maxTokens {
		e.finish(slots, s, FinishLength, nil)
	}
}

// add puts tok at s's next position in the batch.
func (e *engine) add(s *seq, tok int, logits bool) {
	if s.batchStart < 0 {
		s.batchStart = s.pos
	}
	e.batch.Add(tok, nil, s.pos, logits, s.kv.id)
	s.kv.toks = append(s.kv.toks, tok)
	s.pos++
}

// decode decodes the batch. Where no run of free cells can take it,
// idle cache entries are evicted and it is tried once more, after its
// cells are taken back from every sequence in it (llama.cpp may have
// placed part of it).
func (e *engine) decode(slots []*seq) error {
	err := e.lctx.Decode(e.batch)
	if !errors.Is(err, llama.ErrKvCacheFull) || !e.dropIdle() {
		return err
	}
	for _, s := range slots {
		if s != nil && s.batchStart >= 0 {
			e.lctx.KvCacheSeqRm(s.kv.id, s.batchStart, -1)
		}
	}
	e.log.Debug("prompt cache: no room for the batch, idle entries evicted", "tokens", e.batch.NumTokens())
	return e.lctx.Decode(e.batch)
}

// guardedToken takes a guarded sequence's next token: it holds the token
// back, lets the guard see its text, goes back if the guard vetoes, and
// releases what no veto can reach any more. At the end (an end token, the
// token limit) the guard has a last word before the sequence finishes.
func (e *engine) guardedToken(slots []*seq, s *seq, tok int, lp *Logprob, now time.Time) {
	g := s.guarded
	end := e.eog[tok]
	if !end {
		g.marks = append(g.marks, g.guard.Mark())
		g.offsets = append(g.offsets, g.textLen)
		g.kept = append(g.kept, int32(tok))
		if s.logprobs >= 0 {
			g.lps = append(g.lps, lp)
		}
		piece := e.pieces[tok]
		g.textLen += len(piece)
		s.last = tok
		s.produced++
		safe, veto := g.guard.Write([]byte(piece))
		if veto != nil && e.rewind(s, veto) {
			return
		}
		for g.released < len(g.kept) && g.offsets[g.released]+len(e.pieces[g.kept[g.released]]) <= safe {
			s.out <- event{kind: eventToken, token: int(g.kept[g.released]), lp: g.lpAt(g.released), at: now}
			g.released++
			g.marks = g.marks[1:]
		}
		if s.produced < s.maxTokens {
			return
		}
	}
	reason := FinishLength
	if end {
		reason = FinishStop
	}
	e.endGuarded(slots, s, reason, now)
}

// lpAt is kept[i]'s log probability entry, nil without logprobs.
func (g *guarded) lpAt(i int) *Logprob {
	if i < len(g.lps) {
		return g.lps[i]
	}
	return nil
}

// endGuarded ends a guarded sequence that ran out of room or tokens, or
// said its end token: the guard has a last word, which may send it back,
// and otherwise the held tokens are released and the sequence finishes.
func (e *engine) endGuarded(slots []*seq, s *seq, reason FinishReason, now time.Time) {
	g := s.guarded
	if veto := g.guard.End(); veto != nil && e.rewind(s, veto) {
		return
	}
	for ; g.released < len(g.kept); g.released++ {
		s.out <- event{kind: eventToken, token: int(g.kept[g.released]), lp: g.lpAt(g.released), at: now}
	}
	e.finish(slots, s, reason, nil)
}

// rewind acts on a veto: it takes s back to the token where the vetoed
// text starts, bans that token there, and has the next step sample again
// there. It returns false, and records that the text stood, when the
// bounds have run out.
//
// The token is always one held back, never one released: a guard reports
// as safe only text no veto can reach, and a token is released only when
// all of its text is safe; the vetoed text was unsafe until the veto, so
// the token it starts in is still held.
func (e *engine) rewind(s *seq, v *Veto) bool {
	g := s.guarded
	j := g.released // the position to go back to: the kept token the vetoed text starts in
	for j+1 < len(g.kept) && g.offsets[j+1] <= v.Start {
		j++
	}
	r := Rewind{Tag: v.Tag, Token: j, Offset: g.offsets[j], Tries: g.tries[j] + 1, Discarded: len(g.kept) - j}
	if v.Start < g.offsets[g.released] || len(g.rewinds) >= g.maxRewinds || g.tries[j] >= g.maxTries {
		r.Stood, r.Tries, r.Discarded = true, g.tries[j], 0
		g.rewinds = append(g.rewinds, r)
		return false
	}
	g.rewinds = append(g.rewinds, r)
	g.tries[j]++
	g.bans[j] = append(g.bans[j], g.kept[j])
	for p := range g.bans {
		if p > j {
			delete(g.bans, p)
			delete(g.tries, p)
		}
	}
	g.guard.Restore(g.marks[j-g.released])
	g.marks = g.marks[:j-g.released]
	g.textLen = g.offsets[j]
	g.kept, g.offsets = g.kept[:j], g.offsets[:j]
	if len(g.lps) > j {
		g.lps = g.lps[:j]
	}
	// Decode the last kept token (or the prompt's last) again, for the
	// logits of position j.
	promptLen := len(s.prompt)
	e.lctx.KvCacheSeqRm(s.kv.id, promptLen+j-1, -1)
	s.kv.toks = s.kv.toks[:promptLen+j-1]
	s.pos = promptLen + j - 1
	if j > 0 {
		s.last = int(g.kept[j-1])
	} else {
		s.last = s.prompt[promptLen-1]
	}
	s.produced = j
	s.sampler.history(g.kept[max(0, j-s.sampling.RepeatLastN):])
	if !s.sampler.replay(g.kept) {
		// The grammar took these tokens before: only memory can fail it.
		// The next step ends the request rather than sample under a
		// grammar that is not where the text is.
		s.grammarLost = true
	}
	return true
}

// stopped reports whether the requester ended the sequence, and why.
func (s *seq) stopped() (FinishReason, bool) {
	select {
	case <-s.quit:
		return FinishStop, true
	default:
	}
	switch err := s.ctx.Err(); {
	case errors.Is(err, context.DeadlineExceeded):
		return FinishDeadline, true
	case err != nil:
		return FinishCancelled, true
	}
	return "", false
}

// finish ends s: its slot is free for the next request at once, and its
// KV cells stay for a request that begins the same way (release).
func (e *engine) finish(slots []*seq, s *seq, r FinishReason, err error) {
	e.release(s, !errors.Is(err, ErrDecode))
	slots[s.slot] = nil
	s.sampler.free()
	s.sampler = nil
	ev := event{kind: eventFinal, reason: r, err: err, at: time.Now(), cached: s.cached}
	if s.guarded != nil {
		ev.rewinds = s.guarded.rewinds
	}
	s.out <- ev
	close(s.out)
}
