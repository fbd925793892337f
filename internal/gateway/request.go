package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/sieve-project/sieve/internal/strictjson"
	"github.com/sieve-project/sieve/job"
)

// request is a parsed chat completion request.
type request struct {
	job          job.Job // without id, policy and timeout, which the gateway sets
	stream       bool
	includeUsage bool
}

// maxJSONDepth bounds nesting in a request; metadata is flat in OpenAI's
// API, and messages need four levels.
const maxJSONDepth = 16

// parseRequest reads a chat completion request for the served model.
// Every parameter is either honoured or refused: an unknown name, a
// parameter sieve cannot honour with a value other than its neutral one,
// or a wrong type is a 400 that names it.
func parseRequest(data []byte, model string) (request, *apiError) {
	var r request
	params, e := readParams(data)
	if e != nil {
		return r, e
	}
	p := pending{meta: map[string]any{}}
	for _, k := range sortedKeys(params) { // the same request always gets the same error
		raw := params[k]
		if isNull(raw) {
			continue // null is how the SDKs say "not given"
		}
		if e := r.setParam(&p, k, raw); e != nil {
			return r, e
		}
	}
	return r, r.finish(p, model, params["messages"] != nil)
}

// readParams returns the request's parameters, each as it was sent,
// once data is known to be one JSON object that says nothing twice (the
// checks encoding/json does not make).
func readParams(data []byte) (map[string]json.RawMessage, *apiError) {
	if !utf8.Valid(data) {
		return nil, invalid("invalid_json", "", "the request body is not valid UTF-8")
	}
	if e := checkJSON(data); e != nil {
		return nil, e
	}
	var params map[string]json.RawMessage
	if err := json.Unmarshal(data, &params); err != nil || params == nil {
		return nil, invalid("invalid_json", "", "the request body must be a JSON object")
	}
	return params, nil
}

// pending holds what setParam reads that finish must check against
// other parameters before it goes into the job: the model, the two names
// for the token limit, and metadata, which user adds to.
type pending struct {
	model                    string
	maxTokens, maxCompletion *int
	meta                     map[string]any
}

// setParam reads parameter k into r's job, or into p when finish must
// look at it again.
func (r *request) setParam(p *pending, k string, raw json.RawMessage) *apiError {
	j := &r.job
	var e *apiError
	switch k {
	case "model":
		e = decode(k, raw, &p.model, "a string")
	case "messages":
		j.Messages, e = parseMessages(raw)
	case "max_tokens":
		e = decode(k, raw, &p.maxTokens, "an integer")
	case "max_completion_tokens":
		e = decode(k, raw, &p.maxCompletion, "an integer")
	case "temperature":
		e = decode(k, raw, &j.Temperature, "a number")
	case "top_p":
		e = decode(k, raw, &j.TopP, "a number")
	case "top_k":
		e = decode(k, raw, &j.TopK, "an integer")
	case "min_p":
		e = decode(k, raw, &j.MinP, "a number")
	case "repeat_penalty":
		e = decode(k, raw, &j.RepeatPenalty, "a number")
	case "seed":
		j.Seed, e = parseSeed(raw)
	case "stop":
		j.Stop, e = parseStop(raw)
	case "n":
		var n int
		if e = decode(k, raw, &n, "an integer"); e == nil && n != 1 {
			e = invalid("unsupported_value", k, "n %d: sieve generates one choice per request; send n = 1 (or leave it out) and make more requests", n)
		}
	case "stream":
		e = decode(k, raw, &r.stream, "a boolean")
	case "stream_options":
		e = r.parseStreamOptions(raw)
	case "user":
		var u string
		if e = decode(k, raw, &u, "a string"); e == nil {
			p.meta["user"] = u
		}
	case "metadata":
		var m map[string]string
		if e = decode(k, raw, &m, "an object of strings"); e == nil {
			for mk, mv := range m {
				p.meta[mk] = mv
			}
		}
	default:
		e = neutralOnly(k, raw)
	}
	return e
}

// finish checks what the parameters say together, and completes the
// job with what p held back. gotMessages is whether the request named
// messages at all (as null too).
func (r *request) finish(p pending, model string, gotMessages bool) *apiError {
	j := &r.job
	switch {
	case p.model == "":
		return invalid("missing_required_parameter", "model", "you must provide a model parameter (this server serves %q)", model)
	case p.model != model:
		return newError(http.StatusNotFound, typeInvalid, "model_not_found", "model", "the model %q does not exist here: this server serves %q (GET /v1/models)", p.model, model)
	case len(j.Messages) == 0 && !gotMessages:
		return invalid("missing_required_parameter", "messages", "you must provide a messages parameter")
	case p.maxTokens != nil && p.maxCompletion != nil && *p.maxTokens != *p.maxCompletion:
		return invalid("invalid_value", "max_tokens", "max_tokens %d and max_completion_tokens %d disagree: give one of them", *p.maxTokens, *p.maxCompletion)
	case r.includeUsage && !r.stream:
		return invalid("invalid_value", "stream_options", "stream_options is only allowed when stream is true")
	}
	j.MaxTokens = p.maxTokens
	if p.maxCompletion != nil {
		j.MaxTokens = p.maxCompletion
	}
	if len(p.meta) > 0 {
		j.Metadata = p.meta
	}
	return nil
}

// parseSeed reads a seed, which the job holds in 32 bits with the
// largest value kept for "random".
func parseSeed(raw json.RawMessage) (*uint32, *apiError) {
	var s int64
	if e := decode("seed", raw, &s, "an integer"); e != nil {
		return nil, e
	}
	if s < 0 || s >= math.MaxUint32 {
		return nil, invalid("invalid_value", "seed", "seed %d: want 0 to %d", s, uint32(math.MaxUint32-1))
	}
	u := uint32(s)
	return &u, nil
}

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
	if e := decode(param("role"), fields["role"], &m.Role, "a string"); e != nil {
		return m, e
	}
	switch m.Role {
	case job.RoleSystem, job.RoleUser, job.RoleAssistant:
	case "developer":
		m.Role = job.RoleSystem
	case "tool", "function":
		return m, invalid("unsupported_value", param("role"), "%s: role %q: sieve serves a model without tools; send system, developer, user or assistant turns", param("role"), m.Role)
	case "":
		return m, invalid("missing_required_parameter", param("role"), "%s is required", param("role"))
	default:
		return m, invalid("invalid_value", param("role"), "%s %q: want system, developer, user or assistant", param("role"), m.Role)
	}
	for _, k := range sortedKeys(fields) {
		v := fields[k]
		switch k {
		case "role":
		case "content":
			if !isNull(v) {
				var e *apiError
				if m.Content, e = parseContent(param(k), v); e != nil {
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

// parseContent reads a message's content: a string, or an array of text
// parts, joined.
func parseContent(param string, raw json.RawMessage) (string, *apiError) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var parts []map[string]json.RawMessage
	if json.Unmarshal(raw, &parts) != nil {
		return "", invalid("invalid_type", param, "%s: want a string or an array of text parts", param)
	}
	var b strings.Builder
	for i, p := range parts {
		at := fmt.Sprintf("%s[%d]", param, i)
		var typ, text string
		if e := decode(at+".type", p["type"], &typ, "a string"); e != nil {
			return "", e
		}
		if typ != "text" {
			return "", invalid("unsupported_value", at+".type", "%s.type %q: sieve serves a text model; send text parts only", at, typ)
		}
		for _, k := range sortedKeys(p) {
			if k != "type" && k != "text" {
				return "", invalid("unknown_parameter", at+"."+k, "Unrecognized content part field: %s.%s", at, k)
			}
		}
		if e := decode(at+".text", p["text"], &text, "a string"); e != nil {
			return "", e
		}
		b.WriteString(text)
	}
	return b.String(), nil
}

// parseStop reads stop: one string, or an array of them.
func parseStop(raw json.RawMessage) ([]string, *apiError) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}, nil
	}
	var list []string
	if json.Unmarshal(raw, &list) != nil {
		return nil, invalid("invalid_type", "stop", "stop: want a string or an array of strings")
	}
	return list, nil
}

// parseStreamOptions reads stream_options, of which sieve honours
// include_usage and the neutral include_obfuscation.
func (r *request) parseStreamOptions(raw json.RawMessage) *apiError {
	var o map[string]json.RawMessage
	if json.Unmarshal(raw, &o) != nil {
		return invalid("invalid_type", "stream_options", "stream_options: want an object")
	}
	for _, k := range sortedKeys(o) {
		v := o[k]
		param := "stream_options." + k
		switch k {
		case "include_usage":
			if !isNull(v) {
				if e := decode(param, v, &r.includeUsage, "a boolean"); e != nil {
					return e
				}
			}
		case "include_obfuscation":
			// Obfuscation pads chunks against length side channels;
			// sieve sends none, which is what false asks for.
			var on bool
			if e := decode(param, v, &on, "a boolean"); e != nil {
				return e
			}
			if on {
				return invalid("unsupported_value", param, "%s: sieve does not pad stream chunks; send false or leave it out", param)
			}
		default:
			return invalid("unknown_parameter", param, "Unrecognized request argument supplied: %s", param)
		}
	}
	return nil
}

// neutralValues are OpenAI parameters sieve cannot honour, with the
// values that ask for nothing (clients often send those): a request
// that sends one of them is served, any other value is refused.
var neutralValues = map[string][]string{
	"frequency_penalty":   {"0", "0.0"},
	"presence_penalty":    {"0", "0.0"},
	"logprobs":            {"false"},
	"top_logprobs":        {"0"},
	"logit_bias":          {"{}"},
	"tools":               {"[]"},
	"functions":           {"[]"},
	"tool_choice":         {`"none"`},
	"parallel_tool_calls": {"true", "false"}, // meaningless without tools
	"response_format":     {`{"type":"text"}`},
	"modalities":          {`["text"]`},
	"store":               {"false"},
	"service_tier":        {`"auto"`, `"default"`},
	"function_call":       {`"none"`},
}

// neutralOnly checks a parameter setParam does not read: one sieve
// cannot honour passes only with a value that asks for nothing
// (neutralValues); any other value, and any other parameter, is refused.
func neutralOnly(k string, raw json.RawMessage) *apiError {
	vals, known := neutralValues[k]
	if !known {
		if unsupported[k] {
			return invalid("unsupported_parameter", k, "%s is not supported by sieve", k)
		}
		return invalid("unknown_parameter", k, "Unrecognized request argument supplied: %s", k)
	}
	var compact bytes.Buffer
	if json.Compact(&compact, raw) == nil {
		for _, v := range vals {
			if compact.String() == v {
				return nil
			}
		}
	}
	return invalid("unsupported_parameter", k, "%s %s is not supported by sieve (it serves %s only)", k, compact.String(), strings.Join(vals, " or "))
}

// unsupported are the other parameters of OpenAI's chat API, refused
// with a message that says so rather than "unrecognized".
var unsupported = map[string]bool{
	"audio": true, "prediction": true, "web_search_options": true, "reasoning_effort": true,
	"verbosity": true, "prompt_cache_key": true, "safety_identifier": true,
}

// decode unmarshals raw into v, or returns a 400 naming param and the
// type wanted.
func decode(param string, raw json.RawMessage, v any, want string) *apiError {
	if raw == nil {
		return invalid("missing_required_parameter", param, "%s is required", param)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return invalid("invalid_type", param, "%s: got %s, want %s", param, excerpt(raw), want)
	}
	return nil
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// isEmpty reports whether raw is null, "" or []: how the SDKs send a
// field they have nothing for.
func isEmpty(raw json.RawMessage) bool {
	v := bytes.TrimSpace(raw)
	return isNull(v) || bytes.Equal(v, []byte(`""`)) || bytes.Equal(v, []byte(`[]`))
}

// sortedKeys are an object's names in order, so that a request with
// more than one problem always gets the same error.
func sortedKeys(o map[string]json.RawMessage) []string { return slices.Sorted(maps.Keys(o)) }

// excerpt is the start of raw, to quote in an error.
func excerpt(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 40 {
		return fmt.Sprintf("%s…", raw[:40])
	}
	return string(raw)
}

// checkJSON checks that data is one JSON object with no name twice in any
// object (encoding/json would keep the last, where another reader may
// take the first) and no deeper than maxJSONDepth.
func checkJSON(data []byte) *apiError {
	err := strictjson.Check(data, strictjson.Options{MaxDepth: maxJSONDepth})
	if err == nil {
		return nil
	}
	var e *strictjson.Error
	if !errors.As(err, &e) {
		return jsonError(err)
	}
	switch e.Kind {
	case strictjson.NotObject:
		return invalid("invalid_json", "", "the request body must be a JSON object")
	case strictjson.Duplicate:
		at := e.Path.String()
		return invalid("duplicate_parameter", at, "%s is given twice: give each parameter once", at)
	case strictjson.TooDeep:
		return invalid("invalid_json", e.Path.String(), "the request nests deeper than %d levels", maxJSONDepth)
	case strictjson.Trailing:
		return invalid("invalid_json", "", "data after the JSON object")
	}
	return jsonError(e.Err)
}

func jsonError(err error) *apiError {
	if err == nil {
		return nil
	}
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return invalid("invalid_json", "", "the request body is not valid JSON (at byte %d: %v)", syn.Offset, syn)
	}
	return invalid("invalid_json", "", "the request body is not valid JSON: %v", err)
}
