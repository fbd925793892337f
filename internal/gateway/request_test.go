package gateway

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"

	"github.com/sieve-project/sieve/job"
)

func TestParseChat(t *testing.T) {
	r, e := parseChat([]byte(`{"model":"m","messages":[{"role":"developer","content":"be brief"},
		{"role":"user","content":[{"type":"text","text":"hel"},{"type":"text","text":"lo"}]},
		{"role":"assistant","content":null,"tool_calls":[]},{"role":"user","content":"again","name":""}],
		"max_tokens":5,"temperature":0.5,"top_p":0.9,"top_k":20,"min_p":0.1,"repeat_penalty":1.2,"seed":42,
		"stop":"END","n":1,"stream":true,"stream_options":{"include_usage":true},"user":"u1","metadata":{"k":"v"},
		"frequency_penalty":0,"logprobs":false,"response_format":{"type":"text"},"tools":null}`), "m")
	if e != nil {
		t.Fatal(e)
	}
	j := r.job
	if len(j.Messages) != 4 || j.Messages[0].Role != "system" || j.Messages[1].Content != "hello" || j.Messages[2].Content != "" {
		t.Fatalf("messages %+v", j.Messages)
	}
	if *j.MaxTokens != 5 || *j.Temperature != 0.5 || *j.TopK != 20 || *j.Seed != 42 || j.Stop[0] != "END" || !r.stream || !r.includeUsage {
		t.Fatalf("got %+v", r)
	}
	if j.Metadata["user"] != "u1" || j.Metadata["k"] != "v" {
		t.Fatalf("metadata %v", j.Metadata)
	}
	// What the gateway sends is a job every worker accepts.
	b, _ := json.Marshal(j)
	if _, pe := job.Parse(b, "http.x", job.Limits{}); pe != nil {
		t.Fatalf("job.Parse: %v", pe)
	}
}

func TestParseChatRefuses(t *testing.T) {
	const msgs = `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct{ body, code, param string }{
		{`[]`, "invalid_json", ""},
		{`{"model":"m",` + msgs + `} {}`, "invalid_json", ""},
		{"{\"model\":\"m\xff\"}", "invalid_json", ""},
		{`{` + msgs + `}`, "missing_required_parameter", "model"},
		{`{"model":"m",` + msgs + `,"seed":-1}`, "invalid_value", "seed"},
		{`{"model":"m",` + msgs + `,"seed":4294967295}`, "invalid_value", "seed"},
		{`{"model":"m",` + msgs + `,"max_tokens":5,"max_completion_tokens":6}`, "invalid_value", "max_tokens"},
		{`{"model":"m",` + msgs + `,"stream_options":{"include_usage":true}}`, "invalid_value", "stream_options"},
		{`{"model":"m",` + msgs + `,"stream":true,"stream_options":{"include_usage":true,"x":1}}`, "unknown_parameter", "stream_options.x"},
		{`{"model":"m",` + msgs + `,"logit_bias":{"5":10}}`, "unsupported_parameter", "logit_bias"},
		{`{"model":"m",` + msgs + `,"audio":{}}`, "unsupported_parameter", "audio"},
		{`{"model":"m",` + msgs + `,"stop":[1]}`, "invalid_type", "stop"},
		{`{"model":"m","messages":[{"role":"user","content":"a","content":"b"}]}`, "duplicate_parameter", "messages[0].content"},
		{`{"model":"m","messages":[{"role":"user"}]}`, "missing_required_parameter", "messages[0].content"},
		{`{"model":"m","messages":[{"content":"x"}]}`, "missing_required_parameter", "messages[0].role"},
		{`{"model":"m","messages":[{"role":"user","content":"x","name":"bob"}]}`, "unsupported_parameter", "messages[0].name"},
		{`{"model":"m","messages":[{"role":"user","content":"x","extra":1}]}`, "unknown_parameter", "messages[0].extra"},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x","cache":1}]}]}`, "unknown_parameter", "messages[0].content[0].cache"},
		{`{"model":"m","metadata":{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{"j":{"k":{"l":{"m":{"n":{"o":{"p":1}}}}}}}}}}}}}}}}`, "invalid_json", "metadata.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o"},
	}
	for _, tc := range tests {
		_, e := parseChat([]byte(tc.body), "m")
		param := ""
		if e != nil && e.Param != nil {
			param = *e.Param
		}
		if e == nil || e.Code == nil || *e.Code != tc.code || param != tc.param || e.status != 400 {
			t.Errorf("%s: got %+v (param %q), want code %s param %q", tc.body, e, param, tc.code, tc.param)
		}
	}
}

// FuzzParse: any bytes, to any endpoint, get a request or a 4xx error
// with a message, never a panic, and an accepted request is a job that
// encodes.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"stop":["a","b"],"stream":true,"stream_options":{"include_usage":true}}`,
		`{"model":"m","messages":[],"seed":1,"n":1,"max_tokens":3,"max_completion_tokens":3}`,
		`{"model":"m","model":"m"}`,
		`{"model":"m","messages":[{"role":"assistant","content":null}],"tools":[],"logit_bias":{}}`,
		`{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"a","schema":{}}}}`,
		`{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"hi"}]}],"instructions":"x","text":{"format":{"type":"json_object"}}}`,
		`{"model":"m","input":"hi","max_output_tokens":3,"store":false,"stream":true}`,
		`{"model":"m","prompt":["hi"],"max_tokens":3,"echo":false,"logprobs":null,"stream":true}`,
		`{"model":"m","prompt":"hi","logprobs":3}`,
		`{"model":"m","messages":[{"role":"user","content":"hi"}],"logprobs":true,"top_logprobs":20}`,
		`{"model":"m","input":"hi","include":["message.output_text.logprobs"],"top_logprobs":0}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, a := range []api{chatAPI, responsesAPI, completionsAPI} {
			r, e := a.parse(data, "m")
			if e != nil {
				if e.Message == "" || e.status < 400 || e.status > 499 {
					t.Fatalf("%s: error %+v", a.name, e)
				}
				continue
			}
			if _, err := json.Marshal(r.job); err != nil {
				t.Fatalf("%s: job does not encode: %v", a.name, err)
			}
		}
	})
}

// Structured output: chat's response_format and the Responses API's
// text.format become the job's Format, schema as sent; text is none.
func TestParseFormat(t *testing.T) {
	const msgs, in = `"messages":[{"role":"user","content":"hi"}]`, `"input":"hi"`
	schema := `{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}`
	tests := []struct {
		name  string
		parse func([]byte, string) (request, *apiError)
		body  string
		want  *job.Format
	}{
		{"chat text", parseChat, `{"model":"m",` + msgs + `,"response_format":{"type":"text"}}`, nil},
		{"chat json_object", parseChat, `{"model":"m",` + msgs + `,"response_format":{"type":"json_object"}}`, &job.Format{Type: job.FormatJSONObject}},
		{"chat json_schema", parseChat, `{"model":"m",` + msgs + `,"response_format":{"type":"json_schema","json_schema":{"name":"a-1","description":"d","strict":true,"schema":` + schema + `}}}`,
			&job.Format{Type: job.FormatJSONSchema, Schema: json.RawMessage(schema)}},
		{"responses text", parseResponses, `{"model":"m",` + in + `,"text":{"format":{"type":"text"},"verbosity":"medium"}}`, nil},
		{"responses json_object", parseResponses, `{"model":"m",` + in + `,"text":{"format":{"type":"json_object"}}}`, &job.Format{Type: job.FormatJSONObject}},
		{"responses json_schema", parseResponses, `{"model":"m",` + in + `,"text":{"format":{"type":"json_schema","name":"a","strict":null,"schema":` + schema + `}}}`,
			&job.Format{Type: job.FormatJSONSchema, Schema: json.RawMessage(schema)}},
	}
	for _, tc := range tests {
		r, e := tc.parse([]byte(tc.body), "m")
		if e != nil {
			t.Fatalf("%s: %v", tc.name, e)
		}
		if !reflect.DeepEqual(r.job.Format, tc.want) {
			t.Fatalf("%s: format %+v, want %+v", tc.name, r.job.Format, tc.want)
		}
		b, _ := job.Marshal(r.job)
		if _, pe := job.Parse(b, "http.x", job.Limits{}); pe != nil {
			t.Fatalf("%s: job.Parse: %v", tc.name, pe)
		}
	}
	// A schema deeper than other parameters may nest.
	deep := strings.Repeat(`{"type":"object","properties":{"a":`, 12) + `{"type":"string"}` + strings.Repeat(`}}`, 12)
	if _, e := parseChat([]byte(`{"model":"m",`+msgs+`,"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":`+deep+`}}}`), "m"); e != nil {
		t.Fatalf("a schema 26 levels deep: %v", e)
	}
}

// The official SDK's structured output parameters, as it sends them,
// are read into the job's Format.
func TestParseFormatFromSDK(t *testing.T) {
	schema := map[string]any{"type": "object", "properties": map[string]any{"n": map[string]any{"type": "integer"}}}
	chat, _ := json.Marshal(openai.ChatCompletionNewParams{Model: "m", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
			JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: "count", Schema: schema, Strict: openai.Bool(true)}}}})
	resp, _ := json.Marshal(responses.ResponseNewParams{Model: "m", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")},
		Text: responses.ResponseTextConfigParam{Format: responses.ResponseFormatTextConfigUnionParam{OfJSONSchema: &responses.ResponseFormatTextJSONSchemaConfigParam{
			Name: "count", Schema: schema, Strict: openai.Bool(true)}}}})
	want, _ := json.Marshal(schema)
	for _, c := range []struct {
		parse func([]byte, string) (request, *apiError)
		body  []byte
	}{{parseChat, chat}, {parseResponses, resp}} {
		r, e := c.parse(c.body, "m")
		if e != nil {
			t.Fatalf("%s: %v", c.body, e)
		}
		if f := r.job.Format; f == nil || f.Type != job.FormatJSONSchema || string(f.Schema) != string(want) {
			t.Fatalf("%s: format %+v", c.body, f)
		}
	}
}

// A job the pipeline rejects for its format is a 400 naming the
// endpoint's parameter; so are the other rejections.
func TestRejectionParams(t *testing.T) {
	res := job.Result{Status: job.Rejected, Error: &job.Error{Code: job.CodeBadFormat, Message: "this schema cannot be enforced"}}
	for a, param := range map[*api]string{&chatAPI: "response_format", &responsesAPI: "text.format"} {
		_, e := outcome(res, a.params)
		if e == nil || e.status != 400 || e.Type != typeInvalid || *e.Code != job.CodeBadFormat || *e.Param != param {
			t.Fatalf("%s: %+v", a.name, e)
		}
	}
	res.Error.Code = job.CodeNoMessages
	for a, param := range map[*api]string{&chatAPI: "messages", &responsesAPI: "input", &completionsAPI: "prompt"} {
		if _, e := outcome(res, a.params); *e.Param != param {
			t.Fatalf("%s: param %s, want %s", a.name, *e.Param, param)
		}
	}
	res.Error.Code = job.CodeBadLogprobs
	for a, param := range map[*api]string{&chatAPI: "top_logprobs", &responsesAPI: "top_logprobs", &completionsAPI: "logprobs"} {
		if _, e := outcome(res, a.params); *e.Param != param {
			t.Fatalf("%s: param %s, want %s", a.name, *e.Param, param)
		}
	}
}

func TestParseResponses(t *testing.T) {
	r, e := parseResponses([]byte(`{"model":"m","instructions":"be brief","input":[
		{"role":"developer","content":"in English"},
		{"type":"message","role":"user","content":[{"type":"input_text","text":"hel"},{"type":"input_text","text":"lo"}]},
		{"type":"message","id":"msg_1","status":"completed","phase":null,"role":"assistant","content":[{"type":"output_text","text":"hi","annotations":[],"logprobs":[]}]},
		{"role":"user","content":"again"}],
		"max_output_tokens":5,"temperature":0.5,"top_p":0.9,"top_k":20,"seed":3,"stream":true,"user":"u1","metadata":{"k":"v"},
		"store":false,"tools":[],"tool_choice":"none","include":[],"background":false,"parallel_tool_calls":true,"truncation":"disabled",
		"previous_response_id":null,"reasoning":null,"stream_options":{"include_obfuscation":false}}`), "m")
	if e != nil {
		t.Fatal(e)
	}
	j := r.job
	want := []job.Message{{Role: "system", Content: "be brief"}, {Role: "system", Content: "in English"}, {Role: "user", Content: "hello"},
		{Role: "assistant", Content: "hi"}, {Role: "user", Content: "again"}}
	if !reflect.DeepEqual(j.Messages, want) {
		t.Fatalf("messages %+v", j.Messages)
	}
	if *j.MaxTokens != 5 || *j.Temperature != 0.5 || *j.TopK != 20 || *j.Seed != 3 || !r.stream || j.Metadata["user"] != "u1" || j.Metadata["k"] != "v" || j.Format != nil {
		t.Fatalf("got %+v", r)
	}
	r, e = parseResponses([]byte(`{"model":"m","input":"hello"}`), "m")
	if e != nil || !reflect.DeepEqual(r.job.Messages, []job.Message{{Role: "user", Content: "hello"}}) || r.job.MaxTokens != nil {
		t.Fatalf("a string input: %+v, %v", r.job, e)
	}
}

func TestParseCompletions(t *testing.T) {
	r, e := parseCompletions([]byte(`{"model":"m","prompt":["Say hi"],"max_tokens":7,"temperature":0,"stop":["\n"],"seed":1,"n":1,"best_of":1,
		"echo":false,"suffix":null,"logit_bias":{},"logprobs":null,"stream":true,"stream_options":{"include_usage":true},"user":"u"}`), "m")
	if e != nil {
		t.Fatal(e)
	}
	j := r.job
	if !reflect.DeepEqual(j.Messages, []job.Message{{Role: "user", Content: "Say hi"}}) || *j.MaxTokens != 7 || j.Stop[0] != "\n" || !r.includeUsage || j.Metadata["user"] != "u" {
		t.Fatalf("got %+v", r)
	}
	if r, _ := parseCompletions([]byte(`{"model":"m","prompt":"x"}`), "m"); *r.job.MaxTokens != defaultCompletionTokens {
		t.Fatalf("max_tokens %d by default", *r.job.MaxTokens)
	}
}

// Each endpoint's way of asking for log probabilities becomes the job's
// logprobs and top_logprobs; null, false or an empty include asks for
// none.
func TestParseLogprobs(t *testing.T) {
	const msgs = `"messages":[{"role":"user","content":"hi"}]`
	two, five := 2, 5
	tests := []struct {
		parse func([]byte, string) (request, *apiError)
		body  string
		on    bool
		top   *int
	}{
		{parseChat, `{"model":"m",` + msgs + `,"logprobs":true,"top_logprobs":2}`, true, &two},
		{parseChat, `{"model":"m",` + msgs + `,"logprobs":true}`, true, nil},
		{parseChat, `{"model":"m",` + msgs + `,"logprobs":false,"top_logprobs":null}`, false, nil},
		{parseResponses, `{"model":"m","input":"hi","include":["message.output_text.logprobs"],"top_logprobs":5}`, true, &five},
		{parseResponses, `{"model":"m","input":"hi","include":["message.output_text.logprobs"]}`, true, nil},
		{parseResponses, `{"model":"m","input":"hi","include":[],"top_logprobs":null}`, false, nil},
		{parseCompletions, `{"model":"m","prompt":"hi","logprobs":5}`, true, &five},
		{parseCompletions, `{"model":"m","prompt":"hi","logprobs":null}`, false, nil},
	}
	for _, tc := range tests {
		r, e := tc.parse([]byte(tc.body), "m")
		if e != nil {
			t.Fatalf("%s: %v", tc.body, e)
		}
		if r.job.Logprobs != tc.on || !reflect.DeepEqual(r.job.TopLogprobs, tc.top) {
			t.Fatalf("%s: logprobs %v, top_logprobs %v", tc.body, r.job.Logprobs, r.job.TopLogprobs)
		}
		b, _ := job.Marshal(r.job)
		if _, pe := job.Parse(b, "http.x", job.Limits{}); pe != nil {
			t.Fatalf("%s: job.Parse: %v", tc.body, pe)
		}
	}
}
