package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/sieve-project/sieve/job"
)

func input(s string) responses.ResponseNewParamsInputUnion {
	return responses.ResponseNewParamsInputUnion{OfString: openai.String(s)}
}

// The Responses API through the official SDK: the moderated reply as
// output_text, the job's account in the extension, a length stop as an
// incomplete response, and a conversation sent back whole (sieve keeps
// no responses, so the client carries the earlier output).
func TestSDKResponses(t *testing.T) {
	d := startDoor(t, doorOpts{})
	ctx := context.Background()
	c := d.client(keySoft)

	var httpResp *http.Response
	resp, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: model, Input: input("hello"), Instructions: openai.String("be brief"),
		Metadata: map[string]string{"tag": "t1"}}, option.WithResponseInto(&httpResp))
	if err != nil {
		t.Fatal(err)
	}
	const want = "Oh ***, the launch code is 0000."
	id := httpResp.Header.Get("X-Sieve-Job")
	if resp.OutputText() != want || resp.Status != responses.ResponseStatusCompleted || resp.ID != "resp_"+id || resp.Object != "response" || resp.Model != model {
		t.Fatalf("got %q, status %s, id %q (job %s)", resp.OutputText(), resp.Status, resp.ID, id)
	}
	if len(resp.Output) != 1 || resp.Output[0].Type != "message" || resp.Output[0].Role != "assistant" || resp.Output[0].Status != "completed" ||
		resp.Output[0].Content[0].Type != "output_text" || resp.JSON.IncompleteDetails.Raw() != "null" {
		t.Fatalf("output %s", resp.RawJSON())
	}
	if u := resp.Usage; u.OutputTokens != int64(len(reply)) || u.TotalTokens != u.InputTokens+u.OutputTokens || !u.JSON.InputTokensDetails.Valid() {
		t.Fatalf("usage %+v", u)
	}
	if resp.Instructions.OfString != "be brief" || resp.Metadata["tag"] != "t1" || resp.Text.Format.Type != "text" {
		t.Fatalf("echoed request: %s", resp.RawJSON())
	}
	ext := sieveField(t, resp.JSON.ExtraFields["sieve"].Raw())
	if ext.ID != id || ext.Status != job.Completed || len(ext.Filter.Output) != 1 || ext.Filter.Output[0].Action != "redact" {
		t.Fatalf("extension %+v", ext)
	}
	if r := d.result(id); r.Text != want {
		t.Fatalf("stored result %+v", r)
	}

	// The token limit ends the response incomplete, for max_output_tokens.
	resp, err = c.Responses.New(ctx, responses.ResponseNewParams{Model: model, Input: input("hello"), MaxOutputTokens: openai.Int(3)})
	if err != nil {
		t.Fatal(err)
	}
	if resp.OutputText() != "Oh ***" || resp.Status != responses.ResponseStatusIncomplete || resp.IncompleteDetails.Reason != "max_output_tokens" || resp.Output[0].Status != "incomplete" {
		t.Fatalf("max_output_tokens 3: %s", resp.RawJSON())
	}

	// The next turn, stateless: the earlier output goes back as it came.
	next := responses.ResponseInputParam{
		responses.ResponseInputItemParamOfMessage("hello", responses.EasyInputMessageRoleUser),
		{OfOutputMessage: new(resp.Output[0].AsMessage().ToParam())},
		responses.ResponseInputItemParamOfMessage(responses.ResponseInputMessageContentListParam{
			{OfInputText: &responses.ResponseInputTextParam{Text: "and again"}}}, responses.EasyInputMessageRoleDeveloper),
	}
	resp, err = c.Responses.New(ctx, responses.ResponseNewParams{Model: model, Input: responses.ResponseNewParamsInputUnion{OfInputItemList: next}})
	if err != nil || resp.OutputText() != want {
		t.Fatalf("a conversation sent back: %v, %+v", err, resp)
	}
}

// streamResponse streams a response and checks the event sequence: the
// opening events, one delta per piece of text, none carrying text the
// filter held back, and the closing events whose texts all agree.
func streamResponse(t *testing.T, c openai.Client, p responses.ResponseNewParams, secret string) (last responses.ResponseStreamEventUnion, deltas int) {
	t.Helper()
	stream := c.Responses.NewStreaming(context.Background(), p)
	defer stream.Close()
	var types []string
	var text strings.Builder
	for stream.Next() {
		ev := stream.Current()
		if ev.SequenceNumber != int64(len(types)) {
			t.Fatalf("event %d (%s) has sequence_number %d", len(types), ev.Type, ev.SequenceNumber)
		}
		types = append(types, ev.Type)
		switch ev.Type {
		case "response.output_text.delta":
			if strings.Contains(ev.Delta, secret) || ev.ItemID == "" {
				t.Fatalf("delta %q of item %q", ev.Delta, ev.ItemID)
			}
			text.WriteString(ev.Delta)
			deltas++
		case "response.output_text.done":
			if ev.Text != text.String() {
				t.Fatalf("output_text.done %q, deltas %q", ev.Text, text.String())
			}
		}
		last = ev
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	open := []string{"response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"}
	closing := []string{"response.output_text.done", "response.content_part.done", "response.output_item.done", last.Type}
	if len(types) < 9 || strings.Join(types[:4], " ") != strings.Join(open, " ") || strings.Join(types[len(types)-4:], " ") != strings.Join(closing, " ") ||
		len(types) != 8+deltas {
		t.Fatalf("events %q", types)
	}
	if last.Response.OutputText() != text.String() {
		t.Fatalf("the final response says %q, the deltas %q", last.Response.OutputText(), text.String())
	}
	return last, deltas
}

func TestSDKResponsesStreaming(t *testing.T) {
	d := startDoor(t, doorOpts{})
	// A redaction: the reply completes, and no delta carries the word.
	last, deltas := streamResponse(t, d.client(keySoft), responses.ResponseNewParams{Model: model, Input: input("hello")}, "dar")
	if last.Type != "response.completed" || last.Response.Status != "completed" || last.Response.OutputText() != "Oh ***, the launch code is 0000." || deltas < 2 {
		t.Fatalf("%s after %d deltas: %s", last.Type, deltas, last.Response.RawJSON())
	}
	if ext := sieveField(t, last.Response.JSON.ExtraFields["sieve"].Raw()); ext.Status != job.Completed || len(ext.Filter.Output) != 1 {
		t.Fatalf("extension %+v", ext)
	}
	// A block: the response ends incomplete, for content_filter, before
	// the secret, and no delta carries any of it.
	last, _ = streamResponse(t, d.client(keyOpen), responses.ResponseNewParams{Model: model, Input: input("hello")}, "launch")
	r := last.Response
	if last.Type != "response.incomplete" || r.Status != "incomplete" || r.IncompleteDetails.Reason != "content_filter" ||
		!strings.HasPrefix(r.OutputText(), "Oh ***") || strings.Contains(r.OutputText(), "launch") {
		t.Fatalf("%s: %s", last.Type, r.RawJSON())
	}
	if ext := sieveField(t, r.JSON.ExtraFields["sieve"].Raw()); ext.Status != job.Filtered {
		t.Fatalf("extension %+v", ext)
	}
}

func TestSDKResponsesModeration(t *testing.T) {
	d := startDoor(t, doorOpts{})
	ctx := context.Background()
	c := d.client(keyOpen)
	resp, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: model, Input: input("hello")})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != "incomplete" || resp.IncompleteDetails.Reason != "content_filter" || strings.Contains(resp.OutputText(), "launch") || !strings.HasPrefix(resp.OutputText(), "Oh ***") {
		t.Fatalf("a blocked reply: %s", resp.RawJSON())
	}
	// A prompt the input screen refuses is a 400 with code
	// content_filter naming input, streaming or not.
	for _, streaming := range []bool{false, true} {
		p := responses.ResponseNewParams{Model: model, Input: input("tell me the LAUNCH CODE")}
		if streaming {
			s := c.Responses.NewStreaming(ctx, p)
			for s.Next() {
				t.Fatalf("an event for a refused prompt: %+v", s.Current())
			}
			err = s.Err()
			s.Close()
		} else {
			_, err = c.Responses.New(ctx, p)
		}
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Code != "content_filter" || apiErr.Param != "input" || strings.Contains(strings.ToLower(apiErr.Message), "launch") {
			t.Fatalf("stream %v: got %v, want a 400 with code content_filter", streaming, err)
		}
	}
}

// An error after a Responses stream began ends it with an error event:
// numbered as the others, code, message and param at its top as the API
// reference has them, and nested in error as the API sends them (which
// the official SDKs turn into a stream error). Here the door shuts down
// under a reply that never ends.
func TestResponsesStreamError(t *testing.T) {
	d := startDoor(t, doorOpts{pieces: []string{" la", " di", " da"}, loop: true})
	req, _ := http.NewRequest("POST", d.url+"/v1/responses", strings.NewReader(`{"model":"scripted","input":"sing","stream":true,"max_output_tokens":8000}`))
	req.Header.Set("Authorization", "Bearer "+keyOpen)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var events []string // each event's name, then its data
	shutting := false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "event: "); ok {
			events = append(events, name)
		} else if data, ok := strings.CutPrefix(line, "data: "); ok {
			events = append(events, data)
		}
		if line == "event: response.output_text.delta" && !shutting {
			shutting = true
			go func() { // the cleanup's Shutdown waits for this one
				ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
				defer cancel()
				d.g.Shutdown(ctx)
			}()
		}
	}
	if len(events) < 2 || events[len(events)-2] != "error" {
		t.Fatalf("the stream ends with %q, want an error event", events[max(0, len(events)-4):])
	}
	var ev struct {
		Type           string `json:"type"`
		SequenceNumber int    `json:"sequence_number"`
		Code           string `json:"code"`
		Message        string `json:"message"`
		Error          struct {
			Code string `json:"code"`
			Type string `json:"type"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(events[len(events)-1]), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "error" || ev.Code != "shutting_down" || ev.Message == "" || ev.Error.Code != "shutting_down" || ev.Error.Type != "server_error" || ev.SequenceNumber != len(events)/2-1 {
		t.Fatalf("error event %s (event %d)", events[len(events)-1], len(events)/2-1)
	}
}
