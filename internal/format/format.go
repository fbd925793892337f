// Package format holds what sieve enforces of a job's Format beyond the
// grammar: Check refuses the parts of a JSON Schema that llama.cpp's
// grammar converter would silently leave unenforced, naming where they
// are, and a Validator checks a finished reply against its format, so a
// reply that ends "stop" is one the caller can use.
//
// It does not build grammars (package engine does, with llama.cpp's
// converter) and knows nothing of sampling or moderation.
package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/sieve-project/sieve/job"
)

// ObjectSchema is the schema of format json_object: one JSON object.
const ObjectSchema = `{"type": "object"}`

// Schema is the JSON Schema f asks for (json_object's is ObjectSchema),
// nil for plain text.
func Schema(f *job.Format) []byte {
	switch {
	case f == nil || f.Type == job.FormatText:
		return nil
	case f.Type == job.FormatJSONObject:
		return []byte(ObjectSchema)
	}
	return f.Schema
}

// annotations change nothing a reply may be.
var annotations = []string{"$schema", "$id", "$comment", "$anchor", "title", "description", "examples", "default", "deprecated", "readOnly", "writeOnly"}

// enforced are the keywords the grammar converter turns into rules (some
// only in the combinations check allows).
var enforced = []string{
	"type", "properties", "required", "additionalProperties", "items", "prefixItems", "minItems", "maxItems",
	"enum", "const", "anyOf", "allOf", "$ref", "$defs", "definitions",
	"pattern", "minLength", "maxLength", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
}

// MaxBound is the largest minLength, maxLength, minItems or maxItems a
// schema may set: llama.cpp's grammar spells a bound out as that many
// rules, so a schema with a bound of millions would take the worker's
// memory (and parse again at each rewind).
const MaxBound = 4096

// alone are keywords the converter acts on by themselves, ignoring what
// else the schema says (beside them only annotations, and $defs for a
// $ref).
var alone = []string{"$ref", "anyOf", "enum", "const"}

// formats are the string formats the converter has rules for.
var formats = []string{"date", "time", "date-time", "uuid", "uuid1", "uuid2", "uuid3", "uuid4", "uuid5"}

var types = []string{"string", "number", "integer", "boolean", "null", "object", "array"}

// Error is a part of a schema sieve cannot enforce.
type Error struct {
	Path string // JSON Pointer into the schema, "" for its root
	Msg  string
}

func (e *Error) Error() string {
	at := e.Path
	if at == "" {
		at = "its root"
	}
	return fmt.Sprintf("at %s: %s", at, e.Msg)
}

// Check reports the first part of schema (in a walk of its keys in
// sorted order) that sieve's grammar cannot enforce: a keyword the
// converter ignores, or one it honours only in other combinations. It
// refuses rather than generate replies the schema does not hold for.
func Check(schema []byte) error {
	var v any
	d := json.NewDecoder(bytes.NewReader(schema))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return &Error{Msg: "not JSON: " + err.Error()}
	}
	return check(v, "")
}

func check(v any, path string) error {
	if b, ok := v.(bool); ok {
		if !b && path == "" { // false inside (additionalProperties) says "none"
			return &Error{Path: path, Msg: "the schema false allows nothing"}
		}
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return &Error{Path: path, Msg: "a schema is an object (or true)"}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		at := path + "/" + escape(k)
		switch {
		case slices.Contains(annotations, k), strings.HasPrefix(k, "x-"):
			continue
		case !slices.Contains(enforced, k):
			return &Error{Path: at, Msg: fmt.Sprintf("%q is not enforced by sieve's grammar (it enforces: %s)", k, strings.Join(enforced, ", "))}
		}
		if err := checkKeyword(m, k, at); err != nil {
			return err
		}
	}
	return checkCombination(m, path)
}

// checkCombination refuses what the converter would leave unenforced:
// keywords beside one it acts on alone, required names that are not
// properties, and two lower or two upper bounds.
func checkCombination(m map[string]any, path string) error {
	for _, a := range alone {
		if _, ok := m[a]; !ok {
			continue
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if k == a || slices.Contains(annotations, k) || strings.HasPrefix(k, "x-") ||
				a == "$ref" && (k == "$defs" || k == "definitions") || (a == "enum" || a == "const") && k == "type" {
				continue
			}
			return &Error{Path: path + "/" + escape(k), Msg: fmt.Sprintf("%q beside %q: the grammar follows %s alone", k, a, a)}
		}
	}
	if req, ok := m["required"].([]any); ok {
		props, _ := m["properties"].(map[string]any)
		for i, r := range req {
			name, _ := r.(string)
			if _, ok := props[name]; !ok {
				return &Error{Path: path + "/required/" + strconv.Itoa(i), Msg: fmt.Sprintf("required %q is not in properties: the grammar requires only properties it knows", name)}
			}
		}
	}
	for _, pair := range [][2]string{{"minimum", "exclusiveMinimum"}, {"maximum", "exclusiveMaximum"}} {
		if m[pair[0]] != nil && m[pair[1]] != nil {
			return &Error{Path: path + "/" + pair[1], Msg: fmt.Sprintf("%s beside %s: the grammar takes one of them", pair[1], pair[0])}
		}
	}
	return nil
}

// checkKeyword checks one enforced keyword's value and combination, and
// walks the schemas inside it.
func checkKeyword(m map[string]any, k, at string) error {
	v := m[k]
	bad := func(format string, args ...any) error { return &Error{Path: at, Msg: fmt.Sprintf(format, args...)} }
	typ, _ := m["type"].(string)
	switch k {
	case "type":
		ts, ok := v.([]any)
		if !ok {
			ts = []any{v}
		}
		for _, t := range ts {
			if s, ok := t.(string); !ok || !slices.Contains(types, s) {
				return bad("type %v: want one of %s, or an array of them", t, strings.Join(types, ", "))
			}
		}
	case "properties", "$defs", "definitions":
		sub, ok := v.(map[string]any)
		if !ok {
			return bad("%s is an object of schemas", k)
		}
		if k == "properties" && m["allOf"] != nil {
			return bad("properties beside allOf: the grammar takes only one of them")
		}
		return walkMap(sub, at)
	case "additionalProperties", "items":
		if arr, ok := v.([]any); ok && k == "items" {
			return walkList(arr, at)
		}
		if k == "items" && m["prefixItems"] != nil {
			return bad("items beside prefixItems: the grammar takes only one of them")
		}
		return check(v, at)
	case "prefixItems", "anyOf":
		arr, ok := v.([]any)
		if !ok {
			return bad("%s is an array of schemas", k)
		}
		return walkList(arr, at)
	case "allOf":
		return checkAllOf(v, at)
	case "$ref":
		if s, ok := v.(string); !ok || !strings.HasPrefix(s, "#") {
			return bad("$ref %v: only references inside the schema (#/…) are followed", v)
		}
	case "pattern":
		s, _ := v.(string)
		if !strings.HasPrefix(s, "^") || !strings.HasSuffix(s, "$") {
			return bad("pattern %q: the grammar needs a pattern anchored with ^ and $", s)
		}
	case "minLength", "maxLength":
		if typ != "string" || m["pattern"] != nil || m["format"] != nil {
			return bad("%s is enforced on a plain string (type \"string\", no pattern or format)", k)
		}
		return wantBound(v, at, k)
	case "minItems", "maxItems":
		if _, ok := m["items"].(map[string]any); !ok {
			if b, ok := m["items"].(bool); !ok || !b {
				return bad("%s is enforced with items that is one schema", k)
			}
		}
		return wantBound(v, at, k)
	case "format":
		if s, ok := v.(string); !ok || !slices.Contains(formats, s) {
			return bad("format %v: the grammar has rules for %s", v, strings.Join(formats, ", "))
		}
	case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum":
		if typ != "integer" {
			return bad("%s is enforced on type \"integer\" only", k)
		}
		return wantInt(v, at, k)
	}
	return nil
}

// checkAllOf allows what the converter merges: objects' properties,
// directly or by $ref, some of them in an anyOf.
func checkAllOf(v any, at string) error {
	arr, ok := v.([]any)
	if !ok {
		return &Error{Path: at, Msg: "allOf is an array of schemas"}
	}
	for i, c := range arr {
		cat := at + "/" + strconv.Itoa(i)
		cm, _ := c.(map[string]any)
		parts := []any{c}
		if alts, ok := cm["anyOf"].([]any); ok {
			parts = alts
		}
		for _, p := range parts {
			pm, _ := p.(map[string]any)
			if pm["properties"] == nil && pm["$ref"] == nil {
				return &Error{Path: cat, Msg: "allOf merges objects' properties (or $refs to them) only"}
			}
		}
		if err := check(c, cat); err != nil {
			return err
		}
	}
	return nil
}

func wantInt(v any, at, k string) error {
	n, ok := v.(json.Number)
	if ok {
		if _, err := strconv.ParseInt(string(n), 10, 32); err == nil {
			return nil
		}
	}
	return &Error{Path: at, Msg: fmt.Sprintf("%s %v: want an integer", k, v)}
}

// wantBound is wantInt for a repetition bound: 0 to MaxBound.
func wantBound(v any, at, k string) error {
	if err := wantInt(v, at, k); err != nil {
		return err
	}
	if n, _ := strconv.ParseInt(string(v.(json.Number)), 10, 32); n < 0 || n > MaxBound {
		return &Error{Path: at, Msg: fmt.Sprintf("%s %d: want 0 to %d (the grammar spells a bound out rule by rule)", k, n, MaxBound)}
	}
	return nil
}

func walkMap(m map[string]any, at string) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := check(m[k], at+"/"+escape(k)); err != nil {
			return err
		}
	}
	return nil
}

func walkList(arr []any, at string) error {
	for i, s := range arr {
		if err := check(s, at+"/"+strconv.Itoa(i)); err != nil {
			return err
		}
	}
	return nil
}

// escape writes a key as a JSON Pointer token.
func escape(k string) string { return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1") }

// Validator checks replies against one schema.
type Validator struct {
	s *jsonschema.Schema
}

// NewValidator compiles the schema of f (Schema); nil, nil for plain
// text.
func NewValidator(f *job.Format) (*Validator, error) {
	schema := Schema(f)
	if schema == nil {
		return nil, nil
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat() // the grammar writes dates, times and uuids: a redaction inside one must not pass
	if err := c.AddResource("sieve:format", doc); err != nil {
		return nil, err
	}
	s, err := c.Compile("sieve:format")
	if err != nil {
		return nil, err
	}
	return &Validator{s: s}, nil
}

// ErrInvalid is what Validate returns, wrapped with why.
var ErrInvalid = errors.New("the reply does not fit its format")

// Validate reports whether text is one JSON value valid against the
// schema.
func (v *Validator) Validate(text string) error {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		return fmt.Errorf("%w: not JSON: %v", ErrInvalid, err)
	}
	if err := v.s.Validate(doc); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}
