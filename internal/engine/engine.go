// Package engine runs a GGUF language model through llama.cpp and
// generates text for many requests at once.
//
// One goroutine owns the llama.cpp context. Requests become sequences in
// it (slots); every step decodes one batch holding the next token of each
// generating slot plus a piece of the prompt of newly admitted ones, as
// llama.cpp's own server does (continuous batching). Sampled tokens go to
// the requesting goroutine over a channel, and all per-token text work
// (detokenizing, holding back partial characters and stop strings, the
// caller's callback) runs there, off the decode loop's critical path.
//
// The context of model.context tokens is split evenly between the
// model.parallel slots: a request gets Context/Parallel positions for its
// prompt and its reply. A prompt that does not fit is refused with
// ErrPromptTooLong; a reply that runs out of room ends with finish reason
// "length".
//
// A prompt cache (cache.go) keeps finished requests' KV cells: a request
// starts on the longest prefix of its prompt any sequence holds and
// computes only the rest, and requests that arrive together with a new
// shared prefix compute it once.
//
// The package knows nothing of NATS, keyword filters or prompt templates:
// it takes token ids and returns text.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/ollama/ollama/llama"
)

// Config is what Load needs to know about the model and its context.
type Config struct {
	ModelPath string
	GPULayers int // layers offloaded to a GPU; -1 = all
	Context   int // tokens, shared by all slots
	Batch     int // tokens per decode step
	// Threads computing on the CPU; 0 = one per physical core this
	// process may use.
	Threads  int
	Parallel int // slots: requests generated at the same time
	// DecodeNice is added to the niceness of the thread that decodes and
	// of llama.cpp's threads, which it starts (Linux; 0 to 19). Above 0,
	// the process's other work (NATS, streaming, health) preempts decoding
	// as soon as it wakes, instead of waiting for a time slice; decoding
	// then also yields to every other process on the machine. AutoNice
	// (-1) chooses 19 when decoding takes every CPU the process may use
	// and runs on the CPU, else 0.
	DecodeNice int
}

// Option configures Load.
type Option func(*options) error

type options struct {
	log    *slog.Logger
	onMain func() bool // reports whether the calling thread is the process's main one; tests replace it
	cache  PromptCache
}

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("engine: nil logger")
		}
		o.log = l
		return nil
	}
}

// Errors from Generate and Load.
var (
	ErrClosed        = errors.New("engine is closed")
	ErrEmptyPrompt   = errors.New("prompt has no tokens")
	ErrPromptTooLong = errors.New("prompt does not fit in the context")
	ErrBadRequest    = errors.New("invalid request")
	ErrDecode        = errors.New("llama.cpp decode failed")
	ErrBackend       = errors.New("llama.cpp backend unusable")
)

// FinishReason says why generation ended.
type FinishReason string

const (
	FinishStop      FinishReason = "stop"      // end-of-generation token or stop string
	FinishLength    FinishReason = "length"    // max tokens, or the slot's context is full
	FinishCancelled FinishReason = "cancelled" // the request's context was cancelled
	FinishDeadline  FinishReason = "deadline"  // the request's deadline passed
	FinishError     FinishReason = "error"     // see the returned error
)

// RandomSeed asks for a seed drawn at random (llama.cpp's LLAMA_DEFAULT_SEED).
const RandomSeed = 0xFFFFFFFF

// Sampling holds the sampler settings of one request.
type Sampling struct {
	Temperature   float32 // 0 = greedy
	TopK          int
	TopP          float32
	MinP          float32
	RepeatPenalty float32 // 1 = off
	RepeatLastN   int     // tokens the penalty looks back; 0 = 64
	Seed          uint32  // RandomSeed = random
}

// Request is one generation.
type Request struct {
	Prompt []int // token ids, e.g. from package chatml
	// Keep is how many leading prompt tokens the prompt cache keeps once
	// the next request has started: those others are likely to send
	// again (a system prompt, a conversation's history; chatml's
	// TokensAndHistory). What the request took from the cache is kept in
	// any case; the rest (its own message, the reply) is freed.
	Keep      int
	MaxTokens int // > 0
	Sampling  Sampling
	Stop      []string // generation ends before the first of these
	// Grammar, if set, is a GBNF grammar (root rule "root") every
	// generated token must fit: the reply is a sentence of it, or a
	// prefix of one if it is cut short (max tokens, a stop string). A
	// Guard's bans apply on top of it; where the two leave no token, the
	// guard's veto stands.
	Grammar string
	// Logprobs asks for each generated token's log probability in the
	// Result, with the TopLogprobs likeliest tokens at its position.
	Logprobs    bool
	TopLogprobs int
	// Guard, if set, may veto text as it is generated (see Guard);
	// MaxRewinds and MaxTries bound what it may undo (0: the defaults).
	Guard      Guard
	MaxRewinds int
	MaxTries   int
}

// Result is what a finished generation returns.
type Result struct {
	Text             string
	FinishReason     FinishReason
	PromptTokens     int
	CachedTokens     int // of PromptTokens, taken from the prompt cache instead of computed
	CompletionTokens int
	QueueTime        time.Duration // waiting for a free slot
	PromptTime       time.Duration // slot admitted → first token sampled
	GenerateTime     time.Duration // first token → end
	Rewinds          []Rewind      // the Guard's vetoes
	// Logprobs has an entry for each token of the text, in order (with
	// Request.Logprobs): their Text joined is the text before stop
	// strings and UTF-8 repair, of which Text is what was emitted.
	Logprobs []Logprob
}

// Logprob is a generated token's log probability before sampling: the
// log-softmax of the model's logits, before penalties, temperature,
// truncation or a grammar (what the model thought, not what the sampler
// drew from), with the likeliest tokens at its position.
type Logprob struct {
	Token   int
	Text    string // the token's bytes; may end inside a character
	Logprob float32
	Top     []TopLogprob // likeliest first
}

// TopLogprob is one of the likeliest tokens at a position.
type TopLogprob struct {
	Token   int
	Text    string
	Logprob float32
}

// ModelInfo describes the loaded model.
type ModelInfo struct {
	Path         string
	Name         string
	Architecture string
	Parameters   uint64
	VocabSize    int
	TrainContext int
	SlotContext  int // positions each slot has for prompt and reply
	Parallel     int
	Threads      int
	DecodeNice   int // as applied, after AutoNice
	GPULayers    int
	EOGTokens    []int
	ImEndToken   int // -1 when the vocabulary has none
	LlamaCommit  string
	Devices      []Device // llama.cpp's backend devices, preferred first
}

// Engine generates text with a loaded model. It is safe for concurrent use.
type Engine interface {
	// Generate runs req, calling emit with each piece of text as it
	// becomes safe to release, in the caller's goroutine. It waits for a
	// free slot first. Cancelling ctx ends generation within a token, with
	// finish reason cancelled, or deadline when ctx's deadline passed; the
	// text released so far is in the Result. An error from emit ends
	// generation and is returned.
	Generate(ctx context.Context, req Request, emit func(text string) error) (Result, error)
	// Tokenize turns text into token ids; with special set, control-token
	// texts become control tokens.
	Tokenize(text string, special bool) ([]int, error)
	// Info describes the model.
	Info() ModelInfo
	// Close stops the decode loop, ends running generations with
	// ErrClosed, and frees the model. It is safe to call more than once.
	Close() error
}

// Load checks and loads the model and starts the decode loop.
func Load(ctx context.Context, cfg Config, opts ...Option) (Engine, error) {
	o := options{log: slog.New(slog.DiscardHandler), onMain: onMainThread}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	mf, err := inspect(cfg.ModelPath)
	if err != nil {
		return nil, err
	}
	threads := cfg.Threads
	if threads == 0 {
		threads = defaultThreads()
	}
	if cfg.DecodeNice == AutoNice {
		cfg.DecodeNice = autoNice(threads, runtime.GOMAXPROCS(0), cfg.GPULayers)
	}

	devs := devices()
	logDevices(o.log, devs, cfg.GPULayers)
	// A GPU the CUDA backend has no code for would abort the process at
	// its first kernel (llama.cpp offloads large batches to a GPU even
	// with no layers on it): refuse here, naming the fix.
	for _, g := range CUDAStatus().Devices {
		if !g.Supported {
			return nil, fmt.Errorf("%w: %s (%s, compute capability %s) has no code in the CUDA backend, built for %s: rebuild it with make CUDA_ARCHITECTURES=%s, or hide the GPU with CUDA_VISIBLE_DEVICES",
				ErrBackend, g.Name, g.Description, g.Compute, strings.Join(CUDAStatus().Archs, " "), strings.ReplaceAll(g.Compute, ".", ""))
		}
	}

	start := time.Now()
	model, err := llama.LoadModelFromFile(cfg.ModelPath, llama.ModelParams{
		NumGpuLayers: cfg.GPULayers,
		UseMmap:      true,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: llama.cpp could not load %s (run with --log-level debug for llama.cpp's reason)", ErrBadModel, cfg.ModelPath)
	}
	// The binding cannot interrupt a load; a caller who gave up meanwhile
	// gets the memory back at once.
	if err := ctx.Err(); err != nil {
		llama.FreeModel(model)
		return nil, err
	}
	cells, seqs := cfg.Context+o.cache.Tokens, entries(cfg.Parallel, o.cache)
	lctx, err := llama.NewContextWithModel(model, llama.NewContextParams(cells, cfg.Batch, seqs, threads, false, ""))
	if err != nil {
		llama.FreeModel(model)
		return nil, fmt.Errorf("engine: create context of %d tokens: %w", cells, err)
	}
	batch, err := llama.NewBatch(cfg.Batch, cfg.Parallel, 0)
	if err != nil {
		freeContext(lctx)
		llama.FreeModel(model)
		return nil, fmt.Errorf("engine: %w", err)
	}

	e := &engine{
		cfg:    cfg,
		log:    o.log,
		onMain: o.onMain,
		model:  model,
		lctx:   lctx,
		batch:  batch,
		work:   make(chan *seq),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		cache:  o.cache,
		cells:  cells,
	}
	for id := range seqs {
		e.kv = append(e.kv, &kvseq{id: id})
	}
	e.info = e.describe(mf, threads)
	e.info.Devices = devs
	e.pieces, e.eog = pieceTable(model, mf.tokenTypes, e.info.ImEndToken)
	e.info.EOGTokens = slices.Sorted(maps.Keys(e.eog))
	e.log.Info("model loaded", "path", cfg.ModelPath, "arch", mf.arch,
		"params", mf.params, "vocab", e.info.VocabSize, "context", cfg.Context,
		"slot_context", e.info.SlotContext, "parallel", cfg.Parallel,
		"threads", threads, "decode_nice", cfg.DecodeNice, "gpu_layers", cfg.GPULayers,
		"prompt_cache", !o.cache.Off, "prompt_cache_tokens", o.cache.Tokens, "took", time.Since(start))
	go e.loop()
	return e, nil
}

func (c Config) validate() error {
	var errs []error
	if c.ModelPath == "" {
		errs = append(errs, errors.New("model path is empty"))
	}
	if c.Parallel < 1 {
		errs = append(errs, fmt.Errorf("parallel %d: want at least 1", c.Parallel))
	}
	if c.Batch < max(1, c.Parallel) {
		errs = append(errs, fmt.Errorf("batch %d: want at least parallel (%d), so every slot can decode each step", c.Batch, c.Parallel))
	}
	if c.Context < 16*max(1, c.Parallel) {
		errs = append(errs, fmt.Errorf("context %d: want at least 16 tokens per slot", c.Context))
	}
	if c.Threads < 0 {
		errs = append(errs, fmt.Errorf("threads %d: want 0 (all cores) or more", c.Threads))
	}
	switch {
	case c.DecodeNice < AutoNice || c.DecodeNice > 19:
		errs = append(errs, fmt.Errorf("decode nice %d: want 0 to 19, or -1 to choose", c.DecodeNice))
	case c.DecodeNice > 0 && !niceSupported:
		errs = append(errs, fmt.Errorf("decode nice %d: supported on Linux only", c.DecodeNice))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrBadRequest, errors.Join(errs...))
	}
	return nil
}

func (e *engine) describe(mf *modelFile, threads int) ModelInfo {
	imEnd := -1
	if ids, err := e.model.Tokenize("<|im_end|>", false, true); err == nil && len(ids) == 1 {
		imEnd = ids[0]
	}
	return ModelInfo{
		Path:         e.cfg.ModelPath,
		Name:         mf.name,
		Architecture: mf.arch,
		Parameters:   mf.params,
		VocabSize:    e.model.NumVocab(),
		TrainContext: mf.ctxTrain,
		SlotContext:  e.cfg.Context / e.cfg.Parallel,
		Parallel:     e.cfg.Parallel,
		Threads:      threads,
		DecodeNice:   e.cfg.DecodeNice,
		GPULayers:    e.cfg.GPULayers,
		ImEndToken:   imEnd,
		LlamaCommit:  LlamaCommit(),
	}
}

// pieceTable renders every token's text once, so the per-token path is a
// slice lookup instead of a cgo call. Control tokens render as nothing, as
// in llama.cpp's server: a stray <|im_start|> must not reach the reader.
// It also collects the end-of-generation tokens, adding <|im_end|> even
// where the GGUF's EOS is another token.
func pieceTable(m *llama.Model, types []int32, imEnd int) ([]string, map[int]bool) {
	n := m.NumVocab()
	pieces := make([]string, n)
	eog := make(map[int]bool)
	for id := 0; id < n; id++ {
		if m.TokenIsEog(id) {
			eog[id] = true
		}
		if id < len(types) && types[id] == tokenTypeControl {
			continue
		}
		pieces[id] = m.TokenToPiece(id)
	}
	if imEnd >= 0 {
		eog[imEnd] = true
	}
	return pieces, eog
}

const tokenTypeControl = 3 // llama_token_type LLAMA_TOKEN_TYPE_CONTROL

func (e *engine) Info() ModelInfo { return e.info }

func (e *engine) Tokenize(text string, special bool) ([]int, error) {
	e.freeing.RLock()
	defer e.freeing.RUnlock()
	if e.closed.Load() {
		return nil, ErrClosed
	}
	if text == "" {
		return nil, nil
	}
	return e.model.Tokenize(text, false, special)
}

func (e *engine) Close() error {
	if !e.closed.CompareAndSwap(false, true) {
		<-e.done
		return nil
	}
	close(e.stop)
	<-e.done
	e.freeing.Lock()
	defer e.freeing.Unlock()
	e.batch.Free()
	freeContext(e.lctx)
	llama.FreeModel(e.model)
	return nil
}
