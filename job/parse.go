package job

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Parse decodes one job strictly: the payload must be at most maxPayload
// bytes of valid UTF-8 holding one JSON object with only known fields of
// the right types, and a non-empty id. It validates shape only; limits that
// depend on the configuration or the model are the pipeline's.
//
// On error it returns what it could read of the job (its id, for the
// rejected result) and an Error a person can act on.
func Parse(data []byte, maxPayload int) (Job, *Error) {
	var j Job
	if len(data) > maxPayload {
		return j, &Error{Code: "too_large", Message: fmt.Sprintf("job is %d bytes; the limit (queue.max_payload) is %d", len(data), maxPayload)}
	}
	if !utf8.Valid(data) {
		return j, &Error{Code: "invalid_utf8", Message: "job is not valid UTF-8"}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			return Job{ID: j.ID}, &Error{Code: "invalid_json", Message: "data after the JSON object: send one job per message"}
		}
	} else {
		// Keep the id if the payload has a readable one, so the rejection
		// reaches the caller waiting on it.
		var idOnly struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(data, &idOnly) == nil {
			j = Job{ID: idOnly.ID}
		} else {
			j = Job{}
		}
		return j, decodeError(err)
	}
	if j.ID == "" {
		return j, &Error{Code: "empty_id", Message: `"id" is missing or empty: give each job a unique id`}
	}
	return j, nil
}

func decodeError(err error) *Error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return &Error{Code: "invalid_json", Message: fmt.Sprintf("not valid JSON at byte %d: %v", syn.Offset, syn)}
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return &Error{Code: "invalid_json", Message: fmt.Sprintf("a job is a JSON object, not %s", typ.Value)}
		}
		return &Error{Code: "bad_field", Message: fmt.Sprintf("field %q: got %s, want %s", field, typ.Value, jsonType(typ.Type.String()))}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return &Error{Code: "unknown_field", Message: fmt.Sprintf("unknown field %s (known: id, messages, max_tokens, temperature, top_k, top_p, min_p, repeat_penalty, seed, stop, policy, timeout_ms, metadata)", strings.TrimPrefix(err.Error(), "json: unknown field "))}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{Code: "invalid_json", Message: "job is empty or cut short"}
	}
	return &Error{Code: "invalid_json", Message: err.Error()}
}

// jsonType names a Go type the way a JSON writer thinks of it.
func jsonType(goType string) string {
	switch {
	case strings.Contains(goType, "int"):
		return "an integer"
	case strings.Contains(goType, "float"):
		return "a number"
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	}
	return "an object"
}
