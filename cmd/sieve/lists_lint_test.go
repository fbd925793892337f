package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestListsLintWidened: sieve lists lint shows the entries that the
// strict switches widen most on the corpus, plain against strict hits,
// under its own heading, and as WidenedByStrict in JSON.
func TestListsLintWidened(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sieve.toml")
	if err := os.WriteFile(cfg, []byte(`[[filter.lists]]
name = "zh"
action = "redact"
words = ["幹", "贱", "后门"]
strict = ["traditional"]

[[filter.lists]]
name = "en"
action = "redact"
match = "word"
words = ["ass"]
strict = true
`), 0o644); err != nil {
		t.Fatal(err)
	}
	corpus := filepath.Join(dir, "clean.txt")
	if err := os.WriteFile(corpus, []byte("賤人 贱 後門 后门 干活 幹. a55, аss and class.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := sieve(t, "", "lists", "lint", "--config", cfg, corpus)
	if r.code != 0 {
		t.Fatalf("lint: exit %d stderr %q", r.code, r.stderr)
	}
	_, after, ok := strings.Cut(r.stdout, "3 entries of strict lists match more with strict than without; the 3 widened most (hits plain, strict):\n")
	if !ok {
		t.Fatalf("no heading:\n%s", r.stdout)
	}
	var rows []string
	for _, line := range strings.Split(strings.TrimSpace(after), "\n") {
		rows = append(rows, strings.Join(strings.Fields(line), " "))
	}
	if want := []string{"en words[0] ass 0 2", "zh words[1] 贱 1 2", "zh words[2] 后门 1 2"}; strings.Join(rows, "|") != strings.Join(want, "|") {
		t.Fatalf("rows %q, want %q", rows, want)
	}
	if !strings.Contains(r.stdout, `list "zh" words[0]: "幹": written in Traditional (幹; Simplified 干)`) {
		t.Errorf("no Traditional warning:\n%s", r.stdout)
	}
	r = sieve(t, "", "lists", "lint", "--json", "--config", cfg, corpus)
	var rep struct {
		WidenedByStrict []struct {
			List, Pos, Entry string
			Plain, Strict    int
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || len(rep.WidenedByStrict) != 3 || rep.WidenedByStrict[0].Entry != "ass" || rep.WidenedByStrict[0].Strict != 2 {
		t.Fatalf("json %v: %s", err, r.stdout)
	}
}
