package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/sieve-project/sieve/internal/broker"
	"github.com/sieve-project/sieve/internal/config"
	"github.com/sieve-project/sieve/internal/gateway"
	"github.com/sieve-project/sieve/internal/modelgen"
	"github.com/sieve-project/sieve/internal/sievetest"
	"github.com/sieve-project/sieve/job"
)

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.DiscardHandler)) // the binding's chatter
	os.Exit(m.Run())
}

const model = "scripted"

// Keys of the test door: soft runs the profanity list only (so the
// scripted reply completes), under tenant acme; open runs every list.
const (
	keySoft = "sk-soft-0123456789abcdef"
	keyOpen = "sk-open-0123456789abcdef"
)

// reply is what the scripted model says: a word the profanity list
// redacts, and a phrase the secrets list blocks.
var reply = []string{"Oh", " dar", "n", ", the", " launch", " co", "de", " is", " 0000", "."}

// door is the HTTP door in front of a worker on an embedded NATS server,
// running a scripted model through the real filter.
type door struct {
	t    *testing.T
	url  string
	conn *broker.Conn
	g    *gateway.Gateway
}

type doorOpts struct {
	pieces []string
	loop   bool
	// alternatives are the scripted model's runner-up tokens
	// (modelgen.Scripted.Alternatives), which logprobs report.
	alternatives map[string][]string
	timeouts     *gateway.Timeouts
	// smallSends makes the door's sockets buffer little, so a client
	// that stops reading blocks its writes soon.
	smallSends bool
}

func startDoor(t *testing.T, o doorOpts) *door {
	t.Helper()
	if o.pieces == nil {
		o.pieces = reply
	}
	ctx := context.Background()
	se := sievetest.Start(t, sievetest.Options{
		Model:    modelgen.Scripted{Pieces: o.pieces, Loop: o.loop, Alternatives: o.alternatives, ContextLength: 16384},
		Parallel: 2,
		Context:  8192,
		Lists: []config.List{
			{Name: "profanity", Action: "redact", Match: "word", Words: []string{"darn"}},
			{Name: "secrets", Action: "block", ApplyTo: []string{"input", "output"}, Words: []string{"launch code"}},
		},
		Policies: map[string][]string{"soft": {"profanity"}},
		Config:   func(c *config.Config) { c.Generate.MaxTokensLimit = 8000 },
	})
	log := se.Gen.Log
	gopts := []gateway.Option{gateway.WithKeys([]gateway.Key{{Secret: keySoft, Policy: "soft", Tenant: "acme"}, {Secret: keyOpen}}),
		gateway.WithMaxBody(se.Config.Queue.MaxPayload), gateway.WithLogger(log)}
	if o.timeouts != nil {
		gopts = append(gopts, gateway.WithTimeouts(*o.timeouts))
	}
	g, err := gateway.New(gateway.Config{Conn: se.Conn, Model: model}, gopts...)
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.smallSends {
		ln = smallSendListener{ln}
	}
	g.Start(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := g.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return &door{t: t, url: "http://" + ln.Addr().String(), conn: se.Conn, g: g}
}

// smallSendListener gives every accepted connection a small send buffer.
type smallSendListener struct{ net.Listener }

func (l smallSendListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(4096)
	}
	return c, err
}

// client is the official OpenAI Go SDK, as a user would set it up.
func (d *door) client(key string) openai.Client {
	return openai.NewClient(option.WithBaseURL(d.url+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0))
}

// result reads the job's stored result from NATS, waiting for it.
func (d *door) result(id string) job.Result {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := d.conn.JS.OrderedConsumer(ctx, d.conn.Subjects.ResultsStream(), jetstream.OrderedConsumerConfig{FilterSubjects: []string{d.conn.Subjects.Result(id)}})
	if err != nil {
		d.t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchContext(ctx))
	if err != nil {
		d.t.Fatalf("result of %s: %v", id, err)
	}
	var r job.Result
	if err := json.Unmarshal(msg.Data(), &r); err != nil {
		d.t.Fatal(err)
	}
	return r
}

func user(s string) []openai.ChatCompletionMessageParamUnion {
	return []openai.ChatCompletionMessageParamUnion{openai.UserMessage(s)}
}

// sieveField decodes the response's "sieve" extension.
func sieveField(t *testing.T, raw string) (ext struct {
	ID     string           `json:"id"`
	Status job.Status       `json:"status"`
	Filter job.FilterReport `json:"filter"`
}) {
	t.Helper()
	if err := json.Unmarshal([]byte(raw), &ext); err != nil {
		t.Fatalf("sieve field %q: %v", raw, err)
	}
	return ext
}

func TestSDKCompletion(t *testing.T) {
	d := startDoor(t, doorOpts{})
	ctx := context.Background()
	c := d.client(keySoft)

	var httpResp *http.Response
	resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: model, Messages: user("hello")}, option.WithResponseInto(&httpResp))
	if err != nil {
		t.Fatal(err)
	}
	const want = "Oh ***, the launch code is 0000."
	if len(resp.Choices) != 1 || resp.Choices[0].Message.Content != want || resp.Choices[0].FinishReason != "stop" || resp.Choices[0].Message.Role != "assistant" {
		t.Fatalf("got %+v, want %q with finish stop", resp.Choices, want)
	}
	if resp.Model != model || resp.Object != "chat.completion" || resp.Usage.CompletionTokens != int64(len(reply)) || resp.Usage.TotalTokens != resp.Usage.PromptTokens+resp.Usage.CompletionTokens {
		t.Fatalf("got %+v", resp)
	}
	// The key's tenant names the job; the extension reports the redaction.
	id := httpResp.Header.Get("X-Sieve-Job")
	ext := sieveField(t, resp.JSON.ExtraFields["sieve"].Raw())
	if !strings.HasPrefix(id, "acme.") || ext.ID != id || resp.ID != "chatcmpl-"+id || ext.Status != job.Completed {
		t.Fatalf("job %q, extension %+v, response id %q", id, ext, resp.ID)
	}
	if len(ext.Filter.Output) != 1 || ext.Filter.Output[0].List != "profanity" || ext.Filter.Output[0].Action != "redact" {
		t.Fatalf("filter report %+v", ext.Filter)
	}
	// It is an ordinary job: its result is on NATS.
	if r := d.result(id); r.Text != want || r.Status != job.Completed {
		t.Fatalf("stored result %+v", r)
	}

	// The same through the second shape of max tokens: it cuts the reply.
	resp, err = c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: model, Messages: user("hello"), MaxCompletionTokens: openai.Int(3)})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0]; got.Message.Content != "Oh ***" || got.FinishReason != "length" {
		t.Fatalf("max_completion_tokens 3: got %q, %s", got.Message.Content, got.FinishReason)
	}
	// The same prompt again: all but its last token came from the prompt
	// cache, which usage reports as OpenAI's does.
	if u := resp.Usage; u.PromptTokensDetails.CachedTokens != u.PromptTokens-1 || !resp.Usage.JSON.PromptTokensDetails.Valid() {
		t.Fatalf("usage %+v: want %d cached tokens", u, u.PromptTokens-1)
	}
}

func TestSDKStreaming(t *testing.T) {
	d := startDoor(t, doorOpts{})
	ctx := context.Background()
	c := d.client(keySoft)

	tests := []struct {
		name   string
		params openai.ChatCompletionNewParams
		want   string
		finish string
	}{
		{"whole reply", openai.ChatCompletionNewParams{}, "Oh ***, the launch code is 0000.", "stop"},
		{"stop string", openai.ChatCompletionNewParams{Stop: openai.ChatCompletionNewParamsStopUnion{OfString: openai.String(" is")}}, "Oh ***, the launch code", "stop"},
		{"stop list, seed", openai.ChatCompletionNewParams{Stop: openai.ChatCompletionNewParamsStopUnion{OfStringArray: []string{"zzz", ", the"}}, Seed: openai.Int(7)}, "Oh ***", "stop"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.params
			p.Model, p.Messages = model, user("hello")
			p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			stream := c.Chat.Completions.NewStreaming(ctx, p)
			defer stream.Close()
			var (
				acc     openai.ChatCompletionAccumulator
				deltas  int
				sawExt  bool
				usageIn bool
			)
			for stream.Next() {
				ch := stream.Current()
				acc.AddChunk(ch)
				if len(ch.Choices) > 0 && ch.Choices[0].Delta.Content != "" {
					deltas++
					if strings.Contains(ch.Choices[0].Delta.Content, "darn") {
						t.Fatalf("a chunk carries the redacted word: %q", ch.Choices[0].Delta.Content)
					}
				}
				if len(ch.Choices) > 0 && ch.Choices[0].FinishReason != "" {
					sawExt = sieveField(t, ch.JSON.ExtraFields["sieve"].Raw()).Status == job.Completed
				}
				if len(ch.Choices) == 0 && ch.Usage.CompletionTokens > 0 {
					usageIn = true
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			got := acc.Choices[0]
			if got.Message.Content != tc.want || got.FinishReason != tc.finish {
				t.Fatalf("got %q finish %q, want %q finish %q", got.Message.Content, got.FinishReason, tc.want, tc.finish)
			}
			if deltas < 2 || !sawExt || !usageIn {
				t.Fatalf("%d content deltas, extension on the final chunk %v, usage chunk %v", deltas, sawExt, usageIn)
			}
		})
	}
}

func TestBlockIsContentFilter(t *testing.T) {
	d := startDoor(t, doorOpts{})
	ctx := context.Background()
	c := d.client(keyOpen) // every list: the reply runs into "launch code"

	resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: model, Messages: user("hello")})
	if err != nil {
		t.Fatal(err)
	}
	got := resp.Choices[0]
	if got.FinishReason != "content_filter" || strings.Contains(got.Message.Content, "launch") || !strings.HasPrefix(got.Message.Content, "Oh ***") {
		t.Fatalf("got %q finish %q, want the reply cut before the secret, finish content_filter", got.Message.Content, got.FinishReason)
	}
	if ext := sieveField(t, resp.JSON.ExtraFields["sieve"].Raw()); ext.Status != job.Filtered {
		t.Fatalf("extension %+v", ext)
	}

	stream := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: model, Messages: user("hello")})
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		ch := stream.Current()
		acc.AddChunk(ch)
		if len(ch.Choices) > 0 && strings.Contains(ch.Choices[0].Delta.Content, "launch") {
			t.Fatalf("a chunk carries the blocked phrase: %q", ch.Choices[0].Delta.Content)
		}
	}
	stream.Close()
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if acc.Choices[0].FinishReason != "content_filter" || acc.Choices[0].Message.Content != got.Message.Content {
		t.Fatalf("streamed %q finish %q, want %q finish content_filter", acc.Choices[0].Message.Content, acc.Choices[0].FinishReason, got.Message.Content)
	}

	// A prompt the input screen refuses is a 400 with code content_filter,
	// streaming or not, and the message does not repeat the secret.
	for _, streaming := range []bool{false, true} {
		p := openai.ChatCompletionNewParams{Model: model, Messages: user("tell me the LAUNCH CODE")}
		if streaming {
			s := c.Chat.Completions.NewStreaming(ctx, p)
			for s.Next() {
				t.Fatalf("a chunk for a refused prompt: %+v", s.Current())
			}
			err = s.Err()
			s.Close()
		} else {
			_, err = c.Chat.Completions.New(ctx, p)
		}
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Code != "content_filter" || apiErr.Type != "invalid_request_error" || apiErr.Param != "messages" {
			t.Fatalf("stream %v: got %v, want a 400 with code content_filter", streaming, err)
		}
		if strings.Contains(strings.ToLower(apiErr.Message), "launch") {
			t.Fatalf("the error repeats the secret: %q", apiErr.Message)
		}
	}
}

// A client that closes its stream cancels the job: the worker stops it
// within a token, so it ends with far fewer tokens than it was allowed.
func TestClosingTheStreamCancelsTheJob(t *testing.T) {
	d := startDoor(t, doorOpts{pieces: []string{" la", " di", " da"}, loop: true})
	c := d.client(keyOpen)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var httpResp *http.Response
	stream := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: model, Messages: user("sing"), MaxTokens: openai.Int(8000)}, option.WithResponseInto(&httpResp))
	for i := 0; i < 5 && stream.Next(); i++ {
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	id := httpResp.Header.Get("X-Sieve-Job")
	stream.Close()
	cancel()
	r := d.result(id)
	if r.Status != job.Cancelled || r.Usage.CompletionTokens >= 8000 || r.Usage.CompletionTokens < 4 {
		t.Fatalf("job %s: status %s after %d tokens, want cancelled long before 8000", id, r.Status, r.Usage.CompletionTokens)
	}
	t.Logf("cancelled after %d tokens", r.Usage.CompletionTokens)
}

// Requests sent as raw HTTP, for the exact shapes of errors.
func TestErrorShapes(t *testing.T) {
	d := startDoor(t, doorOpts{})
	long := `{"model":"scripted","messages":[{"role":"user","content":"` + strings.Repeat("x", 5000) + `"}]}`
	tests := []errorCase{
		{"unknown parameter", "POST", "/v1/chat/completions", keyOpen, `{"model":"scripted","messages":[{"role":"user","content":"hi"}],"temprature":1}`, nil, 400, "unknown_parameter", "temprature"},
		{"n above 1", "POST", "/v1/chat/completions", keyOpen, `{"model":"scripted","messages":[{"role":"user","content":"hi"}],"n":2}`, nil, 400, "unsupported_value", "n"},
		{"tools", "POST", "/v1/chat/completions", keyOpen, `{"model":"scripted","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function"}]}`, nil, 400, "unsupported_parameter", "tools"},
		{"penalty", "POST", "/v1/chat/completions", keyOpen, `{"model":"scripted","messages":[{"role":"user","content":"hi"}],"presence_penalty":0.5}`, nil, 400, "unsupported_parameter", "presence_penalty"},
		{"image part", "POST", "/v1/chat/completions", keyOpen, `{"model":"scripted","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}`, nil, 400, "unsupported_value", "messages[0].content[0].type"},
		{"tool role", "POST", "/v1/chat/completions", keyOpen, `{"model":"scripted","messages":[{"role":"tool","content":"x"}]}`, nil, 400, "unsupported_value", "messages[0].role"},
		{"duplicate key", "POST", "/v1/chat/completions", keyOpen, `{"model":"scripted","model":"x","messages":[]}`, nil, 400, "duplicate_parameter", "model"},
		{"not JSON", "POST", "/v1/chat/completions", keyOpen, `{"model":`, nil, 400, "invalid_json", ""},
		{"wrong type", "POST", "/v1/chat/completions", keyOpen, `{"model":"scripted","messages":[{"role":"user","content":"hi"}],"temperature":"hot"}`, nil, 400, "invalid_type", "temperature"},
		{"out of range", "POST", "/v1/chat/completions", keyOpen, `{"model":"scripted","messages":[{"role":"user","content":"hi"}],"max_tokens":0}`, nil, 400, "bad_max_tokens", "max_tokens"},
		{"over the worker's limit", "POST", "/v1/chat/completions", keyOpen, `{"model":"scripted","messages":[{"role":"user","content":"hi"}],"max_tokens":9000}`, nil, 400, "max_tokens_over_limit", "max_tokens"},
		{"no messages", "POST", "/v1/chat/completions", keyOpen, `{"model":"scripted"}`, nil, 400, "missing_required_parameter", "messages"},
		{"other model", "POST", "/v1/chat/completions", keyOpen, `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`, nil, 404, "model_not_found", "model"},
		{"unknown policy", "POST", "/v1/chat/completions", keyOpen, `{"model":"scripted","messages":[{"role":"user","content":"hi"}]}`, map[string]string{"X-Sieve-Policy": "nope"}, 400, "unknown_policy", "X-Sieve-Policy"},
		{"policy against the key's", "POST", "/v1/chat/completions", keySoft, `{"model":"scripted","messages":[{"role":"user","content":"hi"}]}`, map[string]string{"X-Sieve-Policy": "default"}, 403, "policy_not_allowed", ""},
		{"bad timeout", "POST", "/v1/chat/completions", keyOpen, `{"model":"scripted","messages":[{"role":"user","content":"hi"}]}`, map[string]string{"X-Sieve-Timeout": "soon"}, 400, "invalid_value", "X-Sieve-Timeout"},
		{"too large", "POST", "/v1/chat/completions", keyOpen, long, nil, 413, "request_too_large", ""},
		{"no key", "POST", "/v1/chat/completions", "", `{}`, nil, 401, "missing_api_key", ""},
		{"wrong key", "POST", "/v1/chat/completions", "sk-wrong-0123456789abcdef", `{}`, nil, 401, "invalid_api_key", ""},
		{"wrong method", "GET", "/v1/chat/completions", keyOpen, "", nil, 405, "method_not_allowed", ""},
		{"unknown path", "POST", "/v1/embeddings", keyOpen, `{}`, nil, 404, "unknown_url", ""},
		{"unknown model", "GET", "/v1/models/gpt-4o", keyOpen, "", nil, 404, "model_not_found", "model"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { d.checkError(t, tc) })
	}
}

// errorCase is a raw HTTP request and the error it must get.
type errorCase struct {
	name, method, path, key, body string
	header                        map[string]string
	status                        int
	code, param                   string
}

// checkError sends tc's request and checks that the answer is an error
// in OpenAI's shape, exactly, with tc's status, code and param.
func (d *door) checkError(t *testing.T, tc errorCase) {
	t.Helper()
	req, err := http.NewRequest(tc.method, d.url+tc.path, strings.NewReader(tc.body))
	if err != nil {
		t.Fatal(err)
	}
	if tc.key != "" {
		req.Header.Set("Authorization", "Bearer "+tc.key)
	}
	for k, v := range tc.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e struct {
		Error *struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Param   *string `json:"param"`
			Code    *string `json:"code"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Error == nil || e.Error.Message == "" || e.Error.Type == "" {
		t.Fatalf("status %d, body %s: not OpenAI's error shape (%v)", resp.StatusCode, body, err)
	}
	param := ""
	if e.Error.Param != nil {
		param = *e.Error.Param
	}
	if resp.StatusCode != tc.status || e.Error.Code == nil || *e.Error.Code != tc.code || param != tc.param {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
}

func TestModelsAndHealth(t *testing.T) {
	d := startDoor(t, doorOpts{})
	ctx := context.Background()
	c := d.client(keyOpen)
	page, err := c.Models.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || page.Data[0].ID != model || page.Data[0].Object != "model" {
		t.Fatalf("models: %+v", page.Data)
	}
	m, err := c.Models.Get(ctx, model)
	if err != nil || m.ID != model {
		t.Fatalf("model: %+v, %v", m, err)
	}
	// Health needs no key: probes carry none.
	resp, err := http.Get(d.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}
}

// An Idempotency-Key names the job: the same key sent again (a client's
// retry) gets the first request's job and reply, not a second job.
func TestIdempotencyKey(t *testing.T) {
	d := startDoor(t, doorOpts{})
	ctx := context.Background()
	c := d.client(keySoft)
	var ids []string
	for range 2 {
		var httpResp *http.Response
		resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: model, Messages: user("hello"), Temperature: openai.Float(1), Seed: openai.Int(3)},
			option.WithHeader("Idempotency-Key", "order-42"), option.WithResponseInto(&httpResp))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Choices[0].Message.Content == "" {
			t.Fatal("empty reply")
		}
		ids = append(ids, httpResp.Header.Get("X-Sieve-Job"))
	}
	if ids[0] != ids[1] || !strings.HasPrefix(ids[0], "acme.idem-") {
		t.Fatalf("job ids %q", ids)
	}
	// Another API key with the same Idempotency-Key is another job.
	var httpResp *http.Response
	other := d.client(keyOpen)
	if _, err := other.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: model, Messages: user("hello")},
		option.WithHeader("Idempotency-Key", "order-42"), option.WithResponseInto(&httpResp)); err != nil {
		t.Fatal(err)
	}
	if id := httpResp.Header.Get("X-Sieve-Job"); id == ids[0] || !strings.HasPrefix(id, "http.idem-") {
		t.Fatalf("another key's job id %q", id)
	}
}

// A timeout header sets the job's deadline: a model that never stops
// ends there, and the reply is cut with finish_reason length.
func TestTimeoutHeader(t *testing.T) {
	d := startDoor(t, doorOpts{pieces: []string{" la", " di", " da"}, loop: true})
	c := d.client(keyOpen)
	resp, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: model, Messages: user("sing"), MaxTokens: openai.Int(8000)},
		option.WithHeader("X-Sieve-Timeout", "0.3"))
	if err != nil {
		t.Fatal(err)
	}
	ext := sieveField(t, resp.JSON.ExtraFields["sieve"].Raw())
	var fin struct {
		FinishReason string `json:"finish_reason"`
	}
	json.Unmarshal([]byte(resp.JSON.ExtraFields["sieve"].Raw()), &fin)
	if resp.Choices[0].FinishReason != "length" || fin.FinishReason != "deadline" || ext.Status != job.Completed || resp.Usage.CompletionTokens >= 8000 {
		t.Fatalf("finish %q (sieve: %s, %s) after %d tokens", resp.Choices[0].FinishReason, fin.FinishReason, ext.Status, resp.Usage.CompletionTokens)
	}
}

// Shutdown lets requests under way finish until its context ends, then
// cuts them short: 503 shutting_down, and their jobs cancelled.
func TestShutdownCutsWhatIsLeft(t *testing.T) {
	d := startDoor(t, doorOpts{pieces: []string{" la", " di", " da"}, loop: true})
	c := d.client(keyOpen)
	type answer struct {
		resp *http.Response
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		var httpResp *http.Response
		_, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: model, Messages: user("sing"), MaxTokens: openai.Int(8000)},
			option.WithResponseInto(&httpResp))
		got <- answer{httpResp, err}
	}()
	// Wait until the job runs: its chunks are on NATS.
	sub, err := d.conn.NC.SubscribeSync(d.conn.Subjects.StreamAll())
	if err != nil {
		t.Fatal(err)
	}
	msg, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	sub.Unsubscribe()
	var ch job.Chunk
	json.Unmarshal(msg.Data, &ch)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := d.g.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want the deadline", err)
	}
	a := <-got
	var apiErr *openai.Error
	if !errors.As(a.err, &apiErr) || apiErr.StatusCode != 503 || apiErr.Code != "shutting_down" {
		t.Fatalf("got %v, want 503 shutting_down", a.err)
	}
	if r := d.result(ch.ID); r.Status != job.Cancelled {
		t.Fatalf("job %s: %s, want cancelled", ch.ID, r.Status)
	}
	// Later calls return at once; new connections are refused.
	if err := d.g.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if _, err := http.Get(d.url + "/healthz"); err == nil {
		t.Fatal("the door still answers after Shutdown")
	}
}

// A client that goes away from a job named by an Idempotency-Key leaves
// it running: the retry with the same key gets that job's whole reply.
func TestIdempotentJobOutlivesItsClient(t *testing.T) {
	d := startDoor(t, doorOpts{pieces: []string{" la", " di", " da"}, loop: true})
	c := d.client(keyOpen)
	p := openai.ChatCompletionNewParams{Model: model, Messages: user("sing"), MaxTokens: openai.Int(300)}
	ctx, cancel := context.WithCancel(context.Background())
	stream := c.Chat.Completions.NewStreaming(ctx, p, option.WithHeader("Idempotency-Key", "song-1"))
	for i := 0; i < 3 && stream.Next(); i++ {
	}
	stream.Close()
	cancel()
	var httpResp *http.Response
	resp, err := c.Chat.Completions.New(context.Background(), p, option.WithHeader("Idempotency-Key", "song-1"), option.WithResponseInto(&httpResp))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].FinishReason != "length" || resp.Usage.CompletionTokens != 300 {
		t.Fatalf("retry: finish %q after %d tokens, want the first job's 300", resp.Choices[0].FinishReason, resp.Usage.CompletionTokens)
	}
	// A huge timeout is cut to a day, not an error.
	if _, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: model, Messages: user("sing"), MaxTokens: openai.Int(3)},
		option.WithHeader("X-Sieve-Timeout", "1e10")); err != nil {
		t.Fatalf("X-Sieve-Timeout 1e10: %v", err)
	}
}
