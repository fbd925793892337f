package format

import (
	"errors"
	"strings"
	"testing"

	"github.com/sieve-project/sieve/job"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name, schema string
		want         string // "" for none; else in the error
	}{
		{"bounded fields", `{"type":"object","properties":{"mood":{"enum":["good","bad"]},"ok":{"type":"boolean"},"n":{"type":"integer","minimum":0,"maximum":9},"note":{"type":"string","maxLength":20}},"required":["mood","ok","n","note"],"additionalProperties":false}`, ""},
		{"refs and defs", `{"$defs":{"p":{"type":"object","properties":{"x":{"type":"number"}}}},"type":"array","items":{"$ref":"#/$defs/p"},"minItems":1,"maxItems":3}`, ""},
		{"annotations and extensions", `{"title":"t","description":"d","x-vendor":1,"type":"string","format":"date"}`, ""},
		{"anyOf and nullable", `{"anyOf":[{"type":"string"},{"type":"null"}]}`, ""},
		{"ref with defs", `{"$defs":{"p":{"type":"string"}},"$ref":"#/$defs/p"}`, ""},
		{"enum with its type", `{"type":"string","enum":["a","b"]}`, ""},
		{"keyword beside a ref", `{"$ref":"#/$defs/p","type":"string","$defs":{"p":{"type":"string"}}}`, `at /type: "type" beside "$ref"`},
		{"properties beside anyOf", `{"type":"object","properties":{"a":{"type":"string"}},"anyOf":[{"type":"object"}]}`, `beside "anyOf"`},
		{"maxLength beside enum", `{"type":"string","enum":["abc"],"maxLength":2}`, `beside "enum"`},
		{"required without properties", `{"type":"object","required":["a"]}`, `at /required/0: required "a" is not in properties`},
		{"both minimums", `{"type":"integer","minimum":1,"exclusiveMinimum":0}`, `at /exclusiveMinimum:`},
		{"oneOf", `{"oneOf":[{"type":"string"},{"type":"integer"}]}`, `"oneOf" is not enforced`},
		{"a bound too large", `{"type":"string","maxLength":2000000000}`, `at /maxLength: maxLength 2000000000: want 0 to 4096`},
		{"items bound too large", `{"type":"array","items":{"type":"integer"},"maxItems":1000000}`, `want 0 to 4096`},
		{"true", `true`, ""},
		{"multipleOf", `{"type":"object","properties":{"n":{"type":"integer","multipleOf":2}}}`, `at /properties/n/multipleOf: "multipleOf" is not enforced`},
		{"not", `{"not":{"type":"string"}}`, `at /not:`},
		{"minimum on a number", `{"type":"number","minimum":1.5}`, `at /minimum: minimum is enforced on type "integer" only`},
		{"maxLength with a pattern", `{"type":"string","pattern":"^a+$","maxLength":3}`, `at /maxLength:`},
		{"unanchored pattern", `{"type":"string","pattern":"a+"}`, `at /pattern:`},
		{"remote ref", `{"$ref":"https://example.com/s.json"}`, `at /$ref:`},
		{"email", `{"type":"string","format":"email"}`, `at /format: format email`},
		{"uniqueItems deep", `{"type":"object","properties":{"a/b":{"type":"array","items":{"type":"string"},"uniqueItems":true}}}`, `at /properties/a~1b/uniqueItems`},
		{"false", `false`, `allows nothing`},
		{"not an object", `[1]`, `at its root: a schema is an object`},
		{"allOf of non-objects", `{"allOf":[{"type":"string"}]}`, `at /allOf/0: allOf merges`},
		{"bad type", `{"type":"text"}`, `at /type: type text`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check([]byte(tt.schema))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	schema := `{"type":"object","properties":{"mood":{"enum":["good","bad"]},"note":{"type":"string","maxLength":5}},"required":["mood"],"additionalProperties":false}`
	v, err := NewValidator(&job.Format{Type: job.FormatJSONSchema, Schema: []byte(schema)})
	if err != nil {
		t.Fatal(err)
	}
	for text, ok := range map[string]bool{
		`{"mood":"good"}`:                  true,
		` {"mood": "bad", "note": "hi"} `:  true,
		`{"mood":"meh"}`:                   false, // not in the enum
		`{"mood":"good","note":"toolong"}`: false, // a redaction made it longer
		`{"mood":"good"} {}`:               false, // two values
		`{"mood":"go`:                      false, // cut short
		`{"mood":"good","x":1}`:            false,
	} {
		err := v.Validate(text)
		if (err == nil) != ok || err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want valid %v", text, err, ok)
		}
	}
	date, err := NewValidator(&job.Format{Type: job.FormatJSONSchema, Schema: []byte(`{"type":"object","properties":{"d":{"type":"string","format":"date"}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	if date.Validate(`{"d":"2024-05-06"}`) != nil || date.Validate(`{"d":"2024-[x]"}`) == nil {
		t.Fatal("format date: want dates only (a redaction inside one breaks it)")
	}
	obj, err := NewValidator(&job.Format{Type: job.FormatJSONObject})
	if err != nil {
		t.Fatal(err)
	}
	if obj.Validate(`{"a":[1,2]}`) != nil || obj.Validate(`[1]`) == nil || obj.Validate(`"s"`) == nil {
		t.Fatal("json_object: want objects only")
	}
	if v, err := NewValidator(&job.Format{Type: job.FormatText}); v != nil || err != nil {
		t.Fatalf("text: %v %v, want no validator", v, err)
	}
}
