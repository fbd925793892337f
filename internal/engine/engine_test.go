package engine_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/ollama/ollama/llama"

	"github.com/sieve-project/sieve/internal/engine"
	"github.com/sieve-project/sieve/internal/modelgen"
)

// sentence crosses the hard cases: a word split over tokens, a Chinese
// character split over two byte tokens, full-width letters.
var sentence = []string{"Hello", ",", " wor", "ld", "!", " \xe4\xb8", "\xad", "文", " ｄａｒｎ", "."}

const sentenceText = "Hello, world! 中文 ｄａｒｎ."

func writeScripted(t *testing.T, s modelgen.Scripted) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "scripted.gguf")
	if err := modelgen.WriteScripted(path, s); err != nil {
		t.Fatal(err)
	}
	return path
}

func load(t *testing.T, path string, mod ...func(*engine.Config)) engine.Engine {
	t.Helper()
	// One thread: ggml's threads spin while they wait for each other, and
	// go test runs other packages on the same two cores.
	cfg := engine.Config{ModelPath: path, Context: 512, Batch: 64, Threads: 1, Parallel: 1}
	for _, m := range mod {
		m(&cfg)
	}
	e, err := engine.Load(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func prompt(t *testing.T, e engine.Engine, user string) []int {
	t.Helper()
	return chatPrompt(t, e, "You are a helpful assistant.", user)
}

var greedy = engine.Sampling{Temperature: 0, TopK: 40, TopP: 0.9, MinP: 0.05, RepeatPenalty: 1.1}

// collect runs a request and returns the pieces emitted, checking each is
// valid UTF-8.
func collect(t *testing.T, ctx context.Context, e engine.Engine, req engine.Request) (engine.Result, []string, error) {
	t.Helper()
	var pieces []string
	res, err := e.Generate(ctx, req, func(s string) error {
		if !utf8.ValidString(s) {
			t.Errorf("emitted invalid UTF-8 %q", s)
		}
		pieces = append(pieces, s)
		return nil
	})
	if got := strings.Join(pieces, ""); got != res.Text {
		t.Errorf("pieces %q join to %q, result text is %q", pieces, got, res.Text)
	}
	return res, pieces, err
}

func TestScriptedSentence(t *testing.T) {
	e := load(t, writeScripted(t, modelgen.Scripted{Pieces: sentence}))
	p := prompt(t, e, "hi")
	res, pieces, err := collect(t, context.Background(), e, engine.Request{Prompt: p, MaxTokens: 100, Sampling: greedy})
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != sentenceText || res.FinishReason != engine.FinishStop {
		t.Fatalf("got %q (%s), want %q (stop)", res.Text, res.FinishReason, sentenceText)
	}
	if res.PromptTokens != len(p) || res.CompletionTokens != len(sentence) {
		t.Fatalf("usage %d/%d, want %d/%d", res.PromptTokens, res.CompletionTokens, len(p), len(sentence))
	}
	// The split Chinese character is released whole, in one piece.
	for _, piece := range pieces {
		if piece == " \xe4\xb8" || piece == "\xad" {
			t.Fatalf("released a partial character: pieces %q", pieces)
		}
	}
}

// TestImEndStopsWhenEOSDiffers: the real model's GGUF names <|endoftext|>
// as EOS, but a ChatML turn ends with <|im_end|>.
func TestImEndStopsWhenEOSDiffers(t *testing.T) {
	e := load(t, writeScripted(t, modelgen.Scripted{Pieces: []string{"ok"}, EOS: modelgen.EndOfText}))
	info := e.Info()
	if info.ImEndToken < 0 || !slices.Contains(info.EOGTokens, info.ImEndToken) {
		t.Fatalf("<|im_end|> (%d) not among end-of-generation tokens %v", info.ImEndToken, info.EOGTokens)
	}
	res, _, err := collect(t, context.Background(), e, engine.Request{Prompt: prompt(t, e, "x"), MaxTokens: 10, Sampling: greedy})
	if err != nil || res.Text != "ok" || res.FinishReason != engine.FinishStop {
		t.Fatalf("got %q %s %v", res.Text, res.FinishReason, err)
	}
}

func TestFinishReasons(t *testing.T) {
	loop := writeScripted(t, modelgen.Scripted{Pieces: []string{"a", "b", "c"}, Loop: true})
	once := writeScripted(t, modelgen.Scripted{Pieces: sentence})
	tests := []struct {
		name       string
		model      string
		context    int
		maxTokens  int
		stop       []string
		wantText   string
		wantReason engine.FinishReason
	}{
		{"end of turn", once, 512, 100, nil, sentenceText, engine.FinishStop},
		{"max tokens", loop, 512, 7, nil, "abcabca", engine.FinishLength},
		{"stop string in one token", once, 512, 100, []string{"!"}, "Hello, world", engine.FinishStop},
		{"stop string split over tokens", once, 512, 100, []string{"o, wo"}, "Hell", engine.FinishStop},
		{"stop string inside a split character", once, 512, 100, []string{"中"}, "Hello, world! ", engine.FinishStop},
		{"stop string never completed", once, 512, 100, []string{"ld?"}, sentenceText, engine.FinishStop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := load(t, tt.model, func(c *engine.Config) { c.Context = tt.context })
			res, _, err := collect(t, context.Background(), e, engine.Request{
				Prompt: prompt(t, e, "hi"), MaxTokens: tt.maxTokens, Sampling: greedy, Stop: tt.stop,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Text != tt.wantText || res.FinishReason != tt.wantReason {
				t.Fatalf("got %q (%s), want %q (%s)", res.Text, res.FinishReason, tt.wantText, tt.wantReason)
			}
		})
	}
}

func TestContextFull(t *testing.T) {
	e := load(t, writeScripted(t, modelgen.Scripted{Pieces: []string{"a", "b", "c"}, Loop: true}),
		func(c *engine.Config) { c.Context = 96 })
	p := prompt(t, e, "hi")
	// A max_tokens far past the slot costs no more than the slot: the
	// reply's events are bounded by it.
	res, _, err := collect(t, context.Background(), e, engine.Request{Prompt: p, MaxTokens: math.MaxInt - 2, Sampling: greedy})
	if err != nil {
		t.Fatal(err)
	}
	// Positions 0..95 hold the prompt and every generated token but the
	// last, which is sampled and never decoded.
	want := 96 - len(p) + 1
	if res.FinishReason != engine.FinishLength || res.CompletionTokens != want || len(res.Text) != want {
		t.Fatalf("got %d tokens %q (%s), want %d tokens (length)", res.CompletionTokens, res.Text, res.FinishReason, want)
	}
}

func TestPromptTooLong(t *testing.T) {
	e := load(t, writeScripted(t, modelgen.Scripted{Pieces: []string{"a"}}), func(c *engine.Config) { c.Context = 64 })
	_, err := e.Generate(context.Background(), engine.Request{Prompt: prompt(t, e, strings.Repeat("x", 100)), MaxTokens: 5, Sampling: greedy}, func(string) error { return nil })
	if !errors.Is(err, engine.ErrPromptTooLong) {
		t.Fatalf("err %v, want ErrPromptTooLong", err)
	}
}

func TestBadRequests(t *testing.T) {
	e := load(t, writeScripted(t, modelgen.Scripted{Pieces: []string{"a"}}))
	p := prompt(t, e, "hi")
	tests := []struct {
		name string
		req  engine.Request
		want error
	}{
		{"empty prompt", engine.Request{MaxTokens: 5}, engine.ErrEmptyPrompt},
		{"zero max tokens", engine.Request{Prompt: p}, engine.ErrBadRequest},
		{"token outside vocabulary", engine.Request{Prompt: []int{1 << 20}, MaxTokens: 5}, engine.ErrBadRequest},
		{"empty stop", engine.Request{Prompt: p, MaxTokens: 5, Stop: []string{""}}, engine.ErrBadRequest},
		{"top_p above 1", engine.Request{Prompt: p, MaxTokens: 5, Sampling: engine.Sampling{TopP: 2}}, engine.ErrBadRequest},
		{"keep past the prompt", engine.Request{Prompt: p, MaxTokens: 5, Keep: len(p) + 1}, engine.ErrBadRequest},
		{"negative keep", engine.Request{Prompt: p, MaxTokens: 5, Keep: -1}, engine.ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.Generate(context.Background(), tt.req, func(string) error { return nil }); !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCancelMidGeneration(t *testing.T) {
	e := load(t, writeScripted(t, modelgen.Scripted{Pieces: []string{"a", "b", "c"}, Loop: true}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	res, err := e.Generate(ctx, engine.Request{Prompt: prompt(t, e, "hi"), MaxTokens: 400, Sampling: greedy}, func(string) error {
		if n++; n == 5 {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.FinishReason != engine.FinishCancelled || !strings.HasPrefix(res.Text, "abcab") || len(res.Text) >= 400 {
		t.Fatalf("got %q (%s), want cancelled after ~5 tokens", res.Text, res.FinishReason)
	}
}

// deadlineCtx passes its deadline when told to, so the test does not race
// a clock.
type deadlineCtx struct {
	context.Context
	once sync.Once
	done chan struct{}
}

func (c *deadlineCtx) Done() <-chan struct{} { return c.done }
func (c *deadlineCtx) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}
func (c *deadlineCtx) expire() { c.once.Do(func() { close(c.done) }) }

func TestDeadline(t *testing.T) {
	e := load(t, writeScripted(t, modelgen.Scripted{Pieces: []string{"a", "b", "c"}, Loop: true}))
	p := prompt(t, e, "hi")

	t.Run("during generation", func(t *testing.T) {
		ctx := &deadlineCtx{Context: context.Background(), done: make(chan struct{})}
		n := 0
		res, err := e.Generate(ctx, engine.Request{Prompt: p, MaxTokens: 400, Sampling: greedy}, func(string) error {
			if n++; n == 3 {
				ctx.expire()
			}
			return nil
		})
		if err != nil || res.FinishReason != engine.FinishDeadline || !strings.HasPrefix(res.Text, "abc") {
			t.Fatalf("got %q (%s) %v, want deadline", res.Text, res.FinishReason, err)
		}
	})
	t.Run("before start", func(t *testing.T) {
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		res, err := e.Generate(ctx, engine.Request{Prompt: p, MaxTokens: 400, Sampling: greedy}, func(string) error { return nil })
		if err != nil || res.FinishReason != engine.FinishDeadline || res.Text != "" {
			t.Fatalf("got %q (%s) %v, want deadline and no text", res.Text, res.FinishReason, err)
		}
	})
}

func TestEmitErrorStops(t *testing.T) {
	e := load(t, writeScripted(t, modelgen.Scripted{Pieces: []string{"a", "b", "c"}, Loop: true}))
	boom := errors.New("publish failed")
	res, err := e.Generate(context.Background(), engine.Request{Prompt: prompt(t, e, "hi"), MaxTokens: 400, Sampling: greedy}, func(string) error { return boom })
	if !errors.Is(err, boom) || res.FinishReason != engine.FinishError || res.Text != "a" {
		t.Fatalf("got %q (%s) %v, want error after the first piece", res.Text, res.FinishReason, err)
	}
}

func TestSeedReproducible(t *testing.T) {
	path := filepath.Join(t.TempDir(), "random.gguf")
	if err := modelgen.WriteRandom(path, modelgen.Random{Embd: 64, Blocks: 2, Heads: 4, HeadsKV: 2, FF: 128, Vocab: 600, Type: "f32", Seed: 3}); err != nil {
		t.Fatal(err)
	}
	e := load(t, path)
	p := prompt(t, e, "tell me a story")
	gen := func(seed uint32) string {
		res, _, err := collect(t, context.Background(), e, engine.Request{Prompt: p, MaxTokens: 40,
			Sampling: engine.Sampling{Temperature: 1.5, TopK: 0, TopP: 1, MinP: 0, RepeatPenalty: 1, Seed: seed}})
		if err != nil {
			t.Fatal(err)
		}
		return res.Text
	}
	a, b, c := gen(42), gen(42), gen(7)
	if a != b {
		t.Fatalf("same seed, different text:\n%q\n%q", a, b)
	}
	if a == c {
		t.Fatalf("seeds 42 and 7 gave the same text %q", a)
	}
}

func TestParallelSlotsGiveSameAnswers(t *testing.T) {
	e := load(t, writeScripted(t, modelgen.Scripted{Pieces: sentence}), func(c *engine.Config) { c.Parallel = 3; c.Context = 1536 })
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, _, err := collect(t, context.Background(), e, engine.Request{Prompt: prompt(t, e, strings.Repeat("q", i*7)), MaxTokens: 100, Sampling: greedy})
			if err != nil || res.Text != sentenceText {
				t.Errorf("job %d: got %q %v", i, res.Text, err)
			}
		}()
	}
	wg.Wait()
}

func TestCloseEndsGenerations(t *testing.T) {
	e := load(t, writeScripted(t, modelgen.Scripted{Pieces: []string{"a", "b", "c"}, Loop: true}))
	p := prompt(t, e, "hi")
	started := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		var once sync.Once
		_, err := e.Generate(context.Background(), engine.Request{Prompt: p, MaxTokens: 400, Sampling: greedy}, func(string) error {
			once.Do(func() { close(started) })
			time.Sleep(time.Millisecond)
			return nil
		})
		errc <- err
	}()
	<-started
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("running generation got %v, want ErrClosed", err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := e.Generate(context.Background(), engine.Request{Prompt: p, MaxTokens: 5}, func(string) error { return nil }); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("Generate after Close: %v", err)
	}
}

func TestBadModelFiles(t *testing.T) {
	dir := t.TempDir()
	good := writeScripted(t, modelgen.Scripted{Pieces: []string{"a"}})
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		path string
		want error
	}{
		{"missing", filepath.Join(dir, "nope.gguf"), engine.ErrModelNotFound},
		{"directory", dir, engine.ErrNotGGUF},
		{"not gguf", write("text.gguf", []byte("this is not a model\n")), engine.ErrNotGGUF},
		{"empty", write("empty.gguf", nil), engine.ErrNotGGUF},
		{"header cut", write("head.gguf", data[:200]), engine.ErrTruncated},
		{"data cut", write("data.gguf", data[:len(data)-1000]), engine.ErrTruncated},
		{"encoder architecture", withArch(t, dir, "bert"), engine.ErrUnsupportedModel},
		{"unknown architecture", withArch(t, dir, "xyzzy"), engine.ErrUnsupportedModel},
		// 320-wide embeddings in 64 heads: head size 5, an odd rope
		// dimension that would abort llama.cpp at the first decode.
		{"odd rope dimension", write("rope.gguf", setHeads(t, data, 64)), engine.ErrBadModel},
		{"heads do not split embedding", write("split.gguf", setHeads(t, data, 7)), engine.ErrBadModel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := engine.Load(context.Background(), engine.Config{ModelPath: tt.path, Context: 256, Batch: 32, Threads: 1, Parallel: 1})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), filepath.Base(tt.path)) && tt.want != engine.ErrUnsupportedModel {
				t.Fatalf("error %q does not name the file", err)
			}
		})
	}
}

// setHeads overwrites the uint32 value of llama.attention.head_count in
// a GGUF's header (the key followed by its type tag, so not _kv).
func setHeads(t *testing.T, data []byte, heads uint32) []byte {
	t.Helper()
	out := append([]byte(nil), data...)
	key := "llama.attention.head_count\x04\x00\x00\x00"
	i := strings.Index(string(out), key)
	if i < 0 {
		t.Fatal("no llama.attention.head_count key")
	}
	binary.LittleEndian.PutUint32(out[i+len(key):], heads)
	return out
}

func withArch(t *testing.T, dir, arch string) string {
	t.Helper()
	p := filepath.Join(dir, arch+".gguf")
	if err := modelgen.WriteScripted(p, modelgen.Scripted{Pieces: []string{"a"}, Arch: arch}); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFreeContext(t *testing.T) {
	// freeContext reads the binding's unexported pointer field; this
	// guards the struct layout it relies on.
	var c llama.Context
	if unsafe.Sizeof(c) != unsafe.Sizeof(uintptr(0))+unsafe.Sizeof(int(0)) {
		t.Fatalf("llama.Context is %d bytes: the binding changed, review engine.freeContext", unsafe.Sizeof(c))
	}
	if engine.LlamaCommit() == "" {
		t.Fatal("llama.cpp commit not linked in")
	}
	// Load and close many times: with contexts leaking this would grow
	// by a KV cache each round; here it must simply keep working.
	path := writeScripted(t, modelgen.Scripted{Pieces: []string{"a"}})
	for i := 0; i < 20; i++ {
		e, err := engine.Load(context.Background(), engine.Config{ModelPath: path, Context: 256, Batch: 32, Threads: 1, Parallel: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBatchingGivesSameAnswers: with greedy sampling, a job's text is the
// same whether it runs alone or beside others of different lengths that
// start at different times (a realistic random model, where any mix-up
// of sequences or positions would show).
func TestBatchingGivesSameAnswers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "random.gguf")
	if err := modelgen.WriteRandom(path, modelgen.Random{Embd: 128, Blocks: 2, Heads: 4, HeadsKV: 2, FF: 256, Vocab: 800, Type: "f32", Seed: 9}); err != nil {
		t.Fatal(err)
	}
	prompts := []string{"a short one", strings.Repeat("a much longer prompt that spans several batches ", 12), "third", "fourth, medium length prompt"}
	lengths := []int{40, 25, 60, 10}
	greedyRandom := engine.Sampling{Temperature: 0, TopK: 40, TopP: 0.9, MinP: 0.05, RepeatPenalty: 1.1}

	alone := load(t, path, func(c *engine.Config) { c.Context = 1024; c.Batch = 32 })
	want := make([]string, len(prompts))
	for i, p := range prompts {
		res, _, err := collect(t, context.Background(), alone, engine.Request{Prompt: prompt(t, alone, p), MaxTokens: lengths[i], Sampling: greedyRandom})
		if err != nil {
			t.Fatal(err)
		}
		want[i] = res.Text
	}
	alone.Close()

	// Four slots; a batch of 32 splits the long prompt over several steps
	// while the others generate.
	e := load(t, path, func(c *engine.Config) { c.Context = 4096; c.Parallel = 4; c.Batch = 32 })
	var wg sync.WaitGroup
	for i, p := range prompts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 15 * time.Millisecond) // staggered starts
			res, _, err := collect(t, context.Background(), e, engine.Request{Prompt: prompt(t, e, p), MaxTokens: lengths[i], Sampling: greedyRandom})
			if err != nil {
				t.Error(err)
				return
			}
			if res.Text != want[i] {
				t.Errorf("job %d: batched %q, alone %q", i, res.Text, want[i])
			}
		}()
	}
	wg.Wait()
}

// TestDecodeNice: the thread that decodes runs at the niceness asked for,
// the rest of the process does not, and the niced thread ends with the
// engine, so no other goroutine ever runs on it. When the loop starts on
// the main thread (which Go never ends), it hands decoding to another.
func TestDecodeNice(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("decode nice is Linux only")
	}
	base := niceOf(t, "self")
	if base > 12 {
		t.Skipf("the test runs at nice %d already", base)
	}
	niced := func() (n int) {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks {
			if niceOf(t, "self/task/"+task.Name()) == base+7 {
				n++
			}
		}
		return n
	}
	path := writeScripted(t, modelgen.Scripted{Pieces: sentence})
	var mainTID atomic.Int64 // the thread taken for the main one
	for _, tt := range []struct {
		name    string
		threads int
		opts    []engine.Option
	}{
		{"started off the main thread", 1, nil},
		{"started on the main thread", 1, []engine.Option{engine.OnMainThread(&mainTID)}},
		// The second is the thread pool's worker, started by the niced
		// thread, which it must inherit.
		{"two threads", 2, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mainTID.Store(0)
			e, err := engine.Load(context.Background(), engine.Config{ModelPath: path, Context: 512, Batch: 64, Threads: tt.threads, Parallel: 1, DecodeNice: 7}, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			if _, _, err := collect(t, context.Background(), e, engine.Request{Prompt: prompt(t, e, "hi"), MaxTokens: 100, Sampling: greedy}); err != nil {
				t.Fatal(err)
			}
			if n := niced(); n != tt.threads {
				t.Fatalf("%d threads at nice %d, want the %d decoding threads alone", n, base+7, tt.threads)
			}
			if got := niceOf(t, "self"); got != base {
				t.Fatalf("the main thread went from nice %d to %d", base, got)
			}
			if tid := mainTID.Load(); tid != 0 {
				if got := niceOf(t, fmt.Sprintf("self/task/%d", tid)); got != base {
					t.Fatalf("the thread taken for the main one went from nice %d to %d", base, got)
				}
			}
			e.Close()
			for deadline := time.Now().Add(10 * time.Second); niced() != 0; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the niced thread outlived Close")
				}
			}
		})
	}
}

// niceOf reads a task's niceness from /proc/<which>/stat (field 19).
func niceOf(t *testing.T, which string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + which + "/stat")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return -100 // the thread ended meanwhile
		}
		t.Fatal(err)
	}
	// The command name, in parentheses, may hold spaces: count fields after it.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	n, err := strconv.Atoi(f[16])
	if err != nil {
		t.Fatalf("/proc/%s/stat: %v", which, err)
	}
	return n
}

func TestDecodeNiceOutOfRange(t *testing.T) {
	path := writeScripted(t, modelgen.Scripted{Pieces: []string{"a"}})
	for _, n := range []int{-2, 20} {
		_, err := engine.Load(context.Background(), engine.Config{ModelPath: path, Context: 256, Batch: 32, Threads: 1, Parallel: 1, DecodeNice: n})
		if !errors.Is(err, engine.ErrBadRequest) || !strings.Contains(err.Error(), "decode nice") {
			t.Errorf("DecodeNice %d: err %v, want ErrBadRequest naming decode nice", n, err)
		}
	}
}
