package job

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sieve-project/sieve/internal/strictjson"
)

// Limits are the bounds a job must keep, from the configuration.
type Limits struct {
	MaxPayload     int           // bytes of the whole job (queue.max_payload)
	MaxTokensLimit int           // the most max_tokens a job may ask for (generate.max_tokens_limit)
	MaxTimeout     time.Duration // the longest deadline (queue.max_timeout): longer ones are cut to it
}

// Bounds of what a job may carry beyond Limits.
const (
	MaxMetadataDepth = 32       // objects and arrays inside metadata
	MaxMetadataBytes = 16 << 10 // metadata's JSON
	MaxStops         = 16
	MaxStopBytes     = 256
	maxDepth         = MaxMetadataDepth + 2 // the job object and metadata's own
)

// Parse decides whether data is a valid job with the given id, on every
// count that does not need the model or the filter lists: size, UTF-8,
// one JSON object with exactly the known field names, none twice, each of
// its type; the id; the message roles; max_tokens, the sampling settings,
// stop strings, timeout_ms and metadata in range. It returns the job with
// ID set to id and TimeoutMS cut to lim.MaxTimeout, or an Error naming
// what is wrong.
//
// id is the job's identity, given by the transport: the subject a queued
// job was published on, or the one sieve gave a request/reply job. A
// body's "id" is optional; if present it must equal id.
func Parse(data []byte, id string, lim Limits) (Job, *Error) {
	j, e := parse(data, id, lim)
	j.ID = id
	return j, e
}

func parse(data []byte, id string, lim Limits) (Job, *Error) {
	var j Job
	if lim.MaxPayload > 0 && len(data) > lim.MaxPayload {
		return j, errorf(CodeTooLarge, "job is %d bytes; the limit (queue.max_payload) is %d", len(data), lim.MaxPayload)
	}
	if !utf8.Valid(data) {
		return j, errorf(CodeInvalidUTF8, "job is not valid UTF-8")
	}
	bodyID, e := scan(data, nil)
	if e != nil {
		return j, e
	}
	if err := json.Unmarshal(data, &j); err != nil {
		return Job{}, decodeError(err)
	}
	if e := checkJobID(bodyID, id); e != nil {
		return j, e
	}
	return j, check(&j, lim)
}

// checkJobID checks the body's raw "id" (nil when absent) against id.
func checkJobID(body json.RawMessage, id string) *Error {
	if e := CheckID(id); e != nil {
		return e
	}
	if Reserved(id) && !strings.HasPrefix(id, RequestIDPrefix) {
		return errorf(CodeReservedID, "id %q: ids starting with \"_\" are sieve's own; publish the job under another", id)
	}
	if body == nil {
		return nil
	}
	var s string
	if json.Unmarshal(body, &s) != nil || s == "" {
		return errorf(CodeBadID, `"id" is %s: give the job's id as a string, or leave "id" out`, body)
	}
	if s == id {
		return nil
	}
	if e := CheckID(s); e != nil {
		return e
	}
	if strings.HasPrefix(id, RequestIDPrefix) {
		return errorf(CodeIDMismatch, `"id" %q: a request/reply job gets its id from sieve (it is in the chunks and the result); leave "id" out`, s)
	}
	return errorf(CodeIDMismatch, `"id" %q but the job was published as %q: the subject names the job; leave "id" out or make them equal`, s, id)
}

// check validates the fields' values and cuts the timeout to the limit.
func check(j *Job, lim Limits) *Error {
	if len(j.Messages) == 0 {
		return errorf(CodeNoMessages, `messages is empty: give at least one {"role": "user", "content": ...}`)
	}
	for i, m := range j.Messages {
		switch m.Role {
		case RoleSystem, RoleUser, RoleAssistant:
		default:
			return errorf(CodeBadRole, "messages[%d].role %q: want system, user or assistant", i, m.Role)
		}
	}
	if v := j.MaxTokens; v != nil {
		switch {
		case *v < 1:
			return errorf(CodeBadMaxTokens, "max_tokens %d: want at least 1", *v)
		case lim.MaxTokensLimit > 0 && *v > lim.MaxTokensLimit:
			return errorf(CodeMaxTokensOverLimit, "max_tokens %d: the limit (generate.max_tokens_limit) is %d", *v, lim.MaxTokensLimit)
		}
	}
	if ps := j.Sampling.Problems(); len(ps) > 0 {
		return errorf(CodeBadSampling, "%s", ps[0])
	}
	if len(j.Stop) > MaxStops {
		return errorf(CodeBadStop, "%d stop strings: want at most %d", len(j.Stop), MaxStops)
	}
	for i, s := range j.Stop {
		if s == "" || len(s) > MaxStopBytes {
			return errorf(CodeBadStop, "stop[%d] is %d bytes: want 1 to %d", i, len(s), MaxStopBytes)
		}
	}
	if e := checkFormat(j.Format); e != nil {
		return e
	}
	if v := j.TopLogprobs; v != nil {
		switch {
		case !j.Logprobs:
			return errorf(CodeBadLogprobs, "top_logprobs needs logprobs: true")
		case *v < 0 || *v > MaxTopLogprobs:
			return errorf(CodeBadLogprobs, "top_logprobs %d: want 0 to %d", *v, MaxTopLogprobs)
		}
	}
	if v := j.TimeoutMS; v != nil {
		if *v <= 0 {
			return errorf(CodeBadTimeout, "timeout_ms %d: want more than 0", *v)
		}
		// In milliseconds, where no value overflows.
		if limit := lim.MaxTimeout.Milliseconds(); limit > 0 && *v > limit {
			*v = limit
		}
	}
	return nil
}

// Timeout is the job's deadline after it was queued: timeout_ms, or the
// limit when the job names none; 0 (no limit, no timeout_ms) is none.
func (j Job) Timeout(lim Limits) time.Duration {
	if j.TimeoutMS == nil {
		return lim.MaxTimeout
	}
	return time.Duration(*j.TimeoutMS) * time.Millisecond
}

// fields are a job's field names, exactly as they must be written.
var fields = map[string]bool{
	"id": true, "messages": true, "max_tokens": true, "temperature": true, "top_k": true, "top_p": true,
	"min_p": true, "repeat_penalty": true, "seed": true, "stop": true, "format": true, "logprobs": true, "top_logprobs": true, "policy": true, "timeout_ms": true, "metadata": true,
}

const fieldList = "id, messages, max_tokens, temperature, top_k, top_p, min_p, repeat_penalty, seed, stop, format, logprobs, top_logprobs, policy, timeout_ms, metadata"

// scan checks data's structure before it is decoded, where
// encoding/json is lenient: one JSON object and nothing after it; field
// names that match exactly (encoding/json folds case, so "Id" would
// decode as "id"); no name twice in one object (encoding/json keeps the
// last, so a gateway reading the first and sieve would disagree); and
// metadata within its depth and size. It returns the raw "id", nil when
// absent.
func scan(data []byte, extra []string) (json.RawMessage, *Error) {
	var id json.RawMessage
	err := strictjson.Check(data, strictjson.Options{
		MaxDepth: maxDepth,
		Name:     func(p strictjson.Path) error { return hook(checkName(p, extra)) },
		Open:     func(p strictjson.Path, depth int) error { return hook(checkMetadataDepth(p, depth)) },
		Value: func(p strictjson.Path, raw []byte) error {
			if len(p) == 1 && p[0].Name == "id" {
				id = bytes.TrimSpace(bytes.TrimLeft(bytes.TrimSpace(raw), ":")) // the value's text, after the colon
			}
			return hook(checkMetadataSize(p, raw))
		},
	})
	if err != nil {
		return nil, scanError(err)
	}
	return id, nil
}

// CheckSyntax checks data as Parse does before it decodes it: one JSON
// object, exactly named fields, none twice, metadata in bounds. extra
// allows more top-level names, such as a batch line's "prompt", which
// becomes messages before the job is parsed.
func CheckSyntax(data []byte, extra ...string) *Error {
	if !utf8.Valid(data) {
		return errorf(CodeInvalidUTF8, "not valid UTF-8")
	}
	_, e := scan(data, extra)
	return e
}

// checkName checks a name as scan reads it: the job's own, and those of
// each message, must be exactly the known ones. Wrong types, such as
// messages that is not an array, are left to the decoder.
func checkName(p strictjson.Path, extra []string) *Error {
	switch {
	case len(p) == 1:
		if key := p[0].Name; !fields[key] && !slices.Contains(extra, key) {
			known := fieldList
			if len(extra) > 0 {
				known += ", " + strings.Join(extra, ", ")
			}
			return errorf(CodeUnknownField, "unknown field %q (known: %s; names match exactly)", key, known)
		}
	case len(p) == 3 && inMessage(p):
		if key := p[2].Name; key != "role" && key != "content" {
			return errorf(CodeUnknownField, "%s: unknown field %q (known: role, content; names match exactly)", where(p), key)
		}
	}
	return nil
}

// checkMetadataDepth holds metadata to its own depth, under the one of
// the whole job (the job object and metadata's own count: metadata's
// object is depth 2).
func checkMetadataDepth(p strictjson.Path, depth int) *Error {
	if len(p) > 0 && p[0].Name == "metadata" && depth > MaxMetadataDepth+1 {
		return errorf(CodeBadMetadata, "metadata nests deeper than %d levels", MaxMetadataDepth)
	}
	return nil
}

// checkMetadataSize holds metadata's JSON to its size; raw is the
// colon and the value, as the limit has always counted them.
func checkMetadataSize(p strictjson.Path, raw []byte) *Error {
	if len(p) == 1 && p[0].Name == "metadata" && len(raw) > MaxMetadataBytes {
		return errorf(CodeBadMetadata, "metadata is %d bytes of JSON: want at most %d", len(raw), MaxMetadataBytes)
	}
	return nil
}

// inMessage reports whether p is in an item of the messages array.
func inMessage(p strictjson.Path) bool {
	return len(p) >= 2 && p[0].Name == "messages" && p[1].IsItem()
}

// where names the part of the job p is in, as errors name it: the
// top-level field, or messages[i]; "" for the job object itself.
func where(p strictjson.Path) string {
	switch {
	case len(p) == 0:
		return ""
	case inMessage(p):
		return fmt.Sprintf("messages[%d]", p[1].Index)
	}
	return p[0].Name
}

// hookError carries a job's Error out of strictjson's hooks.
type hookError struct{ e *Error }

func (h hookError) Error() string { return h.e.Message }

func hook(e *Error) error {
	if e == nil {
		return nil
	}
	return hookError{e}
}

// scanError is the Error for what strictjson.Check returned.
func scanError(err error) *Error {
	var h hookError
	if errors.As(err, &h) {
		return h.e
	}
	var se *strictjson.Error
	if !errors.As(err, &se) {
		return errorf(CodeInvalidJSON, "not valid JSON: %v", err)
	}
	switch se.Kind {
	case strictjson.NotObject:
		return errorf(CodeInvalidJSON, "a job is a JSON object, not %s", describe(se.Token))
	case strictjson.Duplicate:
		name := se.Path[len(se.Path)-1].Name
		if w := where(se.Path[:len(se.Path)-1]); w != "" {
			return errorf(CodeDuplicateField, "%s: field %q is given twice: give each field once", w, name)
		}
		return errorf(CodeDuplicateField, "field %q is given twice: give each field once", name)
	case strictjson.TooDeep:
		return errorf(CodeInvalidJSON, "%s nests deeper than %d levels", where(se.Path), maxDepth)
	case strictjson.Trailing:
		return errorf(CodeInvalidJSON, "data after the JSON object: send one job per message")
	}
	return syntaxError(se.Err)
}

func syntaxError(err error) *Error {
	if err == nil {
		return nil
	}
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		return errorf(CodeInvalidJSON, "not valid JSON at byte %d: %v", syn.Offset, syn)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(CodeInvalidJSON, "job is empty or cut short")
	}
	return errorf(CodeInvalidJSON, "not valid JSON: %v", err)
}

func describe(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case json.Delim:
		return "an array"
	case string:
		return "a string"
	case bool:
		return fmt.Sprint(v)
	}
	return "a number"
}

func decodeError(err error) *Error {
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		field := typ.Field
		if field == "" {
			return errorf(CodeInvalidJSON, "a job is a JSON object, not %s", typ.Value)
		}
		return errorf(CodeBadField, "field %q: got %s, want %s", field, typ.Value, jsonType(typ.Type.String()))
	}
	return syntaxError(err)
}

// jsonType names a Go type the way a JSON writer thinks of it.
func jsonType(goType string) string {
	switch {
	case strings.Contains(goType, "uint"):
		return "a non-negative integer in range"
	case strings.Contains(goType, "int"):
		return "an integer in range"
	case strings.Contains(goType, "float"):
		return "a number"
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	}
	return "an object"
}

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// MaxTopLogprobs is the most alternatives a job may ask for at each
// position, as in OpenAI's API.
const MaxTopLogprobs = 20

// MaxSchemaBytes bounds a format's JSON schema.
const MaxSchemaBytes = 64 << 10

// checkFormat checks a format's shape; whether sieve can enforce its
// schema is the pipeline's to say (it compiles the grammar).
func checkFormat(f *Format) *Error {
	if f == nil {
		return nil
	}
	switch f.Type {
	case FormatText, FormatJSONObject:
		if len(f.Schema) > 0 {
			return errorf(CodeBadFormat, "format.schema is for type %q only; format.type is %q", FormatJSONSchema, f.Type)
		}
	case FormatJSONSchema:
		s := bytes.TrimSpace(f.Schema)
		switch {
		case len(s) == 0 || bytes.Equal(s, []byte("null")):
			return errorf(CodeBadFormat, "format.type %q needs format.schema, a JSON Schema object", FormatJSONSchema)
		case s[0] != '{' && !bytes.Equal(s, []byte("true")):
			return errorf(CodeBadFormat, "format.schema must be a JSON Schema object")
		case len(s) > MaxSchemaBytes:
			return errorf(CodeBadFormat, "format.schema is %d bytes: want at most %d", len(s), MaxSchemaBytes)
		}
	default:
		return errorf(CodeBadFormat, "format.type %q: want %q, %q or %q", f.Type, FormatText, FormatJSONObject, FormatJSONSchema)
	}
	return nil
}
