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
	door, err := gateway.New(gateway.Config{Conn: conn, Model: "bench"})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	door.Start(ln)
	defer door.Shutdown(context.WithoutCancel(ctx))
	url := "http://" + ln.Addr().String() + "/v1/chat/completions"
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

// streamHTTP posts one streaming chat request and reads its events to the
// end: the completion tokens its usage reports, and the time to its
// first text from the moment the request is sent.
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
		var c struct {
			Choices []struct{ Delta struct{ Content string } }
			Usage   *struct {
				CompletionTokens int `json:"completion_tokens"`
			}
		}
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			return 0, 0, err
		}
		if first == 0 && len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
			first = time.Since(start)
		}
		if c.Usage != nil {
			tokens = c.Usage.CompletionTokens
		}
	}
	return tokens, first, sc.Err()
}
