package worker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sieve-project/sieve/internal/config"
	"github.com/sieve-project/sieve/internal/policy"
	"github.com/sieve-project/sieve/job"
)

// TestRequestIDsAreNotQueued: a job published on the queue under a
// request/reply id (_req.…) is rejected, as every other id of sieve's
// own is: that namespace is for the ids sieve gives request/reply jobs.
func TestRequestIDsAreNotQueued(t *testing.T) {
	e := start(t, opts{})
	e.publishRaw("sieve.jobs._req.0123abcd", hi("hi"))
	r := e.result("_req.0123abcd")
	if r.Status != job.Rejected || r.Error == nil || r.Error.Code != job.CodeReservedID {
		t.Fatalf("result %+v, want rejected reserved_id", r)
	}
	e.queueEmpty()
}

// The faults below each leave an accepted job with exactly one stored
// result: never none (an id that answers nothing), never two.

// TestResultTooLargeIsCut: a job under queue.max_payload whose rejection
// carries more input hits than a NATS message holds (the prompt is "darn"
// 200,000 times, under an input flag list) stores its result with the
// first hits and a count of the rest.
func TestResultTooLargeIsCut(t *testing.T) {
	cfg := config.Default()
	cfg.Filter.Lists = []config.List{{Name: "watch", Action: "flag", Match: "word", ApplyTo: []string{"input"}, Words: []string{"darn"}}}
	filters, err := policy.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := start(t, opts{filters: filters, queue: func(q *config.Queue) { q.MaxPayload = 1 << 20 }})
	body := `{"messages":[{"role":"user","content":"` + strings.Repeat("darn ", 200000) + `"}]}`
	e.submit("big1", []byte(body))
	r := e.result("big1")
	if r.Status != job.Rejected || r.Error.Code != job.CodePromptTooLong {
		t.Fatalf("result %s %+v", r.Status, r.Error)
	}
	if n := len(r.Filter.Input); n == 0 || n+r.Filter.InputOmitted != 200000 {
		t.Fatalf("%d input hits and %d omitted, want 200,000 in all", n, r.Filter.InputOmitted)
	}
	e.queueEmpty()
}

// TestResultsStreamDownLongerThanTheRetries: while the results stream is
// gone no result can be stored, and the job stays queued (every delivery
// hands it back); once the stream is back the job ends in one result, a
// failed one when its deliveries ran out meanwhile.
func TestResultsStreamDownLongerThanTheRetries(t *testing.T) {
	e := start(t, opts{queue: func(q *config.Queue) { q.MaxDeliver = 2 }})
	ctx := context.Background()
	if err := e.js.DeleteStream(ctx, "SIEVE_RESULTS"); err != nil {
		t.Fatal(err)
	}
	e.submitJob(map[string]any{"id": "down1", "messages": user("hi")})
	// Wait for more deliveries than max_deliver allows.
	for i := 0; ; i++ {
		if info := e.workersInfo(); info.NumRedelivered > 0 && info.Delivered.Consumer >= 4 {
			break
		}
		if i > 400 {
			t.Fatalf("the job was not delivered again and again: %+v", e.workersInfo())
		}
		time.Sleep(25 * time.Millisecond)
	}
	if _, err := e.conn.Setup(ctx, e.q, 1); err != nil {
		t.Fatal(err)
	}
	r := e.result("down1")
	if r.Status != job.Failed || r.Error.Code != job.CodeMaxDeliver {
		t.Fatalf("result %s %+v, want failed %s", r.Status, r.Error, job.CodeMaxDeliver)
	}
	e.queueEmpty()
}

// TestDrainAtTheLastDelivery: with max_deliver 1, a job the drain cuts
// short cannot be handed back; it fails, saying why.
func TestDrainAtTheLastDelivery(t *testing.T) {
	e := start(t, opts{pieces: []string{"a", "b", "c"}, loop: true, context: 8192, queue: func(q *config.Queue) { q.MaxDeliver = 1 }})
	e.drainMidJob(e.submitJob(map[string]any{"id": "drained1", "messages": user("hi"), "max_tokens": 4000}))
	r := e.result("drained1")
	if r.Status != job.Failed || r.Error.Code != job.CodeInterrupted {
		t.Fatalf("result %s %+v, want failed %s", r.Status, r.Error, job.CodeInterrupted)
	}
	e.queueEmpty()
}

// TestWorkerKilledAtTheLastDelivery: a worker that takes a job at its
// last delivery and dies leaves it to the next, which ends it with a
// failed result instead of leaving its id to answer nothing.
func TestWorkerKilledAtTheLastDelivery(t *testing.T) {
	q := func(q *config.Queue) { q.AckWait = config.Duration{Duration: time.Second}; q.MaxDeliver = 1 }
	e := start(t, opts{queue: q})
	e.dyingWorkerTakes(map[string]any{"id": "killed1", "messages": user("hi")})
	start(t, opts{conn: e.conn, queue: q})
	r := e.result("killed1")
	if r.Status != job.Failed || r.Error.Code != job.CodeMaxDeliver || r.Attempt != 2 {
		t.Fatalf("result %s %+v (attempt %d), want failed %s at attempt 2", r.Status, r.Error, r.Attempt, job.CodeMaxDeliver)
	}
	if rs := e.results("killed1", time.Second); len(rs) != 1 {
		t.Fatalf("%d results", len(rs))
	}
	e.queueEmpty()
}
