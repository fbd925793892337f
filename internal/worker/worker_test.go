package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sieve-project/sieve/internal/broker"
	"github.com/sieve-project/sieve/internal/config"
	"github.com/sieve-project/sieve/internal/engine"
	"github.com/sieve-project/sieve/internal/filter"
	"github.com/sieve-project/sieve/internal/modelgen"
	"github.com/sieve-project/sieve/internal/policy"
	"github.com/sieve-project/sieve/internal/sievetest"
	"github.com/sieve-project/sieve/internal/worker"
	"github.com/sieve-project/sieve/job"
)

var reply = sievetest.Reply

var lists = []filter.ListSpec{
	{Name: "profanity", Action: filter.Redact, Match: filter.Word, Words: []string{"darn"}},
	{Name: "secrets", Action: filter.Block, ApplyTo: []filter.Where{filter.Input, filter.Output}, Words: []string{"launch code"}},
}

// env is a worker on an embedded NATS server (random port, store in a temp
// folder), the scripted model and the real filter.
type env struct {
	t    *testing.T
	conn *broker.Conn
	nc   *nats.Conn // a client's own connection
	js   jetstream.JetStream
	w    *worker.Worker
	eng  engine.Engine
	q    config.Queue
}

type opts struct {
	pieces   []string
	loop     bool
	parallel int
	context  int // per slot; 0 = 256
	queue    func(*config.Queue)
	conn     *broker.Conn        // join an existing server (a second worker)
	alts     map[string][]string // the scripted model's runner-ups (modelgen.Scripted)
	then     map[string]string
	filters  *policy.Registry // instead of the lists above
}

func start(t *testing.T, o opts) *env {
	t.Helper()
	if o.pieces == nil {
		o.pieces = reply
	}
	so := sievetest.Options{
		Model:    modelgen.Scripted{Pieces: o.pieces, Loop: o.loop, Alternatives: o.alts, Then: o.then},
		Parallel: o.parallel,
		Context:  o.context,
		Registry: o.filters,
		Join:     o.conn,
		Config: func(c *config.Config) {
			if o.queue != nil {
				o.queue(&c.Queue)
			}
		},
	}
	if o.filters == nil {
		flt, err := filter.Compile(lists, filter.Options{Normalize: true})
		if err != nil {
			t.Fatal(err)
		}
		so.Registry = policy.Static(flt)
	}
	se := sievetest.Start(t, so)
	return &env{t: t, conn: se.Conn, nc: se.NC, js: se.JS, w: se.Worker, eng: se.Gen.Engine, q: se.Config.Queue}
}

// submit publishes raw job bytes under id, collecting its chunks.
func (e *env) submit(id string, data []byte) *chunks {
	e.t.Helper()
	c := &chunks{}
	sub, err := e.nc.Subscribe("sieve.stream."+id, func(m *nats.Msg) {
		var ch job.Chunk
		if err := json.Unmarshal(m.Data, &ch); err != nil {
			e.t.Errorf("chunk is not JSON: %q", m.Data)
		}
		c.mu.Lock()
		c.list = append(c.list, ch)
		c.mu.Unlock()
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { sub.Unsubscribe() })
	if err := e.nc.Flush(); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.js.Publish(context.Background(), "sieve.jobs."+id, data, jetstream.WithMsgID(id)); err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) submitJob(j map[string]any) *chunks {
	e.t.Helper()
	b, err := json.Marshal(j)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.submit(j["id"].(string), b)
}

type chunks struct {
	mu   sync.Mutex
	list []job.Chunk
}

func (c *chunks) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for i, ch := range c.list {
		if ch.Seq != i+1 {
			return fmt.Sprintf("<chunk %d has seq %d>", i, ch.Seq)
		}
		b.WriteString(ch.Text)
	}
	return b.String()
}

// results returns every result stored for id, waiting up to d for at
// least one.
func (e *env) results(id string, d time.Duration) []job.Result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cons, err := e.js.OrderedConsumer(ctx, "SIEVE_RESULTS", jetstream.OrderedConsumerConfig{FilterSubjects: []string{"sieve.results." + id}})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []job.Result
	for {
		wait := 200 * time.Millisecond
		if len(out) == 0 {
			wait = time.Until(deadline(ctx))
		}
		if wait <= 0 {
			return out
		}
		msg, err := cons.Next(jetstream.FetchMaxWait(wait))
		if err != nil {
			return out
		}
		var r job.Result
		if err := json.Unmarshal(msg.Data(), &r); err != nil {
			e.t.Fatalf("result is not JSON: %q", msg.Data())
		}
		out = append(out, r)
	}
}

func deadline(ctx context.Context) time.Time { d, _ := ctx.Deadline(); return d }

// result waits for the one result of id.
func (e *env) result(id string) job.Result {
	e.t.Helper()
	rs := e.results(id, 20*time.Second)
	if len(rs) != 1 {
		e.t.Fatalf("job %s: %d results, want exactly 1: %+v", id, len(rs), rs)
	}
	return rs[0]
}

// queueEmpty polls until the jobs stream holds nothing: every job was
// acked or terminated.
func (e *env) queueEmpty() {
	e.t.Helper()
	for i := 0; i < 200; i++ {
		s, err := e.js.Stream(context.Background(), "SIEVE_JOBS")
		if err != nil {
			e.t.Fatal(err)
		}
		info, err := s.Info(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		if info.State.Msgs == 0 {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	e.t.Fatal("jobs stream never emptied: a job was not acked or terminated")
}

// workersInfo returns the state of the shared workers' consumer.
func (e *env) workersInfo() *jetstream.ConsumerInfo {
	e.t.Helper()
	cons, err := e.js.Consumer(context.Background(), "SIEVE_JOBS", "SIEVE_WORKERS")
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := cons.Info(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return info
}

func user(s string) []map[string]string { return []map[string]string{{"role": "user", "content": s}} }

func TestCompletedBlockedAndStreamed(t *testing.T) {
	e := start(t, opts{pieces: []string{"Oh", " dar", "n", ",", " fine", "."}})
	c := e.submitJob(map[string]any{"id": "j1", "messages": user("hi"), "metadata": map[string]any{"k": "v"}})
	r := e.result("j1")
	if r.Status != job.Completed || r.FinishReason != "stop" || r.Text != "Oh ***, fine." || r.Worker != "test/1" || r.Attempt != 1 || r.Metadata["k"] != "v" {
		t.Fatalf("result %+v", r)
	}
	if got := c.text(); got != r.Text {
		t.Fatalf("chunks %q, result text %q", got, r.Text)
	}
	c.mu.Lock()
	for _, ch := range c.list {
		if ch.Attempt != 1 {
			t.Errorf("chunk %+v: want attempt 1", ch)
		}
	}
	c.mu.Unlock()
	if len(r.Filter.Output) != 1 || r.Filter.Output[0].List != "profanity" {
		t.Fatalf("hits %+v", r.Filter.Output)
	}
	e.queueEmpty()
}

func TestBlockLeaksNothingOnAnySubject(t *testing.T) {
	e := start(t, opts{})
	var mu sync.Mutex
	var seen []string
	sub, err := e.nc.Subscribe(">", func(m *nats.Msg) {
		if strings.HasPrefix(m.Subject, "$JS.API.") {
			return // consumer set-up requests, not job data
		}
		mu.Lock()
		seen = append(seen, m.Subject+" "+string(m.Data))
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	e.nc.Flush()
	c := e.submitJob(map[string]any{"id": "b1", "messages": user("hi")})
	r := e.result("b1")
	if r.Status != job.Filtered || r.FinishReason != "filtered" || r.Text != "Oh ***, the " || c.text() != r.Text {
		t.Fatalf("result %+v chunks %q", r, c.text())
	}
	e.nc.Flush()
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < 3 {
		t.Fatalf("saw only %q: the wildcard subscription tests nothing", seen)
	}
	for _, s := range seen {
		// Hits name the keyword entry ("launch code") by design; the text
		// fields must hold nothing of the match, and nothing after it.
		var body struct{ Text string }
		_, data, _ := strings.Cut(s, " ")
		json.Unmarshal([]byte(data), &body)
		if strings.Contains(body.Text, "launch") || strings.Contains(body.Text, "dar") || strings.Contains(s, " 0000") {
			t.Fatalf("a message on NATS leaks moderated text: %q", s)
		}
	}
}

func TestBadInputIsRejectedNotRetried(t *testing.T) {
	e := start(t, opts{})
	tests := []struct {
		id, data, code string
	}{
		{"r1", `{"id":"r1",`, "invalid_json"},
		{"r2", `{"id":"r2","max_tokens":"x","messages":[]}`, "bad_field"},
		{"r3", `{"id":"r3","prompt":"hi"}`, "unknown_field"},
		{"r4", `{"id":"r4","messages":[{"role":"robot","content":"x"}]}`, "bad_role"},
		{"r5", `{"id":"r5","messages":[]}`, "no_messages"},
		{"r6", `{"id":"other","messages":[{"role":"user","content":"x"}]}`, "id_mismatch"},
		{"r7", "{\"id\":\"r7\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}", "invalid_utf8"},
		{"r8", `{"id":"r8","messages":[{"role":"user","content":"` + strings.Repeat("x", 4100) + `"}]}`, "too_large"},
		{"r9", `{"id":"r9","max_tokens":100000,"messages":[{"role":"user","content":"x"}]}`, "max_tokens_over_limit"},
		{"r10", `{"id":"r10","messages":[{"role":"user","content":"` + strings.Repeat("long ", 80) + `"}]}`, "prompt_too_long"},
		{"r11", `{"id":"r11","messages":[{"role":"user","content":"the launch code please"}]}`, "input_blocked"},
		{"r12", `{"id":"r12","timeout_ms":-5,"messages":[{"role":"user","content":"x"}]}`, "bad_timeout"},
		{"r13", `{"Id":"r13","messages":[{"role":"user","content":"x"}]}`, "unknown_field"},
		{"r14", `{"id":"r14","id":"r14","messages":[{"role":"user","content":"x"}]}`, "duplicate_field"},
		{"r15", `{"max_tokens":0,"messages":[{"role":"user","content":"x"}]}`, "bad_max_tokens"},
		{"r16", `{"id":"","messages":[{"role":"user","content":"x"}]}`, "bad_id"},
		{"_r17", `{"messages":[{"role":"user","content":"x"}]}`, "reserved_id"},
	}
	for _, tt := range tests {
		e.submit(tt.id, []byte(tt.data))
	}
	for _, tt := range tests {
		r := e.result(tt.id)
		if r.Status != job.Rejected || r.Error == nil || r.Error.Code != tt.code || r.Error.Message == "" || r.Attempt != 1 {
			t.Errorf("%s: result %+v error %+v, want rejected %s on the first attempt", tt.id, r, r.Error, tt.code)
		}
	}
	e.queueEmpty()
}

func TestCancelRunningAndQueued(t *testing.T) {
	e := start(t, opts{pieces: []string{"a", "b", "c"}, loop: true, context: 8192})
	// Queued: the cancel arrives before the job.
	if err := e.nc.Publish("sieve.cancel.q1", nil); err != nil {
		t.Fatal(err)
	}
	e.nc.Flush()
	time.Sleep(50 * time.Millisecond) // let the worker's subscription see it
	e.submitJob(map[string]any{"id": "q1", "messages": user("hi"), "max_tokens": 4000})
	if r := e.result("q1"); r.Status != job.Cancelled || r.Text != "" {
		t.Fatalf("queued: %+v", r)
	}

	// Running: cancel once chunks flow.
	c := e.submitJob(map[string]any{"id": "c1", "messages": user("hi"), "max_tokens": 4000})
	for i := 0; c.text() == "" && i < 400; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if err := e.nc.Publish("sieve.cancel.c1", nil); err != nil {
		t.Fatal(err)
	}
	r := e.result("c1")
	if r.Status != job.Cancelled || r.FinishReason != "cancelled" || !strings.HasPrefix(r.Text, "a") || len(r.Text) > 3000 {
		t.Fatalf("running: %+v", r)
	}
	e.queueEmpty()
}

func TestDeadlines(t *testing.T) {
	e := start(t, opts{pieces: []string{"a", "b", "c"}, loop: true, context: 8192})
	e.submitJob(map[string]any{"id": "d1", "messages": user("hi"), "max_tokens": 4000, "timeout_ms": 300})
	r := e.result("d1")
	if r.Status != job.Completed || r.FinishReason != "deadline" || r.Text == "" {
		t.Fatalf("during generation: %+v", r)
	}
	// Expired before start: the only slot is busy past the job's deadline.
	e.submitJob(map[string]any{"id": "d2", "messages": user("hi"), "max_tokens": 4000, "timeout_ms": 1500})
	e.submitJob(map[string]any{"id": "d3", "messages": user("hi"), "timeout_ms": 100})
	if r := e.result("d3"); r.Status != job.Expired || r.Text != "" {
		t.Fatalf("before start: %+v", r)
	}
	e.result("d2")
}

func TestEngineFailureRetriesThenFails(t *testing.T) {
	e := start(t, opts{queue: func(q *config.Queue) { q.MaxDeliver = 3 }})
	// A closed engine fails every generation, as a broken one would.
	e.eng.Close()
	e.submitJob(map[string]any{"id": "f1", "messages": user("hi")})
	r := e.result("f1")
	if r.Status != job.Failed || r.Error == nil || r.Error.Code != "engine_error" || r.Attempt != 3 ||
		!strings.Contains(r.Error.Message, "after 3 of 3 deliveries") {
		t.Fatalf("result %+v error %+v, want failed on the 3rd delivery", r, r.Error)
	}
	e.queueEmpty()
}

func TestRequestReply(t *testing.T) {
	e := start(t, opts{pieces: []string{"Oh", " dar", "n", "."}})
	// Plain: the reply is the result.
	msg, err := e.nc.Request("sieve.generate", []byte(`{"messages":[{"role":"user","content":"hi"}]}`), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var r job.Result
	if err := json.Unmarshal(msg.Data, &r); err != nil || r.Status != job.Completed || r.Text != "Oh ***." || !strings.HasPrefix(r.ID, job.RequestIDPrefix) {
		t.Fatalf("reply %q (%v)", msg.Data, err)
	}
	// Streaming: chunks to the reply subject, then the final result.
	inbox := nats.NewInbox()
	sub, err := e.nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	req := nats.NewMsg("sieve.generate")
	req.Reply = inbox
	req.Header.Set(worker.HeaderStream, "true")
	req.Data = []byte(`{"messages":[{"role":"user","content":"hi"}]}`)
	if err := e.nc.PublishMsg(req); err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	streamedID := ""
	for {
		m, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if m.Header.Get(worker.HeaderFinal) == "true" {
			if err := json.Unmarshal(m.Data, &r); err != nil || r.Text != text.String() || r.ID != streamedID {
				t.Fatalf("final %q after chunks %q", m.Data, text.String())
			}
			break
		}
		var c job.Chunk
		if err := json.Unmarshal(m.Data, &c); err != nil || !strings.HasPrefix(c.ID, job.RequestIDPrefix) || (streamedID != "" && c.ID != streamedID) {
			t.Fatalf("chunk %q", m.Data)
		}
		streamedID = c.ID
		text.WriteString(c.Text)
	}
	if text.String() != "Oh ***." {
		t.Fatalf("streamed %q", text.String())
	}
	// Check endpoint.
	msg, err = e.nc.Request("sieve.check", []byte("well DARN it"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var chk filter.CheckResult
	if err := json.Unmarshal(msg.Data, &chk); err != nil || chk.Text != "well *** it" || len(chk.Hits) != 1 || chk.Blocked {
		t.Fatalf("check reply %q", msg.Data)
	}
	// Rejections come back as results too.
	msg, err = e.nc.Request("sieve.generate", []byte(`{"messages":[]}`), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(msg.Data, &r); err != nil || r.Status != job.Rejected || r.Error.Code != "no_messages" {
		t.Fatalf("reply %q", msg.Data)
	}
}

// TestWorkerDiesJobRedelivered: a worker that fetched a job and died
// without acking leaves it to be redelivered to the next worker, and the
// id still gets exactly one completed result.
// dyingWorkerTakes stops e's worker, so it takes nothing more, submits
// j, and takes it as a worker that dies would: fetched from the shared
// consumer, never acked.
func (e *env) dyingWorkerTakes(j map[string]any) *chunks {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	e.w.Shutdown(ctx)
	cancel()
	cons, err := e.js.Consumer(context.Background(), "SIEVE_JOBS", "SIEVE_WORKERS")
	if err != nil {
		e.t.Fatal(err)
	}
	c := e.submitJob(j)
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for range batch.Messages() {
		n++
	}
	if n != 1 {
		e.t.Fatalf("dying worker fetched %d jobs, want 1", n)
	}
	return c
}

// drainMidJob waits until the job streaming into c has text, then drains
// the worker with almost no time, so the job is cut short.
func (e *env) drainMidJob(c *chunks) {
	e.t.Helper()
	for i := 0; c.text() == "" && i < 400; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := e.w.Shutdown(ctx); err != nil {
		e.t.Fatal(err)
	}
}

func TestWorkerDiesJobRedelivered(t *testing.T) {
	e := start(t, opts{queue: func(q *config.Queue) { q.AckWait = config.Duration{Duration: time.Second} }})
	c := e.dyingWorkerTakes(map[string]any{"id": "x1", "messages": user("hi")})
	// A second worker on the same server gets it after ack_wait.
	start(t, opts{conn: e.conn, queue: func(q *config.Queue) { q.AckWait = config.Duration{Duration: time.Second} }})
	r := e.result("x1")
	if r.Status != job.Filtered || r.Attempt != 2 {
		t.Fatalf("redelivered: %+v (want attempt 2)", r)
	}
	c.mu.Lock()
	if len(c.list) == 0 || c.list[0].Attempt != 2 {
		t.Errorf("chunks %+v: want them from attempt 2", c.list)
	}
	c.mu.Unlock()
	if rs := e.results("x1", 2*time.Second); len(rs) != 1 {
		t.Fatalf("%d results for x1", len(rs))
	}
}

func TestDrainHandsBackRunningJobs(t *testing.T) {
	e := start(t, opts{pieces: []string{"a", "b", "c"}, loop: true, context: 8192, queue: func(q *config.Queue) { q.AckWait = config.Duration{Duration: 30 * time.Second} }})
	e.drainMidJob(e.submitJob(map[string]any{"id": "long", "messages": user("hi"), "max_tokens": 4000, "timeout_ms": 600000}))
	if rs := e.results("long", time.Second); len(rs) != 0 {
		t.Fatalf("a drained job published a result: %+v", rs)
	}
	// Handed back: the job is pending in the stream again, for another
	// worker.
	info := e.workersInfo()
	if info.NumPending+uint64(info.NumAckPending)+uint64(info.NumRedelivered) == 0 {
		t.Fatalf("job not handed back: %+v", info)
	}
}

func TestLengthOverNATS(t *testing.T) {
	e := start(t, opts{pieces: []string{"a", "b", "c"}, loop: true})
	e.submitJob(map[string]any{"id": "l1", "messages": user("hi"), "max_tokens": 5})
	if r := e.result("l1"); r.Status != job.Completed || r.FinishReason != "length" || r.Text != "abcab" || r.Usage.CompletionTokens != 5 {
		t.Fatalf("result %+v", r)
	}
}

// TestDuplicateIDWhileRunning: a second job under the id of a running one
// (published under another message id, so JetStream did not drop it) is
// rejected, and the running one still stores its own result.
// TestDuplicateIDWhileRunning: while a job waits or runs, the server
// refuses another published under its id, and the job's one result is its
// own.
func TestDuplicateIDWhileRunning(t *testing.T) {
	e := start(t, opts{pieces: []string{"a", "b", "c"}, loop: true, parallel: 2, context: 8192})
	data := []byte(`{"id":"dup","max_tokens":4000,"timeout_ms":1500,"messages":[{"role":"user","content":"hi"}]}`)
	c := e.submit("dup", data)
	for i := 0; c.text() == "" && i < 400; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	_, err := e.js.Publish(context.Background(), "sieve.jobs.dup", []byte(`{"messages":[{"role":"user","content":"another"}]}`), jetstream.WithMsgID("dup-again"))
	if err == nil || !strings.Contains(err.Error(), "maximum messages per subject") {
		t.Fatalf("second job under a running id: publish error %v, want refused", err)
	}
	r := e.result("dup")
	if r.Status != job.Completed || r.FinishReason != "deadline" || !strings.HasPrefix(r.Text, "abc") {
		t.Fatalf("result %+v, want the running job's own", r)
	}
	e.queueEmpty()
}

// TestLongGenerationIsNotRedelivered: a job running longer than ack_wait
// keeps its delivery, thanks to the in-progress signals.
func TestLongGenerationIsNotRedelivered(t *testing.T) {
	e := start(t, opts{pieces: []string{"a", "b", "c"}, loop: true, context: 8192, queue: func(q *config.Queue) { q.AckWait = config.Duration{Duration: time.Second} }})
	e.submitJob(map[string]any{"id": "slow", "messages": user("hi"), "max_tokens": 4000, "timeout_ms": 3000})
	r := e.result("slow")
	if r.Attempt != 1 || r.FinishReason != "deadline" {
		t.Fatalf("result %+v, want the first delivery to finish at its deadline", r)
	}
	if rs := e.results("slow", 2*time.Second); len(rs) != 1 {
		t.Fatalf("%d results", len(rs))
	}
	e.queueEmpty()
}

// TestPullsOnlyFreeSlots: a worker with one slot leaves the second job in
// the queue, where another worker could take it.
func TestPullsOnlyFreeSlots(t *testing.T) {
	e := start(t, opts{pieces: []string{"a", "b", "c"}, loop: true, context: 8192})
	c := e.submitJob(map[string]any{"id": "p1", "messages": user("hi"), "max_tokens": 4000, "timeout_ms": 2000})
	e.submitJob(map[string]any{"id": "p2", "messages": user("hi"), "max_tokens": 4000, "timeout_ms": 60000})
	for i := 0; c.text() == "" && i < 400; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	info := e.workersInfo()
	if info.NumAckPending != 1 || info.NumPending != 1 {
		t.Fatalf("ack pending %d, pending %d: want 1 running and 1 left in the queue", info.NumAckPending, info.NumPending)
	}
	e.nc.Publish("sieve.cancel.p2", nil)
	e.result("p1")
	e.result("p2")
}
