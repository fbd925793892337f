package gateway

import (
	"encoding/json"
	"fmt"

	"github.com/sieve-project/sieve/job"
)

// POST /v1/responses: OpenAI's Responses API, stateless. sieve keeps no
// responses (a job's stored result is not a conversation), so a request
// carries its whole conversation in input; what would need a stored
// response (store, previous_response_id, background) is refused.

var responsesAPI = api{
	name:     "responses",
	idPrefix: "resp_",
	params:   rejectParams("input", "max_output_tokens", "text.format", "top_logprobs"),
	parse:    parseResponses,
}

// responsesRules are the Responses API's parameters sieve cannot honour.
var responsesRules = rules{
	"store":                {neutral: []string{"false"}, why: "sieve keeps no responses; send store false or leave it out, and send the whole conversation in input"},
	"previous_response_id": {why: "sieve keeps no responses to continue; send the whole conversation in input"},
	"conversation":         {why: "sieve keeps no conversations; send the whole conversation in input"},
	"background":           {neutral: []string{"false"}, why: "sieve keeps no responses to poll; wait for the answer, or stream it"},
	"reasoning":            {why: "sieve's model gives no separate reasoning"},
	"tools":                {neutral: []string{"[]"}, why: "sieve serves a model without tools"},
	"tool_choice":          {neutral: []string{`"none"`}, why: "sieve serves a model without tools"},
	"parallel_tool_calls":  {neutral: []string{"true", "false"}}, // meaningless without tools
	"max_tool_calls":       {why: "sieve serves a model without tools"},
	"truncation":           {neutral: []string{`"disabled"`}, why: "sieve refuses a prompt too long for its context (context_length_exceeded) rather than dropping part of it"},
	"service_tier":         {neutral: []string{`"auto"`, `"default"`}},
	"prompt":               {why: "prompt templates are kept by OpenAI; send the input itself"},
	"n":                    {why: "a response has one output message; send more requests for more"},
	"prompt_cache_key":     {}, "safety_identifier": {},
}

// responsesText are the content parts of input messages that carry
// text: the client's, and the assistant's from an earlier response,
// which comes back with its (empty) annotations and its logprobs (empty
// unless they were asked for; the model is not shown them).
var responsesText = textParts{types: []string{"input_text", "output_text"}, empty: []string{"annotations"}, echoed: []string{"logprobs"}}

// parseResponses reads a Responses API request for the served model, as
// strictly as parseChat reads a chat request.
func parseResponses(data []byte, model string) (request, *apiError) {
	s := &responsesShape{format: json.RawMessage(`{"type":"text"}`), metadata: map[string]string{}}
	r := request{shape: s}
	params, e := readParams(data)
	if e != nil {
		return r, e
	}
	p := newPending()
	var input []job.Message
	e = eachParam(params, func(k string, raw json.RawMessage) *apiError {
		if shared, e := r.setShared(&p, k, raw); shared {
			return e
		}
		switch k {
		case "input":
			input, e = parseInput(raw)
		case "instructions":
			e = decode(k, raw, &s.instructions, "a string")
		case "max_output_tokens":
			e = decode(k, raw, &p.maxTokens, "an integer")
		case "metadata":
			s.metadata, e = parseMetadata(raw, p.meta)
		case "text":
			var given json.RawMessage
			if r.job.Format, given, e = parseTextConfig(raw); given != nil {
				s.format = given
			}
		case "stream_options":
			e = r.parseStreamOptions(raw, false)
		case "include":
			r.job.Logprobs, e = parseInclude(raw)
		case "top_logprobs":
			r.job.TopLogprobs, e = parseTopLogprobs(k, raw, job.MaxTopLogprobs)
		default:
			e = responsesRules.check(k, raw)
		}
		return e
	})
	if e != nil {
		return r, e
	}
	if e := checkModel(p.model, model); e != nil {
		return r, e
	}
	if params["input"] == nil {
		return r, invalid("missing_required_parameter", "input", "you must provide an input parameter")
	}
	if r.job.TopLogprobs != nil && !r.job.Logprobs {
		return r, invalid("invalid_value", "top_logprobs", "top_logprobs needs include [%q]", includeLogprobs)
	}
	if s.instructions != nil && *s.instructions != "" {
		input = append([]job.Message{{Role: job.RoleSystem, Content: *s.instructions}}, input...)
	}
	r.job.Messages = input
	s.maxOutput, s.temperature, s.topP = p.maxTokens, r.job.Temperature, r.job.TopP
	s.logprobs, s.topLogprobs = r.job.Logprobs, r.job.TopLogprobs
	return r, r.complete(p)
}

// includeLogprobs is the one include value sieve has to give: each
// token's log probability in the output text.
const includeLogprobs = "message.output_text.logprobs"

// parseInclude reads include, a list of what more the response is to
// carry, and reports whether it asks for log probabilities, the one
// thing sieve has to add (it has no tools, reasoning or images).
func parseInclude(raw json.RawMessage) (bool, *apiError) {
	var list []string
	if e := decode("include", raw, &list, "an array of strings"); e != nil {
		return false, e
	}
	for i, v := range list {
		if v != includeLogprobs {
			at := fmt.Sprintf("include[%d]", i)
			return false, invalid("unsupported_value", at, "%s %q: sieve has nothing of that to include (no tools, reasoning or images); it includes %q only", at, v, includeLogprobs)
		}
	}
	return len(list) > 0, nil
}

// parseTextConfig reads text: its format (returned also as given, for
// the response to echo), and verbosity at its default.
func parseTextConfig(raw json.RawMessage) (*job.Format, json.RawMessage, *apiError) {
	o, e := object("text", raw)
	if e != nil {
		return nil, nil, e
	}
	var f *job.Format
	var given json.RawMessage
	for _, k := range sortedKeys(o) {
		v := o[k]
		switch {
		case isNull(v):
		case k == "format":
			if f, e = parseTextFormat(v); e != nil {
				return nil, nil, e
			}
			given = v
		case k == "verbosity":
			var verbosity string
			if e := decode("text.verbosity", v, &verbosity, "a string"); e != nil {
				return nil, nil, e
			}
			if verbosity != "medium" {
				return nil, nil, invalid("unsupported_value", "text.verbosity", "text.verbosity %q: sieve's model has one verbosity, medium; ask for brevity in the instructions", verbosity)
			}
		default:
			return nil, nil, invalid("unknown_parameter", "text."+k, "Unrecognized request argument supplied: text.%s", k)
		}
	}
	return f, given, nil
}

// parseInput reads input: a string (one user turn) or an array of
// message items.
func parseInput(raw json.RawMessage) ([]job.Message, *apiError) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []job.Message{{Role: job.RoleUser, Content: s}}, nil
	}
	var items []map[string]json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil, invalid("invalid_type", "input", "input: want a string or an array of message items")
	}
	msgs := make([]job.Message, 0, len(items))
	for i, it := range items {
		at := fmt.Sprintf("input[%d]", i)
		if it == nil {
			return nil, invalid("invalid_type", at, "%s: want an object", at)
		}
		m, e := parseInputItem(at, it)
		if e != nil {
			return nil, e
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// parseInputItem reads one item of input, at is where it is (input[i]):
// a message, whose type may be left out, with a role and content. An
// output message of an earlier response, sent back, also carries its id,
// status and phase, which say nothing to the model.
func parseInputItem(at string, fields map[string]json.RawMessage) (job.Message, *apiError) {
	var m job.Message
	param := func(k string) string { return at + "." + k }
	if t := fields["type"]; t != nil && !isNull(t) {
		var typ string
		if e := decode(param("type"), t, &typ, "a string"); e != nil {
			return m, e
		}
		if typ != "message" {
			return m, invalid("unsupported_value", param("type"), "%s %q: sieve serves a text model without tools; send message items only", param("type"), typ)
		}
	}
	var e *apiError
	if m.Role, e = parseRole(param("role"), fields["role"]); e != nil {
		return m, e
	}
	for _, k := range sortedKeys(fields) {
		v := fields[k]
		switch {
		case k == "type" || k == "role":
		case k == "content":
			m.Content, e = parseContent(param(k), v, responsesText)
		case isNull(v): // null is how the SDKs say "not given"
		case k == "id" || k == "status" || k == "phase":
			e = decode(param(k), v, new(string), "a string")
		default:
			e = invalid("unknown_parameter", param(k), "Unrecognized input item field: %s", param(k))
		}
		if e != nil {
			return m, e
		}
	}
	if c := fields["content"]; c == nil || isNull(c) {
		return m, invalid("missing_required_parameter", param("content"), "%s is required", param("content"))
	}
	return m, nil
}

// The Responses API's answer: a response object, or the events that
// build one (each with its sequence_number), ending in response.completed
// or response.incomplete with the whole object.
type (
	responseObject struct {
		ID                 string             `json:"id"`
		Object             string             `json:"object"`
		CreatedAt          int64              `json:"created_at"`
		Status             string             `json:"status"`
		Error              *apiError          `json:"error"` // always null: a failed job is an HTTP error, or an error event
		IncompleteDetails  *incompleteDetails `json:"incomplete_details"`
		Instructions       *string            `json:"instructions"`
		MaxOutputTokens    *int               `json:"max_output_tokens"`
		Model              string             `json:"model"`
		Output             []outputMessage    `json:"output"`
		ParallelToolCalls  bool               `json:"parallel_tool_calls"`
		PreviousResponseID *string            `json:"previous_response_id"`
		Reasoning          *struct{}          `json:"reasoning"`
		Store              bool               `json:"store"`
		Temperature        *float64           `json:"temperature"`
		Text               textConfig         `json:"text"`
		ToolChoice         string             `json:"tool_choice"`
		Tools              []struct{}         `json:"tools"`
		TopLogprobs        *int               `json:"top_logprobs"`
		TopP               *float64           `json:"top_p"`
		Truncation         string             `json:"truncation"`
		Usage              *responseUsage     `json:"usage"`
		Metadata           map[string]string  `json:"metadata"`
		Sieve              *extension         `json:"sieve,omitempty"`
	}
	incompleteDetails struct {
		Reason string `json:"reason"`
	}
	textConfig struct {
		Format json.RawMessage `json:"format"` // as the request gave it
	}
	outputMessage struct {
		Type    string       `json:"type"`
		ID      string       `json:"id"`
		Status  string       `json:"status"`
		Role    string       `json:"role"`
		Content []outputText `json:"content"`
	}
	outputText struct {
		Type        string         `json:"type"`
		Text        string         `json:"text"`
		Annotations []struct{}     `json:"annotations"`
		Logprobs    []tokenLogprob `json:"logprobs"`
	}
	responseUsage struct {
		InputTokens        int `json:"input_tokens"`
		InputTokensDetails struct {
			CachedTokens int `json:"cached_tokens"`
		} `json:"input_tokens_details"`
		OutputTokens        int `json:"output_tokens"`
		OutputTokensDetails struct {
			ReasoningTokens int `json:"reasoning_tokens"`
		} `json:"output_tokens_details"`
		TotalTokens int `json:"total_tokens"`
	}
)

// Response and output item statuses.
const (
	statusInProgress = "in_progress"
	statusCompleted  = "completed"
	statusIncomplete = "incomplete"
)

// The stream's events. Every one has a type and a sequence number; the
// content events name the one output message and its one text part.
type (
	eventHead struct {
		Type           string `json:"type"`
		SequenceNumber int    `json:"sequence_number"`
	}
	partRef struct {
		ItemID       string `json:"item_id"`
		OutputIndex  int    `json:"output_index"`
		ContentIndex int    `json:"content_index"`
	}
	responseEvent struct {
		eventHead
		Response responseObject `json:"response"`
	}
	itemEvent struct {
		eventHead
		OutputIndex int           `json:"output_index"`
		Item        outputMessage `json:"item"`
	}
	partEvent struct {
		eventHead
		partRef
		Part outputText `json:"part"`
	}
	// textDeltaEvent's logprobs are always empty: a job streams none
	// with its chunks, so they all come with textDoneEvent.
	textDeltaEvent struct {
		eventHead
		partRef
		Delta    string     `json:"delta"`
		Logprobs []struct{} `json:"logprobs"`
	}
	textDoneEvent struct {
		eventHead
		partRef
		Text     string         `json:"text"`
		Logprobs []tokenLogprob `json:"logprobs"`
	}
	// errorEvent is an error after the stream began: code, message and
	// param at the top, as the API reference documents, and the same
	// nested in error, as the API sends them and as the official SDKs
	// look for to end the stream with an error.
	errorEvent struct {
		eventHead
		Code    *string   `json:"code"`
		Message string    `json:"message"`
		Param   *string   `json:"param"`
		Error   *apiError `json:"error"`
	}
)

func (h *eventHead) stamp(typ string, seq int) { h.Type, h.SequenceNumber = typ, seq }

type stamped interface{ stamp(typ string, seq int) }

// responsesShape writes Responses API answers; it holds what the answer
// echoes of the request, whether it asked for log probabilities, and the
// stream's sequence.
type responsesShape struct {
	instructions      *string
	maxOutput         *int
	temperature, topP *float64
	metadata          map[string]string
	format            json.RawMessage
	logprobs          bool
	topLogprobs       *int
	seq               int
}

// none is an empty list, sent as [] where the API always has a list.
var none = []struct{}{}

func (s *responsesShape) whole(r *reply, res job.Result, finish string) any {
	return s.final(r, res, finish)
}

// open announces the response, its output message and its text part.
func (s *responsesShape) open(r *reply) {
	o := s.object(r, statusInProgress)
	s.send(r, "response.created", &responseEvent{Response: o})
	s.send(r, "response.in_progress", &responseEvent{Response: o})
	item := s.message(r, statusInProgress, nil)
	s.send(r, "response.output_item.added", &itemEvent{Item: item})
	s.send(r, "response.content_part.added", &partEvent{partRef: s.ref(r), Part: outputText{Type: "output_text", Annotations: none, Logprobs: []tokenLogprob{}}})
}

func (s *responsesShape) text(r *reply, text string) {
	s.send(r, "response.output_text.delta", &textDeltaEvent{partRef: s.ref(r), Delta: text, Logprobs: none})
}

// close ends the text (with every token's log probability, when asked
// for), its part and its message, then the response: response.completed,
// or response.incomplete when a block list or the token limit cut it.
func (s *responsesShape) close(r *reply, res job.Result, finish string) {
	o := s.final(r, res, finish)
	msg := o.Output[0]
	s.send(r, "response.output_text.done", &textDoneEvent{partRef: s.ref(r), Text: res.Text, Logprobs: msg.Content[0].Logprobs})
	s.send(r, "response.content_part.done", &partEvent{partRef: s.ref(r), Part: msg.Content[0]})
	s.send(r, "response.output_item.done", &itemEvent{Item: msg})
	typ := "response.completed"
	if o.Status == statusIncomplete {
		typ = "response.incomplete"
	}
	s.send(r, typ, &responseEvent{Response: o})
}

func (s *responsesShape) fail(r *reply, e *apiError) {
	s.send(r, "error", &errorEvent{Code: e.Code, Message: e.Message, Param: e.Param, Error: e})
}

// send streams one event, numbered.
func (s *responsesShape) send(r *reply, typ string, ev stamped) {
	ev.stamp(typ, s.seq)
	s.seq++
	r.stream.named(typ, ev)
}

// object is the response as far as it is known before its result.
func (s *responsesShape) object(r *reply, status string) responseObject {
	return responseObject{
		ID: r.id, Object: "response", CreatedAt: r.created, Status: status, Instructions: s.instructions,
		MaxOutputTokens: s.maxOutput, Model: r.model, Output: []outputMessage{}, Temperature: s.temperature,
		Text: textConfig{s.format}, ToolChoice: "none", Tools: none, TopLogprobs: s.topLogprobs, TopP: s.topP, Truncation: "disabled", Metadata: s.metadata,
	}
}

// final is the whole response to a result. A block ends it incomplete
// for content_filter; the token limit, a full context or the deadline
// (the chat API's finish_reason length) for max_output_tokens.
func (s *responsesShape) final(r *reply, res job.Result, finish string) responseObject {
	o := s.object(r, statusCompleted)
	switch finish {
	case finishLength:
		o.Status, o.IncompleteDetails = statusIncomplete, &incompleteDetails{"max_output_tokens"}
	case finishFilter:
		o.Status, o.IncompleteDetails = statusIncomplete, &incompleteDetails{"content_filter"}
	}
	text := outputText{Type: "output_text", Text: res.Text, Annotations: none, Logprobs: []tokenLogprob{}}
	if s.logprobs {
		text.Logprobs = tokenLogprobs(res.Logprobs)
	}
	o.Output = []outputMessage{s.message(r, o.Status, &text)}
	u := &responseUsage{InputTokens: res.Usage.PromptTokens, OutputTokens: res.Usage.CompletionTokens,
		TotalTokens: res.Usage.PromptTokens + res.Usage.CompletionTokens}
	u.InputTokensDetails.CachedTokens = res.Usage.CachedTokens
	o.Usage, o.Sieve = u, newExtension(res)
	return o
}

// message is the response's one output message; text nil: none yet.
func (s *responsesShape) message(r *reply, status string, text *outputText) outputMessage {
	m := outputMessage{Type: "message", ID: "msg_" + r.jobID, Status: status, Role: job.RoleAssistant, Content: []outputText{}}
	if text != nil {
		m.Content = append(m.Content, *text)
	}
	return m
}

func (s *responsesShape) ref(r *reply) partRef { return partRef{ItemID: "msg_" + r.jobID} }
