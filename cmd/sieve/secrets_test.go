package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/sieve-project/sieve/internal/modelgen"
)

// TestSecretsStaySecret: a password in nats.url and the words of a block
// list appear nowhere a log reader or a subscriber looks: sieve serve's
// logs (at debug level), results, chunks, sieve check, and sieve config
// check's complaints.
func TestSecretsStaySecret(t *testing.T) {
	const password, codeName = "S3cr3t-pw", "bluebird"
	withPassword := passwordServer(t, "sieve", password)

	dir := t.TempDir()
	if err := modelgen.WriteScripted(filepath.Join(dir, "toy.gguf"), modelgen.Scripted{Pieces: []string{"Operation", " blue", "bird", " starts", " now", "."}}); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "sieve.toml")
	if err := os.WriteFile(cfg, []byte(secretsTOML(withPassword, codeName)), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, exited, logs, nc := startServe(t, cfg, withPassword)
	defer nc.Close()

	seen := []string{}
	streamed, err := nc.SubscribeSync("sieve.stream.>")
	if err != nil {
		t.Fatal(err)
	}
	out := sieve(t, "", "submit", "--server", withPassword, "--id", "op1", "What is the operation called?")
	in := sieve(t, "", "submit", "--server", withPassword, "--id", "op2", "Is BLUEBIRD on?")
	seen = append(seen, out.stdout, out.stderr, in.stdout, in.stderr)
	if !strings.Contains(out.stdout, `"status": "filtered"`) || !strings.Contains(in.stdout, `"code": "input_blocked"`) {
		t.Fatalf("submits: %s\n%s", out.stdout, in.stdout)
	}
	for {
		m, err := streamed.NextMsg(200 * time.Millisecond)
		if err != nil {
			break
		}
		seen = append(seen, string(m.Data))
	}
	check := sieve(t, "Is bluebird on?", "check", "--json", "--config", cfg, "-")
	seen = append(seen, check.stdout, check.stderr)

	srv.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not exit")
	}
	seen = append(seen, logs.String())
	if !strings.Contains(logs.String(), "sieve:xxxxx@") {
		t.Errorf("the serving line does not show the redacted URL:\n%s", logs.String())
	}

	// Complaints about a configuration quote it without its secrets.
	if err := os.WriteFile(cfg, []byte(secretsTOML("nats://sieve:"+password+"@host-without-port:x", codeName)), 0o644); err != nil {
		t.Fatal(err)
	}
	badURL := sieve(t, "", "config", "check", cfg)
	if badURL.code != 2 || !strings.Contains(badURL.stderr, "nats.url") || !strings.Contains(badURL.stderr, "sieve:xxxxx@") {
		t.Fatalf("config check: exit %d stderr %q", badURL.code, badURL.stderr)
	}
	tooLong := strings.Replace(secretsTOML(withPassword, codeName), `words = ["`+codeName+`"]`, `words = ["`+codeName+`", "`+codeName+strings.Repeat("x", 300)+`"]`, 1)
	if err := os.WriteFile(cfg, []byte(tooLong), 0o644); err != nil {
		t.Fatal(err)
	}
	badList := sieve(t, "", "config", "check", cfg)
	if badList.code != 2 || !strings.Contains(badList.stderr, "words[1]") {
		t.Fatalf("config check: exit %d stderr %q", badList.code, badList.stderr)
	}
	seen = append(seen, badURL.stdout, badURL.stderr, badList.stdout, badList.stderr)

	for _, s := range seen {
		for _, secret := range []string{password, codeName, strings.ToUpper(codeName)} {
			if strings.Contains(s, secret) {
				t.Errorf("%q shows up in:\n%s", secret, s)
			}
		}
	}
}

// passwordServer runs a NATS server with JetStream that lets in only user
// with password, and returns its URL with the two in it.
func passwordServer(t *testing.T, user, password string) string {
	t.Helper()
	o := &server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, JetStream: true, StoreDir: t.TempDir(),
		Username: user, Password: password}
	ns, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	t.Cleanup(ns.Shutdown)
	return strings.Replace(ns.ClientURL(), "nats://", "nats://"+user+":"+password+"@", 1)
}

// secretsTOML is a configuration for toy.gguf that logs at debug level,
// connects to url, and blocks word on the way in and out.
func secretsTOML(url, word string) string {
	return fmt.Sprintf(`
[model]
path = "toy.gguf"
threads = 1
context = 512

[generate]
temperature = 0

[log]
level = "debug"

[nats]
url = %q

[[filter.lists]]
name = "codenames"
action = "block"
apply_to = ["input", "output"]
words = [%q]
`, url, word)
}
