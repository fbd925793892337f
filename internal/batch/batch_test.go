package batch

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sieve-project/sieve/job"
)

func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRead(t *testing.T) {
	mt := 7
	in := writeFile(t, "jobs.jsonl", `{"prompt": "hello"}

{"id": "mine", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}
{"prompt": 5}
not json
{"prompt": "x", "messages": []}
{"prompt": "x", "bogus": 1}
`)
	lines, err := Read(in, Defaults{System: "sys", MaxTokens: &mt, Policy: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 6 {
		t.Fatalf("%d lines, want 6 (blank skipped)", len(lines))
	}
	var j job.Job
	if err := json.Unmarshal(lines[0].Payload, &j); err != nil || lines[0].Err != nil {
		t.Fatal(err, lines[0].Err)
	}
	if j.ID != lines[0].ID || !strings.HasPrefix(j.ID, "b-") || len(j.Messages) != 2 || j.Messages[0].Content != "sys" || *j.MaxTokens != 7 || j.Policy != "default" {
		t.Fatalf("bare prompt became %+v", j)
	}
	if err := json.Unmarshal(lines[1].Payload, &j); err != nil || j.ID != "mine" || *j.MaxTokens != 3 {
		t.Fatalf("full job became %+v (the line's own max_tokens wins)", j)
	}
	for i, want := range map[int]string{2: "jobs.jsonl:4: ", 3: "jobs.jsonl:5: not valid JSON", 4: "jobs.jsonl:6: ", 5: "jobs.jsonl:7: unknown field"} {
		if lines[i].Err == nil || !strings.HasPrefix(lines[i].Err.Message, want) {
			t.Errorf("line %d: error %+v, want it to start %q", lines[i].N, lines[i].Err, want)
		}
	}
	// Ids are stable across reads of one run, fresh in another.
	again, _ := Read(in, Defaults{System: "sys", MaxTokens: &mt})
	if again[0].ID != lines[0].ID || again[3].ID != lines[3].ID {
		t.Fatal("ids changed between reads")
	}
	other, _ := Read(in, Defaults{Run: "/elsewhere/out.jsonl", System: "sys", MaxTokens: &mt})
	if other[0].ID == lines[0].ID || other[1].ID != "mine" {
		t.Fatalf("another run: derived id %q (was %q), the line's own %q", other[0].ID, lines[0].ID, other[1].ID)
	}
}

func TestDoneCutsPartialLine(t *testing.T) {
	out := writeFile(t, "out.jsonl", `{"id":"a","status":"completed"}`+"\n"+`{"id":"b","status":"comp`)
	done, err := Done(out)
	if err != nil {
		t.Fatal(err)
	}
	if !done["a"] || done["b"] || len(done) != 1 {
		t.Fatalf("done %v", done)
	}
	data, _ := os.ReadFile(out)
	if string(data) != `{"id":"a","status":"completed"}`+"\n" {
		t.Fatalf("file after cut: %q", data)
	}
	if d, err := Done(filepath.Join(t.TempDir(), "none.jsonl")); err != nil || len(d) != 0 {
		t.Fatalf("missing output: %v %v", d, err)
	}
}

func readResults(t *testing.T, path string) []job.Result {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rs []job.Result
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		var r job.Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		rs = append(rs, r)
	}
	return rs
}

// TestRunOrderedAndResumed drives Run's scheduling with a submit function
// that finishes jobs in reverse order of submission.
func TestRunOrderedAndResumed(t *testing.T) {
	var src strings.Builder
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&src, "{\"prompt\": \"p%d\"}\n", i)
	}
	src.WriteString("broken\n")
	in := writeFile(t, "in.jsonl", src.String())
	lines, err := Read(in, Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out.jsonl")
	var calls atomic.Int32
	submit := func(ctx context.Context, l Line) (job.Result, error) {
		calls.Add(1)
		time.Sleep(time.Duration(25-l.N) * time.Millisecond) // later lines finish first
		return job.Result{ID: l.ID, Status: job.Completed, Usage: job.Usage{CompletionTokens: 2}}, nil
	}
	// First run: stop after a few results, as Ctrl-C would.
	ctx, cancel := context.WithCancel(context.Background())
	w, _ := NewWriter(out, true)
	n := 0
	Run(ctx, lines, nil, 3, submit, w, func(s Summary) {
		if n++; n == 5 {
			cancel()
		}
	})
	w.Close()
	first := readResults(t, out)
	for i, r := range first {
		if r.ID != lines[i].ID {
			t.Fatalf("ordered output has %s at %d, want %s", r.ID, i, lines[i].ID)
		}
	}
	// Second run: finishes the rest, no duplicates, no gaps, in order.
	done, _ := Done(out)
	calls.Store(0)
	w, _ = NewWriter(out, true)
	s, err := Run(context.Background(), lines, done, 3, submit, w, nil)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	all := readResults(t, out)
	if len(all) != len(lines) || s.Skipped != len(first) || int(calls.Load()) != 20-len(first) {
		t.Fatalf("%d results for %d lines; skipped %d of %d done before; %d submits", len(all), len(lines), s.Skipped, len(first), calls.Load())
	}
	for i, r := range all {
		if r.ID != lines[i].ID {
			t.Fatalf("result %d is %s, want %s", i, r.ID, lines[i].ID)
		}
	}
	if last := all[len(all)-1]; last.Status != job.Rejected || !strings.Contains(last.Error.Message, "in.jsonl:21") {
		t.Fatalf("malformed line: %+v", last)
	}
}

// TestLineIDsJudgedAsOnNATS: a line's "id" gets the verdict the same job
// gets on the queue: a number, an empty string or an id sieve keeps for
// itself is the line's error (bad_id, reserved_id), not silently replaced
// by a derived id.
func TestLineIDsJudgedAsOnNATS(t *testing.T) {
	in := writeFile(t, "ids.jsonl", `{"id": 5, "prompt": "a"}
{"id": "", "prompt": "b"}
{"id": "_req.1", "prompt": "c"}
{"id": "_mine", "prompt": "d"}
{"id": "a b", "prompt": "e"}
{"id": "tenant-a.42", "prompt": "f"}
`)
	lines, err := Read(in, Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{job.CodeBadID, job.CodeBadID, job.CodeReservedID, job.CodeReservedID, job.CodeBadID, ""} {
		got := ""
		if lines[i].Err != nil {
			got = lines[i].Err.Code
		}
		if got != want {
			t.Errorf("line %d: %+v, want code %q", i+1, lines[i].Err, want)
		}
	}
	if lines[5].ID != "tenant-a.42" {
		t.Fatalf("a good id: %q", lines[5].ID)
	}
}
