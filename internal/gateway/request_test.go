package gateway

import (
	"encoding/json"
	"testing"

	"github.com/sieve-project/sieve/job"
)

func TestParseRequest(t *testing.T) {
	r, e := parseRequest([]byte(`{"model":"m","messages":[{"role":"developer","content":"be brief"},
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

func TestParseRequestRefuses(t *testing.T) {
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
		_, e := parseRequest([]byte(tc.body), "m")
		param := ""
		if e != nil && e.Param != nil {
			param = *e.Param
		}
		if e == nil || e.Code == nil || *e.Code != tc.code || param != tc.param || e.status != 400 {
			t.Errorf("%s: got %+v (param %q), want code %s param %q", tc.body, e, param, tc.code, tc.param)
		}
	}
}

// FuzzParseRequest: any bytes get a request or a 4xx error with a
// message, never a panic, and an accepted request is a job a worker
// accepts on every count parseRequest checks.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"stop":["a","b"],"stream":true,"stream_options":{"include_usage":true}}`,
		`{"model":"m","messages":[],"seed":1,"n":1,"max_tokens":3,"max_completion_tokens":3}`,
		`{"model":"m","model":"m"}`,
		`{"model":"m","messages":[{"role":"assistant","content":null}],"tools":[],"logit_bias":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, e := parseRequest(data, "m")
		if e != nil {
			if e.Message == "" || e.status < 400 || e.status > 499 {
				t.Fatalf("error %+v", e)
			}
			return
		}
		if _, err := json.Marshal(r.job); err != nil {
			t.Fatalf("job does not encode: %v", err)
		}
	})
}
