package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sieve-project/sieve/internal/config"
	"github.com/sieve-project/sieve/internal/policy"
	"github.com/sieve-project/sieve/job"
)

// The job contract: an id names one job, its one result is its own, and a
// body gets one verdict whichever way it arrives. Each of the first four
// tests is a way the contract was broken, tried from outside as a client
// (or an attacker) would, on a real embedded server.

// publishRaw publishes like `nats pub`: core NATS, no Nats-Msg-Id, no ack.
func (e *env) publishRaw(subject, data string) {
	e.t.Helper()
	if err := e.nc.Publish(subject, []byte(data)); err != nil {
		e.t.Fatal(err)
	}
	if err := e.nc.Flush(); err != nil {
		e.t.Fatal(err)
	}
}

// watch collects what is published on subject from now on.
func (e *env) watch(subject string) func() []string {
	e.t.Helper()
	ch := make(chan *nats.Msg, 1024)
	sub, err := e.nc.ChanSubscribe(subject, ch)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { sub.Unsubscribe() })
	if err := e.nc.Flush(); err != nil {
		e.t.Fatal(err)
	}
	var got []string
	return func() []string {
		e.nc.Flush()
		for {
			select {
			case m := <-ch:
				got = append(got, string(m.Data))
			default:
				return got
			}
		}
	}
}

func hi(s string) string { return `{"messages":[{"role":"user","content":"` + s + `"}]}` }

// TestReusedIDIsTheSameJob: an id used again while its result is kept
// names the same job: the second job is acked without running, and its
// caller reads the one stored result. (It used to run again, streaming a
// text its result never had, and then lose its result to the first.)
func TestReusedIDIsTheSameJob(t *testing.T) {
	e := start(t, opts{})
	e.publishRaw("sieve.jobs.reuse1", `{"id":"reuse1",`+hi("first")[1:])
	first := e.result("reuse1")
	e.queueEmpty()
	chunks := e.watch("sieve.stream.reuse1")
	e.publishRaw("sieve.jobs.reuse1", `{"id":"reuse1","messages":[{"role":"user","content":"second"}],"max_tokens":2}`)
	e.queueEmpty()
	if c := chunks(); len(c) != 0 {
		t.Fatalf("the reused id ran again, streaming %q", c)
	}
	rs := e.results("reuse1", time.Second)
	if len(rs) != 1 || rs[0].Text != first.Text || rs[0].Usage != first.Usage {
		t.Fatalf("results %+v, want the first job's alone", rs)
	}
}

// TestDuplicateNeverTouchesTheRunningJob: a second job under a running
// id, published like `nats pub`, is refused by the server; nothing lands
// on the running job's result subject but its own result. (The
// duplicate's rejection used to be stored there first.)
func TestDuplicateNeverTouchesTheRunningJob(t *testing.T) {
	e := start(t, opts{pieces: []string{"a", "b", "c"}, loop: true, parallel: 2, context: 8192})
	c := e.submit("busy", []byte(`{"max_tokens":4000,"timeout_ms":1500,`+hi("go")[1:]))
	for i := 0; c.text() == "" && i < 400; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	e.publishRaw("sieve.jobs.busy", hi("me too"))
	rs := e.results("busy", 5*time.Second)
	if len(rs) != 1 || rs[0].Status != job.Completed || rs[0].FinishReason != "deadline" {
		t.Fatalf("results %+v, want only the running job's own", rs)
	}
	e.queueEmpty()
	if rs := e.results("busy", 300*time.Millisecond); len(rs) != 1 {
		t.Fatalf("%d results after the queue emptied, want 1", len(rs))
	}
}

// TestDottedIDIsItsOwn: an id may span tokens; a job published on
// sieve.jobs.x.y is job x.y, and job x_y keeps its result. (A dotted id
// used to fall back to x_y and take over that job's result.)
func TestDottedIDIsItsOwn(t *testing.T) {
	e := start(t, opts{pieces: []string{"ok"}})
	e.publishRaw("sieve.jobs.x.y", `{"id":"x.y",`+hi("dots")[1:])
	dotted := e.result("x.y")
	e.publishRaw("sieve.jobs.x_y", hi("underscore"))
	under := e.result("x_y")
	if dotted.Status != job.Completed || under.Status != job.Completed || dotted.ID != "x.y" || under.ID != "x_y" {
		t.Fatalf("x.y: %+v, x_y: %+v; want each completed under its own id", dotted, under)
	}
}

// TestBodyCannotClaimAnotherID: the subject names the job. A body naming
// another id is rejected under the subject's id, and so is a body whose
// field names differ from the job's in case or appear twice. (The result
// used to follow the body's id: anyone could write a victim's result.)
func TestBodyCannotClaimAnotherID(t *testing.T) {
	e := start(t, opts{pieces: []string{"mine"}})
	e.publishRaw("sieve.jobs.mine", `{"id":"victim",`+hi("x")[1:])
	e.publishRaw("sieve.jobs.a", `{"id":"a","Id":"b",`+hi("x")[1:])
	e.publishRaw("sieve.jobs.c", `{"id":"c","id":"d",`+hi("x")[1:])
	for id, code := range map[string]string{"mine": job.CodeIDMismatch, "a": job.CodeUnknownField, "c": job.CodeDuplicateField} {
		if r := e.result(id); r.Status != job.Rejected || r.Error.Code != code {
			t.Errorf("%s: %+v, want rejected %s", id, r, code)
		}
	}
	e.queueEmpty()
	for _, id := range []string{"victim", "b", "d"} {
		if rs := e.results(id, 300*time.Millisecond); len(rs) != 0 {
			t.Errorf("results stored under %s: %+v", id, rs)
		}
	}
	e.publishRaw("sieve.jobs.victim", hi("mine"))
	if r := e.result("victim"); r.Status != job.Completed {
		t.Fatalf("the victim's own job: %+v", r)
	}
}

// TestSubmitTwiceGetsTheOneResult: a caller that submits while a job with
// its id is queued or running gets that job's result, not an error.
func TestSubmitTwiceGetsTheOneResult(t *testing.T) {
	e := start(t, opts{pieces: []string{"a", "b", "c"}, loop: true, parallel: 2, context: 8192})
	body := []byte(`{"max_tokens":300,` + hi("go")[1:])
	results := make(chan job.Result, 2)
	for i := 0; i < 2; i++ {
		go func() {
			r, err := e.conn.Submit(context.Background(), "twice", body, nil)
			if err != nil {
				t.Error(err)
			}
			results <- r
		}()
	}
	a, b := <-results, <-results
	if a.Status != job.Completed || a.Text != b.Text || a.Usage != b.Usage || a.Worker != b.Worker {
		t.Fatalf("two submissions, two answers:\n%+v\n%+v", a, b)
	}
	if rs := e.results("twice", 300*time.Millisecond); len(rs) != 1 {
		t.Fatalf("%d results stored, want 1", len(rs))
	}
}

// TestOneVerdictEveryPath sends each body of a hostile corpus as a queued
// job (under a fresh id) and as a request/reply job, and wants the same
// status and error code from both.
func TestOneVerdictEveryPath(t *testing.T) {
	e := start(t, opts{pieces: []string{"fine"}, parallel: 4})
	corpus := hostileCorpus()
	if len(corpus) < 150 {
		t.Fatalf("the corpus has %d bodies, want at least 150", len(corpus))
	}
	for i, body := range corpus {
		e.publishRaw(fmt.Sprintf("sieve.jobs.c%d", i), body)
	}
	results := e.allResults(len(corpus))
	statuses := map[string]int{}
	for i, body := range corpus {
		queued, ok := results[fmt.Sprintf("c%d", i)]
		if !ok {
			t.Fatalf("body %d: no result", i)
		}
		msg, err := e.nc.Request("sieve.generate", []byte(body), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var direct job.Result
		if err := json.Unmarshal(msg.Data, &direct); err != nil {
			t.Fatalf("body %d: reply %q is not a result", i, msg.Data)
		}
		if verdict(queued) != verdict(direct) {
			t.Errorf("body %d %.120q: queued %s, request/reply %s", i, body, verdict(queued), verdict(direct))
		}
		if queued.Status == job.Rejected && (queued.Error == nil || queued.Error.Message == "") {
			t.Errorf("body %d: rejected without a message", i)
		}
		statuses[verdict(queued)]++
	}
	t.Logf("verdicts: %v", statuses)
	if statuses["completed/"] == 0 || len(statuses) < 15 {
		t.Fatalf("the corpus should hit many verdicts and some successes: %v", statuses)
	}
	e.queueEmpty()
}

// allResults reads results from the results stream until it has n, each
// id once.
func (e *env) allResults(n int) map[string]job.Result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cons, err := e.js.OrderedConsumer(ctx, "SIEVE_RESULTS", jetstream.OrderedConsumerConfig{FilterSubjects: []string{"sieve.results.>"}})
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]job.Result{}
	for len(out) < n {
		msg, err := cons.Next(jetstream.FetchMaxWait(time.Until(deadline(ctx))))
		if err != nil {
			e.t.Fatalf("%d of %d results: %v", len(out), n, err)
		}
		var r job.Result
		if err := json.Unmarshal(msg.Data(), &r); err != nil {
			e.t.Fatalf("result is not JSON: %q", msg.Data())
		}
		if _, dup := out[r.ID]; dup {
			e.t.Fatalf("a second result for %s", r.ID)
		}
		out[r.ID] = r
	}
	return out
}

func verdict(r job.Result) string {
	if r.Error != nil {
		return string(r.Status) + "/" + r.Error.Code
	}
	return string(r.Status) + "/"
}

// hostileCorpus is bodies a careless or hostile client sends.
func hostileCorpus() []string {
	const m = `"messages":[{"role":"user","content":"hi"}]`
	with := func(field, value string) string { return `{` + m + `,"` + field + `":` + value + `}` }
	c := []string{
		`{` + m + `}`,
		`{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"},{"role":"assistant","content":"yes"},{"role":"user","content":"more"}]}`,
		// The table.
		with("timeout_ms", "-1"), with("timeout_ms", "0"), with("timeout_ms", "9223372036855"),
		`{"id":"",` + m + `}`, `{"id":null,` + m + `}`, `null`,
		with("max_tokens", "0"),
		with("metadata", strings.Repeat(`{"a":`, 1000)+"1"+strings.Repeat("}", 1000)),
		// Not a job at all.
		``, ` `, `[]`, `[` + `{` + m + `}]`, `"hi"`, `42`, `true`, `{`, `}`, `{` + m + `}{}`, `{` + m + `} trailing`,
		`{` + m + `,}`, `{'messages':[]}`, "{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}",
		"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"metadata\":{\"\xc0\":1}}",
		`{"messages":[{"role":"user","content":"` + strings.Repeat("x", 5000) + `"}]}`,
		// Messages.
		`{}`, `{"messages":null}`, `{"messages":[]}`, `{"messages":"hi"}`, `{"messages":[1]}`, `{"messages":[{}]}`,
		`{"messages":[null]}`, `{"messages":[["user","hi"]]}`, `{"messages":[{"role":"user"}]}`,
		`{"messages":[{"content":"hi"}]}`, `{"messages":[{"role":"User","content":"hi"}]}`,
		`{"messages":[{"role":"tool","content":"hi"}]}`, `{"messages":[{"role":"user","content":5}]}`,
		`{"messages":[{"role":"user","content":"hi","name":"x"}]}`, `{"messages":[{"Role":"user","content":"hi"}]}`,
		`{"messages":[{"role":"user","content":"a","content":"b"}]}`, `{"messages":[{"role":"user","content":{"text":"hi"}}]}`,
		`{"messages":[{"role":"user","content":"the launch code, please"}]}`,
		`{"messages":[{"role":"user","content":"` + strings.Repeat("long ", 300) + `"}]}`,
		// Stop strings and policies.
		with("stop", `[""]`), with("stop", `["x"]`), with("stop", `"x"`), with("stop", `[1]`), with("stop", `null`),
		with("stop", `[`+strings.Repeat(`"x",`, 16)+`"x"]`), with("stop", `["`+strings.Repeat("y", 257)+`"]`),
		with("stop", strings.Repeat("[", 50)+strings.Repeat("]", 50)),
		with("policy", `"nope"`), with("policy", `"default"`), with("policy", `5`), with("policy", `null`),
		// Metadata.
		with("metadata", `{"k":"v"}`), with("metadata", `[1,2]`), with("metadata", `"s"`), with("metadata", `{"k":1,"k":2}`),
		with("metadata", strings.Repeat(`{"a":`, 32)+"1"+strings.Repeat("}", 32)),
		with("metadata", strings.Repeat(`{"a":`, 33)+"1"+strings.Repeat("}", 33)),
		with("metadata", `{"pad":"`+strings.Repeat("p", 3000)+`"}`),
		// Unknown fields, names in other cases, names given twice.
		with("prompt", `"hi"`), with("model", `"gpt"`), with("", `1`), with("n", `1`),
	}
	for _, f := range []string{"id", "messages", "max_tokens", "temperature", "top_k", "top_p", "min_p", "repeat_penalty", "seed", "stop", "policy", "timeout_ms", "metadata"} {
		c = append(c, `{`+m+`,"`+strings.ToUpper(f[:1])+f[1:]+`":1}`)
		c = append(c, `{`+m+`,"`+strings.ToUpper(f)+`":1}`)
	}
	for _, f := range []string{"max_tokens", "temperature", "top_k", "seed", "policy", "stop"} {
		v := map[string]string{"max_tokens": "5", "temperature": "0.5", "top_k": "4", "seed": "1", "policy": `"default"`, "stop": `["x"]`}[f]
		c = append(c, `{`+m+`,"`+f+`":`+v+`,"`+f+`":`+v+`}`)
	}
	c = append(c, `{"messages":[],`+m+`}`)
	// Every number at its edges and beyond, and things that are not numbers.
	for _, f := range []string{"max_tokens", "temperature", "top_k", "top_p", "min_p", "repeat_penalty", "seed", "timeout_ms"} {
		for _, v := range []string{"-1", "0", "1", "0.5", "1e30", "9223372036854775807", "18446744073709551616", "1e400", "-0",
			`"NaN"`, `"Infinity"`, `"1"`, "true", "null", "[]", "{}"} {
			if f == "timeout_ms" && v == "1" {
				v = "60000" // a 1 ms deadline expires in the queue, and only there
			}
			c = append(c, with(f, v))
		}
	}
	// Ids, in the body: every one is not the job's.
	for _, id := range []string{"*", ">", "a b", "a.*", "a.>", strings.Repeat("i", 300), `\u0000`, `\t`, "é", "a..b", ".a", "_req.1", "tenant.42", "ok-id"} {
		c = append(c, `{"id":"`+id+`",`+m+`}`)
	}
	c = append(c, `{"id":5,`+m+`}`, `{"id":["a"],`+m+`}`, `{"id":{"a":1},`+m+`}`)
	return c
}

// TestAvoidLeaksNothing: under an avoid list, queued and request/reply
// jobs (streamed) come back fluent without the keyword, and a wildcard
// subscriber to every chunk sees no byte of it, nor of any text taken
// back.
func TestAvoidLeaksNothing(t *testing.T) {
	cfg := config.Default()
	cfg.Filter.Lists = []config.List{{Name: "polite", Action: "avoid", Match: "word", Words: []string{"darn"}}}
	filters, err := policy.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := start(t, opts{
		pieces:  []string{"Oh", " ｄａ", "rn", " it", "."},
		alts:    map[string][]string{"Oh": {" gosh"}},
		then:    map[string]string{" gosh": " it"},
		filters: filters,
	})
	all := e.watch("sieve.stream.>")
	results := e.watch("sieve.results.>")
	e.publishRaw("sieve.jobs.polite1", hi("hi"))
	queued := e.result("polite1")
	msg, err := e.nc.Request("sieve.generate", []byte(hi("hi")), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var direct job.Result
	if err := json.Unmarshal(msg.Data, &direct); err != nil {
		t.Fatal(err)
	}
	for _, r := range []job.Result{queued, direct} {
		if r.Status != job.Completed || r.Text != "Oh gosh it." || len(r.Filter.Output) != 1 || r.Filter.Output[0].Action != "avoid" {
			t.Fatalf("result %+v", r)
		}
	}
	seen := append(all(), results()...)
	seen = append(seen, string(msg.Data))
	if len(seen) < 5 {
		t.Fatalf("saw only %q", seen)
	}
	for _, s := range seen {
		if strings.Contains(s, "ｄ") || strings.Contains(s, "ａ") || strings.Contains(s, `"rn"`) || strings.Contains(strings.ToLower(s), "darn") {
			t.Fatalf("a subscriber saw %q", s)
		}
	}
}
