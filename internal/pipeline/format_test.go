package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/sieve-project/sieve/internal/filter"
	"github.com/sieve-project/sieve/internal/modelgen"
	"github.com/sieve-project/sieve/internal/pipeline"
	"github.com/sieve-project/sieve/internal/policy"
	"github.com/sieve-project/sieve/internal/sievetest"
	"github.com/sieve-project/sieve/job"
)

// jsonReply is a scripted reply that fits noteSchema: a word the
// profanity list redacts, inside a JSON string.
var jsonReply = []string{`{"note": "`, "dar", "n it", `"}`}

const noteSchema = `{"type":"object","properties":{"note":{"type":"string","maxLength":%d}},"required":["note"],"additionalProperties":false}`

func formatRunner(t *testing.T, replacement string) *pipeline.Runner {
	t.Helper()
	f, err := filter.Compile([]filter.ListSpec{{Name: "profanity", Action: filter.Redact, Replacement: replacement, Match: filter.Word, Words: []string{"darn"}}}, filter.Options{Normalize: true})
	if err != nil {
		t.Fatal(err)
	}
	return sievetest.Generator(t, sievetest.Options{Model: modelgen.Scripted{Pieces: jsonReply}, Registry: policy.Static(f)}).Runner()
}

func schema(maxLen int) json.RawMessage { return json.RawMessage(fmt.Sprintf(noteSchema, maxLen)) }

// TestFormatMeetsModeration: a reply sampled under its schema's grammar
// is checked again after the output stages. A redaction that keeps it
// valid ends "stop"; one that does not (longer than maxLength allows, or
// a replacement that breaks the JSON) ends filtered, format_broken: no
// reply that ends "stop" fails its schema.
func TestFormatMeetsModeration(t *testing.T) {
	tests := []struct {
		name, replacement string
		maxLen            int
		status            job.Status
		text              string
	}{
		{"redaction keeps it valid", "", 20, job.Completed, `{"note": "*** it"}`},
		{"redaction too long for maxLength", "[removed by policy]", 10, job.Filtered, `{"note": "[removed by policy] it"}`},
		{"replacement breaks the JSON", `a "word"`, 40, job.Filtered, `{"note": "a "word" it"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := formatRunner(t, tt.replacement)
			res, _ := run(t, r, context.Background(), job.Job{ID: "f", Messages: user("note?"),
				Format: &job.Format{Type: job.FormatJSONSchema, Schema: schema(tt.maxLen)}})
			if res.Status != tt.status || res.Text != tt.text {
				t.Fatalf("got %s %q (%+v), want %s %q", res.Status, res.Text, res.Error, tt.status, tt.text)
			}
			switch tt.status {
			case job.Completed:
				if res.FinishReason != "stop" || res.Error != nil {
					t.Fatalf("finish %s, error %+v", res.FinishReason, res.Error)
				}
			case job.Filtered:
				if res.FinishReason != "filtered" || res.Error == nil || res.Error.Code != job.CodeFormatBroken {
					t.Fatalf("finish %s, error %+v: want filtered, format_broken", res.FinishReason, res.Error)
				}
			}
			if len(res.Filter.Output) != 1 || res.Filter.Output[0].List != "profanity" {
				t.Fatalf("hits %+v: want the redaction", res.Filter.Output)
			}
		})
	}
}

// TestFormatRejected: a format sieve cannot enforce is refused before
// the model runs, naming the part.
func TestFormatRejected(t *testing.T) {
	r := formatRunner(t, "")
	for _, tt := range []struct {
		name string
		f    job.Format
		want string
	}{
		{"unknown type", job.Format{Type: "yaml"}, `format.type "yaml"`},
		{"schema without its type", job.Format{Type: job.FormatJSONObject, Schema: schema(3)}, "format.schema is for type"},
		{"no schema", job.Format{Type: job.FormatJSONSchema}, "needs format.schema"},
		{"unenforced keyword", job.Format{Type: job.FormatJSONSchema, Schema: json.RawMessage(`{"type":"object","properties":{"n":{"type":"integer","multipleOf":3}}}`)}, `at /properties/n/multipleOf`},
		{"not a valid schema", job.Format{Type: job.FormatJSONSchema, Schema: json.RawMessage(`{"type":"object","required":"note"}`)}, "not a valid JSON Schema"},
		{"pattern the converter refuses", job.Format{Type: job.FormatJSONSchema, Schema: json.RawMessage(`{"type":"string","pattern":"^(a$"}`)}, "format.schema"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, _ := run(t, r, context.Background(), job.Job{ID: "f", Messages: user("note?"), Format: &tt.f})
			if res.Status != job.Rejected || res.Error == nil || res.Error.Code != job.CodeBadFormat || !strings.Contains(res.Error.Message, tt.want) {
				t.Fatalf("got %s %+v, want rejected, bad_format, %q", res.Status, res.Error, tt.want)
			}
		})
	}
}

// TestFormatJSONObject: json_object takes any object, and plain text
// format changes nothing.
func TestFormatJSONObject(t *testing.T) {
	r := formatRunner(t, "")
	res, _ := run(t, r, context.Background(), job.Job{ID: "o", Messages: user("note?"), Format: &job.Format{Type: job.FormatJSONObject}})
	if res.Status != job.Completed || res.Text != `{"note": "*** it"}` {
		t.Fatalf("json_object: %s %q %+v", res.Status, res.Text, res.Error)
	}
	res, _ = run(t, r, context.Background(), job.Job{ID: "t", Messages: user("note?"), Format: &job.Format{Type: job.FormatText}})
	if res.Status != job.Completed || res.Text != `{"note": "*** it"}` {
		t.Fatalf("text: %s %q", res.Status, res.Text)
	}
}
