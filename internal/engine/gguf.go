package engine

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	fsggml "github.com/ollama/ollama/fs/ggml"
)

// Errors for model files that cannot be served, wrapped with the detail.
var (
	ErrModelNotFound    = errors.New("model file not found")
	ErrNotGGUF          = errors.New("not a GGUF file")
	ErrTruncated        = errors.New("model file is truncated")
	ErrBadModel         = errors.New("model file is invalid")
	ErrUnsupportedModel = errors.New("unsupported model")
)

// generative lists the architectures this build of llama.cpp can generate
// text with (llama-arch.cpp at the binding's commit, less encoders and
// vocoders).
var generative = []string{
	"llama", "llama4", "deci", "falcon", "grok", "gpt2", "gptj", "gptneox", "mpt",
	"baichuan", "starcoder", "refact", "bloom", "stablelm", "qwen", "qwen2",
	"qwen2moe", "qwen3", "qwen3moe", "phi2", "phi3", "phimoe", "plamo",
	"codeshell", "orion", "internlm2", "minicpm", "minicpm3", "gemma", "gemma2",
	"gemma3", "starcoder2", "mamba", "xverse", "command-r", "cohere2", "dbrx",
	"olmo", "olmo2", "olmoe", "openelm", "arctic", "deepseek", "deepseek2",
	"chatglm", "glm4", "bitnet", "t5", "jais", "nemotron", "exaone", "rwkv6",
	"rwkv6qwen2", "rwkv7", "arwkv7", "granite", "granitemoe", "chameleon",
	"solar", "plm", "bailingmoe",
}

// modelFile is what sieve reads from a GGUF header before llama.cpp sees it.
type modelFile struct {
	arch       string
	name       string
	ctxTrain   int
	tokenTypes []int32 // tokenizer.ggml.token_type, may be empty
	params     uint64
}

// inspect checks a GGUF file as far as Go can, because llama.cpp checks a
// lot but not all: some bad values (an odd rope dimension, say) end the
// whole process in a C assert at the first decode instead of returning an
// error. It reads the header only; tensor data stays on disk.
func inspect(path string) (*modelFile, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrModelNotFound, path)
	}
	if err != nil {
		return nil, fmt.Errorf("open model: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("open model: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%w: %s is a directory", ErrNotGGUF, path)
	}
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil || string(magic[:]) != "GGUF" {
		return nil, fmt.Errorf("%w: %s does not start with the GGUF magic", ErrNotGGUF, path)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("open model: %w", err)
	}
	g, err := decodeGGUF(f)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: %s ends inside its header", ErrTruncated, path)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrBadModel, path, err)
	}
	kv := g.KV()

	// Tensor data must lie inside the file.
	data := int64(g.Tensors().Offset)
	for _, t := range g.Tensors().Items() {
		if end := data + int64(t.Offset) + int64(t.Size()); end > st.Size() {
			return nil, fmt.Errorf("%w: %s: tensor %s needs %d bytes but the file has %d", ErrTruncated, path, t.Name, end, st.Size())
		}
	}

	arch := kv.Architecture()
	if arch == "" {
		return nil, fmt.Errorf("%w: %s has no general.architecture", ErrBadModel, path)
	}
	if !slices.Contains(generative, arch) {
		return nil, fmt.Errorf("%w: architecture %q is not a text generation architecture this build of llama.cpp knows", ErrUnsupportedModel, arch)
	}
	if err := checkHeads(kv, arch); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadModel, path, err)
	}
	tokens := kv.Strings("tokenizer.ggml.tokens")
	if len(tokens) == 0 {
		return nil, fmt.Errorf("%w: %s has no tokenizer.ggml.tokens", ErrBadModel, path)
	}
	for _, t := range g.Tensors().Items() {
		if t.Name == "token_embd.weight" && len(t.Shape) == 2 && t.Shape[1] != uint64(len(tokens)) {
			return nil, fmt.Errorf("%w: %s: token_embd.weight has %d rows for %d tokens", ErrBadModel, path, t.Shape[1], len(tokens))
		}
	}
	var params uint64
	for _, t := range g.Tensors().Items() {
		params += t.Elements()
	}
	return &modelFile{
		arch:       arch,
		name:       kv.String("general.name"),
		ctxTrain:   int(kv.Uint(arch + ".context_length")),
		tokenTypes: kv.Ints("tokenizer.ggml.token_type"),
		params:     params,
	}, nil
}

// decodeGGUF parses the header, turning the decoder's panics on hostile
// input (it was written for trusted files) into errors.
func decodeGGUF(r io.ReadSeeker) (g *fsggml.GGML, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed header: %v", p)
		}
	}()
	// Arrays up to 1M entries are kept (vocabularies are ≤ 262k); larger
	// ones are skipped rather than allocated from an untrusted count.
	return fsggml.Decode(r, 1<<20)
}

// checkHeads rejects attention shapes that llama.cpp would accept and then
// abort on: a head size that does not split the embedding, or an odd rope
// dimension.
func checkHeads(kv fsggml.KV, arch string) error {
	embd := kv.Uint(arch + ".embedding_length")
	// Some architectures give a head count per layer, as an array; those
	// are left to llama.cpp.
	heads, ok := kv[arch+".attention.head_count"].(uint32)
	if !ok || heads == 0 || embd == 0 {
		return nil // not an attention model, or llama.cpp will say what is missing
	}
	headK := kv.Uint(arch+".attention.key_length", embd/heads)
	if kv.Uint(arch+".attention.key_length") == 0 && embd%heads != 0 {
		return fmt.Errorf("embedding length %d does not split into %d heads", embd, heads)
	}
	rot := kv.Uint(arch+".rope.dimension_count", headK)
	if rot%2 != 0 {
		return fmt.Errorf("rope dimension %d is odd (llama.cpp would abort at the first decode)", rot)
	}
	if kv, ok := kv[arch+".attention.head_count_kv"].(uint32); ok && (kv == 0 || heads%kv != 0) {
		return fmt.Errorf("%d attention heads cannot be grouped into %d kv heads", heads, kv)
	}
	return nil
}
