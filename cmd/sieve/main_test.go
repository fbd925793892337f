package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sieve-project/sieve/internal/modelgen"
	"github.com/sieve-project/sieve/internal/sievetest"
	"github.com/sieve-project/sieve/job"
)

// bin is the sieve binary built once for the whole package: these tests
// drive it as a user would, as a subprocess.
var bin string

func TestMain(m *testing.M) {
	// `make test` names the backends it built: the binary under test then
	// computes on them, as an installed sieve does.
	if libs := os.Getenv("SIEVE_BACKENDS"); libs != "" {
		os.Setenv("OLLAMA_LIBRARY_PATH", libs)
	}
	dir, err := os.MkdirTemp("", "sieve-bin")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "sieve")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		os.Stderr.Write(out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type ran struct {
	stdout, stderr string
	code           int
}

func sieve(t *testing.T, stdin string, args ...string) ran {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Stdin = strings.NewReader(stdin)
	err := cmd.Run()
	r := ran{stdout: out.String(), stderr: dropMachineWarnings(errb.String())}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

// baselineWarning starts the line a binary that finds no built CPU
// backends logs on a CPU with AVX2, and cudaUnused the one a binary with
// a CUDA backend logs on a machine without a GPU; TestBaselineWarning
// and TestCUDAFallback check them, and the other tests, which also run
// under a plain `go test` and on build machines, leave them out.
const (
	baselineWarning = "llama.cpp runs on the CPU backend built into the binary"
	cudaUnused      = "CUDA backend not used: llama.cpp computes on the CPU"
)

func dropMachineWarnings(stderr string) string {
	lines := strings.SplitAfter(stderr, "\n")
	lines = slices.DeleteFunc(lines, func(l string) bool {
		return strings.Contains(l, baselineWarning) || strings.Contains(l, cudaUnused)
	})
	return strings.Join(lines, "")
}

var script = []string{"Hello", ",", " wor", "ld", "!", " \xe4\xb8", "\xad", "文", "."}

const scriptText = "Hello, world! 中文."

func scripted(t *testing.T) string {
	t.Helper()
	return sievetest.ModelFile(t, modelgen.Scripted{Pieces: script})
}

func TestGenerateStreamsTheSentence(t *testing.T) {
	r := sieve(t, "", "generate", "--model", scripted(t), "hi")
	if r.code != 0 || r.stdout != scriptText+"\n" {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stderr, "llama_") {
		t.Fatalf("llama.cpp chatter on stderr at the default log level:\n%s", r.stderr)
	}
}

func TestGenerateJSON(t *testing.T) {
	r := sieve(t, "", "generate", "--json", "--stop", "!", "--model", scripted(t), "--max-tokens", "50", "hi")
	if r.code != 0 {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
	var res job.Result
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("stdout is not one JSON result: %v\n%s", err, r.stdout)
	}
	if res.Status != job.Completed || res.FinishReason != "stop" || res.Text != "Hello, world" || res.Usage.PromptTokens == 0 || res.Usage.CompletionTokens != 5 {
		t.Fatalf("result %+v", res)
	}
}

func TestGenerateWithConfig(t *testing.T) {
	dir := t.TempDir()
	model := scripted(t)
	if err := os.Rename(model, filepath.Join(dir, "m.gguf")); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "sieve.toml")
	// A relative model path is relative to the config file's folder.
	if err := os.WriteFile(cfg, []byte("[model]\npath = \"m.gguf\"\nthreads = 1\ncontext = 256\n[generate]\nmax_tokens = 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := sieve(t, "", "generate", "--config", cfg, "hi")
	if r.code != 0 || r.stdout != "Hello, wor\n" {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestErrors(t *testing.T) {
	model := scripted(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("[model]\ncontext = 1\nbogus = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.toml")
	if err := os.WriteFile(good, []byte("[model]\ncontext = 1024\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	notModel := filepath.Join(dir, "x.gguf")
	if err := os.WriteFile(notModel, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		code     int
		stderr   []string
		stdout   string
		anyLines bool
	}{
		{"no command", nil, 2, nil, "Usage", false},
		{"unknown command", []string{"frobnicate"}, 2, []string{`unknown command "frobnicate"`}, "", false},
		{"no prompt", []string{"generate", "--model", model}, 2, []string{"exactly one PROMPT"}, "", false},
		{"no model", []string{"generate", "hi"}, 2, []string{"no model"}, "", false},
		{"missing model", []string{"generate", "--model", filepath.Join(dir, "none.gguf"), "hi"}, 1, []string{"model file not found", "none.gguf"}, "", false},
		{"not a model", []string{"generate", "--model", notModel, "hi"}, 1, []string{"not a GGUF file", "x.gguf"}, "", false},
		{"bad flag", []string{"generate", "--frob", "hi"}, 2, []string{"flag provided but not defined"}, "", true},
		{"max tokens over limit", []string{"generate", "--model", model, "--max-tokens", "99999", "hi"}, 2, []string{"--max-tokens 99999"}, "", false},
		{"prompt too long", []string{"generate", "--model", model, "--config", good, strings.Repeat("long ", 300)}, 2, []string{"the prompt is", "a slot holds 1024"}, "", false},
		{"config check bad", []string{"config", "check", bad}, 2, []string{"bad.toml:2: model.context", "bad.toml:3: model.bogus: unknown key"}, "", true},
		{"config check good", []string{"config", "check", good}, 0, nil, "good.toml: ok", false},
		{"version", []string{"version"}, 0, nil, "llama.cpp de4c07f", false},
		{"config example", []string{"config", "example"}, 0, nil, "[[filter.lists]]", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sieve(t, "", tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %q", r.code, tt.code, r.stderr)
			}
			for _, w := range tt.stderr {
				if !strings.Contains(r.stderr, w) {
					t.Fatalf("stderr %q lacks %q", r.stderr, w)
				}
			}
			if !tt.anyLines && tt.code != 0 && tt.stdout == "" && strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
				t.Fatalf("want one clear line on stderr, got:\n%s", r.stderr)
			}
			if !strings.Contains(r.stdout, tt.stdout) {
				t.Fatalf("stdout %q lacks %q", r.stdout, tt.stdout)
			}
		})
	}
}

func TestDemo(t *testing.T) {
	r := sieve(t, "", "demo", "--pace", "0", "--cache", t.TempDir())
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
	for _, w := range []string{
		"Well, **** it", "What the ****!", "Fine: **** —", "这是一份[机密]文件", "Sure, the \n", "status filtered",
		"Honestly, it is clumsy and slow.", "tone avoided: back to token 3",
		"4 completed, 1 filtered", "embedded NATS server", "sieve serve --config",
	} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("demo output lacks %q:\n%s", w, r.stdout)
		}
	}
	for _, leak := range []string{"darn", "ＤＡ", "机密文件", "launch code is", "0000", "stu", "pid"} {
		if strings.Contains(afterReplies(r.stdout), leak) {
			t.Errorf("demo replies leak %q:\n%s", leak, r.stdout)
		}
	}
}

// afterReplies returns only the model's replies in the demo's output.
func afterReplies(out string) string {
	var b strings.Builder
	for _, line := range strings.Split(out, "\n") {
		if i := strings.Index(line, "sieve> "); i >= 0 {
			b.WriteString(line[i:] + "\n")
		}
	}
	return b.String()
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sieve.toml")
	if err := os.WriteFile(filepath.Join(dir, "words.txt"), []byte("# profanity\ndarn\n\nheck\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(`[[filter.lists]]
name = "profanity"
action = "redact"
match = "word"
files = ["words.txt"]

[[filter.lists]]
name = "secrets"
action = "block"
apply_to = ["input", "output"]
words = ["launch code"]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	text := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(text, []byte("Oh DARN, what the h\u200beck.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := sieve(t, "", "check", "--config", cfg, text); r.code != 0 || r.stdout != "Oh ***, what the ***.\n" {
		t.Fatalf("file: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	r := sieve(t, "the launch code is 42", "check", "--json", "--config", cfg, "-")
	if r.code != 3 {
		t.Fatalf("stdin block: exit %d, want 3; stderr %q", r.code, r.stderr)
	}
	var got struct {
		Text    string `json:"text"`
		Blocked bool   `json:"blocked"`
		Hits    []struct {
			List, Action, Keyword string
			Start, End            int
		} `json:"hits"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	// A block list keeps its words secret unless it sets reveal = true.
	if got.Text != "the " || !got.Blocked || len(got.Hits) != 1 || got.Hits[0].List != "secrets" || got.Hits[0].Keyword != "" || strings.Contains(r.stdout, "launch") {
		t.Fatalf("json %+v", got)
	}
	if r := sieve(t, "the launch code", "check", "--apply-to", "input", "--config", cfg); r.code != 3 {
		t.Fatalf("input side: exit %d", r.code)
	}
	if r := sieve(t, "darn", "check", "--policy", "strict", "--config", cfg); r.code != 2 || !strings.Contains(r.stderr, `unknown policy "strict"`) {
		t.Fatalf("unknown policy: exit %d stderr %q", r.code, r.stderr)
	}
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("[[filter.lists]]\nname = \"x\"\naction = \"redact\"\nfiles = [\"missing.txt\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := sieve(t, "", "check", "--config", bad, text); r.code != 2 || !strings.Contains(r.stderr, "missing.txt") {
		t.Fatalf("bad list file: exit %d stderr %q", r.code, r.stderr)
	}
	if r := sieve(t, "\xff", "check", "--config", cfg); r.code != 2 || !strings.Contains(r.stderr, "not valid UTF-8") {
		t.Fatalf("invalid input: exit %d stderr %q", r.code, r.stderr)
	}
}

// TestConfigExampleChecks: the printed example passes config check once
// its model exists.
func TestConfigExampleChecks(t *testing.T) {
	dir := t.TempDir()
	ex := sieve(t, "", "config", "example").stdout
	os.MkdirAll(filepath.Join(dir, "models"), 0o755)
	os.WriteFile(filepath.Join(dir, "models", "causallm_14b-dpo-alpha.Q4_K_M.gguf"), []byte("GGUF"), 0o644)
	path := filepath.Join(dir, "sieve.toml")
	os.WriteFile(path, []byte(ex), 0o644)
	if r := sieve(t, "", "config", "check", path); r.code != 0 {
		t.Fatalf("config check of the example: exit %d stderr %q", r.code, r.stderr)
	}
}

func TestBench(t *testing.T) {
	r := sieve(t, "", "bench", "--json", "--model", scripted(t), "--parallel", "2", "--gen-tokens", "8", "--prompt-tokens", "16", "--threads", "1", "--http", "--rounds", "2")
	if r.code != 0 {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
	var rep struct {
		Concurrency []struct {
			Jobs            int     `json:"jobs"`
			TokensPerSecond float64 `json:"tokens_per_second"`
		} `json:"concurrency"`
		NATS *struct {
			Keywords int     `json:"keywords"`
			Chunks   int     `json:"chunks"`
			Ratio    float64 `json:"ratio"`
		} `json:"nats"`
		HTTP *struct {
			Ratio        float64 `json:"ratio"`
			FirstTokenMS float64 `json:"first_token_ms"`
			NATSFirstMS  float64 `json:"nats_first_token_ms"`
		} `json:"http"`
		FirstToken []struct {
			PromptTokens int `json:"prompt_tokens"`
		} `json:"first_token"`
		PeakRSS int64 `json:"peak_rss_bytes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("not a JSON report: %v\n%s", err, r.stdout)
	}
	if len(rep.Concurrency) != 2 || rep.Concurrency[1].Jobs != 2 || rep.Concurrency[0].TokensPerSecond <= 0 {
		t.Fatalf("concurrency rows %+v", rep.Concurrency)
	}
	if rep.NATS == nil || rep.NATS.Keywords != 20000 || rep.NATS.Chunks == 0 || rep.NATS.Ratio <= 0 {
		t.Fatalf("nats row %+v", rep.NATS)
	}
	if rep.HTTP == nil || rep.HTTP.Ratio <= 0 || rep.HTTP.FirstTokenMS <= 0 || rep.HTTP.NATSFirstMS <= 0 {
		t.Fatalf("http row %+v", rep.HTTP)
	}
	if len(rep.FirstToken) != 3 || rep.FirstToken[2].PromptTokens != 1024 || rep.PeakRSS <= 0 {
		t.Fatalf("first token %+v, rss %d", rep.FirstToken, rep.PeakRSS)
	}
	if r := sieve(t, "", "bench"); r.code != 2 {
		t.Fatalf("bench without a model: exit %d", r.code)
	}
}

// TestGenerateAvoids: sieve generate applies avoid lists as the daemon
// does: the reply goes on without the keyword.
func TestGenerateAvoids(t *testing.T) {
	dir := t.TempDir()
	if err := modelgen.WriteScripted(filepath.Join(dir, "m.gguf"), modelgen.Scripted{
		Pieces:       []string{"It", " is", " stu", "pid", "."},
		Alternatives: map[string][]string{" is": {" odd"}},
		Then:         map[string]string{" odd": "."},
	}); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "sieve.toml")
	if err := os.WriteFile(cfg, []byte("[model]\npath = \"m.gguf\"\nthreads = 1\ncontext = 512\n[generate]\ntemperature = 0\n"+
		"[[filter.lists]]\nname = \"tone\"\naction = \"avoid\"\nmatch = \"word\"\nwords = [\"stupid\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := sieve(t, "", "generate", "--config", cfg, "how is it?")
	if r.code != 0 || r.stdout != "It is odd.\n" {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	r = sieve(t, "", "generate", "--json", "--config", cfg, "how is it?")
	if r.code != 0 || !strings.Contains(r.stdout, `"action": "avoid"`) || !strings.Contains(r.stdout, `"tries": 1`) || strings.Contains(r.stdout, "stu") {
		t.Fatalf("json: exit %d stdout %s", r.code, r.stdout)
	}
}

// TestStrictLists: a list's strict key reaches the filter (sieve check),
// and sieve lists lint reports what fires on clean text and what may
// over-match, from the file's own places.
func TestStrictLists(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sieve.toml")
	if err := os.WriteFile(filepath.Join(dir, "zh.txt"), []byte("后门\n发\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(`[[filter.lists]]
name = "en"
action = "redact"
match = "word"
words = ["shit", "ab"]
strict = true

[[filter.lists]]
name = "zh"
action = "redact"
files = ["zh.txt"]
strict = ["traditional"]

[[filter.lists]]
name = "plain"
action = "redact"
match = "word"
words = ["darn"]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	r := sieve(t, "ѕhіt, s h i t, sh1t, 開後門, dаrn\n", "check", "--config", cfg, "-")
	if r.code != 0 || r.stdout != "***, ***, ***, 開***, dаrn\n" {
		t.Fatalf("check: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	corpus := filepath.Join(dir, "clean.txt")
	os.WriteFile(corpus, []byte("An ab test: ab, darn it. 头发 and 出发.\n"), 0o644)
	r = sieve(t, "", "lists", "lint", "--config", cfg, corpus)
	rows := map[string]bool{}
	for _, line := range strings.Split(r.stdout, "\n") {
		rows[strings.Join(strings.Fields(line), " ")] = true
	}
	if !rows["en ab 2"] || !rows["zh 发 2"] || !rows["plain darn 1"] {
		t.Errorf("lint counts:\n%s", r.stdout)
	}
	for _, want := range []string{
		"3 entries matched the corpus",
		`list "en" words[1]: "ab": two letters: it matches initials and abbreviations`,
		`list "zh" zh.txt:2: "发": one character in substring mode`,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("lint output lacks %q:\n%s", want, r.stdout)
		}
	}
	if r.code != 0 {
		t.Fatalf("lint: exit %d stderr %q", r.code, r.stderr)
	}
	if r := sieve(t, "", "lists", "lint", "--config", cfg); r.code != 2 {
		t.Fatalf("lint without a corpus: exit %d", r.code)
	}
}
