package engine

/*
#cgo CXXFLAGS: -std=c++17 -O3
#include <stdlib.h>
#include "sampler.h"

size_t sieve_kept_ids(const float *logits, size_t n, float top_p, float min_p, bool llama, int32_t *out);
float sieve_logprobs(struct llama_context *ctx, int32_t idx, int32_t n_vocab, int32_t tok, int32_t top, int32_t *ids, float *lps);
extern float *llama_get_logits_ith(struct llama_context *ctx, int32_t i) __attribute__((weak));
*/
import "C"

import (
	"errors"
	"runtime"
	"unsafe"

	"github.com/ollama/ollama/llama"
)

// sampler picks each next token of one request: llama.cpp's sampler chain
// (penalties, top_k, top_p, min_p, temperature, a seeded draw), with a
// stage of sieve's own for top_k 0 that avoids sorting the vocabulary;
// sampler.cpp says how and why. It is used by the decode loop alone.
type sampler struct {
	c *C.struct_sieve_sampler
}

// modelPtr reads the C pointer the binding's Model holds as its first
// field, as freeContext does for Context; TestFreeContext guards both.
func modelPtr(m *llama.Model) *C.struct_llama_model {
	return (*C.struct_llama_model)(*(*unsafe.Pointer)(unsafe.Pointer(m)))
}

func contextPtr(c *llama.Context) *C.struct_llama_context {
	return (*C.struct_llama_context)(*(*unsafe.Pointer)(unsafe.Pointer(c)))
}

// newSampler builds the chain for sp, with grammar (GBNF, "" none)
// constraining every token. common builds llama.cpp's own chain also for
// top_k 0 (tests and benchmarks compare the two).
func newSampler(m *llama.Model, sp Sampling, grammar string, common bool) (*sampler, error) {
	var g *C.char
	if grammar != "" {
		g = C.CString(grammar)
		defer C.free(unsafe.Pointer(g))
	}
	c := C.sieve_sampler_new(modelPtr(m), C.struct_sieve_sampling{
		top_k:   C.int32_t(sp.TopK),
		top_p:   C.float(sp.TopP),
		min_p:   C.float(sp.MinP),
		temp:    C.float(sp.Temperature),
		last_n:  C.int32_t(sp.RepeatLastN),
		repeat:  C.float(sp.RepeatPenalty),
		seed:    C.uint32_t(sp.Seed),
		common:  C.bool(common),
		grammar: g,
	})
	if c == nil {
		if grammar != "" {
			return nil, errors.New("llama.cpp could not make a sampler: it did not accept the grammar")
		}
		return nil, errors.New("llama.cpp could not make a sampler")
	}
	return &sampler{c: c}, nil
}

// Results of sample that are not tokens.
const (
	noLogits   = -1 // the decode left no logits for the sequence
	noAllowed  = -2 // the grammar and the bans leave no token
	samplerErr = -3 // the sampler failed (out of memory, or the grammar on a piece)
)

// sample draws the next token from the logits of output idx of the last
// decode, never one of banned and, with a grammar, one it allows; else
// noLogits, noAllowed or samplerErr.
func (s *sampler) sample(ctx *llama.Context, idx int, banned []int32) int {
	var p *C.int32_t
	if len(banned) > 0 {
		p = (*C.int32_t)(unsafe.Pointer(&banned[0]))
	}
	tok := int(C.sieve_sampler_sample(s.c, contextPtr(ctx), C.int32_t(idx), p, C.size_t(len(banned))))
	runtime.KeepAlive(banned)
	return tok
}

// history makes the repeat penalty remember tokens (oldest first) and
// nothing else.
func (s *sampler) history(tokens []int32) {
	var p *C.int32_t
	if len(tokens) > 0 {
		p = (*C.int32_t)(unsafe.Pointer(&tokens[0]))
	}
	C.sieve_sampler_history(s.c, p, C.size_t(len(tokens)))
	runtime.KeepAlive(tokens)
}

// accept records tok for the repeat penalty.
// accept records tok as generated; false if the grammar cannot take it.
func (s *sampler) accept(tok int) bool { return bool(C.sieve_sampler_accept(s.c, C.int32_t(tok))) }

// replay puts the grammar back at its start and has it take tokens (all
// those generated and kept): generation went back to an earlier token.
func (s *sampler) replay(tokens []int32) bool {
	var p *C.int32_t
	if len(tokens) > 0 {
		p = (*C.int32_t)(unsafe.Pointer(&tokens[0]))
	}
	ok := C.sieve_sampler_replay(s.c, p, C.size_t(len(tokens)))
	runtime.KeepAlive(tokens)
	return bool(ok)
}

func (s *sampler) free() {
	if s != nil && s.c != nil {
		C.sieve_sampler_free(s.c)
		s.c = nil
	}
}

// logitsOf returns output i's n logits of the last decode: a view of
// llama.cpp's buffer, valid until the next decode.
func logitsOf(c *llama.Context, i, n int) []float32 {
	p := C.llama_get_logits_ith(contextPtr(c), C.int32_t(i))
	if p == nil {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(p)), n)
}

// keptIDs returns the ids top_p and then min_p keep of logits: sieve's
// selection, or with llama set, llama.cpp's.
func keptIDs(logits []float32, topP, minP float32, llama bool) []int32 {
	out := make([]int32, len(logits))
	n := C.sieve_kept_ids((*C.float)(unsafe.Pointer(&logits[0])), C.size_t(len(logits)), C.float(topP), C.float(minP), C.bool(llama), (*C.int32_t)(unsafe.Pointer(&out[0])))
	runtime.KeepAlive(logits)
	return out[:n]
}

// logprob is tok's entry at output idx of the last decode, with the top
// likeliest tokens there; ok false when the decode left no logits.
func logprob(ctx *llama.Context, idx, nVocab, tok, top int, pieces []string) (*Logprob, bool) {
	ids := make([]int32, max(top, 1))
	lps := make([]float32, max(top, 1))
	lp := float32(C.sieve_logprobs(contextPtr(ctx), C.int32_t(idx), C.int32_t(nVocab), C.int32_t(tok), C.int32_t(top),
		(*C.int32_t)(unsafe.Pointer(&ids[0])), (*C.float)(unsafe.Pointer(&lps[0]))))
	if lp != lp { // NaN
		return nil, false
	}
	e := &Logprob{Token: tok, Text: pieces[tok], Logprob: lp}
	for i := range min(top, nVocab) {
		e.Top = append(e.Top, TopLogprob{Token: int(ids[i]), Text: pieces[ids[i]], Logprob: lps[i]})
	}
	return e, true
}
