package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/sieve-project/sieve/job"
)

func prompt(s string) openai.CompletionNewParamsPromptUnion {
	return openai.CompletionNewParamsPromptUnion{OfString: openai.String(s)}
}

// Legacy completions through the official SDK: the prompt is a user
// turn, the reply comes back moderated as text, and a block or a length
// stop says so in finish_reason.
func TestSDKCompletions(t *testing.T) {
	d := startDoor(t, doorOpts{})
	ctx := context.Background()
	c := d.client(keySoft)

	var httpResp *http.Response
	resp, err := c.Completions.New(ctx, openai.CompletionNewParams{Model: model, Prompt: prompt("hello")}, option.WithResponseInto(&httpResp))
	if err != nil {
		t.Fatal(err)
	}
	const want = "Oh ***, the launch code is 0000."
	id := httpResp.Header.Get("X-Sieve-Job")
	if len(resp.Choices) != 1 || resp.Choices[0].Text != want || resp.Choices[0].FinishReason != "stop" || resp.ID != "cmpl-"+id || resp.Object != "text_completion" {
		t.Fatalf("got %s", resp.RawJSON())
	}
	if u := resp.Usage; u.CompletionTokens != int64(len(reply)) || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
		t.Fatalf("usage %+v", u)
	}
	if ext := sieveField(t, resp.JSON.ExtraFields["sieve"].Raw()); ext.ID != id || len(ext.Filter.Output) != 1 || ext.Filter.Output[0].Action != "redact" {
		t.Fatalf("extension %+v", ext)
	}

	// An array of one prompt, a stop string and a token limit.
	resp, err = c.Completions.New(ctx, openai.CompletionNewParams{Model: model, Prompt: openai.CompletionNewParamsPromptUnion{OfArrayOfStrings: []string{"hello"}},
		Stop: openai.CompletionNewParamsStopUnion{OfString: openai.String(", the")}, Seed: openai.Int(1), User: openai.String("u1")})
	if err != nil || resp.Choices[0].Text != "Oh ***" || resp.Choices[0].FinishReason != "stop" {
		t.Fatalf("stop string: %v, %+v", err, resp)
	}
	resp, err = c.Completions.New(ctx, openai.CompletionNewParams{Model: model, Prompt: prompt("hello"), MaxTokens: openai.Int(3)})
	if err != nil || resp.Choices[0].Text != "Oh ***" || resp.Choices[0].FinishReason != "length" {
		t.Fatalf("max_tokens 3: %v, %+v", err, resp)
	}

	// A block ends the text before the secret, finish content_filter.
	open := d.client(keyOpen)
	resp, err = open.Completions.New(ctx, openai.CompletionNewParams{Model: model, Prompt: prompt("hello")})
	if err != nil || resp.Choices[0].FinishReason != "content_filter" || strings.Contains(resp.Choices[0].Text, "launch") || !strings.HasPrefix(resp.Choices[0].Text, "Oh ***") {
		t.Fatalf("blocked: %v, %+v", err, resp)
	}
	// A refused prompt is a 400 content_filter naming prompt.
	_, err = open.Completions.New(ctx, openai.CompletionNewParams{Model: model, Prompt: prompt("the launch code?")})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Code != "content_filter" || apiErr.Param != "prompt" {
		t.Fatalf("refused prompt: %v", err)
	}
}

func TestSDKCompletionsStreaming(t *testing.T) {
	d := startDoor(t, doorOpts{})
	for _, tc := range []struct {
		key, want, finish string
		status            job.Status
		held              string // what no chunk may carry
	}{
		{keySoft, "Oh ***, the launch code is 0000.", "stop", job.Completed, "dar"},
		{keyOpen, "Oh ***, the ", "content_filter", job.Filtered, "launch"},
	} {
		c := d.client(tc.key)
		stream := c.Completions.NewStreaming(context.Background(), openai.CompletionNewParams{Model: model, Prompt: prompt("hello"),
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}})
		var (
			text            strings.Builder
			finish          string
			deltas          int
			ext, usageChunk bool
		)
		for stream.Next() {
			ch := stream.Current()
			if ch.Object != "text_completion" || !strings.HasPrefix(ch.ID, "cmpl-") {
				t.Fatalf("chunk %s", ch.RawJSON())
			}
			if len(ch.Choices) == 0 {
				usageChunk = ch.Usage.CompletionTokens > 0
				continue
			}
			if ch.Choices[0].Text != "" {
				deltas++
			}
			if strings.Contains(ch.Choices[0].Text, tc.held) {
				t.Fatalf("a chunk carries what the filter held back: %q", ch.Choices[0].Text)
			}
			text.WriteString(ch.Choices[0].Text)
			if f := ch.Choices[0].FinishReason; f != "" {
				finish = string(f)
				ext = sieveField(t, ch.JSON.ExtraFields["sieve"].Raw()).Status == tc.status
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		stream.Close()
		if !strings.HasPrefix(text.String(), "Oh ***") || (tc.finish == "stop" && text.String() != tc.want) || strings.Contains(text.String(), tc.held) || finish != tc.finish || deltas < 2 || !ext || !usageChunk {
			t.Fatalf("%s: streamed %q finish %q, %d deltas, extension %v, usage %v", tc.key, text.String(), finish, deltas, ext, usageChunk)
		}
	}
}

// A completion request that sets no max_tokens gets OpenAI's 16.
func TestCompletionsDefaultMaxTokens(t *testing.T) {
	d := startDoor(t, doorOpts{pieces: []string{" la", " di", " da"}, loop: true})
	c := d.client(keyOpen)
	resp, err := c.Completions.New(context.Background(), openai.CompletionNewParams{Model: model, Prompt: prompt("sing")})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Usage.CompletionTokens != 16 || resp.Choices[0].FinishReason != "length" {
		t.Fatalf("%d tokens, finish %q: want 16, length", resp.Usage.CompletionTokens, resp.Choices[0].FinishReason)
	}
}
