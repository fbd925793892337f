package gateway

import (
	"encoding/json"

	"github.com/sieve-project/sieve/job"
)

// Log probabilities: chat's logprobs and top_logprobs, the Responses
// API's include of message.output_text.logprobs with its top_logprobs,
// and completions' logprobs ask the job for them (job.Logprobs,
// job.TopLogprobs); the result's entries, already moderated by the
// pipeline (a redacted stretch carries the replacement and no
// alternatives, nothing follows a block, no alternative completes a
// keyword), are written in each API's shape. A job streams no log
// probabilities with its chunks, so a stream carries them all at its end.

// maxLegacyLogprobs is the most alternatives completions' logprobs may
// ask for: 5, as OpenAI's reference caps it (chat and Responses take up
// to job.MaxTopLogprobs, 20).
const maxLegacyLogprobs = 5

// parseTopLogprobs reads a count of alternatives, 0 to most, for param.
func parseTopLogprobs(param string, raw json.RawMessage, most int) (*int, *apiError) {
	var n int
	if e := decode(param, raw, &n, "an integer"); e != nil {
		return nil, e
	}
	if n < 0 || n > most {
		return nil, invalid("invalid_value", param, "%s %d: want 0 to %d", param, n, most)
	}
	return &n, nil
}

// tokenLogprob is one token's entry as chat's logprobs.content and the
// Responses API's output_text.logprobs have it.
type (
	tokenLogprob struct {
		Token       string       `json:"token"`
		Logprob     float64      `json:"logprob"`
		Bytes       []int        `json:"bytes"`
		TopLogprobs []topLogprob `json:"top_logprobs"`
	}
	topLogprob struct {
		Token   string  `json:"token"`
		Logprob float64 `json:"logprob"`
		Bytes   []int   `json:"bytes"`
	}
)

// tokenLogprobs are a result's entries in chat's and the Responses API's
// shape: a list, empty rather than null when the reply has no tokens.
func tokenLogprobs(entries []job.Logprob) []tokenLogprob {
	out := make([]tokenLogprob, len(entries))
	for i, lp := range entries {
		top := make([]topLogprob, len(lp.Top))
		for k, t := range lp.Top {
			top[k] = topLogprob{Token: t.Token, Logprob: t.Logprob, Bytes: orEmpty(t.Bytes)}
		}
		out[i] = tokenLogprob{Token: lp.Token, Logprob: lp.Logprob, Bytes: orEmpty(lp.Bytes), TopLogprobs: top}
	}
	return out
}

// chatLogprobs is a chat choice's logprobs: the content's tokens; the
// model refuses in its content, never in a refusal.
type chatLogprobs struct {
	Content []tokenLogprob  `json:"content"`
	Refusal *[]tokenLogprob `json:"refusal"`
}

// legacyLogprobs is a completions choice's logprobs: parallel lists of
// the tokens, their log probabilities, the likeliest tokens at each
// place (token to log probability) and where each token begins in the
// text, in bytes (a token may end inside a character).
type legacyLogprobs struct {
	Tokens        []string             `json:"tokens"`
	TokenLogprobs []float64            `json:"token_logprobs"`
	TopLogprobs   []map[string]float64 `json:"top_logprobs"`
	TextOffset    []int                `json:"text_offset"`
}

// newLegacyLogprobs writes a result's entries in the completions API's
// shape. Each place's map holds its alternatives and, as OpenAI's does,
// the token said there (so up to logprobs+1 of them); a redacted place
// has none, and where two alternatives have the same text the likelier
// one is kept.
func newLegacyLogprobs(entries []job.Logprob) *legacyLogprobs {
	l := &legacyLogprobs{Tokens: make([]string, len(entries)), TokenLogprobs: make([]float64, len(entries)),
		TopLogprobs: make([]map[string]float64, len(entries)), TextOffset: make([]int, len(entries))}
	at := 0
	for i, lp := range entries {
		l.Tokens[i], l.TokenLogprobs[i], l.TextOffset[i] = lp.Token, lp.Logprob, at
		if lp.Bytes != nil {
			at += len(lp.Bytes) // exact where the token ends inside a character (and shows U+FFFD)
		} else {
			at += len(lp.Token)
		}
		top := make(map[string]float64, len(lp.Top)+1)
		for _, t := range lp.Top {
			if _, seen := top[t.Token]; !seen {
				top[t.Token] = t.Logprob
			}
		}
		if _, seen := top[lp.Token]; !seen && !lp.Redacted {
			top[lp.Token] = lp.Logprob
		}
		l.TopLogprobs[i] = top
	}
	return l
}

func orEmpty(b []int) []int {
	if b == nil {
		return []int{}
	}
	return b
}
