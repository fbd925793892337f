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

// The parsing every endpoint shares: one strict pass over the body, the
// parameters each API has in common, and the rules that refuse what
// sieve cannot honour. Each endpoint's own parameters are in its file
// (chat.go, responses.go, completions.go).

// request is a parsed request of any endpoint.
type request struct {
	job          job.Job // without id, policy and timeout, which the gateway sets
	stream       bool
	includeUsage bool
	shape        shape // how the answer is written, in the endpoint's terms
}

// pending holds what a parser reads that must be checked against other
// parameters before it goes into the job: the model, the token limit
// (chat has two names for it), and metadata, which user adds to.
type pending struct {
	model                    string
	maxTokens, maxCompletion *int
	meta                     map[string]any
}

func newPending() pending { return pending{meta: map[string]any{}} }

// maxJSONDepth bounds nesting in a request; metadata is flat in OpenAI's
// API, and messages (or input items) with content parts need five
// levels. A JSON schema for structured output may nest deeper, to
// maxSchemaDepth.
const maxJSONDepth = 16

// maxSchemaDepth bounds nesting inside a format's schema (counted from
// the request's object, whose schema opens at depth 4). OpenAI allows
// ten levels of objects, each two JSON levels with its "properties";
// this leaves room for arrays' "items" between them and stays within
// what a job may hold.
const maxSchemaDepth = 32

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

// eachParam calls set for every parameter that is not null (null is how
// the SDKs say "not given"), in name order, so that a request with more
// than one problem always gets the same error.
func eachParam(params map[string]json.RawMessage, set func(k string, raw json.RawMessage) *apiError) *apiError {
	for _, k := range sortedKeys(params) {
		if raw := params[k]; !isNull(raw) {
			if e := set(k, raw); e != nil {
				return e
			}
		}
	}
	return nil
}

// setShared reads a parameter every endpoint has: model, the sampling
// parameters (OpenAI's temperature and top_p, and llama.cpp's top_k,
// min_p, repeat_penalty and seed, as llama-server takes them on each
// endpoint), stream and user. It reports whether k was one of them.
func (r *request) setShared(p *pending, k string, raw json.RawMessage) (bool, *apiError) {
	j := &r.job
	var e *apiError
	switch k {
	case "model":
		e = decode(k, raw, &p.model, "a string")
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
	case "stream":
		e = decode(k, raw, &r.stream, "a boolean")
	case "user":
		var u string
		if e = decode(k, raw, &u, "a string"); e == nil {
			p.meta["user"] = u
		}
	default:
		return false, nil
	}
	return true, e
}

// checkModel checks that the request names the served model.
func checkModel(got, model string) *apiError {
	switch {
	case got == "":
		return invalid("missing_required_parameter", "model", "you must provide a model parameter (this server serves %q)", model)
	case got != model:
		return newError(http.StatusNotFound, typeInvalid, "model_not_found", "model", "the model %q does not exist here: this server serves %q (GET /v1/models)", got, model)
	}
	return nil
}

// complete checks what the shared parameters say together and puts what
// p held back into the job; the endpoint has already checked the model
// and settled p.maxTokens.
func (r *request) complete(p pending) *apiError {
	if r.includeUsage && !r.stream {
		return invalid("invalid_value", "stream_options", "stream_options is only allowed when stream is true")
	}
	r.job.MaxTokens = p.maxTokens
	if len(p.meta) > 0 {
		r.job.Metadata = p.meta
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

// parseOne reads a count of choices (n, best_of): sieve generates one
// choice per request.
func parseOne(k string, raw json.RawMessage) *apiError {
	var n int
	if e := decode(k, raw, &n, "an integer"); e != nil {
		return e
	}
	if n != 1 {
		return invalid("unsupported_value", k, "%s %d: sieve generates one choice per request; send %s = 1 (or leave it out) and make more requests", k, n, k)
	}
	return nil
}

// parseMetadata reads metadata (flat strings, as OpenAI's) into meta,
// the job's metadata, and returns it for an endpoint that echoes it.
func parseMetadata(raw json.RawMessage, meta map[string]any) (map[string]string, *apiError) {
	var m map[string]string
	if e := decode("metadata", raw, &m, "an object of strings"); e != nil {
		return nil, e
	}
	for k, v := range m {
		meta[k] = v
	}
	return m, nil
}

// parseRole reads a message's role: system, developer (taken as
// system), user or assistant. param is where it is (messages[0].role).
func parseRole(param string, raw json.RawMessage) (string, *apiError) {
	var role string
	if e := decode(param, raw, &role, "a string"); e != nil {
		return "", e
	}
	switch role {
	case job.RoleSystem, job.RoleUser, job.RoleAssistant:
		return role, nil
	case "developer":
		return job.RoleSystem, nil
	case "tool", "function":
		return "", invalid("unsupported_value", param, "%s: role %q: sieve serves a model without tools; send system, developer, user or assistant turns", param, role)
	case "":
		return "", invalid("missing_required_parameter", param, "%s is required", param)
	}
	return "", invalid("invalid_value", param, "%s %q: want system, developer, user or assistant", param, role)
}

// textParts says which content parts carry text in an API, and which
// other fields such a part may carry because clients send back what the
// API gave them: empty ones (the Responses API's output_text comes with
// annotations, which sieve never makes), and echoed ones, lists that
// say nothing to the model (its logprobs, when they were asked for).
type textParts struct {
	types  []string
	empty  []string
	echoed []string
}

// parseContent reads a message's content: a string, or an array of text
// parts, joined.
func parseContent(param string, raw json.RawMessage, kinds textParts) (string, *apiError) {
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
		if !slices.Contains(kinds.types, typ) {
			return "", invalid("unsupported_value", at+".type", "%s.type %q: sieve serves a text model; send %s parts only", at, typ, strings.Join(kinds.types, " or "))
		}
		for _, k := range sortedKeys(p) {
			switch {
			case k == "type" || k == "text":
			case slices.Contains(kinds.empty, k) && isEmpty(p[k]):
			case slices.Contains(kinds.empty, k):
				return "", invalid("unsupported_parameter", at+"."+k, "%s.%s is not supported: send it empty or leave it out", at, k)
			case slices.Contains(kinds.echoed, k):
				if e := decode(at+"."+k, p[k], new([]json.RawMessage), "an array"); e != nil {
					return "", e
				}
			default:
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

// parseStreamOptions reads stream_options: include_usage where the API
// has it (chat and completions; the Responses API always ends with its
// usage), and the neutral include_obfuscation.
func (r *request) parseStreamOptions(raw json.RawMessage, usage bool) *apiError {
	var o map[string]json.RawMessage
	if json.Unmarshal(raw, &o) != nil {
		return invalid("invalid_type", "stream_options", "stream_options: want an object")
	}
	for _, k := range sortedKeys(o) {
		v := o[k]
		param := "stream_options." + k
		switch {
		case k == "include_usage" && usage:
			if !isNull(v) {
				if e := decode(param, v, &r.includeUsage, "a boolean"); e != nil {
					return e
				}
			}
		case k == "include_obfuscation":
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

// rule says how the door answers an OpenAI parameter it does not
// honour: values that ask for nothing (clients often send those) pass,
// any other value is refused, with why when there is more to say than
// "not supported".
type rule struct {
	neutral []string // compact JSON
	why     string
}

// rules are an endpoint's parameters that are not honoured.
type rules map[string]rule

// check answers a parameter the endpoint's parser does not read: one in
// the rules passes only with a neutral value; any other name is unknown.
func (t rules) check(k string, raw json.RawMessage) *apiError {
	rl, known := t[k]
	if !known {
		return invalid("unknown_parameter", k, "Unrecognized request argument supplied: %s", k)
	}
	var compact bytes.Buffer
	if json.Compact(&compact, raw) == nil && slices.Contains(rl.neutral, compact.String()) {
		return nil
	}
	switch {
	case rl.why != "" && len(rl.neutral) > 0:
		return invalid("unsupported_parameter", k, "%s %s is not supported: %s", k, excerpt(raw), rl.why)
	case rl.why != "":
		return invalid("unsupported_parameter", k, "%s is not supported: %s", k, rl.why)
	case len(rl.neutral) == 0:
		return invalid("unsupported_parameter", k, "%s is not supported by sieve", k)
	}
	return invalid("unsupported_parameter", k, "%s %s is not supported by sieve (it serves %s only)", k, excerpt(raw), strings.Join(rl.neutral, " or "))
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

// object reads raw as a JSON object, or returns a 400 naming param.
func object(param string, raw json.RawMessage) (map[string]json.RawMessage, *apiError) {
	var o map[string]json.RawMessage
	if json.Unmarshal(raw, &o) != nil || o == nil {
		return nil, invalid("invalid_type", param, "%s: got %s, want an object", param, excerpt(raw))
	}
	return o, nil
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
// take the first) and no deeper than maxJSONDepth, or maxSchemaDepth
// inside a format's schema.
func checkJSON(data []byte) *apiError {
	err := strictjson.Check(data, strictjson.Options{MaxDepth: maxSchemaDepth, Open: func(p strictjson.Path, depth int) error {
		if depth > maxJSONDepth && !inSchema(p) {
			return &strictjson.Error{Kind: strictjson.TooDeep, Path: slices.Clone(p)}
		}
		return nil
	}})
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
		limit := maxJSONDepth
		if inSchema(e.Path) {
			limit = maxSchemaDepth
		}
		return invalid("invalid_json", e.Path.String(), "the request nests deeper than %d levels", limit)
	case strictjson.Trailing:
		return invalid("invalid_json", "", "data after the JSON object")
	}
	return jsonError(e.Err)
}

// inSchema reports whether p is inside a structured-output schema:
// chat's response_format.json_schema.schema or the Responses API's
// text.format.schema.
func inSchema(p strictjson.Path) bool {
	if len(p) < 3 {
		return false
	}
	a, b, c := p[0].Name, p[1].Name, p[2].Name
	return c == "schema" && (a == "response_format" && b == "json_schema" || a == "text" && b == "format")
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
