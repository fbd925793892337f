package gateway_test

import "testing"

// What the Responses and completions endpoints, and chat's structured
// output and log probabilities, refuse: raw HTTP, for the exact error shapes. Each refusal
// names the parameter, as the chat endpoint's do.
func TestRefusedParameters(t *testing.T) {
	d := startDoor(t, doorOpts{})
	resp := func(extra string) string { return `{"model":"scripted","input":"hi"` + extra + `}` }
	cmpl := func(extra string) string { return `{"model":"scripted","prompt":"hi"` + extra + `}` }
	chat := func(extra string) string {
		return `{"model":"scripted","messages":[{"role":"user","content":"hi"}]` + extra + `}`
	}
	const r, c, ch = "/v1/responses", "/v1/completions", "/v1/chat/completions"
	tests := []struct {
		name, path, body string
		status           int
		code, param      string
	}{
		{"responses: store", r, resp(`,"store":true`), 400, "unsupported_parameter", "store"},
		{"responses: previous response", r, resp(`,"previous_response_id":"resp_1"`), 400, "unsupported_parameter", "previous_response_id"},
		{"responses: tools", r, resp(`,"tools":[{"type":"function","name":"f"}]`), 400, "unsupported_parameter", "tools"},
		{"responses: tool_choice", r, resp(`,"tool_choice":"required"`), 400, "unsupported_parameter", "tool_choice"},
		{"responses: reasoning", r, resp(`,"reasoning":{"effort":"low"}`), 400, "unsupported_parameter", "reasoning"},
		{"responses: background", r, resp(`,"background":true`), 400, "unsupported_parameter", "background"},
		{"responses: include", r, resp(`,"include":["message.output_text.logprobs","reasoning.encrypted_content"]`), 400, "unsupported_value", "include[1]"},
		{"responses: include type", r, resp(`,"include":"message.output_text.logprobs"`), 400, "invalid_type", "include"},
		{"responses: part logprobs type", r, `{"model":"scripted","input":[{"role":"assistant","content":[{"type":"output_text","text":"x","logprobs":{}}]}]}`, 400, "invalid_type", "input[0].content[0].logprobs"},
		{"responses: part annotations", r, `{"model":"scripted","input":[{"role":"assistant","content":[{"type":"output_text","text":"x","annotations":[{"type":"url_citation"}]}]}]}`, 400, "unsupported_parameter", "input[0].content[0].annotations"},
		{"responses: top_logprobs over 20", r, resp(`,"include":["message.output_text.logprobs"],"top_logprobs":21`), 400, "invalid_value", "top_logprobs"},
		{"responses: top_logprobs below 0", r, resp(`,"include":["message.output_text.logprobs"],"top_logprobs":-1`), 400, "invalid_value", "top_logprobs"},
		{"responses: top_logprobs without include", r, resp(`,"top_logprobs":2`), 400, "invalid_value", "top_logprobs"},
		{"responses: top_logprobs with include empty", r, resp(`,"include":[],"top_logprobs":0`), 400, "invalid_value", "top_logprobs"},
		{"responses: n", r, resp(`,"n":2`), 400, "unsupported_parameter", "n"},
		{"responses: unknown", r, resp(`,"temprature":1`), 400, "unknown_parameter", "temprature"},
		{"responses: image", r, `{"model":"scripted","input":[{"role":"user","content":[{"type":"input_image","image_url":"x"}]}]}`, 400, "unsupported_value", "input[0].content[0].type"},
		{"responses: tool output item", r, `{"model":"scripted","input":[{"type":"function_call_output","call_id":"c","output":"x"}]}`, 400, "unsupported_value", "input[0].type"},
		{"responses: item field", r, `{"model":"scripted","input":[{"role":"user","content":"x","name":"bob"}]}`, 400, "unknown_parameter", "input[0].name"},
		{"responses: no input", r, `{"model":"scripted"}`, 400, "missing_required_parameter", "input"},
		{"responses: empty input", r, `{"model":"scripted","input":[]}`, 400, "no_messages", "input"},
		{"responses: no content", r, `{"model":"scripted","input":[{"role":"user","content":null}]}`, 400, "missing_required_parameter", "input[0].content"},
		{"responses: max_output_tokens", r, resp(`,"max_output_tokens":0`), 400, "bad_max_tokens", "max_output_tokens"},
		{"responses: over the worker's limit", r, resp(`,"max_output_tokens":9000`), 400, "max_tokens_over_limit", "max_output_tokens"},
		{"responses: format type", r, resp(`,"text":{"format":{"type":"grammar"}}`), 400, "invalid_value", "text.format.type"},
		{"responses: schema without name", r, resp(`,"text":{"format":{"type":"json_schema","schema":{}}}`), 400, "missing_required_parameter", "text.format.name"},
		{"responses: schema not an object", r, resp(`,"text":{"format":{"type":"json_schema","name":"x","schema":[1]}}`), 400, "bad_format", "text.format"},
		{"responses: verbosity", r, resp(`,"text":{"verbosity":"low"}`), 400, "unsupported_value", "text.verbosity"},
		{"responses: include_usage", r, resp(`,"stream":true,"stream_options":{"include_usage":true}`), 400, "unknown_parameter", "stream_options.include_usage"},
		{"responses: refused prompt", r, `{"model":"scripted","input":"the launch code?"}`, 400, "content_filter", "input"},
		{"completions: echo", c, cmpl(`,"echo":true`), 400, "unsupported_parameter", "echo"},
		{"completions: suffix", c, cmpl(`,"suffix":"end"`), 400, "unsupported_parameter", "suffix"},
		{"completions: best_of", c, cmpl(`,"best_of":2`), 400, "unsupported_value", "best_of"},
		{"completions: n", c, cmpl(`,"n":2`), 400, "unsupported_value", "n"},
		{"completions: logit_bias", c, cmpl(`,"logit_bias":{"50256":-100}`), 400, "unsupported_parameter", "logit_bias"},
		{"completions: logprobs over 5", c, cmpl(`,"logprobs":6`), 400, "invalid_value", "logprobs"},
		{"completions: logprobs below 0", c, cmpl(`,"logprobs":-1`), 400, "invalid_value", "logprobs"},
		{"completions: logprobs type", c, cmpl(`,"logprobs":true`), 400, "invalid_type", "logprobs"},
		{"chat: top_logprobs over 20", ch, chat(`,"logprobs":true,"top_logprobs":21`), 400, "invalid_value", "top_logprobs"},
		{"chat: top_logprobs without logprobs", ch, chat(`,"top_logprobs":3`), 400, "invalid_value", "top_logprobs"},
		{"chat: top_logprobs with logprobs false", ch, chat(`,"logprobs":false,"top_logprobs":0`), 400, "invalid_value", "top_logprobs"},
		{"chat: logprobs type", ch, chat(`,"logprobs":1`), 400, "invalid_type", "logprobs"},
		{"completions: two prompts", c, `{"model":"scripted","prompt":["a","b"]}`, 400, "unsupported_value", "prompt"},
		{"completions: token ids", c, `{"model":"scripted","prompt":[1,2]}`, 400, "unsupported_value", "prompt"},
		{"completions: prompt type", c, `{"model":"scripted","prompt":5}`, 400, "invalid_type", "prompt"},
		{"completions: no prompt", c, `{"model":"scripted"}`, 400, "missing_required_parameter", "prompt"},
		{"completions: messages", c, cmpl(`,"messages":[]`), 400, "unknown_parameter", "messages"},
		{"completions: over the worker's limit", c, cmpl(`,"max_tokens":9000`), 400, "max_tokens_over_limit", "max_tokens"},
		{"completions: usage without stream", c, cmpl(`,"stream_options":{"include_usage":true}`), 400, "invalid_value", "stream_options"},
		{"completions: refused prompt", c, `{"model":"scripted","prompt":"the launch code?"}`, 400, "content_filter", "prompt"},
		{"completions: other model", c, `{"model":"gpt-3.5-turbo-instruct","prompt":"hi"}`, 404, "model_not_found", "model"},
		{"chat: format type", ch, chat(`,"response_format":{"type":"grammar"}`), 400, "invalid_value", "response_format.type"},
		{"chat: schema missing", ch, chat(`,"response_format":{"type":"json_schema","json_schema":{"name":"x"}}`), 400, "missing_required_parameter", "response_format.json_schema.schema"},
		{"chat: schema not an object", ch, chat(`,"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":"x"}}`), 400, "bad_format", "response_format"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d.checkError(t, errorCase{method: "POST", path: tc.path, key: keyOpen, body: tc.body, status: tc.status, code: tc.code, param: tc.param})
		})
	}
	for _, path := range []string{r, c} {
		d.checkError(t, errorCase{method: "GET", path: path, key: keyOpen, status: 405, code: "method_not_allowed"})
		d.checkError(t, errorCase{method: "POST", path: path, body: `{}`, status: 401, code: "missing_api_key"})
	}
}
