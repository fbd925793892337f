package engine

import (
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
	ctx       context.Context
	prompt    []int
	maxTokens int
	sampling  Sampling
	quit      chan struct{} // closed by Generate to end early (stop string, emit error)
	out       chan event    // loop → Generate; room for every event, so sends never block

	// loop-owned
	slot     int
	sampler  *sampler
	fed      int // prompt tokens decoded so far
	pos      int // next KV position
	last     int // last sampled token, to decode next
	produced int
	idx      int // index of its logits in the current batch, -1 for none
}

// event is a sampled token, or the end of the sequence.
type event struct {
	token  int
	at     time.Time
	final  bool
	reason FinishReason
	err    error
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
	// A slot's cells may hold a previous request's tail if a decode
	// failed midway; start clean.
	e.lctx.KvCacheSeqRm(i, -1, -1)
	slots[i] = s
	s.out <- event{token: -1, at: time.Now()} // admitted: ends the queue wait
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
		}
	}
	b := e.batch
	b.Clear()
	room := e.cfg.Batch
	for _, s := range slots {
		if s == nil {
			continue
		}
		s.idx = -1
		if s.fed < len(s.prompt) {
			continue
		}
		if s.pos >= e.info.SlotContext {
			e.finish(slots, s, FinishLength, nil)
			continue
		}
		s.idx = b.NumTokens()
		b.Add(s.last, nil, s.pos, true, s.slot)
		s.pos++
		room--
	}
	for _, s := range slots {
		if s == nil || s.fed >= len(s.prompt) || room == 0 {
			continue
		}
		n := min(room, len(s.prompt)-s.fed)
		for j := 0; j < n; j++ {
			lastOfPrompt := s.fed+j == len(s.prompt)-1
			if lastOfPrompt {
				s.idx = b.NumTokens()
			}
			b.Add(s.prompt[s.fed+j], nil, s.pos, lastOfPrompt, s.slot)
			s.pos++
		}
		s.fed += n
		room -= n
	}
	if b.NumTokens() == 0 {
		return
	}
	if err := e.lctx.Decode(b); err != nil {
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
		tok := s.sampler.sample(e.lctx, s.idx)
		if tok < 0 {
			e.finish(slots, s, FinishError, fmt.Errorf("%w: no logits for the sequence", ErrDecode))
			continue
		}
		s.sampler.accept(tok)
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

// finish ends s: its slot and KV cells are free for the next request at
// once.
func (e *engine) finish(slots []*seq, s *seq, r FinishReason, err error) {
	e.lctx.KvCacheSeqRm(s.slot, -1, -1)
	slots[s.slot] = nil
	s.sampler.free()
	s.sampler = nil
	s.out <- event{final: true, reason: r, err: err, at: time.Now()}
	close(s.out)
}
