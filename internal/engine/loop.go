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
	started  bool
	wait     *seq
	waitFor  int
	cached   int // prompt tokens taken from the cache
	limit    int // positions it may fill: its prompt, max tokens, the slot's room
	from     int // its first position in the batch being decoded
	fed      int // prompt tokens decoded so far (cached ones included)
	pos      int // next KV position
	last     int // last sampled token, to decode next
	produced int
	idx      int      // index of its logits in the current batch, -1 for none
	g        *guarded // nil unless the request has a Guard
}

// guarded is the loop's record of a guarded sequence: every token it
// generated and kept, and the guard's state before each one not yet
// released.
type guarded struct {
	guard                Guard
	maxRewinds, maxTries int
	gen                  []int32      // tokens kept
	offs                 []int        // byte offset of each in the generated text
	text                 int          // bytes generated (and kept)
	released             int          // tokens sent to the requester
	marks                []GuardState // the guard's state before gen[released+i]
	bans                 map[int][]int32
	tries                map[int]int
	rewinds              []Rewind
}

// event is a sampled token, or the end of the sequence.
type event struct {
	token   int
	at      time.Time
	final   bool
	reason  FinishReason
	err     error
	rewinds []Rewind // final: a guarded sequence's record
	cached  int      // final: prompt tokens taken from the cache
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
	sampler, err := newSampler(e.model, s.sampling, false)
	if err != nil {
		s.out <- event{final: true, reason: FinishError, err: fmt.Errorf("engine: %w", err), at: time.Now()}
		close(s.out)
		return
	}
	s.slot, s.sampler = i, sampler
	s.limit = min(e.info.SlotContext, len(s.prompt)+s.maxTokens)
	if s.guard != nil {
		s.g = &guarded{guard: s.guard, maxRewinds: cmp.Or(s.maxRewinds, DefaultMaxRewinds), maxTries: cmp.Or(s.maxTries, DefaultMaxTries),
			bans: map[int][]int32{}, tries: map[int]int{}}
	}
	s.kv = e.pick(s.prompt)
	s.kv.owner = s
	slots[i] = s
	s.out <- event{token: -1, at: time.Now()} // admitted: ends the queue wait
	e.plan(s)
	e.trim()
}

// step decodes one batch: the next token of every generating slot, then
// prompt tokens of the others, up to the batch size. Generating slots go
// first so a long prompt delays them by at most one batch.
func (e *engine) step(slots []*seq) {
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
	e.fit(slots)
	b := e.batch
	b.Clear()
	room := e.cfg.Batch
	for _, s := range slots {
		if s == nil {
			continue
		}
		s.idx, s.from = -1, -1
		if !s.started || s.fed < len(s.prompt) {
			continue
		}
		if s.pos >= e.info.SlotContext {
			if s.g != nil {
				if e.endGuarded(slots, s, FinishLength, time.Now()); slots[s.slot] == s {
					s.idx = b.NumTokens() // sent back: it decodes again
					e.add(s, s.last, true)
					room--
				}
				continue
			}
			e.finish(slots, s, FinishLength, nil)
			continue
		}
		s.idx = b.NumTokens()
		e.add(s, s.last, true)
		room--
	}
	for _, s := range slots {
		if s == nil || !s.started || s.fed >= len(s.prompt) || room == 0 {
			continue
		}
		n := min(room, len(s.prompt)-s.fed)
		for j := 0; j < n; j++ {
			lastOfPrompt := s.fed+j == len(s.prompt)-1
			if lastOfPrompt {
				s.idx = b.NumTokens()
			}
			e.add(s, s.prompt[s.fed+j], lastOfPrompt)
		}
		s.fed += n
		room -= n
	}
	if b.NumTokens() == 0 {
		return
	}
	if err := e.decode(slots); err != nil {
		// The batch is lost for everyone in it; their KV state is unknown.
		err = fmt.Errorf("%w: %w", ErrDecode, err)
		e.log.Error("decode failed", "tokens", b.NumTokens(), "err", err)
		for _, s := range slots {
			if s != nil {
				e.finish(slots, s, FinishError, err)
			}
		}
		return
	}
	now := time.Now()
	for _, s := range slots {
		if s == nil || s.idx < 0 {
			continue
		}
		var banned []int32
		if s.g != nil {
			banned = s.g.bans[len(s.g.gen)]
		}
		tok := s.sampler.sample(e.lctx, s.idx, banned)
		if tok < 0 {
			e.finish(slots, s, FinishError, fmt.Errorf("%w: no logits for the sequence", ErrDecode))
			continue
		}
		s.sampler.accept(tok)
		if s.g != nil {
			e.guardedToken(slots, s, tok, now)
			continue
		}
		if e.eog[tok] {
			e.finish(slots, s, FinishStop, nil)
			continue
		}
		s.last = tok
		s.produced++
		s.out <- event{token: tok, at: now}
		if s.produced >= s.maxTokens {
			e.finish(slots, s, FinishLength, nil)
		}
	}
}

// add puts tok at s's next position in the batch.
func (e *engine) add(s *seq, tok int, logits bool) {
	if s.from < 0 {
		s.from = s.pos
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
		if s != nil && s.from >= 0 {
			e.lctx.KvCacheSeqRm(s.kv.id, s.from, -1)
		}
	}
	e.log.Debug("prompt cache: no room for the batch, idle entries evicted", "tokens", e.batch.NumTokens())
	return e.lctx.Decode(e.batch)
}

// guardedToken takes a guarded sequence's next token: it holds the token
// back, lets the guard see its text, goes back if the guard vetoes, and
// releases what no veto can reach any more. At the end (an end token, the
// token limit) the guard has a last word before the sequence finishes.
func (e *engine) guardedToken(slots []*seq, s *seq, tok int, now time.Time) {
	g := s.g
	end := e.eog[tok]
	if !end {
		g.marks = append(g.marks, g.guard.Mark())
		g.offs = append(g.offs, g.text)
		g.gen = append(g.gen, int32(tok))
		piece := e.pieces[tok]
		g.text += len(piece)
		s.last = tok
		s.produced++
		safe, veto := g.guard.Write([]byte(piece))
		if veto != nil && e.rewind(s, veto) {
			return
		}
		for g.released < len(g.gen) && g.offs[g.released]+len(e.pieces[g.gen[g.released]]) <= safe {
			s.out <- event{token: int(g.gen[g.released]), at: now}
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

// endGuarded ends a guarded sequence that ran out of room or tokens, or
// said its end token: the guard has a last word, which may send it back,
// and otherwise the held tokens are released and the sequence finishes.
func (e *engine) endGuarded(slots []*seq, s *seq, reason FinishReason, now time.Time) {
	g := s.g
	if veto := g.guard.End(); veto != nil && e.rewind(s, veto) {
		return
	}
	for ; g.released < len(g.gen); g.released++ {
		s.out <- event{token: int(g.gen[g.released]), at: now}
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
	g := s.g
	j := g.released
	for j+1 < len(g.gen) && g.offs[j+1] <= v.Start {
		j++
	}
	r := Rewind{Tag: v.Tag, Token: j, Offset: g.offs[j], Tries: g.tries[j] + 1, Discarded: len(g.gen) - j}
	if v.Start < g.offs[g.released] || len(g.rewinds) >= g.maxRewinds || g.tries[j] >= g.maxTries {
		r.Stood, r.Tries, r.Discarded = true, g.tries[j], 0
		g.rewinds = append(g.rewinds, r)
		return false
	}
	g.rewinds = append(g.rewinds, r)
	g.tries[j]++
	g.bans[j] = append(g.bans[j], g.gen[j])
	for p := range g.bans {
		if p > j {
			delete(g.bans, p)
			delete(g.tries, p)
		}
	}
	g.guard.Restore(g.marks[j-g.released])
	g.marks = g.marks[:j-g.released]
	g.text = g.offs[j]
	g.gen, g.offs = g.gen[:j], g.offs[:j]
	// Decode the last kept token (or the prompt's last) again, for the
	// logits of position j.
	p := len(s.prompt)
	e.lctx.KvCacheSeqRm(s.kv.id, p+j-1, -1)
	s.kv.toks = s.kv.toks[:p+j-1]
	s.pos = p + j - 1
	if j > 0 {
		s.last = int(g.gen[j-1])
	} else {
		s.last = s.prompt[p-1]
	}
	s.produced = j
	s.sampler.history(g.gen[max(0, j-s.sampling.RepeatLastN):])
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
	ev := event{final: true, reason: r, err: err, at: time.Now(), cached: s.cached}
	if s.g != nil {
		ev.rewinds = s.g.rewinds
	}
	s.out <- ev
	close(s.out)
}
