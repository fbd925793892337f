package gateway

import (
	"net/http"
	"time"

	"github.com/sieve-project/sieve/job"
)

// What every endpoint's answer shares: the job's outcome in OpenAI's
// terms, the usage and sieve's extension, and a stream that relays the
// job's chunks, begins with the first text and ends with the result.
// A shape (chat.go, responses.go, completions.go) says how each of them
// is written in its API.

type (
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

func newExtension(res job.Result) *extension {
	return &extension{ID: res.ID, Status: res.Status, FinishReason: res.FinishReason, Filter: res.Filter, Timings: res.Timings, Attempt: res.Attempt}
}

// newUsage is the chat and completions APIs' usage of a result.
func newUsage(res job.Result) usage {
	u := res.Usage
	return usage{u.PromptTokens, u.CompletionTokens, u.PromptTokens + u.CompletionTokens, promptTokensDetails{u.CachedTokens}}
}

func writeJSON(w http.ResponseWriter, v any) {
	b, _ := job.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}

// Finish reasons, in the chat and completions APIs' words; the Responses
// API says them with a status and incomplete_details.
const (
	finishStop   = "stop"
	finishLength = "length"
	finishFilter = "content_filter"
)

// outcome maps a result onto OpenAI's terms: a finish reason, or the
// error a client gets instead of an answer. params names the parameter
// behind each rejection code in the endpoint's words.
func outcome(res job.Result, params map[string]string) (string, *apiError) {
	switch res.Status {
	case job.Completed:
		if res.FinishReason == "stop" {
			return finishStop, nil
		}
		return finishLength, nil // max tokens, a full context, or the deadline
	case job.Filtered:
		return finishFilter, nil
	case job.Rejected:
		if res.Error == nil {
			return "", newError(http.StatusBadRequest, typeInvalid, "rejected", "", "the job was rejected")
		}
		return "", rejection(res.Error, params)
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

// rejectParams names the parameter behind each rejection code, given
// the endpoint's names for the prompt, the token limit, the output
// format and the count of log probabilities.
func rejectParams(prompt, maxTokens, format, logprobs string) map[string]string {
	return map[string]string{
		job.CodeNoMessages: prompt, job.CodeBadRole: prompt, job.CodeInputBlocked: prompt, job.CodePromptTooLong: prompt,
		job.CodeBadMaxTokens: maxTokens, job.CodeMaxTokensOverLimit: maxTokens,
		job.CodeBadStop: "stop", job.CodeBadFormat: format, job.CodeBadLogprobs: logprobs, job.CodeUnknownPolicy: "X-Sieve-Policy",
	}
}

// rejection is the HTTP error for a rejected job.
func rejection(je *job.Error, params map[string]string) *apiError {
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
	e := newError(status, typeInvalid, code, params[je.Code], "%s", je.Message)
	e.final = true
	return e
}

// shape is how an endpoint writes its answer. finish is the outcome's
// finish reason (finishStop, finishLength or finishFilter).
type shape interface {
	// whole is the answer to a request without stream, a JSON object.
	whole(r *reply, res job.Result, finish string) any
	// open sends the events that begin a stream, after its headers.
	open(r *reply)
	// text streams a piece of the reply.
	text(r *reply, text string)
	// close sends the events that end a stream, after its last text.
	close(r *reply, res job.Result, finish string)
	// fail ends a stream that has begun with an error event.
	fail(r *reply, e *apiError)
}

// reply writes one request's answer: a JSON object, or, when stream is
// set, events relaying the job's chunks, in the endpoint's shape.
type reply struct {
	id           string // the answer's id: the endpoint's prefix and the job's id
	jobID        string
	created      int64
	model        string
	shape        shape
	params       map[string]string // for rejections, as in outcome
	stream       *streamer
	writeTimeout time.Duration // of a whole JSON answer
}

func (r *reply) fail(w http.ResponseWriter, e *apiError) {
	if r.stream != nil && r.stream.started {
		r.shape.fail(r, e)
		return
	}
	writeError(w, e)
}

func (r *reply) finish(w http.ResponseWriter, res job.Result) {
	if r.stream == nil {
		http.NewResponseController(w).SetWriteDeadline(time.Now().Add(r.writeTimeout))
	}
	finish, e := outcome(res, r.params)
	if e != nil {
		r.fail(w, e)
		return
	}
	if r.stream == nil {
		writeJSON(w, r.shape.whole(r, res, finish))
		return
	}
	rest, ok := r.stream.relay.final(res.Text)
	if !ok {
		r.fail(w, newError(http.StatusInternalServerError, typeServer, "stream_diverged",
			"", "the job was retried after part of its reply was streamed, and the new reply differs; job %s's result holds the whole of it", res.ID))
		return
	}
	if !r.stream.started {
		r.begin()
	}
	if rest != "" {
		r.shape.text(r, rest)
	}
	r.shape.close(r, res, finish)
}

// relayChunk streams the new text of a job's chunk.
func (r *reply) relayChunk(c job.Chunk) {
	d := r.stream.relay.chunk(c)
	if len(d) == 0 {
		return
	}
	if !r.stream.started {
		r.begin()
	}
	r.shape.text(r, string(d))
}

// begin sends the headers and the shape's opening events. They wait for
// the first text so that a rejected request is still a plain HTTP error.
func (r *reply) begin() {
	s := r.stream
	s.started = true
	h := s.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // proxies such as nginx would hold the stream back
	s.w.WriteHeader(http.StatusOK)
	r.shape.open(r)
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

// event sends v as an unnamed event, as the chat and completions APIs
// stream.
func (s *streamer) event(v any) {
	b, _ := job.Marshal(v)
	s.write(append(append([]byte("data: "), b...), '\n', '\n'))
}

// named sends v as an event of the given name, as the Responses API
// streams (its data carries the name again, as "type").
func (s *streamer) named(name string, v any) {
	b, _ := job.Marshal(v)
	s.write(append(append([]byte("event: "+name+"\ndata: "), b...), '\n', '\n'))
}

// done ends a chat or completions stream.
func (s *streamer) done() { s.write([]byte("data: [DONE]\n\n")) }

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
