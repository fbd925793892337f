// Package modelgen writes small GGUF models: scripted ones with a known
// greedy output, and random-weight ones of a realistic shape. Tests and
// `sieve demo` run scripted ones, benchmarks and `sieve bench` random
// ones, so that nothing has to be downloaded.
//
// The two kinds:
//
//   - Scripted models (WriteScripted): a llama-architecture model whose
//     attention and FFN outputs are zero, so each token's one-hot embedding
//     passes straight through the residual stream and the output matrix maps
//     token i to a fixed next(i). Greedy sampling then walks a token→token
//     map: after the ChatML "assistant\n" header the model says the caller's
//     pieces, one token each, then <|im_end|>. Real llama.cpp loads and runs
//     such a model in milliseconds.
//   - Random models (WriteRandom): realistic shapes with random weights,
//     quantized with ggml's own quantizer, for speed work (speed does not
//     depend on the values).
//
// Both carry the tokenizer shape of CausalLM 14B: GGUF tokenizer model
// "gpt2" (byte-level BPE with merges), pre-tokenizer "qwen2", and the
// control tokens <|endoftext|>, <|im_start|>, <|im_end|>.
//
// The package does not load or run models; package engine does.
package modelgen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"

	fsggml "github.com/ollama/ollama/fs/ggml"
	ggmlquant "github.com/ollama/ollama/ml/backend/ggml"
)

// Control token texts, as in the real model's vocabulary.
const (
	EndOfText = "<|endoftext|>"
	ImStart   = "<|im_start|>"
	ImEnd     = "<|im_end|>"
)

// token types, as llama.cpp's llama_token_type enum.
const (
	typeNormal  int32 = 1
	typeControl int32 = 3
)

// vocab is a byte-level BPE vocabulary under construction.
type vocab struct {
	tokens []string // byte-level encoded texts
	types  []int32
	merges []string
	ids    map[string]int
}

// newVocab starts a vocabulary with the 256 byte tokens (ids 0–255 are the
// bytes 0–255) and the three control tokens.
func newVocab() *vocab {
	v := &vocab{ids: make(map[string]int)}
	for b := 0; b < 256; b++ {
		v.add(string(byteRune[b]), typeNormal)
	}
	for _, c := range []string{EndOfText, ImStart, ImEnd} {
		v.add(c, typeControl)
	}
	return v
}

func (v *vocab) add(text string, typ int32) int {
	if id, ok := v.ids[text]; ok {
		return id
	}
	id := len(v.tokens)
	v.tokens = append(v.tokens, text)
	v.types = append(v.types, typ)
	v.ids[text] = id
	return id
}

// addBytes adds the token for the raw bytes b, with the chain of prefix
// tokens and merges that lets BPE build it, and returns its id.
func (v *vocab) addBytes(b []byte) int {
	enc := encodeBytes(b)
	runes := []rune(enc)
	prev := string(runes[0])
	for _, r := range runes[1:] {
		next := prev + string(r)
		if _, ok := v.ids[next]; !ok {
			v.add(next, typeNormal)
			v.merges = append(v.merges, prev+" "+string(r))
		}
		prev = next
	}
	return v.ids[enc]
}

// byteRune is GPT-2's byte-to-unicode table: printable bytes stand for
// themselves, the others are shifted to U+0100 and up, so that every byte
// sequence has a visible, whitespace-free text form.
var byteRune = func() [256]rune {
	var t [256]rune
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			t[b] = rune(b)
		} else {
			t[b] = rune(256 + n)
			n++
		}
	}
	return t
}()

func encodeBytes(b []byte) string {
	rs := make([]rune, len(b))
	for i, c := range b {
		rs[i] = byteRune[c]
	}
	return string(rs)
}

// Scripted describes a scripted model.
type Scripted struct {
	// Pieces are the texts of the tokens the model says, in order, after
	// the ChatML "assistant\n" header. A piece may be any non-empty byte
	// string, including part of a UTF-8 character; pieces must be distinct
	// (the model is a token→token map) and none may be "\n", the last
	// token of the header.
	Pieces []string
	// Loop makes the model go back to the first piece instead of saying
	// <|im_end|> after the last one, so it never stops by itself.
	Loop bool
	// Alternatives gives a piece runner-up next pieces, most likely
	// first, after its scripted next one: a sampler that bans the
	// scripted token there (sieve's avoid lists do) gets the first
	// alternative not banned. The key "" is the end of the header,
	// before the first piece.
	Alternatives map[string][]string
	// Then gives the next piece of a piece that is not in Pieces (an
	// alternative); without one such a piece ends the turn.
	Then map[string]string
	// ContextLength is written as llama.context_length; 0 means 4096.
	ContextLength int
	// EOS names the token written as tokenizer.ggml.eos_token_id;
	// empty means <|endoftext|>, as in the real model.
	EOS string
	// Arch, when set, replaces "llama" as general.architecture (the other
	// keys keep the llama. prefix), to test how unsupported models fail.
	Arch string
	// Recall, when set, makes the model read its context (see Recall).
	Recall *Recall
}

// Recall makes a scripted model's answer depend on every position of its
// context, not only on its last token: its attention averages all earlier
// positions (queries and keys are zero), so a token anywhere in the
// prompt shows in each position's state. Where the context holds the
// Marker token, the model says Pieces instead of the script's pieces.
// The margins hold for contexts of up to 4,096 positions in which no one
// token is much of the text, and the marker outscores the script's first
// piece only while the tokens before it in the script (with Loop, its
// last piece) are rarer in the context than the marker is.
//
// A prompt cache that gave a request the wrong KV cells (another
// prompt's, or none) changes what such a model says; with attention off,
// as in a plain scripted model, nothing could show it.
type Recall struct {
	Marker string   // a piece the prompt holds as one token
	Pieces []string // distinct from the script's, as they are
}

// WriteScripted writes the scripted model s to path.
func WriteScripted(path string, s Scripted) error {
	sc, err := newScript(s)
	if err != nil {
		return err
	}
	eos := s.EOS
	if eos == "" {
		eos = EndOfText
	}
	eosID, ok := sc.v.ids[eos]
	if !ok {
		return fmt.Errorf("modelgen: EOS token %q is not in the vocabulary", eos)
	}
	ctxLen := s.ContextLength
	if ctxLen == 0 {
		ctxLen = 4096
	}
	nEmbd, ts := sc.tensors()
	kv := llamaKV("sieve scripted test model", fsggml.FileTypeF32, sc.v, eosID, shape{
		ctx: ctxLen, embd: nEmbd, blocks: 1, ff: scriptedFF, heads: 2, headsKV: 2,
	})
	if s.Arch != "" {
		kv["general.architecture"] = s.Arch
	}
	return write(path, kv, ts)
}

// script is a scripted model before it becomes weights: its vocabulary,
// and the token greedy sampling says after each one (next), with the
// runner-up tokens a ban falls back to (alts).
type script struct {
	v    *vocab
	nl   int          // "\n", the header's last token: the script starts after it
	walk []int        // the script's pieces, in order
	seen map[int]bool // "\n", the script's and Recall's tokens: each has one place in a walk, which Then may not change
	alts []alt
	// recall are Recall's pieces, in order, and marker its marker; nil
	// and -1 without Recall.
	recall []int
	marker int
	then   map[int]int // Then's: an alternative → the token after it
	next   []int       // token id → the token greedy sampling says after it
}

// alt makes to the rank-th runner-up after from (1 is the first).
type alt struct{ from, to, rank int }

// newScript builds s's vocabulary and token map. The vocabulary grows in
// a fixed order (the script's pieces, alternatives, Recall's, Then's), so
// a piece's token id follows from s.
func newScript(s Scripted) (*script, error) {
	sc := &script{v: newVocab(), nl: int('\n'), marker: -1, then: map[int]int{}}
	sc.seen = map[int]bool{sc.nl: true}
	if err := sc.addPieces(s.Pieces); err != nil {
		return nil, err
	}
	if err := sc.addAlternatives(s.Alternatives); err != nil {
		return nil, err
	}
	if r := s.Recall; r != nil {
		if err := sc.addRecall(r); err != nil {
			return nil, err
		}
	}
	for from, to := range s.Then {
		f, err := sc.extra(from)
		if err != nil {
			return nil, err
		}
		t, err := sc.extra(to)
		if err != nil {
			return nil, err
		}
		sc.then[f] = t
	}
	sc.link(s.Loop)
	return sc, nil
}

// addPieces adds the script's pieces, each a token of its own: the model
// is a token→token map, so a token may appear in it once.
func (sc *script) addPieces(pieces []string) error {
	if len(pieces) == 0 {
		return errors.New("modelgen: scripted model needs at least one piece")
	}
	sc.walk = make([]int, 0, len(pieces))
	for i, p := range pieces {
		if p == "" {
			return fmt.Errorf("modelgen: piece %d is empty", i)
		}
		id := sc.v.addBytes([]byte(p))
		if sc.seen[id] {
			return fmt.Errorf("modelgen: piece %d (%q) repeats a token already in the script", i, p)
		}
		sc.seen[id] = true
		sc.walk = append(sc.walk, id)
	}
	return nil
}

// extra adds a piece off the script: an alternative, or what follows one.
func (sc *script) extra(p string) (int, error) {
	if p == "" || p == "\n" {
		return 0, fmt.Errorf("modelgen: alternative piece %q", p)
	}
	return sc.v.addBytes([]byte(p)), nil
}

// addAlternatives adds Scripted.Alternatives, ranked in the order given.
func (sc *script) addAlternatives(alternatives map[string][]string) error {
	for from, tos := range alternatives {
		f := sc.nl // the key "" is the end of the header
		if from != "" {
			var err error
			if f, err = sc.extra(from); err != nil {
				return err
			}
		}
		for k, to := range tos {
			t, err := sc.extra(to)
			if err != nil {
				return err
			}
			sc.alts = append(sc.alts, alt{f, t, k + 1})
		}
	}
	return nil
}

// addRecall adds Recall's marker and pieces, which, like the script's,
// must each be a token of their own.
func (sc *script) addRecall(r *Recall) error {
	if len(r.Pieces) == 0 || r.Marker == "" || r.Marker == "\n" {
		return errors.New("modelgen: Recall needs a marker and pieces")
	}
	sc.marker = sc.v.addBytes([]byte(r.Marker))
	if sc.seen[sc.marker] {
		return fmt.Errorf("modelgen: recall marker %q is a piece of the script", r.Marker)
	}
	sc.seen[sc.marker] = true
	for i, p := range r.Pieces {
		if p == "" || p == "\n" {
			return fmt.Errorf("modelgen: recall piece %d is %q", i, p)
		}
		id := sc.v.addBytes([]byte(p))
		if sc.seen[id] {
			return fmt.Errorf("modelgen: recall piece %d (%q) repeats a token already in the script", i, p)
		}
		sc.seen[id] = true
		sc.recall = append(sc.recall, id)
	}
	return nil
}

// link fills next, once the vocabulary is complete: "\n" leads into the
// script, each piece to the one after it, the last one to <|im_end|> (or,
// with loop, back to the first), an alternative to its Then, Recall's
// pieces one to the next and then to <|im_end|>, and anything else
// straight to <|im_end|>, which ends the turn.
func (sc *script) link(loop bool) {
	imEnd := sc.v.ids[ImEnd]
	sc.next = make([]int, len(sc.v.tokens))
	for i := range sc.next {
		sc.next[i] = imEnd // anything off the script ends the turn
	}
	walk, next := sc.walk, sc.next
	next[sc.nl] = walk[0]
	for i := 0; i+1 < len(walk); i++ {
		next[walk[i]] = walk[i+1]
	}
	if loop {
		next[walk[len(walk)-1]] = walk[0]
	} else {
		next[walk[len(walk)-1]] = imEnd
	}
	for f, t := range sc.then {
		if !sc.seen[f] {
			next[f] = t
		}
	}
	for i := 0; i+1 < len(sc.recall); i++ {
		next[sc.recall[i]] = sc.recall[i+1]
	}
	if len(sc.recall) > 0 {
		next[sc.recall[len(sc.recall)-1]] = imEnd
	}
}

// scriptedFF is a scripted model's FFN width: its FFN outputs zero, so
// any small size does.
const scriptedFF = 64

// tensors makes the model's weights, and returns them with its embedding
// width. Embeddings are one-hot and the attention and FFN outputs zero
// (but for Recall's attention), so the output matrix alone decides what
// follows each token: a 1 at (next[i], i), and below it the alternatives.
func (sc *script) tensors() (nEmbd int, ts []*fsggml.Tensor) {
	nVocab := len(sc.v.tokens)
	// One-hot embeddings need n_embd ≥ n_vocab; two heads of an even size
	// keep llama.cpp's rope kernel happy.
	nEmbd = (nVocab + 63) / 64 * 64
	emb := make([]float32, nEmbd*nVocab)
	out := make([]float32, nEmbd*nVocab)
	for i := 0; i < nVocab; i++ {
		emb[i*nEmbd+i] = 1
		out[sc.next[i]*nEmbd+i] = 1
	}
	for _, a := range sc.alts {
		out[a.to*nEmbd+a.from] = 1 - 0.1*float32(a.rank) // below the scripted next, in order
	}
	ones := make([]float32, nEmbd)
	for i := range ones {
		ones[i] = 1
	}
	zeros := func(n int) []float32 { return make([]float32, n) }
	attnV, attnOut := zeros(nEmbd*nEmbd), zeros(nEmbd*nEmbd)
	if len(sc.recall) > 0 {
		sc.recallWeights(nEmbd, out, attnV, attnOut)
	}
	return nEmbd, []*fsggml.Tensor{
		f32Tensor("token_embd.weight", emb, nEmbd, nVocab),
		f32Tensor("output_norm.weight", ones, nEmbd),
		f32Tensor("output.weight", out, nEmbd, nVocab),
		f32Tensor("blk.0.attn_norm.weight", ones, nEmbd),
		f32Tensor("blk.0.attn_q.weight", zeros(nEmbd*nEmbd), nEmbd, nEmbd),
		f32Tensor("blk.0.attn_k.weight", zeros(nEmbd*nEmbd), nEmbd, nEmbd),
		f32Tensor("blk.0.attn_v.weight", attnV, nEmbd, nEmbd),
		f32Tensor("blk.0.attn_output.weight", attnOut, nEmbd, nEmbd),
		f32Tensor("blk.0.ffn_norm.weight", ones, nEmbd),
		f32Tensor("blk.0.ffn_gate.weight", zeros(nEmbd*scriptedFF), nEmbd, scriptedFF),
		f32Tensor("blk.0.ffn_up.weight", zeros(nEmbd*scriptedFF), nEmbd, scriptedFF),
		f32Tensor("blk.0.ffn_down.weight", zeros(scriptedFF*nEmbd), scriptedFF, nEmbd),
	}
}

// recallWeights turns on the attention Recall reads the context with, and
// has the marker's presence pick Recall's first piece after the header
// (the output matrix out).
func (sc *script) recallWeights(nEmbd int, out, attnV, attnOut []float32) {
	// Each position's state gains half the mean of the one-hot tokens
	// it attends to (values copy the normalized input, whose entries
	// are sqrt(nEmbd); the output scales that back to 1/2). Half,
	// because the end token's row collects the share of every token
	// off the script, up to 1/2 then, below the script's next (1 and
	// more). After the header, the recall piece scores (1-δ) on "\n"
	// plus c/2 times the marker's share of the context: it loses by δ
	// without the marker, and wins with it while c/2/4096 > δ(1 + the
	// share of "\n"). Later in the reply its score, at most c/2/20 on
	// a 20-token context, stays below the script's next token.
	const delta, c = 0.0002, 10
	scale := float32(0.5 / math.Sqrt(float64(nEmbd)))
	for i := 0; i < nEmbd; i++ {
		attnV[i*nEmbd+i] = 1
		attnOut[i*nEmbd+i] = scale
	}
	out[sc.recall[0]*nEmbd+sc.nl] = 1 - delta
	out[sc.recall[0]*nEmbd+sc.marker] = c
}

// Random describes a realistic-shape model with random weights.
type Random struct {
	Embd, Blocks, Heads, HeadsKV, FF, Vocab int
	// Type is the weight type of the matrices: "q8_0", "q4_0" or "f32".
	Type string
	// ContextLength is written as llama.context_length; 0 means 4096.
	ContextLength int
	Seed          uint64
}

// Small is a realistic shape of 246M parameters (as DESIGN's speed notes).
func Small() Random {
	return Random{Embd: 1024, Blocks: 16, Heads: 16, HeadsKV: 4, FF: 2816, Vocab: 32000, Type: "q4_0"}
}

// CausalLM14B is the shape of CausalLM 14B (Qwen's: 40 layers, n_embd
// 5120, 40 heads, FF 13696, a 152,064-token vocabulary), 14.2B
// parameters, about 8 GB in Q4_0: for sizing a machine and checking GPU
// offload without the real weights.
func CausalLM14B() Random {
	return Random{Embd: 5120, Blocks: 40, Heads: 40, HeadsKV: 40, FF: 13696, Vocab: 152064, Type: "q4_0", ContextLength: 8192}
}

// Params counts r's parameters: embeddings, output, and per block the
// attention and FFN matrices and two norms.
func (r Random) Params() uint64 {
	kv := uint64(r.Embd / max(1, r.Heads) * r.HeadsKV)
	e, f := uint64(r.Embd), uint64(r.FF)
	block := 2*e*e + 2*e*kv + 3*e*f + 2*e
	return 2*uint64(r.Vocab)*e + e + uint64(r.Blocks)*block
}

// WriteRandom writes the random model r to path.
func WriteRandom(path string, r Random) error {
	if r.Embd <= 0 || r.Blocks <= 0 || r.Heads <= 0 || r.HeadsKV <= 0 || r.FF <= 0 {
		return fmt.Errorf("modelgen: bad shape %+v", r)
	}
	if r.Embd%r.Heads != 0 || (r.Embd/r.Heads)%2 != 0 || r.Heads%r.HeadsKV != 0 {
		return fmt.Errorf("modelgen: embd %d must split into %d heads of an even size, and heads by kv heads %d", r.Embd, r.Heads, r.HeadsKV)
	}
	var tt fsggml.TensorType
	var ft fsggml.FileType
	switch r.Type {
	case "q8_0":
		tt, ft = fsggml.TensorTypeQ8_0, fsggml.FileTypeQ8_0
	case "q4_0":
		tt, ft = fsggml.TensorTypeQ4_0, fsggml.FileType(2)
	case "f32", "":
		tt, ft = fsggml.TensorTypeF32, fsggml.FileTypeF32
	default:
		return fmt.Errorf("modelgen: unknown weight type %q (want q8_0, q4_0 or f32)", r.Type)
	}
	v := newVocab()
	fillVocab(v, r.Vocab)
	nVocab := len(v.tokens)
	if nVocab != r.Vocab {
		return fmt.Errorf("modelgen: vocab of %d tokens cannot be built (need ≥ 259)", r.Vocab)
	}
	kvDim := r.Embd / r.Heads * r.HeadsKV
	seed := r.Seed
	mat := func(name string, cols, rows int) *fsggml.Tensor {
		seed++
		return randTensor(name, tt, cols, rows, seed)
	}
	ones := make([]float32, r.Embd)
	for i := range ones {
		ones[i] = 1
	}
	ts := []*fsggml.Tensor{
		mat("token_embd.weight", r.Embd, nVocab),
		f32Tensor("output_norm.weight", ones, r.Embd),
		mat("output.weight", r.Embd, nVocab),
	}
	for b := 0; b < r.Blocks; b++ {
		p := fmt.Sprintf("blk.%d.", b)
		ts = append(ts,
			f32Tensor(p+"attn_norm.weight", ones, r.Embd),
			mat(p+"attn_q.weight", r.Embd, r.Embd),
			mat(p+"attn_k.weight", r.Embd, kvDim),
			mat(p+"attn_v.weight", r.Embd, kvDim),
			mat(p+"attn_output.weight", r.Embd, r.Embd),
			f32Tensor(p+"ffn_norm.weight", ones, r.Embd),
			mat(p+"ffn_gate.weight", r.Embd, r.FF),
			mat(p+"ffn_up.weight", r.Embd, r.FF),
			mat(p+"ffn_down.weight", r.FF, r.Embd),
		)
	}
	ctxLen := r.ContextLength
	if ctxLen == 0 {
		ctxLen = 4096
	}
	kv := llamaKV("sieve random test model", ft, v, v.ids[EndOfText], shape{
		ctx: ctxLen, embd: r.Embd, blocks: r.Blocks, ff: r.FF, heads: r.Heads, headsKV: r.HeadsKV,
	})
	return write(path, kv, ts)
}

// fillVocab grows v to n tokens with two- and three-character tokens built
// by merges, the way a trained BPE vocabulary grows.
func fillVocab(v *vocab, n int) {
	var chars []rune
	for c := 'a'; c <= 'z'; c++ {
		chars = append(chars, c)
	}
	chars = append(chars, 'Ġ') // GPT-2's byte-level space
	for c := 'A'; c <= 'Z'; c++ {
		chars = append(chars, c)
	}
	for _, a := range chars {
		for _, b := range chars {
			if len(v.tokens) >= n {
				return
			}
			v.add(string(a)+string(b), typeNormal)
			v.merges = append(v.merges, string(a)+" "+string(b))
		}
	}
	for _, a := range chars {
		for _, b := range chars {
			for _, c := range chars {
				if len(v.tokens) >= n {
					return
				}
				v.add(string(a)+string(b)+string(c), typeNormal)
				v.merges = append(v.merges, string(a)+string(b)+" "+string(c))
			}
		}
	}
	// Four characters, for vocabularies the size of Qwen's (152,064).
	for _, a := range chars {
		for _, b := range chars {
			for _, c := range chars {
				for _, d := range chars {
					if len(v.tokens) >= n {
						return
					}
					v.add(string(a)+string(b)+string(c)+string(d), typeNormal)
					v.merges = append(v.merges, string(a)+string(b)+string(c)+" "+string(d))
				}
			}
		}
	}
}

type shape struct{ ctx, embd, blocks, ff, heads, headsKV int }

func llamaKV(name string, ft fsggml.FileType, v *vocab, eos int, s shape) fsggml.KV {
	return fsggml.KV{
		"general.architecture":                   "llama",
		"general.name":                           name,
		"general.file_type":                      ft,
		"general.alignment":                      uint32(32),
		"llama.context_length":                   uint32(s.ctx),
		"llama.embedding_length":                 uint32(s.embd),
		"llama.block_count":                      uint32(s.blocks),
		"llama.feed_forward_length":              uint32(s.ff),
		"llama.attention.head_count":             uint32(s.heads),
		"llama.attention.head_count_kv":          uint32(s.headsKV),
		"llama.attention.layer_norm_rms_epsilon": float32(1e-6),
		"llama.rope.freq_base":                   float32(10000),
		"llama.vocab_size":                       uint32(len(v.tokens)),
		"tokenizer.ggml.model":                   "gpt2",
		"tokenizer.ggml.pre":                     "qwen2",
		"tokenizer.ggml.tokens":                  v.tokens,
		"tokenizer.ggml.token_type":              v.types,
		"tokenizer.ggml.merges":                  v.merges,
		"tokenizer.ggml.bos_token_id":            uint32(v.ids[EndOfText]),
		"tokenizer.ggml.eos_token_id":            uint32(eos),
		"tokenizer.ggml.padding_token_id":        uint32(v.ids[EndOfText]),
		"tokenizer.ggml.add_bos_token":           false,
	}
}

func write(path string, kv fsggml.KV, ts []*fsggml.Tensor) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("modelgen: %w", err)
	}
	if err := fsggml.WriteGGUF(f, kv, ts); err != nil {
		f.Close()
		return fmt.Errorf("modelgen: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("modelgen: %w", err)
	}
	return nil
}

// dims are GGUF dimensions, innermost first: f32Tensor("x", d, cols, rows).
func f32Tensor(name string, data []float32, dims ...int) *fsggml.Tensor {
	return &fsggml.Tensor{
		Name:     name,
		Kind:     uint32(fsggml.TensorTypeF32),
		Shape:    u64s(dims),
		WriterTo: f32Data(data),
	}
}

type f32Data []float32

func (d f32Data) WriteTo(w io.Writer) (int64, error) {
	buf := make([]byte, 4*len(d))
	for i, f := range d {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(f))
	}
	n, err := w.Write(buf)
	return int64(n), err
}

// randTensor makes a matrix of uniform weights whose scale keeps
// activations of a deep stack in a sane range; the data is made when the
// tensor is written, so a large model never sits in memory whole.
func randTensor(name string, tt fsggml.TensorType, cols, rows int, seed uint64) *fsggml.Tensor {
	return &fsggml.Tensor{
		Name:     name,
		Kind:     uint32(tt),
		Shape:    []uint64{uint64(cols), uint64(rows)},
		WriterTo: randData{tt: tt, cols: cols, rows: rows, seed: seed},
	}
}

type randData struct {
	tt         fsggml.TensorType
	cols, rows int
	seed       uint64
}

func (d randData) WriteTo(w io.Writer) (int64, error) {
	rng := rand.New(rand.NewPCG(d.seed, 0x5eed))
	scale := float32(1 / math.Sqrt(float64(d.cols)))
	f := make([]float32, d.cols*d.rows)
	for i := range f {
		f[i] = (rng.Float32()*2 - 1) * scale
	}
	if d.tt == fsggml.TensorTypeF32 {
		return f32Data(f).WriteTo(w)
	}
	b := ggmlquant.Quantize(d.tt, f, []uint64{uint64(d.cols), uint64(d.rows)})
	n, err := w.Write(b)
	return int64(n), err
}

func u64s(dims []int) []uint64 {
	s := make([]uint64, len(dims))
	for i, d := range dims {
		s[i] = uint64(d)
	}
	return s
}
