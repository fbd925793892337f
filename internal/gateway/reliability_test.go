package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sieve-project/sieve/internal/gateway"
	"github.com/sieve-project/sieve/job"
)

// post sends body to the door's chat endpoint with key and returns the
// status and the body of the answer.
func (d *door) post(key string, body any) (int, []byte) {
	d.t.Helper()
	// As most clients (Python's json, JavaScript's JSON.stringify) write
	// it: <, > and & as they are.
	b, err := job.Marshal(body)
	if err != nil {
		d.t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", d.url+"/v1/chat/completions", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// TestHTMLIsNotEscapedOnTheWay: a prompt of HTML or code costs its own
// size on NATS, not six bytes for each <, > and &: one whose raw job fits
// queue.max_payload (4 kB in these tests) runs instead of being refused
// as too large, and what sieve stores keeps the characters as they are.
func TestHTMLIsNotEscapedOnTheWay(t *testing.T) {
	d := startDoor(t, doorOpts{})
	html := strings.Repeat("<&>", 1000) // 3 kB; escaped, 18 kB
	status, body := d.post(keySoft, map[string]any{"model": model, "messages": []map[string]string{{"role": "user", "content": html}}})
	if status != http.StatusOK || !strings.Contains(string(body), "Oh ***") {
		t.Fatalf("status %d %s: want the reply", status, body)
	}

	status, body = d.post(keySoft, map[string]any{"model": model, "messages": []map[string]string{{"role": "user", "content": "hi"}},
		"metadata": map[string]string{"tag": "<b>&</b>"}})
	if status != http.StatusOK {
		t.Fatalf("status %d %s", status, body)
	}
	var resp struct {
		Sieve struct{ ID string } `json:"sieve"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := d.conn.JS.Stream(ctx, d.conn.Subjects.ResultsStream())
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(ctx, d.conn.Subjects.Result(resp.Sieve.ID))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(m.Data, []byte(`"<b>&</b>"`)) {
		t.Fatalf("the stored result escapes HTML: %s", m.Data)
	}
}

var quick = &gateway.Timeouts{Read: time.Second, Write: time.Second, Idle: time.Second}

// closedWithin reports whether the server closes c within d, reading (and
// dropping) whatever it sends meanwhile.
func closedWithin(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return err == nil || !(errors.As(err, &ne) && ne.Timeout())
}

// TestSlowClientsAreCut: a body sent a byte at a time, a connection that
// says nothing, and one kept alive and idle are each closed after their
// timeout, so no client holds a connection and a goroutine for long.
func TestSlowClientsAreCut(t *testing.T) {
	d := startDoor(t, doorOpts{timeouts: quick})
	addr := strings.TrimPrefix(d.url, "http://")
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	trickle := dial()
	fmt.Fprintf(trickle, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", keySoft)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				trickle.Write([]byte(" "))
			}
		}
	}()
	if !closedWithin(trickle, 5*time.Second) {
		t.Error("a body sent a byte at a time kept its connection past read_timeout")
	}

	if !closedWithin(dial(), 5*time.Second) {
		t.Error("a connection that sends nothing was kept past read_timeout")
	}

	idle := dial()
	fmt.Fprintf(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	if !closedWithin(idle, 5*time.Second) {
		t.Error("an idle kept-alive connection was kept past idle_timeout")
	}
}

// TestStreamReaderThatStopsIsCut: a streaming client that stops reading
// (and does not close) is cut off after write_timeout, and its job is
// cancelled instead of generating into a full socket.
func TestStreamReaderThatStopsIsCut(t *testing.T) {
	long := strings.Repeat("x", 200)
	d := startDoor(t, doorOpts{pieces: []string{long + "a", long + "b", long + "c"}, loop: true, timeouts: quick, smallSends: true})
	addr := strings.TrimPrefix(d.url, "http://")
	dialer := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	c, err := dialer.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := `{"model":"` + model + `","stream":true,"max_tokens":8000,"messages":[{"role":"user","content":"hi"}]}`
	fmt.Fprintf(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", keyOpen, len(body), body)
	// Read the headers and the first events, then stop reading.
	br := bufio.NewReader(c)
	id := ""
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := strings.CutPrefix(line, "X-Sieve-Job: "); ok {
			id = strings.TrimSpace(v)
		}
		if strings.HasPrefix(line, "data: ") {
			break
		}
	}
	if id == "" {
		t.Fatal("no job id in the headers")
	}
	r := d.result(id)
	if r.Status != job.Cancelled || r.Usage.CompletionTokens >= 8000 {
		t.Fatalf("job %s: %s after %d tokens, want cancelled long before 8000", id, r.Status, r.Usage.CompletionTokens)
	}
}

// TestNoConsumerPerRequest: requests through the door wait for their
// results without making JetStream consumers (each would be a Raft
// proposal on a cluster, lingering for its inactive threshold).
func TestNoConsumerPerRequest(t *testing.T) {
	d := startDoor(t, doorOpts{})
	for i := 0; i < 20; i++ {
		body := map[string]any{"model": model, "messages": []map[string]string{{"role": "user", "content": fmt.Sprintf("hi %d", i)}}}
		if i%2 == 1 {
			body["stream"] = true
		}
		if status, out := d.post(keySoft, body); status != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, status, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := d.conn.JS.Stream(ctx, d.conn.Subjects.ResultsStream())
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Consumers != 0 || info.State.Msgs != 20 {
		t.Fatalf("after 20 requests: %d consumers on the results stream, %d results", info.State.Consumers, info.State.Msgs)
	}
}

// TestDeadlineWithoutJetStream: with the results stream gone (no result
// can be stored or read), a request still ends at its deadline with a
// 504, and the door's shutdown is not held up by it.
func TestDeadlineWithoutJetStream(t *testing.T) {
	d := startDoor(t, doorOpts{})
	ctx := context.Background()
	if err := d.conn.JS.DeleteStream(ctx, d.conn.Subjects.ResultsStream()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	b, _ := job.Marshal(map[string]any{"model": model, "messages": []map[string]string{{"role": "user", "content": "hi"}}})
	req, _ := http.NewRequest("POST", d.url+"/v1/chat/completions", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+keySoft)
	req.Header.Set("X-Sieve-Timeout", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if took := time.Since(start); resp.StatusCode != http.StatusGatewayTimeout || took > 20*time.Second {
		t.Fatalf("status %d after %s, want 504 by the deadline and its grace", resp.StatusCode, took)
	}

	// A request waiting when the door shuts down is cut at the end of
	// the shutdown's time.
	done := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("POST", d.url+"/v1/chat/completions", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+keySoft)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	time.Sleep(300 * time.Millisecond)
	sctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	start = time.Now()
	d.g.Shutdown(sctx)
	if took := time.Since(start); took > 8*time.Second {
		t.Fatalf("shutdown took %s", took)
	}
	if status := <-done; status != http.StatusServiceUnavailable {
		t.Fatalf("the waiting request got %d, want 503 shutting_down", status)
	}
}
