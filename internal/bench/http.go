package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sieve-project/sieve/internal/broker"
	"github.com/sieve-project/sieve/internal/engine"
	"github.com/sieve-project/sieve/internal/gateway"
	"github.com/sieve-project/sieve/job"
)

type httpRow struct {
	Jobs             int       `json:"jobs"`
	Rounds           int       `json:"rounds"`
	TokensPerSecond  float64   `json:"tokens_per_second"`      // through the HTTP door, streaming
	NATSTokensPerSec float64   `json:"nats_tokens_per_second"` // the same jobs submitted on NATS, streaming
	Ratio            float64   `json:"ratio"`                  // median of the rounds' HTTP/NATS
	RoundRatios      []float64 `json:"round_ratios"`
	FirstTokenMS     float64   `json:"first_token_ms"` // median over every job of every round
	NATSFirstTokenMS float64   `json:"nats_first_token_ms"`
}

// benchHTTP runs n streaming jobs at once through the HTTP door and the
// same jobs submitted on NATS (sieve submit's path), alternated rounds
// times, on conn's worker. It times tokens/s and, per job, the first
// text from the moment the request is sent.
func benchHTTP(ctx context.Context, conn *broker.Conn, n, gen, rounds int, msgs []job.Message, seed uint32) (*httpRow, error) {
	base, stop, err := startDoor(conn)
	if err != nil {
		return nil, err
	}
	defer stop(ctx)
	url := base + "chat/completions"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	body, _ := json.Marshal(map[string]any{"model": "bench", "messages": msgs, "max_tokens": gen, "seed": seed, "stream": true, "stream_options": map[string]bool{"include_usage": true}})

	viaHTTP := func() (int, time.Duration, error) { return streamHTTP(client, url, body) }
	viaNATS := func(id string) (int, time.Duration, error) {
		b, _ := job.Marshal(job.Job{ID: id, Messages: msgs, MaxTokens: &gen, Sampling: job.Sampling{Seed: &seed}})
		start := time.Now()
		var first time.Duration
		res, err := conn.Submit(ctx, id, b, func(c job.Chunk) {
			if first == 0 && c.Text != "" {
				first = time.Since(start)
			}
		})
		return res.Usage.CompletionTokens, first, err
	}
	var (
		ttftHTTP, ttftNATS []float64
		mu                 sync.Mutex
	)
	// One side of a round: n jobs at once (generateAll), each recording
	// its time to first text.
	side := func(useHTTP bool, round int) (float64, error) {
		start := time.Now()
		tokens, err := generateAll(ctx, n, func(i int) (engine.Result, error) {
			var (
				t   int
				ft  time.Duration
				err error
			)
			if useHTTP {
				t, ft, err = viaHTTP()
			} else {
				t, ft, err = viaNATS(fmt.Sprintf("bench-http-%d-%d-%d", os.Getpid(), round, i))
			}
			mu.Lock()
			defer mu.Unlock()
			if useHTTP {
				ttftHTTP = append(ttftHTTP, float64(ft.Microseconds())/1000)
			} else {
				ttftNATS = append(ttftNATS, float64(ft.Microseconds())/1000)
			}
			return engine.Result{CompletionTokens: t}, err
		})
		return float64(tokens) / time.Since(start).Seconds(), err
	}
	tpsHTTP, tpsNATS, ratios, err := alternate(rounds,
		func(r int) (float64, error) { return side(true, r) },
		func(r int) (float64, error) { return side(false, r) })
	if err != nil {
		return nil, err
	}
	return &httpRow{Jobs: n, Rounds: rounds, TokensPerSecond: median(tpsHTTP), NATSTokensPerSec: median(tpsNATS), Ratio: median(ratios), RoundRatios: ratios,
		FirstTokenMS: median(ttftHTTP), NATSFirstTokenMS: median(ttftNATS)}, nil
}

// streamHTTP posts one streaming request to a door (chat completions,
// completions or responses) and reads its events to the end: the
// completion tokens its usage reports, and the time to its first text
// from the moment the request is sent.
func streamHTTP(client *http.Client, url string, body []byte) (int, time.Duration, error) {
	start := time.Now()
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return 0, 0, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	var first time.Duration
	tokens := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var ev streamEvent
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			return 0, 0, err
		}
		if first == 0 && ev.text() != "" {
			first = time.Since(start)
		}
		if n := ev.tokens(); n > 0 {
			tokens = n
		}
	}
	return tokens, first, sc.Err()
}

// streamEvent is what the three doors' stream events say of text and
// usage: a chat chunk's delta, a completion chunk's text, a Responses
// text delta, and the usage each reports at the end.
type streamEvent struct {
	Choices []struct {
		Delta struct{ Content string }
		Text  string
	}
	Usage *struct {
		CompletionTokens int `json:"completion_tokens"`
	}
	Type     string
	Delta    string
	Response *struct {
		Usage *struct {
			OutputTokens int `json:"output_tokens"`
		}
	}
}

func (ev streamEvent) text() string {
	if ev.Type == "response.output_text.delta" {
		return ev.Delta
	}
	if len(ev.Choices) > 0 {
		return ev.Choices[0].Delta.Content + ev.Choices[0].Text
	}
	return ""
}

func (ev streamEvent) tokens() int {
	switch {
	case ev.Usage != nil:
		return ev.Usage.CompletionTokens
	case ev.Response != nil && ev.Response.Usage != nil:
		return ev.Response.Usage.OutputTokens
	}
	return 0
}

// doorsRow compares the Responses and completions doors with the chat
// door: the same job through each, streaming, n at once, rotated rounds
// times; medians, and ratios to chat.
type doorsRow struct {
	Jobs   int                `json:"jobs"`
	Rounds int                `json:"rounds"`
	Doors  map[string]doorRow `json:"doors"`
}

type doorRow struct {
	TokensPerSecond float64 `json:"tokens_per_second"`
	FirstTextMS     float64 `json:"first_text_ms"`
	VsChat          float64 `json:"tokens_per_second_vs_chat"` // median of the rounds' ratios
	FirstVsChat     float64 `json:"first_text_vs_chat"`
}

// startDoor serves the HTTP door on conn's worker at a free local port;
// base is its /v1/ URL, stop shuts it.
func startDoor(conn *broker.Conn) (base string, stop func(context.Context), err error) {
	door, err := gateway.New(gateway.Config{Conn: conn, Model: "bench"})
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	door.Start(ln)
	return "http://" + ln.Addr().String() + "/v1/", func(ctx context.Context) { door.Shutdown(context.WithoutCancel(ctx)) }, nil
}

// benchDoors runs n streaming jobs at once through each door, the doors
// in a rotating order each round so that drift hits all alike.
func benchDoors(ctx context.Context, conn *broker.Conn, n, gen, rounds int, user string, seed uint32) (*doorsRow, error) {
	base, stop, err := startDoor(conn)
	if err != nil {
		return nil, err
	}
	defer stop(ctx)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 3 * n}}
	usage := map[string]bool{"include_usage": true}
	// The same job through each door; a new one for each door and round,
	// so that each door's first request computes its prompt as the
	// others' do, and none finds another's in the prompt cache.
	bodies := func(name string, salt int) any {
		text := fmt.Sprintf("%s (%d)", user, salt)
		switch name {
		case "responses":
			return map[string]any{"model": "bench", "input": text, "max_output_tokens": gen, "seed": seed, "stream": true}
		case "completions":
			return map[string]any{"model": "bench", "prompt": text, "max_tokens": gen, "seed": seed, "stream": true, "stream_options": usage}
		}
		return map[string]any{"model": "bench", "messages": []job.Message{{Role: job.RoleUser, Content: text}}, "max_tokens": gen, "seed": seed, "stream": true, "stream_options": usage}
	}
	names := []string{"chat/completions", "responses", "completions"}
	tps := map[string][]float64{}
	ttft := map[string][]float64{}
	ratios := map[string][]float64{}
	firsts := map[string][]float64{}
	for r := range rounds {
		got := map[string][2]float64{}
		for k := range names {
			name := names[(r+k)%len(names)]
			body, _ := json.Marshal(bodies(name, r*len(names)+k))
			var mu sync.Mutex
			var ms []float64
			start := time.Now()
			tokens, err := generateAll(ctx, n, func(int) (engine.Result, error) {
				t, ft, err := streamHTTP(client, base+name, body)
				mu.Lock()
				ms = append(ms, float64(ft.Microseconds())/1000)
				mu.Unlock()
				return engine.Result{CompletionTokens: t}, err
			})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			got[name] = [2]float64{float64(tokens) / time.Since(start).Seconds(), median(ms)}
			tps[name], ttft[name] = append(tps[name], got[name][0]), append(ttft[name], got[name][1])
		}
		for _, name := range names {
			ratios[name] = append(ratios[name], got[name][0]/got["chat/completions"][0])
			firsts[name] = append(firsts[name], got[name][1]/got["chat/completions"][1])
		}
	}
	row := &doorsRow{Jobs: n, Rounds: rounds, Doors: map[string]doorRow{}}
	for _, name := range names {
		row.Doors[name] = doorRow{TokensPerSecond: median(tps[name]), FirstTextMS: median(ttft[name]), VsChat: median(ratios[name]), FirstVsChat: median(firsts[name])}
	}
	return row, nil
}
