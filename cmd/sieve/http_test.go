package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/sieve-project/sieve/internal/modelgen"
)

// TestHTTPDoorEndToEnd runs sieve serve with its HTTP door, and sieve
// gateway as a process of its own in front of it, and calls both as
// OpenAI clients do: a raw streaming request (what curl sends) and the
// official SDK.
func TestHTTPDoorEndToEnd(t *testing.T) {
	dir := t.TempDir()
	if err := modelgen.WriteScripted(filepath.Join(dir, "toy.gguf"), modelgen.Scripted{Pieces: []string{"Oh", " dar", "n", ", ", "ｄａｒｎ", "!"}}); err != nil {
		t.Fatal(err)
	}
	const key1, key2 = "sk-first-0123456789abcdef", "sk-second-0123456789abcdef"
	keys := filepath.Join(dir, "keys.txt")
	if err := os.WriteFile(keys, []byte("# tenant t1\n"+key1+" tenant=t1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port, hport, gport := freePort(t), freePort(t), freePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	cfg := filepath.Join(dir, "sieve.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(doorTOML, port, hport)), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, exited, _, _ := startServe(t, cfg, url)
	gw, gwExited, gwLogs := startGateway(t, cfg, url, gport)
	gwURL := fmt.Sprintf("http://127.0.0.1:%d", gport)

	const want = "Oh ***, ***!"
	for _, door := range []string{fmt.Sprintf("http://127.0.0.1:%d", hport), gwURL} {
		// What curl -N sends.
		if text, last := streamChat(t, door, key1); text != want || last != "[DONE]" {
			t.Fatalf("%s: streamed %q, last event %q", door, text, last)
		}

		// The official SDK, retries and all.
		c := openai.NewClient(option.WithBaseURL(door+"/v1"), option.WithAPIKey(key1))
		got, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "toy", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
		if err != nil || got.Choices[0].Message.Content != want {
			t.Fatalf("%s: SDK got %+v, %v", door, got, err)
		}
		// The Responses and legacy completions endpoints serve the same.
		resp, err := c.Responses.New(context.Background(), responses.ResponseNewParams{Model: "toy", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}})
		if err != nil || resp.OutputText() != want || resp.Status != responses.ResponseStatusCompleted {
			t.Fatalf("%s: Responses got %+v, %v", door, resp, err)
		}
		cmpl, err := c.Completions.New(context.Background(), openai.CompletionNewParams{Model: "toy", Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("hi")}})
		if err != nil || cmpl.Choices[0].Text != want {
			t.Fatalf("%s: completions got %+v, %v", door, cmpl, err)
		}
	}

	// SIGHUP rereads the keys file: the new key works, the old is gone.
	status := func(key string) int {
		t.Helper()
		return modelsStatus(t, gwURL, key)
	}
	if status(key1) != 200 || status(key2) != 401 {
		t.Fatalf("before the reload: key1 %d, key2 %d", status(key1), status(key2))
	}
	os.WriteFile(keys, []byte(key2+"\n"), 0o600)
	gw.Process.Signal(syscall.SIGHUP)
	for i := 0; status(key2) != 200; i++ {
		if i > 100 {
			t.Fatal("the gateway did not reload its keys on SIGHUP")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if status(key1) != 401 {
		t.Fatal("the old key still works after the reload")
	}
	// A key file emptied (or broken) and reloaded: the door stays closed
	// with the keys it had, and says why.
	for _, broken := range []string{"", "# every key rotated out\n", "sk-short\n"} {
		os.WriteFile(keys, []byte(broken), 0o600)
		before := strings.Count(gwLogs.String(), "key reload failed")
		gw.Process.Signal(syscall.SIGHUP)
		for i := 0; strings.Count(gwLogs.String(), "key reload failed") == before; i++ {
			if i > 100 {
				t.Fatalf("key file %q: no reload error logged:\n%s", broken, gwLogs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		if status("") != 401 || status(key1) != 401 || status(key2) != 200 {
			t.Fatalf("key file %q reloaded: no key %d, key1 %d, key2 %d", broken, status(""), status(key1), status(key2))
		}
	}

	// SIGTERM: both drain and exit 0.
	stopCleanly(t, gw, gwExited)
	stopCleanly(t, srv, exited)
}

// doorTOML is the configuration TestHTTPDoorEndToEnd serves: its NATS and
// HTTP ports go in, in that order.
const doorTOML = `
[model]
path = "toy.gguf"
threads = 1
context = 512
parallel = 2

[generate]
temperature = 0

[nats]
listen = "127.0.0.1:%d"
data_dir = "store"

[http]
listen = "127.0.0.1:%d"
api_keys_file = "keys.txt"

[[filter.lists]]
name = "profanity"
action = "redact"
match = "word"
words = ["darn"]
`

// startGateway runs sieve gateway with cfg in front of the NATS server at
// url, listening on port, and waits until it answers /healthz. It returns
// the process, a channel that receives its exit, and its logs.
func startGateway(t *testing.T, cfg, url string, port int) (*exec.Cmd, <-chan error, *syncBuffer) {
	t.Helper()
	gw := exec.Command(bin, "gateway", "--config", cfg, "--server", url, "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	logs := &syncBuffer{}
	gw.Stderr = logs
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- gw.Wait() }()
	t.Cleanup(func() {
		gw.Process.Kill()
		if t.Failed() {
			t.Logf("gateway logs:\n%s", logs.String())
		}
	})
	for i := 0; ; i++ {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if i > 200 {
			t.Fatalf("gateway not healthy: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return gw, exited, logs
}

// streamChat sends door the streaming chat request curl -N would, with key,
// and returns the text of the events and the last event's data.
func streamChat(t *testing.T, door, key string) (text, last string) {
	t.Helper()
	req, _ := http.NewRequest("POST", door+"/v1/chat/completions", strings.NewReader(`{"model":"toy","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" || !strings.HasPrefix(resp.Header.Get("X-Sieve-Job"), "t1.") {
		t.Fatalf("%s: %d %v", door, resp.StatusCode, resp.Header)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		last = line
		if line == "[DONE]" {
			break
		}
		var c struct {
			Choices []struct{ Delta struct{ Content string } }
		}
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("event %q: %v", line, err)
		}
		if len(c.Choices) > 0 {
			text += c.Choices[0].Delta.Content
		}
	}
	return text, last
}

// modelsStatus is the status of GET /v1/models at door with key.
func modelsStatus(t *testing.T, door, key string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", door+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// stopCleanly sends cmd SIGTERM and wants it to drain and exit 0 within 30
// seconds; done receives its exit.
func stopCleanly(t *testing.T, cmd *exec.Cmd, done <-chan error) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s exit after SIGTERM: %v", cmd.Args[1], err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not exit after SIGTERM", cmd.Args[1])
	}
}

// sieve config check reads the HTTP door's keys as serve would: a bad
// keys file, or a key bound to a policy no list set has, is an error with
// its place, and the secret is not repeated.
func TestConfigCheckReadsKeys(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sieve.toml")
	os.WriteFile(cfg, []byte("[http]\nlisten = \"127.0.0.1:8080\"\napi_keys_file = \"keys.txt\"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "keys.txt"), []byte("sk-shortone\n"), 0o600)
	r := sieve(t, "", "config", "check", cfg)
	if r.code != 2 || !strings.Contains(r.stderr, "keys.txt:1: key: want at least 16") || strings.Contains(r.stderr, "sk-shortone") {
		t.Fatalf("short key: exit %d stderr %q", r.code, r.stderr)
	}
	os.WriteFile(filepath.Join(dir, "keys.txt"), []byte("# tenants\nsk-0123456789abcdef policy=nope\n"), 0o600)
	r = sieve(t, "", "config", "check", cfg)
	if r.code != 2 || !strings.Contains(r.stderr, "keys.txt:2") || !strings.Contains(r.stderr, `"nope"`) || strings.Contains(r.stderr, "sk-0123") {
		t.Fatalf("unknown policy: exit %d stderr %q", r.code, r.stderr)
	}
}

// TestDoorFailsClosed: serve and gateway refuse to start when their key
// file is missing, unreadable, empty or broken, naming the file (and the
// line); a door with no keys configured at all starts, open, and says so.
func TestDoorFailsClosed(t *testing.T) {
	dir := t.TempDir()
	model := scripted(t)
	keys := filepath.Join(dir, "keys.txt")
	cfg := filepath.Join(dir, "sieve.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[model]\npath = %q\nthreads = 1\ncontext = 256\n[nats]\nlisten = \"127.0.0.1:%d\"\ndata_dir = \"store\"\n[http]\nlisten = \"127.0.0.1:%d\"\napi_keys_file = \"keys.txt\"\n",
		model, freePort(t), freePort(t))), 0o644)
	for _, tt := range []struct {
		name, data string
		mode       os.FileMode
		want       string
	}{
		{"missing", "", 0, "keys.txt: no such file"},
		{"empty", "", 0o600, "keys.txt holds no key"},
		{"comments only", "# none yet\n", 0o600, "keys.txt holds no key"},
		{"broken", "# keys\nsk-short\n", 0o600, "keys.txt:2: key: want at least 16"},
		{"unreadable", "sk-0123456789abcdef\n", 0o000, "keys.txt: permission denied"},
	} {
		os.Remove(keys)
		if tt.mode != 0 {
			os.WriteFile(keys, []byte(tt.data), tt.mode)
		}
		if tt.name == "unreadable" && os.Geteuid() == 0 {
			continue // root reads every file
		}
		for _, cmd := range [][]string{{"serve", "--config", cfg}, {"gateway", "--config", cfg, "--server", "nats://127.0.0.1:1"}} {
			r := sieve(t, "", cmd...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) || strings.Contains(r.stderr, "sk-short") {
				t.Errorf("%s, %s: exit %d stderr %q, want 2 and %q", tt.name, cmd[0], r.code, r.stderr, tt.want)
			}
		}
	}
	// No keys configured: open, and the log says so.
	port := freePort(t)
	open := filepath.Join(dir, "open.toml")
	os.WriteFile(open, []byte(fmt.Sprintf("[model]\npath = %q\nthreads = 1\ncontext = 256\n[nats]\nlisten = \"127.0.0.1:%d\"\ndata_dir = \"store2\"\n[http]\nlisten = \"127.0.0.1:%d\"\n",
		model, port, freePort(t))), 0o644)
	_, _, logs, _ := startServe(t, open, fmt.Sprintf("nats://127.0.0.1:%d", port))
	if !strings.Contains(logs.String(), "the HTTP door is open to anyone") {
		t.Fatalf("no warning that the door is open:\n%s", logs.String())
	}
}
