package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/sieve-project/sieve/internal/chatml"
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
	if !utf8.Valid(data) {
		return r, invalid("invalid_json", "", "the request body is not valid UTF-8")
	}
	if e := checkJSON(data); e != nil {
		return r, e
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil || fields == nil {
		return r, invalid("invalid_json", "", "the request body must be a JSON object")
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the same request always gets the same error
	var (
		maxTokens, maxCompletion *int
		gotModel                 string
		meta                     = map[string]any{}
	)
	j := &r.job
	for _, k := range keys {
		raw := fields[k]
		if isNull(raw) {
			continue // null is how the SDKs say "not given"
		}
		var e *apiError
		switch k {
		case "model":
			e = decode(k, raw, &gotModel, "a string")
		case "messages":
			j.Messages, e = parseMessages(raw)
		case "max_tokens":
			e = decode(k, raw, &maxTokens, "an integer")
		case "max_completion_tokens":
			e = decode(k, raw, &maxCompletion, "an integer")
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
			var s int64
			if e = decode(k, raw, &s, "an integer"); e == nil {
				if s < 0 || s >= math.MaxUint32 {
					e = invalid("invalid_value", k, "seed %d: want 0 to %d", s, uint32(math.MaxUint32-1))
				} else {
					u := uint32(s)
					j.Seed = &u
				}
			}
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
				meta["user"] = u
			}
		case "metadata":
			var m map[string]string
			if e = decode(k, raw, &m, "an object of strings"); e == nil {
				for mk, mv := range m {
					meta[mk] = mv
				}
			}
		default:
			e = neutral(k, raw)
		}
		if e != nil {
			return r, e
		}
	}
	switch {
	case gotModel == "":
		return r, invalid("missing_required_parameter", "model", "you must provide a model parameter (this server serves %q)", model)
	case gotModel != model:
		return r, newError(http.StatusNotFound, typeInvalid, "model_not_found", "model", "the model %q does not exist here: this server serves %q (GET /v1/models)", gotModel, model)
	case len(j.Messages) == 0 && fields["messages"] == nil:
		return r, invalid("missing_required_parameter", "messages", "you must provide a messages parameter")
	case maxTokens != nil && maxCompletion != nil && *maxTokens != *maxCompletion:
		return r, invalid("invalid_value", "max_tokens", "max_tokens %d and max_completion_tokens %d disagree: give one of them", *maxTokens, *maxCompletion)
	case r.includeUsage && !r.stream:
		return r, invalid("invalid_value", "stream_options", "stream_options is only allowed when stream is true")
	}
	j.MaxTokens = maxTokens
	if maxCompletion != nil {
		j.MaxTokens = maxCompletion
	}
	if len(meta) > 0 {
		j.Metadata = meta
	}
	return r, nil
}

// parseMessages reads the messages array: system, developer (taken as
// system), user and assistant turns whose content is a string or text
// parts.
func parseMessages(raw json.RawMessage) ([]chatml.Message, *apiError) {
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, invalid("invalid_type", "messages", "messages: want an array of message objects")
	}
	msgs := make([]chatml.Message, 0, len(items))
	for i, it := range items {
		at := func(k string) string { return fmt.Sprintf("messages[%d].%s", i, k) }
		if it == nil {
			return nil, invalid("invalid_type", fmt.Sprintf("messages[%d]", i), "messages[%d]: want an object", i)
		}
		var m chatml.Message
		if e := decode(at("role"), it["role"], &m.Role, "a string"); e != nil {
			return nil, e
		}
		switch m.Role {
		case "system", "user", "assistant":
		case "developer":
			m.Role = chatml.System
		case "tool", "function":
			return nil, invalid("unsupported_value", at("role"), "%s: role %q: sieve serves a model without tools; send system, developer, user or assistant turns", at("role"), m.Role)
		case "":
			return nil, invalid("missing_required_parameter", at("role"), "%s is required", at("role"))
		default:
			return nil, invalid("invalid_value", at("role"), "%s %q: want system, developer, user or assistant", at("role"), m.Role)
		}
		keys := make([]string, 0, len(it))
		for k := range it {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := it[k]
			switch k {
			case "role":
			case "content":
				if !isNull(v) {
					var e *apiError
					if m.Content, e = parseContent(at(k), v); e != nil {
						return nil, e
					}
				} else if m.Role != chatml.Assistant {
					return nil, invalid("invalid_value", at(k), "%s is null: only an assistant turn may have no content", at(k))
				}
			case "name", "refusal", "tool_calls", "function_call", "audio", "tool_call_id":
				if !isNull(v) && !bytes.Equal(bytes.TrimSpace(v), []byte(`""`)) && !bytes.Equal(bytes.TrimSpace(v), []byte(`[]`)) {
					return nil, invalid("unsupported_parameter", at(k), "%s is not supported: the chat template has no place for it", at(k))
				}
			default:
				return nil, invalid("unknown_parameter", at(k), "Unrecognized message field: %s", at(k))
			}
		}
		if _, ok := it["content"]; !ok && m.Role != chatml.Assistant {
			return nil, invalid("missing_required_parameter", at("content"), "%s is required", at("content"))
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
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
		for k := range p {
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

func (r *request) parseStreamOptions(raw json.RawMessage) *apiError {
	var o map[string]json.RawMessage
	if json.Unmarshal(raw, &o) != nil {
		return invalid("invalid_type", "stream_options", "stream_options: want an object")
	}
	for k, v := range o {
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

func neutral(k string, raw json.RawMessage) *apiError {
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
		return invalid("invalid_type", param, "%s: got %s, want %s", param, describe(raw), want)
	}
	return nil
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

func describe(raw json.RawMessage) string {
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
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return jsonError(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return invalid("invalid_json", "", "the request body must be a JSON object")
	}
	if e := checkObject(dec, "", 1); e != nil {
		return e
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("invalid_json", "", "data after the JSON object")
	}
	return nil
}

// checkObject reads the rest of an object (or, with an empty prefix in
// an array, its items) after its opening delimiter.
func checkObject(dec *json.Decoder, path string, depth int) *apiError {
	if depth > maxJSONDepth {
		return invalid("invalid_json", path, "the request nests deeper than %d levels", maxJSONDepth)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return jsonError(err)
		}
		k, _ := tok.(string)
		at := k
		if path != "" {
			at = path + "." + k
		}
		if seen[k] {
			return invalid("duplicate_parameter", at, "%s is given twice: give each parameter once", at)
		}
		seen[k] = true
		if e := checkValue(dec, at, depth); e != nil {
			return e
		}
	}
	_, err := dec.Token()
	return jsonError(err)
}

func checkValue(dec *json.Decoder, path string, depth int) *apiError {
	tok, err := dec.Token()
	if err != nil {
		return jsonError(err)
	}
	d, ok := tok.(json.Delim)
	switch {
	case !ok:
		return nil
	case d == '{':
		return checkObject(dec, path, depth+1)
	}
	if depth+1 > maxJSONDepth {
		return invalid("invalid_json", path, "the request nests deeper than %d levels", maxJSONDepth)
	}
	for i := 0; dec.More(); i++ {
		if e := checkValue(dec, fmt.Sprintf("%s[%d]", path, i), depth+1); e != nil {
			return e
		}
	}
	_, err = dec.Token()
	return jsonError(err)
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
