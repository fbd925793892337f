package gateway

import (
	"net/http"
	"time"

	"github.com/sieve-project/sieve/job"
)

// The response shapes of OpenAI's chat API, with sieve's extension.
type (
	completion struct {
		ID      string     `json:"id"`
		Object  string     `json:"object"`
		Created int64      `json:"created"`
		Model   string     `json:"model"`
		Choices []choice   `json:"choices"`
		Usage   usage      `json:"usage"`
		Sieve   *extension `json:"sieve,omitempty"`
	}
	choice struct {
		Index        int       `json:"index"`
		Message      message   `json:"message"`
		FinishReason string    `json:"finish_reason"`
		Logprobs     *struct{} `json:"logprobs"`
	}
	message struct {
		Role    string  `json:"role"`
		Content string  `json:"content"`
		Refusal *string `json:"refusal"`
	}
	usage struct {
		PromptTokens        int                 `json:"prompt_tokens"`
		CompletionTokens    int                 `json:"completion_tokens"`
		TotalTokens         int                 `json:"total_tokens"`
		PromptTokensDetails promptTokensDetails `json:"prompt_tokens_details"`
	}
	// promptTokensDetails says, as OpenAI's API does, how many prompt
	// tokens came from the prompt cache.
	promptTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	}
	chunk struct {
		ID      string        `json:"id"`
		Object  string        `json:"object"`
		Created int64         `json:"created"`
		Model   string        `json:"model"`
		Choices []chunkChoice `json:"choices"`
		Usage   *usage        `json:"usage,omitempty"`
		Sieve   *extension    `json:"sieve,omitempty"`
	}
	chunkChoice struct {
		Index        int       `json:"index"`
		Delta        delta     `json:"delta"`
		FinishReason *string   `json:"finish_reason"`
		Logprobs     *struct{} `json:"logprobs"`
	}
	delta struct {
		Role    string  `json:"role,omitempty"`
		Content *string `json:"content,omitempty"`
	}
	// extension is sieve's own account of the job, in a field strict
	// clients ignore: its id (to find the result on NATS), how it ended,
	// the filter's hits and the timings.
	extension struct {
		ID           string           `json:"id"`
		Status       job.Status       `json:"status"`
		FinishReason string           `json:"finish_reason"`
		Filter       job.FilterReport `json:"filter"`
		Timings      job.Timings      `json:"timings"`
		Attempt      int              `json:"attempt,omitempty"`
	}
	modelJSON struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	modelList struct {
		Object string      `json:"object"`
		Data   []modelJSON `json:"data"`
	}
)

func writeJSON(w http.ResponseWriter, v any) {
	b, _ := job.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}

// outcome maps a result onto OpenAI's terms: a finish reason, or the
// error a client gets instead of a completion.
func outcome(res job.Result) (string, *apiError) {
	switch res.Status {
	case job.Completed:
		if res.FinishReason == "stop" {
			return "stop", nil
		}
		return "length", nil // max tokens, a full context, or the deadline
	case job.Filtered:
		return "content_filter", nil
	case job.Rejected:
		if res.Error == nil {
			return "", newError(http.StatusBadRequest, typeInvalid, "rejected", "", "the job was rejected")
		}
		return "", rejection(res.Error)
	case job.Expired:
		e := newError(http.StatusGatewayTimeout, typeServer, "expired", "", "the job's deadline passed before a worker could start it")
		e.final = true
		return "", e
	case job.Cancelled:
		e := newError(http.StatusServiceUnavailable, typeServer, "cancelled", "", "the job was cancelled (a cancel request for its id)")
		e.final = true
		return "", e
	}
	code, msg := "engine_error", "the job failed"
	if res.Error != nil {
		code, msg = res.Error.Code, res.Error.Message
	}
	e := newError(http.StatusInternalServerError, typeServer, code, "", "%s", msg)
	e.final = true // the queue has retried it already
	return "", e
}

// rejectParams names the parameter behind a rejection code.
var rejectParams = map[string]string{
	job.CodeNoMessages: "messages", job.CodeBadRole: "messages", job.CodeInputBlocked: "messages",
	job.CodePromptTooLong: "messages", job.CodeBadMaxTokens: "max_tokens", job.CodeMaxTokensOverLimit: "max_tokens",
	job.CodeBadStop: "stop", job.CodeUnknownPolicy: "X-Sieve-Policy",
}

// rejection is the HTTP error for a rejected job.
func rejection(je *job.Error) *apiError {
	code := je.Code
	status := http.StatusBadRequest
	switch code {
	case job.CodeTooLarge:
		status, code = http.StatusRequestEntityTooLarge, "request_too_large"
	case job.CodeInputBlocked:
		code = "content_filter" // as Azure OpenAI answers a refused prompt
	case job.CodePromptTooLong:
		code = "context_length_exceeded"
	}
	e := newError(status, typeInvalid, code, rejectParams[je.Code], "%s", je.Message)
	e.final = true
	return e
}

// response writes one request's answer: a completion, or a stream of
// chunks when stream is set.
type response struct {
	id           string
	created      int64
	model        string
	stream       *streamer
	writeTimeout time.Duration // of a whole JSON answer
}

func (r *response) fail(w http.ResponseWriter, e *apiError) {
	if r.stream != nil && r.stream.started {
		r.stream.event(errorBody{e})
		return
	}
	writeError(w, e)
}

func (r *response) finish(w http.ResponseWriter, res job.Result) {
	if r.stream == nil {
		http.NewResponseController(w).SetWriteDeadline(time.Now().Add(r.writeTimeout))
	}
	finish, e := outcome(res)
	ext := &extension{ID: res.ID, Status: res.Status, FinishReason: res.FinishReason, Filter: res.Filter, Timings: res.Timings, Attempt: res.Attempt}
	u := usage{res.Usage.PromptTokens, res.Usage.CompletionTokens, res.Usage.PromptTokens + res.Usage.CompletionTokens,
		promptTokensDetails{res.Usage.CachedTokens}}
	if r.stream == nil {
		if e != nil {
			writeError(w, e)
			return
		}
		writeJSON(w, completion{
			ID: r.id, Object: "chat.completion", Created: r.created, Model: r.model,
			Choices: []choice{{Message: message{Role: "assistant", Content: res.Text}, FinishReason: finish}},
			Usage:   u, Sieve: ext,
		})
		return
	}
	s := r.stream
	if e != nil {
		r.fail(w, e)
		return
	}
	rest, ok := s.relay.final(res.Text)
	if !ok {
		r.fail(w, newError(http.StatusInternalServerError, typeServer, "stream_diverged",
			"", "the job was retried after part of its reply was streamed, and the new reply differs; job %s's result holds the whole of it", res.ID))
		return
	}
	if !s.started {
		r.begin()
	}
	if rest != "" {
		r.send(delta{Content: &rest}, nil, nil)
	}
	r.send(delta{}, &finish, ext)
	if s.usage {
		c := r.newChunk()
		c.Choices, c.Usage = []chunkChoice{}, &u
		s.event(c)
	}
	s.write([]byte("data: [DONE]\n\n"))
}

// relayChunk streams the new text of a job's chunk as a content delta.
func (r *response) relayChunk(c job.Chunk) {
	d := r.stream.relay.chunk(c)
	if len(d) == 0 {
		return
	}
	if !r.stream.started {
		r.begin()
	}
	text := string(d)
	r.send(delta{Content: &text}, nil, nil)
}

// begin sends the headers and the first chunk, which names the role.
// They wait for the first text so that a rejected request is still a
// plain HTTP error.
func (r *response) begin() {
	s := r.stream
	s.started = true
	h := s.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // proxies such as nginx would hold the stream back
	s.w.WriteHeader(http.StatusOK)
	empty := ""
	r.send(delta{Role: "assistant", Content: &empty}, nil, nil)
}

// send streams one chunk with one choice.
func (r *response) send(d delta, finish *string, ext *extension) {
	c := r.newChunk()
	c.Choices, c.Sieve = []chunkChoice{{Delta: d, FinishReason: finish}}, ext
	r.stream.event(c)
}

// newChunk is a stream chunk of this response, with nothing in it yet.
func (r *response) newChunk() chunk {
	return chunk{ID: r.id, Object: "chat.completion.chunk", Created: r.created, Model: r.model}
}

// streamer writes server-sent events.
type streamer struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	usage   bool
	relay   relay
	started bool
	// Each write must be done within timeout; one that is not (a client
	// that reads nothing) breaks the stream and calls cut, which ends
	// the wait for the job, whose job the handler then cancels.
	timeout time.Duration
	cut     func()
	broken  bool
}

func (s *streamer) event(v any) {
	b, _ := job.Marshal(v)
	s.write(append(append([]byte("data: "), b...), '\n', '\n'))
}

// write sends b at once, within the write timeout. A client gone, or one
// that reads nothing, breaks the stream: nothing more is written, and the
// job's wait is cut.
func (s *streamer) write(b []byte) {
	if s.broken {
		return
	}
	s.rc.SetWriteDeadline(time.Now().Add(s.timeout)) // not supported where mounted on another server: then its own timeouts hold
	_, err := s.w.Write(b)
	if err == nil {
		err = s.rc.Flush()
	}
	if err != nil {
		s.broken = true
		s.cut()
	}
}
