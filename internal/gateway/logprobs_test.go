package gateway_test

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
)

// leaky gives the scripted reply runner-ups that hold the lists'
// keywords: before "Oh" the model would rather say " darn" (profanity,
// which both keys run), and before " launch" " darn" or " launch code"
// (secrets, which only keyOpen runs).
var leaky = map[string][]string{"": {" darn"}, ", the": {" darn", " launch code"}}

// The reply's tokens as logprobs report them under keySoft: the redacted
// " dar" + "n" carry what the reply has there, on the first of them.
var softTokens = []string{"Oh", " ***", "", ", the", " launch", " co", "de", " is", " 0000", "."}

// entry is one token's log probability, whichever API's shape it came in.
type entry struct {
	token   string
	logprob float64
	bytes   []int64 // nil where the API has none
	top     []alt
}

type alt struct {
	token   string
	logprob float64
}

// checkEntries checks a reply's log probabilities: the tokens join to
// the text, each bytes are its token, each log probability is one, at
// most most alternatives per token, a redacted token (" ***" and the ""
// after it) has none, and no token, alternative, or alternative after
// the text before it holds any of the keywords.
func checkEntries(t *testing.T, es []entry, text string, most int, keywords ...string) {
	t.Helper()
	var joined strings.Builder
	for i, e := range es {
		before := joined.String()
		joined.WriteString(e.token)
		if e.bytes != nil && string(int64sToBytes(e.bytes)) != e.token {
			t.Fatalf("entry %d: bytes %v are not the token %q", i, e.bytes, e.token)
		}
		if e.logprob > 0 || math.IsNaN(e.logprob) || len(e.top) > most {
			t.Fatalf("entry %d: %+v: want a log probability and at most %d alternatives", i, e, most)
		}
		redacted := e.token == " ***" || e.token == "" && i > 0 && es[i-1].token == " ***"
		if redacted && len(e.top) > 0 {
			t.Fatalf("entry %d: the redacted %q offers alternatives %+v", i, e.token, e.top)
		}
		seen := []string{e.token}
		for _, a := range e.top {
			seen = append(seen, a.token, before+a.token)
			if a.logprob > 0 || math.IsNaN(a.logprob) {
				t.Fatalf("entry %d: alternative %+v", i, a)
			}
		}
		for _, s := range seen {
			for _, k := range keywords {
				if strings.Contains(strings.ToLower(s), k) {
					t.Fatalf("entry %d: %q reveals the keyword %q", i, s, k)
				}
			}
		}
	}
	if joined.String() != text {
		t.Fatalf("the tokens join to %q, the text is %q", joined.String(), text)
	}
}

func tokensOf(es []entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.token
	}
	return out
}

// offers reports whether the entry whose token is tok offers other.
func offers(es []entry, tok, other string) bool {
	for _, e := range es {
		if e.token == tok {
			return slices.ContainsFunc(e.top, func(a alt) bool { return a.token == other })
		}
	}
	return false
}

func int64sToBytes(v []int64) []byte {
	b := make([]byte, len(v))
	for i, x := range v {
		b[i] = byte(x)
	}
	return b
}

func fromChat(lps []openai.ChatCompletionTokenLogprob) []entry {
	es := make([]entry, len(lps))
	for i, lp := range lps {
		es[i] = entry{token: lp.Token, logprob: lp.Logprob, bytes: lp.Bytes}
		if es[i].bytes == nil {
			es[i].bytes = []int64{}
		}
		for _, a := range lp.TopLogprobs {
			es[i].top = append(es[i].top, alt{a.Token, a.Logprob})
		}
	}
	return es
}

// Chat: logprobs and top_logprobs give each token of the moderated reply
// with its alternatives, in one piece or streamed (all of them on the
// finish chunk).
func TestChatLogprobs(t *testing.T) {
	d := startDoor(t, doorOpts{alternatives: leaky})
	ctx := context.Background()
	c := d.client(keySoft)
	p := openai.ChatCompletionNewParams{Model: model, Messages: user("hello"), Logprobs: openai.Bool(true), TopLogprobs: openai.Int(5)}
	resp, err := c.Chat.Completions.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	got := resp.Choices[0]
	es := fromChat(got.Logprobs.Content)
	checkEntries(t, es, got.Message.Content, 5, "darn")
	if !slices.Equal(tokensOf(es), softTokens) || int64(len(es)) != resp.Usage.CompletionTokens || got.Logprobs.JSON.Refusal.Raw() != "null" {
		t.Fatalf("logprobs %s", got.Logprobs.RawJSON())
	}
	if !offers(es, " launch", " launch code") || len(es[0].top) == 0 || es[0].top[0].token != "Oh" {
		t.Fatalf("want the clean alternatives kept, the sampled token first: %s", got.Logprobs.RawJSON())
	}

	// Streamed: no chunk but the finish chunk carries log probabilities,
	// and the SDK's accumulator gets them all, once.
	p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	stream := c.Chat.Completions.NewStreaming(ctx, p)
	var acc openai.ChatCompletionAccumulator
	carrying := 0
	for stream.Next() {
		ch := stream.Current()
		acc.AddChunk(ch)
		if len(ch.Choices) > 0 && len(ch.Choices[0].Logprobs.Content) > 0 {
			carrying++
			if ch.Choices[0].FinishReason != "stop" {
				t.Fatalf("logprobs on a chunk before the finish: %s", ch.RawJSON())
			}
		}
	}
	stream.Close()
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	streamed := fromChat(acc.Choices[0].Logprobs.Content)
	checkEntries(t, streamed, acc.Choices[0].Message.Content, 5, "darn")
	if carrying != 1 || !slices.Equal(tokensOf(streamed), softTokens) {
		t.Fatalf("%d chunks carry logprobs; streamed tokens %q", carrying, tokensOf(streamed))
	}

	// logprobs without top_logprobs: no alternatives; without logprobs:
	// null, as before.
	resp, err = c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: model, Messages: user("hello"), Logprobs: openai.Bool(true)})
	if err != nil || len(resp.Choices[0].Logprobs.Content) != len(softTokens) || resp.Choices[0].Logprobs.Content[0].JSON.TopLogprobs.Raw() != "[]" {
		t.Fatalf("logprobs alone: %v, %s", err, resp.RawJSON())
	}
	resp, err = c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: model, Messages: user("hello")})
	if err != nil || resp.Choices[0].JSON.Logprobs.Raw() != "null" {
		t.Fatalf("not asked: %v, %s", err, resp.RawJSON())
	}

	// A block: the entries end with the text, before the secret, and no
	// alternative offers it.
	open := d.client(keyOpen)
	p.StreamOptions = openai.ChatCompletionStreamOptionsParam{}
	resp, err = open.Chat.Completions.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	got = resp.Choices[0]
	es = fromChat(got.Logprobs.Content)
	checkEntries(t, es, got.Message.Content, 5, "darn", "launch code")
	if got.FinishReason != "content_filter" || len(es) < 4 || !slices.Equal(tokensOf(es)[:4], softTokens[:4]) {
		t.Fatalf("blocked: finish %s, %q", got.FinishReason, tokensOf(es))
	}
}

func fromLegacy(l openai.CompletionChoiceLogprobs) []entry {
	es := make([]entry, len(l.Tokens))
	for i, tok := range l.Tokens {
		es[i] = entry{token: tok, logprob: l.TokenLogprobs[i]}
		for k, v := range l.TopLogprobs[i] {
			es[i].top = append(es[i].top, alt{k, v})
		}
	}
	return es
}

// checkLegacy checks what only the completions shape has: lists as long
// as the tokens, the offsets where each token begins, and each place's
// map holding the token said there, unless redacted.
func checkLegacy(t *testing.T, l openai.CompletionChoiceLogprobs) {
	t.Helper()
	n := len(l.Tokens)
	if len(l.TokenLogprobs) != n || len(l.TopLogprobs) != n || len(l.TextOffset) != n {
		t.Fatalf("lists of different lengths: %s", l.RawJSON())
	}
	at := 0
	for i, tok := range l.Tokens {
		if l.TextOffset[i] != int64(at) {
			t.Fatalf("token %d at %d, text_offset %d", i, at, l.TextOffset[i])
		}
		at += len(tok)
		if v, ok := l.TopLogprobs[i][tok]; tok != " ***" && tok != "" && (!ok || v != l.TokenLogprobs[i]) {
			t.Fatalf("token %d %q: not in its map %v", i, tok, l.TopLogprobs[i])
		}
	}
}

// Completions: logprobs N gives the tokens, their log probabilities, the
// N likeliest at each place (with the token said) and the offsets; a
// stream carries them on its finish chunk.
func TestCompletionsLogprobs(t *testing.T) {
	d := startDoor(t, doorOpts{alternatives: leaky})
	ctx := context.Background()
	c := d.client(keySoft)
	p := openai.CompletionNewParams{Model: model, Prompt: prompt("hello"), Logprobs: openai.Int(3), MaxTokens: openai.Int(100)}
	resp, err := c.Completions.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	got := resp.Choices[0]
	checkLegacy(t, got.Logprobs)
	es := fromLegacy(got.Logprobs)
	checkEntries(t, es, got.Text, 3+1, "darn")
	if !slices.Equal(tokensOf(es), softTokens) || int64(len(es)) != resp.Usage.CompletionTokens || !offers(es, " launch", " launch code") {
		t.Fatalf("logprobs %s", got.Logprobs.RawJSON())
	}

	stream := c.Completions.NewStreaming(ctx, p)
	var text strings.Builder
	var last openai.CompletionChoiceLogprobs
	carrying := 0
	for stream.Next() {
		ch := stream.Current().Choices[0]
		text.WriteString(ch.Text)
		if ch.JSON.Logprobs.Raw() != "null" {
			carrying++
			last = ch.Logprobs
			if ch.FinishReason != "stop" || ch.Text != "" {
				t.Fatalf("logprobs on a chunk before the finish: %s", stream.Current().RawJSON())
			}
		}
	}
	stream.Close()
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	checkLegacy(t, last)
	streamed := fromLegacy(last)
	checkEntries(t, streamed, text.String(), 3+1, "darn")
	if carrying != 1 || !slices.Equal(tokensOf(streamed), softTokens) {
		t.Fatalf("%d chunks carry logprobs; streamed tokens %q", carrying, tokensOf(streamed))
	}

	resp, err = c.Completions.New(ctx, openai.CompletionNewParams{Model: model, Prompt: prompt("hello")})
	if err != nil || resp.Choices[0].JSON.Logprobs.Raw() != "null" {
		t.Fatalf("not asked: %v, %s", err, resp.RawJSON())
	}
}

func fromResponses(lps []responses.ResponseOutputTextLogprob) []entry {
	es := make([]entry, len(lps))
	for i, lp := range lps {
		es[i] = entry{token: lp.Token, logprob: lp.Logprob, bytes: lp.Bytes}
		if es[i].bytes == nil {
			es[i].bytes = []int64{}
		}
		for _, a := range lp.TopLogprobs {
			es[i].top = append(es[i].top, alt{a.Token, a.Logprob})
		}
	}
	return es
}

func fromTextDone(lps []responses.ResponseTextDoneEventLogprob) []entry {
	es := make([]entry, len(lps))
	for i, lp := range lps {
		es[i] = entry{token: lp.Token, logprob: lp.Logprob}
		for _, a := range lp.TopLogprobs {
			es[i].top = append(es[i].top, alt{a.Token, a.Logprob})
		}
	}
	return es
}

// Responses: include message.output_text.logprobs, with top_logprobs,
// puts them in the output text; streamed, the deltas carry none and the
// text's done event, its part, its item and the final response all.
func TestResponsesLogprobs(t *testing.T) {
	d := startDoor(t, doorOpts{alternatives: leaky})
	ctx := context.Background()
	c := d.client(keySoft)
	p := responses.ResponseNewParams{Model: model, Input: input("hello"), TopLogprobs: openai.Int(5),
		Include: []responses.ResponseIncludable{responses.ResponseIncludableMessageOutputTextLogprobs}}
	resp, err := c.Responses.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	es := fromResponses(resp.Output[0].Content[0].Logprobs)
	checkEntries(t, es, resp.OutputText(), 5, "darn")
	if !slices.Equal(tokensOf(es), softTokens) || int64(len(es)) != resp.Usage.OutputTokens || resp.TopLogprobs != 5 || !offers(es, " launch", " launch code") {
		t.Fatalf("logprobs %s", resp.RawJSON())
	}

	stream := c.Responses.NewStreaming(ctx, p)
	var done, part []entry
	var final responses.Response
	for stream.Next() {
		ev := stream.Current()
		switch ev.Type {
		case "response.output_text.delta":
			if lps := ev.AsResponseOutputTextDelta().Logprobs; len(lps) != 0 || ev.JSON.Logprobs.Raw() != "[]" {
				t.Fatalf("a delta carries logprobs: %s", ev.RawJSON())
			}
		case "response.output_text.done":
			done = fromTextDone(ev.AsResponseOutputTextDone().Logprobs)
			checkEntries(t, done, ev.Text, 5, "darn")
		case "response.content_part.done":
			part = fromResponses(ev.Part.Logprobs)
		case "response.completed":
			final = ev.Response
		}
	}
	stream.Close()
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	whole := fromResponses(final.Output[0].Content[0].Logprobs)
	checkEntries(t, whole, final.OutputText(), 5, "darn")
	for _, got := range [][]entry{done, part, whole} {
		if !slices.Equal(tokensOf(got), softTokens) {
			t.Fatalf("streamed tokens %q", tokensOf(got))
		}
	}

	// The output goes back, logprobs and all, to go on with the
	// conversation; not asked for, the output text's logprobs are empty
	// and top_logprobs null.
	next := responses.ResponseInputParam{
		responses.ResponseInputItemParamOfMessage("hello", responses.EasyInputMessageRoleUser),
		{OfOutputMessage: new(final.Output[0].AsMessage().ToParam())},
		responses.ResponseInputItemParamOfMessage("again", responses.EasyInputMessageRoleUser),
	}
	if b, _ := json.Marshal(next[1]); !strings.Contains(string(b), `"logprobs":[{`) {
		t.Fatalf("the output message goes back without its logprobs: %s", b)
	}
	resp, err = c.Responses.New(ctx, responses.ResponseNewParams{Model: model, Input: responses.ResponseNewParamsInputUnion{OfInputItemList: next}})
	if err != nil || resp.Output[0].Content[0].JSON.Logprobs.Raw() != "[]" || resp.JSON.TopLogprobs.Raw() != "null" {
		t.Fatalf("not asked: %v, %s", err, resp.RawJSON())
	}
}
