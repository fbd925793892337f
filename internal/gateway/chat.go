package gateway

import (
	"encoding/json"
	"fmt"

	"github.com/sieve-project/sieve/job"
)

// POST /v1/chat/completions: OpenAI's chat API.

var chatAPI = api{
	name:     "chat.completions",
	idPrefix: "chatcmpl-",
	params:   rejectParams("messages", "max_tokens", "response_format", "top_logprobs"),
	parse:    parseChat,
}

// parseChat reads a chat completion request for the served model.
// Every parameter is either honoured or refused: an unknown name, a
// parameter sieve cannot honour with a value other than its neutral one,
// or a wrong type is a 400 that names it.
func parseChat(data []byte, model string) (request, *apiError) {
	r := request{}
	params, e := readParams(data)
	if e != nil {
		return r, e
	}
	p := newPending()
	if e := eachParam(params, func(k string, raw json.RawMessage) *apiError { return r.setChatParam(&p, k, raw) }); e != nil {
		return r, e
	}
	if e := checkModel(p.model, model); e != nil {
		return r, e
	}
	j := &r.job
	switch {
	case len(j.Messages) == 0 && params["messages"] == nil:
		return r, invalid("missing_required_parameter", "messages", "you must provide a messages parameter")
	case p.maxTokens != nil && p.maxCompletion != nil && *p.maxTokens != *p.maxCompletion:
		return r, invalid("invalid_value", "max_tokens", "max_tokens %d and max_completion_tokens %d disagree: give one of them", *p.maxTokens, *p.maxCompletion)
	case j.TopLogprobs != nil && !j.Logprobs:
		return r, invalid("invalid_value", "top_logprobs", "top_logprobs needs logprobs: true")
	}
	r.shape = chatShape{logprobs: j.Logprobs}
	if p.maxCompletion != nil {
		p.maxTokens = p.maxCompletion
	}
	return r, r.complete(p)
}

// setChatParam reads parameter k into r's job, or into p when the end
// of parseChat must look at it again.
func (r *request) setChatParam(p *pending, k string, raw json.RawMessage) *apiError {
	if shared, e := r.setShared(p, k, raw); shared {
		return e
	}
	j := &r.job
	var e *apiError
	switch k {
	case "messages":
		j.Messages, e = parseMessages(raw)
	case "max_tokens":
		e = decode(k, raw, &p.maxTokens, "an integer")
	case "max_completion_tokens":
		e = decode(k, raw, &p.maxCompletion, "an integer")
	case "stop":
		j.Stop, e = parseStop(raw)
	case "n":
		e = parseOne(k, raw)
	case "stream_options":
		e = r.parseStreamOptions(raw, true)
	case "metadata":
		_, e = parseMetadata(raw, p.meta)
	case "response_format":
		j.Format, e = parseChatFormat(raw)
	case "logprobs":
		e = decode(k, raw, &j.Logprobs, "a boolean")
	case "top_logprobs":
		j.TopLogprobs, e = parseTopLogprobs(k, raw, job.MaxTopLogprobs)
	default:
		e = chatRules.check(k, raw)
	}
	return e
}

// chatRules are the chat parameters sieve cannot honour, with the
// values that ask for nothing.
var chatRules = rules{
	"frequency_penalty":   {neutral: []string{"0", "0.0"}},
	"presence_penalty":    {neutral: []string{"0", "0.0"}},
	"logit_bias":          {neutral: []string{"{}"}},
	"tools":               {neutral: []string{"[]"}},
	"functions":           {neutral: []string{"[]"}},
	"tool_choice":         {neutral: []string{`"none"`}},
	"parallel_tool_calls": {neutral: []string{"true", "false"}}, // meaningless without tools
	"modalities":          {neutral: []string{`["text"]`}},
	"store":               {neutral: []string{"false"}},
	"service_tier":        {neutral: []string{`"auto"`, `"default"`}},
	"function_call":       {neutral: []string{`"none"`}},
	"audio":               {}, "prediction": {}, "web_search_options": {}, "reasoning_effort": {},
	"verbosity": {}, "prompt_cache_key": {}, "safety_identifier": {},
}

// chatText are the content parts of chat messages that carry text.
var chatText = textParts{types: []string{"text"}}

// parseMessages reads the messages array: system, developer (taken as
// system), user and assistant turns whose content is a string or text
// parts.
func parseMessages(raw json.RawMessage) ([]job.Message, *apiError) {
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, invalid("invalid_type", "messages", "messages: want an array of message objects")
	}
	msgs := make([]job.Message, 0, len(items))
	for i, it := range items {
		if it == nil {
			return nil, invalid("invalid_type", fmt.Sprintf("messages[%d]", i), "messages[%d]: want an object", i)
		}
		m, e := parseMessage(fmt.Sprintf("messages[%d]", i), it)
		if e != nil {
			return nil, e
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// parseMessage reads one message, at is where it is (messages[i]).
func parseMessage(at string, fields map[string]json.RawMessage) (job.Message, *apiError) {
	var m job.Message
	param := func(k string) string { return at + "." + k }
	var e *apiError
	if m.Role, e = parseRole(param("role"), fields["role"]); e != nil {
		return m, e
	}
	for _, k := range sortedKeys(fields) {
		v := fields[k]
		switch k {
		case "role":
		case "content":
			if !isNull(v) {
				if m.Content, e = parseContent(param(k), v, chatText); e != nil {
					return m, e
				}
			} else if m.Role != job.RoleAssistant {
				return m, invalid("invalid_value", param(k), "%s is null: only an assistant turn may have no content", param(k))
			}
		case "name", "refusal", "tool_calls", "function_call", "audio", "tool_call_id":
			if !isEmpty(v) {
				return m, invalid("unsupported_parameter", param(k), "%s is not supported: the chat template has no place for it", param(k))
			}
		default:
			return m, invalid("unknown_parameter", param(k), "Unrecognized message field: %s", param(k))
		}
	}
	if _, ok := fields["content"]; !ok && m.Role != job.RoleAssistant {
		return m, invalid("missing_required_parameter", param("content"), "%s is required", param("content"))
	}
	return m, nil
}

// The chat API's answer: a chat.completion, or chat.completion.chunk
// events ending in data: [DONE].
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
		Index        int           `json:"index"`
		Message      message       `json:"message"`
		FinishReason string        `json:"finish_reason"`
		Logprobs     *chatLogprobs `json:"logprobs"`
	}
	message struct {
		Role    string  `json:"role"`
		Content string  `json:"content"`
		Refusal *string `json:"refusal"`
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
		Index        int           `json:"index"`
		Delta        delta         `json:"delta"`
		FinishReason *string       `json:"finish_reason"`
		Logprobs     *chatLogprobs `json:"logprobs"`
	}
	delta struct {
		Role    string  `json:"role,omitempty"`
		Content *string `json:"content,omitempty"`
	}
)

// chatShape writes chat completions; logprobs: the request asked for
// log probabilities.
type chatShape struct{ logprobs bool }

func (c chatShape) whole(r *reply, res job.Result, finish string) any {
	return completion{
		ID: r.id, Object: "chat.completion", Created: r.created, Model: r.model,
		Choices: []choice{{Message: message{Role: "assistant", Content: res.Text}, FinishReason: finish, Logprobs: c.logprobsOf(res)}},
		Usage:   newUsage(res), Sieve: newExtension(res),
	}
}

// logprobsOf is a choice's logprobs: null unless asked for.
func (c chatShape) logprobsOf(res job.Result) *chatLogprobs {
	if !c.logprobs {
		return nil
	}
	return &chatLogprobs{Content: tokenLogprobs(res.Logprobs)}
}

// open sends the first chunk, which names the role.
func (c chatShape) open(r *reply) {
	empty := ""
	c.send(r, chunkChoice{Delta: delta{Role: "assistant", Content: &empty}}, nil)
}

func (c chatShape) text(r *reply, text string) {
	c.send(r, chunkChoice{Delta: delta{Content: &text}}, nil)
}

// close sends the finish reason with sieve's account and, when asked
// for, every token's log probability (the chunks before carry none: a
// job streams none), then the usage chunk when asked for, and [DONE].
func (c chatShape) close(r *reply, res job.Result, finish string) {
	c.send(r, chunkChoice{FinishReason: &finish, Logprobs: c.logprobsOf(res)}, newExtension(res))
	if r.stream.usage {
		u := newUsage(res)
		ch := c.newChunk(r)
		ch.Choices, ch.Usage = []chunkChoice{}, &u
		r.stream.event(ch)
	}
	r.stream.done()
}

func (chatShape) fail(r *reply, e *apiError) { r.stream.event(errorBody{e}) }

// send streams one chunk with one choice.
func (c chatShape) send(r *reply, choice chunkChoice, ext *extension) {
	ch := c.newChunk(r)
	ch.Choices, ch.Sieve = []chunkChoice{choice}, ext
	r.stream.event(ch)
}

// newChunk is a stream chunk of this answer, with nothing in it yet.
func (chatShape) newChunk(r *reply) chunk {
	return chunk{ID: r.id, Object: "chat.completion.chunk", Created: r.created, Model: r.model}
}
