package gateway

import (
	"encoding/json"

	"github.com/sieve-project/sieve/job"
)

// POST /v1/completions: OpenAI's legacy completions. sieve serves a chat
// model through its chat template, so the prompt is the one user turn of
// a conversation and the completion is the assistant's reply to it (as
// Ollama serves this endpoint), not a continuation of the prompt's text
// (as llama-server does with a raw prompt). What only a continuation
// means, echo and suffix, is refused.

var completionsAPI = api{
	name:     "completions",
	idPrefix: "cmpl-",
	params:   rejectParams("prompt", "max_tokens", "", "logprobs"),
	parse:    parseCompletions,
}

// defaultCompletionTokens is the token limit of a completion request
// that sets none: 16, as OpenAI's reference documents and other servers
// of this API (vLLM) keep, so that a client written against it gets the
// short completion it expects. Chat and Responses requests without a
// limit get the worker's generate.max_tokens instead, as OpenAI's
// default there is as long as the model goes.
const defaultCompletionTokens = 16

// completionsRules are the completions parameters sieve cannot honour.
var completionsRules = rules{
	"echo":              {neutral: []string{"false"}, why: "the prompt is a user turn of the chat template, not text the reply continues; sieve does not send it back"},
	"suffix":            {neutral: []string{`""`}, why: "sieve serves a chat model, which does not fill in text before a suffix"},
	"logit_bias":        {neutral: []string{"{}"}},
	"frequency_penalty": {neutral: []string{"0", "0.0"}},
	"presence_penalty":  {neutral: []string{"0", "0.0"}},
}

// parseCompletions reads a completions request for the served model, as
// strictly as parseChat reads a chat request.
func parseCompletions(data []byte, model string) (request, *apiError) {
	r := request{}
	params, e := readParams(data)
	if e != nil {
		return r, e
	}
	p := newPending()
	e = eachParam(params, func(k string, raw json.RawMessage) *apiError {
		if shared, e := r.setShared(&p, k, raw); shared {
			return e
		}
		switch k {
		case "prompt":
			r.job.Messages, e = parsePrompt(raw)
		case "max_tokens":
			e = decode(k, raw, &p.maxTokens, "an integer")
		case "stop":
			r.job.Stop, e = parseStop(raw)
		case "n", "best_of":
			e = parseOne(k, raw)
		case "stream_options":
			e = r.parseStreamOptions(raw, true)
		case "logprobs": // a count of alternatives, which asks for log probabilities
			if r.job.TopLogprobs, e = parseTopLogprobs(k, raw, maxLegacyLogprobs); e == nil {
				r.job.Logprobs = true
			}
		default:
			e = completionsRules.check(k, raw)
		}
		return e
	})
	if e != nil {
		return r, e
	}
	if e := checkModel(p.model, model); e != nil {
		return r, e
	}
	if params["prompt"] == nil || isNull(params["prompt"]) {
		return r, invalid("missing_required_parameter", "prompt", "you must provide a prompt parameter")
	}
	if p.maxTokens == nil {
		n := defaultCompletionTokens
		p.maxTokens = &n
	}
	r.shape = completionsShape{logprobs: r.job.Logprobs}
	return r, r.complete(p)
}

// parsePrompt reads prompt: a string, or an array of exactly one string
// (how some clients send one prompt). It becomes the job's one user turn.
func parsePrompt(raw json.RawMessage) ([]job.Message, *apiError) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []job.Message{{Role: job.RoleUser, Content: s}}, nil
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return nil, invalid("invalid_type", "prompt", "prompt: got %s, want a string", excerpt(raw))
	}
	var strs []string
	if json.Unmarshal(raw, &strs) != nil {
		return nil, invalid("unsupported_value", "prompt", "prompt: token ids are not supported; send the prompt as a string")
	}
	if len(strs) != 1 {
		return nil, invalid("unsupported_value", "prompt", "prompt: an array of %d prompts; sieve completes one prompt per request: send a string (or an array of one) and make more requests", len(strs))
	}
	return []job.Message{{Role: job.RoleUser, Content: strs[0]}}, nil
}

// The completions API's answer: a text_completion, or text_completion
// chunks ending in data: [DONE].
type (
	textCompletion struct {
		ID      string       `json:"id"`
		Object  string       `json:"object"`
		Created int64        `json:"created"`
		Model   string       `json:"model"`
		Choices []textChoice `json:"choices"`
		Usage   *usage       `json:"usage,omitempty"`
		Sieve   *extension   `json:"sieve,omitempty"`
	}
	textChoice struct {
		Index        int             `json:"index"`
		Text         string          `json:"text"`
		FinishReason *string         `json:"finish_reason"`
		Logprobs     *legacyLogprobs `json:"logprobs"`
	}
)

// completionsShape writes text completions; logprobs: the request asked
// for log probabilities.
type completionsShape struct{ logprobs bool }

func (c completionsShape) whole(r *reply, res job.Result, finish string) any {
	u := newUsage(res)
	o := c.newChunk(r, res.Text, &finish)
	o.Usage, o.Sieve = &u, newExtension(res)
	o.Choices[0].Logprobs = c.logprobsOf(res)
	return o
}

// logprobsOf is a choice's logprobs: null unless asked for.
func (c completionsShape) logprobsOf(res job.Result) *legacyLogprobs {
	if !c.logprobs {
		return nil
	}
	return newLegacyLogprobs(res.Logprobs)
}

// open sends nothing: a completions stream begins with its text.
func (completionsShape) open(*reply) {}

func (c completionsShape) text(r *reply, text string) { r.stream.event(c.newChunk(r, text, nil)) }

// close sends the finish reason with sieve's account and, when asked
// for, every token's log probability (the chunks before carry none: a
// job streams none), then the usage chunk when asked for, and [DONE].
func (c completionsShape) close(r *reply, res job.Result, finish string) {
	last := c.newChunk(r, "", &finish)
	last.Sieve = newExtension(res)
	last.Choices[0].Logprobs = c.logprobsOf(res)
	r.stream.event(last)
	if r.stream.usage {
		u := newUsage(res)
		r.stream.event(textCompletion{ID: r.id, Object: "text_completion", Created: r.created, Model: r.model, Choices: []textChoice{}, Usage: &u})
	}
	r.stream.done()
}

func (completionsShape) fail(r *reply, e *apiError) { r.stream.event(errorBody{e}) }

// newChunk is a completion with one choice of text, also the shape of
// each streamed chunk.
func (completionsShape) newChunk(r *reply, text string, finish *string) textCompletion {
	return textCompletion{ID: r.id, Object: "text_completion", Created: r.created, Model: r.model,
		Choices: []textChoice{{Text: text, FinishReason: finish}}}
}
