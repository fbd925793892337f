package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sieve-project/sieve/internal/modelgen"
	"github.com/sieve-project/sieve/job"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestServeEndToEnd runs sieve serve as a user would (config file,
// subprocess, signals) and drives it with sieve submit and a raw NATS
// request.
func TestServeEndToEnd(t *testing.T) {
	dir := t.TempDir()
	if err := modelgen.WriteScripted(filepath.Join(dir, "toy.gguf"), modelgen.Scripted{Pieces: []string{"Oh", " dar", "n", ", ", "ｄａｒｎ", "!"}}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "words.txt"), []byte("darn\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	port, mport := freePort(t), freePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	cfg := filepath.Join(dir, "sieve.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(serveTOML, port, mport)), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, exited, logs, nc := startServe(t, cfg, url)

	// sieve submit, streaming.
	r := sieve(t, "", "submit", "--server", url, "--stream", "--id", "e2e-1", "hello")
	if r.code != 0 {
		t.Fatalf("submit: exit %d stderr %q", r.code, r.stderr)
	}
	text, jsonPart, ok := strings.Cut(r.stdout, "\n")
	if !ok || text != "Oh ***, ***!" {
		t.Fatalf("streamed text %q in %q", text, r.stdout)
	}
	var res job.Result
	if err := json.Unmarshal([]byte(jsonPart), &res); err != nil || res.ID != "e2e-1" || res.Status != job.Completed || res.Text != text {
		t.Fatalf("result %q (%v)", jsonPart, err)
	}

	// The result is found even by a caller who asks again later
	// (the same id is deduplicated, its stored result printed).
	r = sieve(t, "", "submit", "--server", url, "--id", "e2e-1", "hello")
	if r.code != 0 || !strings.Contains(r.stdout, `"id": "e2e-1"`) {
		t.Fatalf("late submit: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}

	// A rejected job: exit 3 and the code on stderr.
	jobFile := filepath.Join(dir, "bad.json")
	os.WriteFile(jobFile, []byte(`{"id":"e2e-bad","messages":[{"role":"wizard","content":"x"}]}`), 0o644)
	if r := sieve(t, "", "submit", "--server", url, "--job", jobFile); r.code != 3 || !strings.Contains(r.stderr, "bad_role") {
		t.Fatalf("rejected submit: exit %d stderr %q", r.code, r.stderr)
	}

	// A raw request/reply through the micro service.
	msg, err := nc.Request("sieve.generate", []byte(`{"messages":[{"role":"user","content":"hi"}]}`), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(msg.Data, &res); err != nil || res.Text != "Oh ***, ***!" {
		t.Fatalf("request reply %q", msg.Data)
	}

	// Metrics over HTTP count the run so far: two completed jobs (one
	// queued, one request/reply), one rejected, two redactions each.
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d", mport)
	waitForMetrics(t, metricsURL+"/metrics",
		`sieve_jobs_total{status="completed"} 2`,
		`sieve_jobs_total{status="rejected"} 1`,
		`sieve_filter_hits_total{action="redact",list="profanity",side="output"} 4`,
		`sieve_nats_connected 1`,
		`sieve_slots 2`,
		`sieve_slots_busy 0`,
		`sieve_time_to_first_token_seconds_count 2`,
		`sieve_backend_info{device="CPU",features=`,
	)
	httpGet(t, metricsURL+"/healthz", 200)
	httpGet(t, metricsURL+"/readyz", 200)

	// SIGHUP reloads the lists: a word added to the file is redacted from
	// then on; a broken file keeps the lists in force.
	reloadLists(t, filepath.Join(dir, "words.txt"), srv, logs, nc)

	// No server: a clear error, exit 1.
	if r := sieve(t, "", "submit", "--server", fmt.Sprintf("nats://127.0.0.1:%d", freePort(t)), "hi"); r.code != 1 || !strings.Contains(r.stderr, "no NATS server") {
		t.Fatalf("no server: exit %d stderr %q", r.code, r.stderr)
	}

	// SIGTERM drains and exits 0.
	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("serve exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not exit after SIGTERM")
	}
	if !strings.Contains(logs.String(), "drained") {
		t.Fatalf("no drain in the logs:\n%s", logs.String())
	}
}

// serveTOML is the configuration TestServeEndToEnd serves: its NATS and
// metrics ports go in, in that order.
const serveTOML = `
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

[metrics]
listen = "127.0.0.1:%d"

[[filter.lists]]
name = "profanity"
action = "redact"
match = "word"
files = ["words.txt"]
`

// waitForMetrics polls url until the metrics it serves hold every line of
// want (a want ending in "=" is a prefix: the rest of its line varies).
func waitForMetrics(t *testing.T, url string, want ...string) {
	t.Helper()
	for i := 0; ; i++ {
		body := httpGet(t, url, 200)
		missing := ""
		for _, w := range want {
			if !strings.Contains(body, w+"\n") && !(strings.HasSuffix(w, "=") && strings.Contains(body, w)) {
				missing = w
			}
		}
		if missing == "" {
			return
		}
		if i > 100 {
			t.Fatalf("metrics lack %q:\n%s", missing, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// reloadLists rewrites words, the list file of the serve process srv, and
// sends srv SIGHUP twice: once with a word added, once with the file
// broken. It reads the lists in force with sieve.check on nc, and the
// reload failure in logs.
func reloadLists(t *testing.T, words string, srv *exec.Cmd, logs *syncBuffer, nc *nats.Conn) {
	t.Helper()
	if err := os.WriteFile(words, []byte("darn\nsmurf\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := srv.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	check := func() string {
		t.Helper()
		msg, err := nc.Request("sieve.check", []byte("smurf darn"), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var c struct{ Text string }
		json.Unmarshal(msg.Data, &c)
		return c.Text
	}
	for i := 0; check() != "*** ***"; i++ {
		if i > 100 {
			t.Fatalf("lists not reloaded after SIGHUP: check gives %q", check())
		}
		time.Sleep(50 * time.Millisecond)
	}
	os.WriteFile(words, []byte("\xff\n"), 0o644)
	srv.Process.Signal(syscall.SIGHUP)
	for i := 0; !strings.Contains(logs.String(), "reload failed"); i++ {
		if i > 100 {
			t.Fatal("no reload failure logged for a broken list file")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := check(); got != "*** ***" {
		t.Fatalf("after a failed reload: %q, want the previous lists", got)
	}
}

// startServe runs sieve serve with cfg and waits until its micro service
// answers a ping on url. It returns the process, a channel that receives
// its exit, its logs, and a client connection.
func startServe(t *testing.T, cfg, url string) (*exec.Cmd, <-chan error, *syncBuffer, *nats.Conn) {
	t.Helper()
	srv := exec.Command(bin, "serve", "--config", cfg)
	logs := &syncBuffer{}
	srv.Stderr = logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	t.Cleanup(func() {
		srv.Process.Kill()
		if t.Failed() {
			t.Logf("serve logs:\n%s", logs.String())
		}
	})
	var nc *nats.Conn
	for i := 0; ; i++ {
		var err error
		if nc == nil {
			nc, _ = nats.Connect(url)
		}
		if nc != nil {
			if _, err = nc.Request("$SRV.PING.sieve", nil, 500*time.Millisecond); err == nil {
				break
			}
		}
		if i > 200 {
			t.Fatalf("sieve serve not ready: %v", err)
		}
		select {
		case err := <-exited:
			t.Fatalf("sieve serve exited early: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Cleanup(nc.Close)
	return srv, exited, logs, nc
}

func httpGet(t *testing.T, url string, status int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %d %s, want %d", url, resp.StatusCode, b, status)
	}
	return string(b)
}

// syncBuffer collects a subprocess's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeSecondSignalExitsAtOnce: the first SIGTERM starts a drain that
// would wait for a long job; the second ends the process at once.
func TestServeSecondSignalExitsAtOnce(t *testing.T) {
	dir := t.TempDir()
	if err := modelgen.WriteScripted(filepath.Join(dir, "loop.gguf"), modelgen.Scripted{Pieces: []string{"a", "b", "c"}, Loop: true}); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cfg := filepath.Join(dir, "sieve.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
[model]
path = "loop.gguf"
threads = 1
context = 8192
[generate]
temperature = 0
[nats]
listen = "127.0.0.1:%d"
data_dir = "store"
[queue]
drain_timeout = "5m"
`, port)), 0o644)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	srv, exited, logs, nc := startServe(t, cfg, url)
	chunks, err := nc.SubscribeSync("sieve.stream.long")
	if err != nil {
		t.Fatal(err)
	}
	sub := exec.Command(bin, "submit", "--server", url, "--id", "long", "--timeout", "1m", "--job", "-")
	sub.Stdin = strings.NewReader(`{"id":"long","max_tokens":4000,"messages":[{"role":"user","content":"go on"}]}`)
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	defer sub.Process.Kill()
	if _, err := chunks.NextMsg(20 * time.Second); err != nil {
		t.Fatalf("no chunks: %v", err)
	}
	srv.Process.Signal(syscall.SIGTERM)
	for i := 0; !strings.Contains(logs.String(), "draining"); i++ {
		if i > 200 {
			t.Fatalf("no drain started:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	srv.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("after the second signal: %v, want exit 1", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second signal did not end the process")
	}
}

// A metrics or HTTP address that is taken stops serve before its worker
// takes a job: nothing to drain, exit 2, the setting named.
func TestServeTakenAddressStopsTheStart(t *testing.T) {
	dir := t.TempDir()
	if err := modelgen.WriteScripted(filepath.Join(dir, "toy.gguf"), modelgen.Scripted{Pieces: []string{"hi"}}); err != nil {
		t.Fatal(err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, key := range []string{"metrics", "http"} {
		cfg := filepath.Join(dir, key+".toml")
		os.WriteFile(cfg, []byte(fmt.Sprintf("[model]\npath = \"toy.gguf\"\nthreads = 1\ncontext = 256\n[nats]\nlisten = \"127.0.0.1:%d\"\ndata_dir = \"store-%s\"\n[%s]\nlisten = %q\n",
			freePort(t), key, key, taken.Addr().String())), 0o644)
		r := sieve(t, "", "serve", "--config", cfg)
		if r.code != 2 || !strings.Contains(r.stderr, key+".listen") || strings.Contains(r.stderr, "serving") || strings.Contains(r.stderr, "draining") {
			t.Fatalf("%s taken: exit %d stderr %q", key, r.code, r.stderr)
		}
	}
}
