package gateway

import (
	"encoding/json"
	"regexp"

	"github.com/sieve-project/sieve/job"
)

// Structured output: chat's response_format and the Responses API's
// text.format become the job's Format. The door checks how the request
// says it; whether sieve can enforce a schema is the pipeline's to say
// (it compiles the grammar), and its verdict, a rejected job with code
// bad_format, comes back as a 400 naming the parameter (rejectParams).

// parseChatFormat reads response_format: {"type": "text"}, {"type":
// "json_object"} or {"type": "json_schema", "json_schema": {"name",
// "schema", "strict", "description"}}.
func parseChatFormat(raw json.RawMessage) (*job.Format, *apiError) {
	const param = "response_format"
	o, typ, e := formatType(param, raw)
	if e != nil || typ != job.FormatJSONSchema {
		return simpleFormat(param, typ, o, e)
	}
	for _, k := range sortedKeys(o) {
		if k != "type" && k != "json_schema" {
			return nil, invalid("unknown_parameter", param+"."+k, "Unrecognized request argument supplied: %s.%s", param, k)
		}
	}
	const at = param + ".json_schema"
	if o["json_schema"] == nil || isNull(o["json_schema"]) {
		return nil, invalid("missing_required_parameter", at, "%s is required with type %q", at, job.FormatJSONSchema)
	}
	fields, e := object(at, o["json_schema"])
	if e != nil {
		return nil, e
	}
	return schemaFormat(at, fields)
}

// parseTextFormat reads the Responses API's text.format: the same three
// types, with json_schema's fields beside its type.
func parseTextFormat(raw json.RawMessage) (*job.Format, *apiError) {
	const param = "text.format"
	o, typ, e := formatType(param, raw)
	if e != nil || typ != job.FormatJSONSchema {
		return simpleFormat(param, typ, o, e)
	}
	delete(o, "type")
	return schemaFormat(param, o)
}

// formatType reads a format object and its type.
func formatType(param string, raw json.RawMessage) (map[string]json.RawMessage, string, *apiError) {
	o, e := object(param, raw)
	if e != nil {
		return nil, "", e
	}
	var typ string
	if e := decode(param+".type", o["type"], &typ, "a string"); e != nil {
		return nil, "", e
	}
	return o, typ, nil
}

// simpleFormat is a format of type text or json_object, which say
// nothing else. Text is no format at all: the job carries none, so a
// worker that predates formats still serves it.
func simpleFormat(param, typ string, o map[string]json.RawMessage, e *apiError) (*job.Format, *apiError) {
	if e != nil {
		return nil, e
	}
	if typ != job.FormatText && typ != job.FormatJSONObject {
		return nil, invalid("invalid_value", param+".type", "%s.type %q: want %q, %q or %q", param, typ, job.FormatText, job.FormatJSONObject, job.FormatJSONSchema)
	}
	for _, k := range sortedKeys(o) {
		if k != "type" {
			return nil, invalid("unknown_parameter", param+"."+k, "Unrecognized request argument supplied: %s.%s (type %q takes no other field)", param, k, typ)
		}
	}
	if typ == job.FormatText {
		return nil, nil
	}
	return &job.Format{Type: job.FormatJSONObject}, nil
}

// schemaName is what OpenAI accepts as a schema's name.
var schemaName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// schemaFormat reads a JSON schema format's fields, at is where they
// are: name (required, as OpenAI requires it), schema (required: sieve
// needs it to constrain the reply), description and strict. Any strict
// is accepted: sieve always samples under the schema's grammar, which
// is what strict asks for, and more than strict false does.
func schemaFormat(at string, fields map[string]json.RawMessage) (*job.Format, *apiError) {
	f := &job.Format{Type: job.FormatJSONSchema}
	var name string
	if e := decode(at+".name", fields["name"], &name, "a string"); e != nil {
		return nil, e
	}
	if !schemaName.MatchString(name) {
		return nil, invalid("invalid_value", at+".name", "%s %q: want 1 to 64 letters, digits, _ or -", at+".name", name)
	}
	for _, k := range sortedKeys(fields) {
		v, param := fields[k], at+"."+k
		var e *apiError
		switch k {
		case "name":
		case "schema":
			if isNull(v) {
				e = invalid("missing_required_parameter", param, "%s is required: sieve constrains the reply to it", param)
			}
			f.Schema = v // its shape is job.Parse's to judge, as for a job sent on NATS
		case "description":
			e = decode(param, v, new(string), "a string")
		case "strict":
			if !isNull(v) {
				e = decode(param, v, new(bool), "a boolean")
			}
		default:
			e = invalid("unknown_parameter", param, "Unrecognized request argument supplied: %s", param)
		}
		if e != nil {
			return nil, e
		}
	}
	if f.Schema == nil {
		return nil, invalid("missing_required_parameter", at+".schema", "%s.schema is required: sieve constrains the reply to it", at)
	}
	return f, nil
}
