package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/sieve-project/sieve/internal/engine"
	"github.com/sieve-project/sieve/internal/filter"
	"github.com/sieve-project/sieve/internal/modelgen"
	"github.com/sieve-project/sieve/internal/pipeline"
	"github.com/sieve-project/sieve/internal/policy"
	"github.com/sieve-project/sieve/internal/sievetest"
	"github.com/sieve-project/sieve/job"
)

var lists = []filter.ListSpec{
	{Name: "profanity", Action: filter.Redact, Match: filter.Word, Words: []string{"darn"}},
	{Name: "secrets", Action: filter.Block, ApplyTo: []filter.Where{filter.Input, filter.Output}, Words: []string{"launch code"}},
	{Name: "watch", Action: filter.Flag, ApplyTo: []filter.Where{filter.Input}, Words: []string{"printer"}},
}

func runner(t *testing.T, pieces []string, loop bool) *pipeline.Runner {
	return runnerCtx(t, pieces, loop, 256)
}

// runnerCtx gives the slot ctx tokens: looping models need room so that a
// full context never ends them before the test does.
func runnerCtx(t *testing.T, pieces []string, loop bool, ctx int) *pipeline.Runner {
	t.Helper()
	f, err := filter.Compile(lists, filter.Options{Normalize: true})
	if err != nil {
		t.Fatal(err)
	}
	return sievetest.Generator(t, sievetest.Options{Model: modelgen.Scripted{Pieces: pieces, Loop: loop}, Context: ctx, Registry: policy.Static(f)}).Runner()
}

func user(s string) []job.Message { return []job.Message{{Role: job.RoleUser, Content: s}} }

// body is j as it travels: its id is the transport's, not the body's.
func body(j job.Job) ([]byte, string) {
	id := j.ID
	j.ID = ""
	b, err := json.Marshal(j)
	if err != nil {
		panic(err)
	}
	return b, id
}

// run collects the chunks and checks they add up to the result's text.
func run(t *testing.T, r *pipeline.Runner, ctx context.Context, j job.Job) (job.Result, []string) {
	t.Helper()
	data, id := body(j)
	return runData(t, r, ctx, data, id)
}

func runData(t *testing.T, r *pipeline.Runner, ctx context.Context, data []byte, id string) (job.Result, []string) {
	t.Helper()
	var chunks []string
	res := r.Run(ctx, data, id, func(s string) error { chunks = append(chunks, s); return nil })
	if got := strings.Join(chunks, ""); got != res.Text {
		t.Fatalf("chunks %q join to %q, result text %q", chunks, got, res.Text)
	}
	return res, chunks
}

func TestRedactAcrossTokens(t *testing.T) {
	r := runner(t, []string{"Oh", " dar", "n", ", the", " ＤＡＲＮ", " printer", "."}, false)
	res, chunks := run(t, r, context.Background(), job.Job{ID: "a", Messages: user("my printer broke")})
	if res.Status != job.Completed || res.FinishReason != "stop" || res.Text != "Oh ***, the *** printer." {
		t.Fatalf("got %+v", res)
	}
	for _, c := range chunks {
		if strings.Contains(strings.ToLower(c), "dar") || strings.Contains(c, "ＤＡ") {
			t.Fatalf("chunk %q leaks part of a keyword", c)
		}
	}
	if len(res.Filter.Output) != 2 || res.Filter.Output[0].Start != 3 || res.Filter.Output[0].End != 6 {
		t.Fatalf("output hits %+v", res.Filter.Output)
	}
	if len(res.Filter.Input) != 1 || res.Filter.Input[0].List != "watch" || *res.Filter.Input[0].Message != 1 {
		t.Fatalf("input hits %+v (message 1: after the default system prompt)", res.Filter.Input)
	}
}

func TestBlockPublishesNothingOfTheMatch(t *testing.T) {
	r := runner(t, []string{"Sure", ", the", " launch", " co", "de is", " 0000", "."}, false)
	res, chunks := run(t, r, context.Background(), job.Job{ID: "b", Messages: user("what is it?")})
	if res.Status != job.Filtered || res.FinishReason != "filtered" || res.Text != "Sure, the " {
		t.Fatalf("got %+v", res)
	}
	all := strings.Join(chunks, "")
	for _, leak := range []string{"launch", "0000"} {
		if strings.Contains(all, leak) {
			t.Fatalf("chunks %q leak %q", chunks, leak)
		}
	}
}

func TestRejections(t *testing.T) {
	r := runner(t, []string{"ok"}, false)
	n := func(v int) *int { return &v }
	f := func(v float64) *float64 { return &v }
	seed := uint32(engine.RandomSeed)
	tests := []struct {
		name string
		j    job.Job
		code string
		says string
	}{
		{"no messages", job.Job{ID: "x"}, "no_messages", "messages is empty"},
		{"bad role", job.Job{ID: "x", Messages: []job.Message{{Role: "tool", Content: "x"}}}, "bad_role", `"tool"`},
		{"max tokens over limit", job.Job{ID: "x", Messages: user("hi"), MaxTokens: n(99999)}, "max_tokens_over_limit", "max_tokens 99999"},
		{"temperature", job.Job{ID: "x", Messages: user("hi"), Sampling: job.Sampling{Temperature: f(-1)}}, "bad_sampling", "temperature -1"},
		{"top_p", job.Job{ID: "x", Messages: user("hi"), Sampling: job.Sampling{TopP: f(0)}}, "bad_sampling", "top_p 0"},
		{"reserved seed", job.Job{ID: "x", Messages: user("hi"), Sampling: job.Sampling{Seed: &seed}}, "bad_sampling", "seed"},
		{"a good stop string is not rejected", job.Job{ID: "x", Messages: user("hi"), Stop: []string{"."}}, "", ""},
		{"empty stop string", job.Job{ID: "x", Messages: user("hi"), Stop: []string{""}}, "bad_stop", "stop[0]"},
		{"prompt too long", job.Job{ID: "x", Messages: user(strings.Repeat("long ", 200))}, "prompt_too_long", "a slot holds 256"},
		{"max_tokens 0", job.Job{ID: "x", Messages: user("hi"), MaxTokens: n(0)}, "bad_max_tokens", "at least 1"},
		{"unknown policy", job.Job{ID: "x", Messages: user("hi"), Policy: "strict"}, "unknown_policy", `"strict"`},
		{"default policy by name", job.Job{ID: "x", Messages: user("hi"), Policy: "default"}, "", ""},
		{"input blocked", job.Job{ID: "x", Messages: user("tell me the LAUNCH code")}, "input_blocked", `list "secrets"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, chunks := run(t, r, context.Background(), tt.j)
			checkRejection(t, res, chunks, tt.code, tt.says)
		})
	}
	t.Run("invalid UTF-8", func(t *testing.T) {
		res, chunks := runData(t, r, context.Background(), []byte("{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}"), "x")
		checkRejection(t, res, chunks, "invalid_utf8", "UTF-8")
	})
}

func checkRejection(t *testing.T, res job.Result, chunks []string, code, says string) {
	t.Helper()
	if code == "" {
		if res.Status != job.Completed {
			t.Fatalf("got %+v", res)
		}
		return
	}
	if res.Status != job.Rejected || res.Error == nil || res.Error.Code != code || !strings.Contains(res.Error.Message, says) {
		t.Fatalf("got %+v (error %+v), want rejected %s saying %q", res, res.Error, code, says)
	}
	if len(chunks) != 0 || res.ID != "x" {
		t.Fatalf("rejected job streamed %q or lost its id", chunks)
	}
}

func TestChunkErrorFails(t *testing.T) {
	r := runner(t, []string{"a", "b", "c"}, true)
	data, id := body(job.Job{ID: "c", Messages: user("hi")})
	res := r.Run(context.Background(), data, id, func(string) error { return errors.New("nats: connection closed") })
	if res.Status != job.Failed || res.Error == nil || res.Error.Code != "publish_failed" {
		t.Fatalf("got %+v", res)
	}
}

func TestCancelled(t *testing.T) {
	r := runnerCtx(t, []string{"a", "b", "c"}, true, 8192)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	data, id := body(job.Job{ID: "d", Messages: user("hi")})
	res := r.Run(ctx, data, id, func(string) error {
		if n++; n == 3 {
			cancel()
		}
		return nil
	})
	if res.Status != job.Cancelled || res.FinishReason != "cancelled" || !strings.HasPrefix(res.Text, "abc") {
		t.Fatalf("got %+v", res)
	}
}
