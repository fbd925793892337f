package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sieve-project/sieve/internal/modelgen"
	"github.com/sieve-project/sieve/job"
)

// batchDir writes a model, a config and a jobs file of n bare prompts
// plus one malformed line.
func batchDir(t *testing.T, pieces []string, loop bool, n int) (dir, cfg, in string) {
	t.Helper()
	dir = t.TempDir()
	if err := modelgen.WriteScripted(filepath.Join(dir, "toy.gguf"), modelgen.Scripted{Pieces: pieces, Loop: loop}); err != nil {
		t.Fatal(err)
	}
	cfg = filepath.Join(dir, "sieve.toml")
	os.WriteFile(cfg, []byte(`
[model]
path = "toy.gguf"
threads = 1
context = 1024
parallel = 2
[generate]
temperature = 0
[[filter.lists]]
name = "profanity"
action = "redact"
match = "word"
words = ["darn"]
`), 0o644)
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "{\"prompt\": \"question %d\"}\n", i)
		if i == n/2 {
			b.WriteString("{\"prompt\": 42}\n") // malformed: line n/2+2
		}
	}
	in = filepath.Join(dir, "jobs.jsonl")
	os.WriteFile(in, []byte(b.String()), 0o644)
	return dir, cfg, in
}

func results(t *testing.T, path string) []job.Result {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatalf("output ends inside a line: %q", data[max(0, len(data)-80):])
	}
	var rs []job.Result
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if line == "" {
			continue
		}
		var r job.Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("output line %q: %v", line, err)
		}
		rs = append(rs, r)
	}
	return rs
}

func TestBatchSpec(t *testing.T) {
	dir, cfg, _ := batchDir(t, []string{"Oh", " dar", "n", "."}, false, 10)
	spec := filepath.Join(dir, "run.toml")
	os.WriteFile(spec, []byte("inputs = [\"jobs.jsonl\"]\noutput = \"out.jsonl\"\nordered = true\nin_flight = 3\nmax_tokens = 20\n"), 0o644)
	r := sieve(t, "", "batch", "--config", cfg, spec)
	if r.code != 0 {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "jobs.jsonl:7:") || !strings.Contains(r.stdout, "11 jobs: 11 done now, 0 done before, 10 completed, 1 rejected") ||
		!strings.Contains(r.stdout, "filter hits: profanity 10") || !strings.Contains(r.stderr, "progress: 11/11") {
		t.Fatalf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	rs := results(t, filepath.Join(dir, "out.jsonl"))
	if len(rs) != 11 {
		t.Fatalf("%d results", len(rs))
	}
	for i, res := range rs {
		if i == 6 {
			if res.Status != job.Rejected || !strings.Contains(res.Error.Message, "jobs.jsonl:7") {
				t.Fatalf("malformed line result %+v", res)
			}
			continue
		}
		if res.Status != job.Completed || res.Text != "Oh ***." {
			t.Fatalf("result %d: %+v", i, res)
		}
	}
	// Running it again does nothing: every id is there.
	r = sieve(t, "", "batch", "--config", cfg, spec)
	if r.code != 0 || !strings.Contains(r.stdout, "11 jobs: 0 done now, 11 done before") || len(results(t, filepath.Join(dir, "out.jsonl"))) != 11 {
		t.Fatalf("rerun: exit %d stdout %q", r.code, r.stdout)
	}
}

// TestBatchInterruptedAndResumed: Ctrl-C halfway leaves complete lines
// only; the same command finishes the run with no duplicates and no gaps.
func TestBatchInterruptedAndResumed(t *testing.T) {
	dir, cfg, in := batchDir(t, []string{"a", "b", "c"}, true, 16)
	out := filepath.Join(dir, "out.jsonl")
	args := []string{"batch", "--config", cfg, "--in", in, "--out", out, "--in-flight", "2"}
	// Each job runs to a length of 150 tokens: long enough to interrupt.
	os.WriteFile(in, []byte(strings.ReplaceAll(mustRead(t, in), `{"prompt"`, `{"max_tokens": 150, "prompt"`)), 0o644)

	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if data, _ := os.ReadFile(out); strings.Count(string(data), "\n") >= 3 {
			break
		}
		if i > 3000 {
			cmd.Process.Kill()
			t.Fatal("no results appeared")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("interrupted batch: %v, want exit 1", err)
	}
	first := results(t, out)
	if len(first) >= 17 {
		t.Fatalf("the interrupt came too late to test anything: %d results", len(first))
	}

	r := sieve(t, "", args...)
	if r.code != 0 {
		t.Fatalf("resume: exit %d stderr %q", r.code, r.stderr)
	}
	all := results(t, out)
	ids := map[string]int{}
	for _, res := range all {
		ids[res.ID]++
		if res.Status != job.Rejected && (res.Status != job.Completed || res.FinishReason != "length") {
			t.Fatalf("result %+v", res)
		}
	}
	if len(all) != 17 || len(ids) != 17 {
		t.Fatalf("%d results, %d ids after resume; want 17 of each (no gaps, no duplicates)", len(all), len(ids))
	}
	if !strings.Contains(r.stdout, fmt.Sprintf("%d done before", len(first))) {
		t.Fatalf("resume summary %q, want %d done before", r.stdout, len(first))
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
