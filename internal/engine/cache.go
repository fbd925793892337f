package engine

/*
struct llama_context;
extern int llama_kv_self_used_cells(const struct llama_context *ctx) __attribute__((weak));

static int sieve_used_cells(void *ctx) {
	return llama_kv_self_used_cells ? llama_kv_self_used_cells((const struct llama_context *)ctx) : -1;
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// The prompt cache. llama.cpp's KV cache is unified: one pool of cells,
// each holding a token's keys and values at a position for a set of
// sequences. A sequence that copies another's cells (llama_kv_self_seq_cp)
// joins those cells rather than duplicating them, so a prefix computed
// once can serve any number of requests.
//
// The engine keeps more llama.cpp sequences (entries) than it has slots.
// A running request computes in one entry; when it ends, the entry keeps
// its cells and the tokens they hold, idle, for the next request that
// begins the same way. A new request starts on the longest common prefix
// of its prompt that any entry holds, running or idle: in place, where the
// entry with that prefix is idle and mostly that prefix, else by copying
// the prefix into an empty or the least recently used idle entry. Where a
// request still computing its prompt will hold a longer prefix soon (jobs
// that arrive together), the new request waits for it instead of
// computing the same tokens again. An idle entry keeps all it holds until
// the next request starts (a conversation's next turn reuses it all), then
// only the prefix its request marked as likely to come again
// (Request.Keep) and what it took from the cache (trim). The cells are
// bounded: running requests may always grow to their limit, and idle
// entries are evicted, least recently used first, when they would not
// leave room for that.
//
// A request never reuses its prompt's last token: its logits must come
// from a decode, so at least that token is evaluated again.

// PromptCache configures the prompt cache; see WithPromptCache.
type PromptCache struct {
	// Off turns the cache off: each request computes its whole prompt,
	// and a slot's cells are freed when it ends.
	Off bool
	// Tokens are KV cells beyond Config.Context kept for cached prefixes
	// (0: the cache lives in what running requests leave of
	// Config.Context).
	Tokens int
}

// WithPromptCache sets the prompt cache; it is on by default, with no
// cells beyond Config.Context.
func WithPromptCache(pc PromptCache) Option {
	return func(o *options) error {
		if pc.Tokens < 0 {
			return fmt.Errorf("%w: prompt cache tokens %d: want 0 or more", ErrBadRequest, pc.Tokens)
		}
		o.cache = pc
		return nil
	}
}

// kvseq is one llama.cpp sequence: the tokens whose cells it holds, at
// positions 0 to len(toks)-1.
type kvseq struct {
	id    int
	toks  []int
	keep  int    // how many of toks to keep once another request starts
	owner *seq   // the running request computing in it; nil when idle
	used  uint64 // the engine's clock when it last served a request
}

// entries returns how many llama.cpp sequences the engine keeps for
// parallel slots: one per slot without the cache; with it, as many again
// plus four idle ones (at most 64 more: llama.cpp reserves logits for
// every sequence, a vocabulary's worth each), which the cell budget
// bounds.
func entries(parallel int, pc PromptCache) int {
	if pc.Off {
		return parallel
	}
	return parallel + min(parallel+4, 64)
}

// commonPrefix returns how many leading tokens a and b share.
func commonPrefix(a, b []int) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// reusable is how much of prompt a request may take from cells holding
// toks: their common prefix, short of the prompt's last token.
func reusable(toks, prompt []int) int {
	return min(commonPrefix(toks, prompt), len(prompt)-1)
}

// pick chooses the entry a new request computes in: the idle entry
// holding the longest prefix of its prompt, where that prefix is at least
// half of what the entry holds (reusing it in place then loses little),
// else an empty entry, else the least recently used idle one. With the
// cache off every idle entry is empty.
func (e *engine) pick(prompt []int) *kvseq {
	var best, empty, lru *kvseq
	bestN := 0
	for _, k := range e.kv {
		if k.owner != nil {
			continue
		}
		if len(k.toks) == 0 {
			if empty == nil {
				empty = k
			}
			continue
		}
		if n := reusable(k.toks, prompt); n > bestN {
			best, bestN = k, n
		}
		if lru == nil || k.used < lru.used {
			lru = k
		}
	}
	switch {
	case best != nil && 2*bestN >= len(best.toks):
		return best
	case empty != nil:
		return empty
	}
	return lru
}

// plan starts s on the longest prefix of its prompt cached anywhere, or
// has it wait for a request that is computing a longer one.
func (e *engine) plan(s *seq) {
	s.wait = nil
	if e.cache.Off {
		e.start(s, s.kv, 0)
		return
	}
	src, n := s.kv, reusable(s.kv.toks, s.prompt)
	for _, k := range e.kv {
		if m := reusable(k.toks, s.prompt); m > n {
			src, n = k, m
		}
	}
	for _, k := range e.kv {
		o := k.owner
		if o == nil || o == s || o.wait != nil || o.fed >= len(o.prompt) {
			continue
		}
		if m := reusable(o.prompt, s.prompt); m > n && m > len(k.toks) {
			s.wait, s.waitFor, n = o, m, m
		}
	}
	if s.wait != nil {
		e.log.Debug("prompt cache: waiting for a slot computing the same prefix", "slot", s.slot, "for_slot", s.wait.slot, "tokens", s.waitFor)
		return
	}
	e.start(s, src, n)
}

// ready reports whether s may stop waiting: the request it waits for has
// computed the shared prefix, or will not.
func (s *seq) ready() bool {
	o := s.wait
	return o.kv.owner != o || len(o.kv.toks) >= s.waitFor || o.fed >= len(o.prompt)
}

// start has s compute in its entry from position n on, its first n
// prompt tokens taken from src's cells.
func (e *engine) start(s *seq, src *kvseq, n int) {
	k := s.kv
	e.clock++
	if src == k {
		e.lctx.KvCacheSeqRm(k.id, n, -1)
		k.toks = k.toks[:n]
	} else {
		e.lctx.KvCacheSeqRm(k.id, -1, -1)
		k.toks = append(k.toks[:0], src.toks[:n]...)
		if n > 0 {
			e.lctx.KvCacheSeqCp(src.id, k.id, 0, n)
			src.used = e.clock
		}
	}
	k.used = e.clock
	k.keep = max(n, min(s.keep, len(s.prompt)))
	s.started = true
	s.cached, s.fed, s.pos = n, n, n
	if !e.cache.Off {
		from := -1
		if n > 0 {
			from = src.id
		}
		e.log.Debug("prompt cache", "slot", s.slot, "seq", k.id, "prompt_tokens", len(s.prompt), "cached", n, "from_seq", from, "evaluate", len(s.prompt)-n)
	}
}

// release ends s's hold on its entry. With the cache on the entry keeps
// its cells for later requests, unless what they hold is unknown (keep
// false: a decode failed); else they are freed.
func (e *engine) release(s *seq, keep bool) {
	k := s.kv
	if k == nil || k.owner != s {
		return
	}
	k.owner = nil
	if !keep || e.cache.Off {
		e.evict(k)
	}
}

// trim cuts every idle entry down to what it keeps. An entry keeps all
// it holds until the next request starts, so that one which continues it
// (the next turn of a conversation, the same prompt again) reuses it all;
// after that, the tails no request continued (a request's own message,
// its reply) would only make every request's attention span longer:
// llama.cpp's attention reads every cell up to the last one in use, of
// whichever sequence.
func (e *engine) trim() {
	if e.cache.Off {
		return
	}
	for _, k := range e.kv {
		if k.owner != nil || len(k.toks) <= k.keep {
			continue
		}
		e.lctx.KvCacheSeqRm(k.id, k.keep, -1)
		k.toks = k.toks[:k.keep]
	}
}

func (e *engine) evict(k *kvseq) {
	e.lctx.KvCacheSeqRm(k.id, -1, -1)
	k.toks, k.keep = k.toks[:0], 0
}

// fit evicts idle entries, least recently used first, until the cells in
// use and those running requests may still add fit the KV cache. It
// reports whether they do.
func (e *engine) fit(slots []*seq) bool {
	if e.cache.Off {
		return true
	}
	need := 0
	for _, s := range slots {
		if s == nil {
			continue
		}
		if s.started {
			need += max(0, s.limit-len(s.kv.toks))
		} else {
			need += s.limit
		}
	}
	for {
		used := e.usedCells()
		if used < 0 || used+need <= e.cells {
			return true
		}
		var lru *kvseq
		for _, k := range e.kv {
			if k.owner == nil && len(k.toks) > 0 && (lru == nil || k.used < lru.used) {
				lru = k
			}
		}
		if lru == nil {
			return false
		}
		e.log.Debug("prompt cache: evicted", "seq", lru.id, "tokens", len(lru.toks), "cells_used", used, "cells_needed", need, "cells", e.cells)
		e.evict(lru)
	}
}

// dropIdle evicts every idle entry; it reports whether any held cells.
func (e *engine) dropIdle() bool {
	any := false
	for _, k := range e.kv {
		if k.owner == nil && len(k.toks) > 0 {
			e.evict(k)
			any = true
		}
	}
	return any
}

// usedCells is llama.cpp's count of KV cells in use; -1 if the library
// does not say.
func (e *engine) usedCells() int {
	return int(C.sieve_used_cells(unsafe.Pointer(contextPtr(e.lctx))))
}
