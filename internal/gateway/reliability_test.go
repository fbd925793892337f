package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

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
