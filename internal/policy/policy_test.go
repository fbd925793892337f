package policy_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sieve-project/sieve/internal/config"
	"github.com/sieve-project/sieve/internal/filter"
	"github.com/sieve-project/sieve/internal/policy"
)

func parse(t *testing.T, dir, toml string) config.Config {
	t.Helper()
	path := filepath.Join(dir, "sieve.toml")
	if err := os.WriteFile(path, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const policiesTOML = `
[[filter.lists]]
name = "mild"
action = "redact"
words = ["darn"]

[[filter.lists]]
name = "strong"
action = "block"
files = ["strong.txt"]

[filter.policies]
lenient = ["mild"]
`

func TestPolicies(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "strong.txt"), []byte("heck\n"), 0o644)
	f, err := policy.Load(parse(t, dir, policiesTOML))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.Names(), ","); got != "default,lenient" {
		t.Fatalf("policies %s", got)
	}
	text := "darn, heck"
	for _, tt := range []struct{ policy, want string }{
		{"", "***, "},        // default: every list
		{"default", "***, "}, // the same, by name
		{"lenient", "***, heck"},
	} {
		p, err := f.Lookup(tt.policy)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Filter().Check(filter.Output, text).Text; got != tt.want {
			t.Errorf("policy %q: %q, want %q", tt.policy, got, tt.want)
		}
	}
	if _, err := f.Lookup("strict"); !errors.Is(err, policy.ErrUnknown) || !strings.Contains(err.Error(), "lenient") {
		t.Fatalf("unknown policy: %v", err)
	}
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	strong := filepath.Join(dir, "strong.txt")
	os.WriteFile(strong, []byte("heck\n"), 0o644)
	cfg := parse(t, dir, policiesTOML)
	f, err := policy.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := f.Lookup("")
	running := before.Output()

	// A reload that fails keeps the lists in force.
	os.WriteFile(strong, []byte("\xff\n"), 0o644)
	if err := f.Reload(cfg); err == nil || !strings.Contains(err.Error(), "strong.txt:1") {
		t.Fatalf("bad reload: %v", err)
	}
	if now, _ := f.Lookup(""); now != before {
		t.Fatal("a failed reload replaced the lists")
	}
	// A good one takes effect for new texts only.
	os.WriteFile(strong, []byte("gosh\n"), 0o644)
	if err := f.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	now, _ := f.Lookup("")
	if got := now.Filter().Check(filter.Output, "gosh heck").Text; got != "" {
		t.Fatalf("after reload: %q, want blocked at once", got)
	}
	out := running.Write([]byte("gosh heck"))
	rest := running.Close()
	if got := string(out.Text) + string(rest.Text); got != "gosh " || !rest.Blocked && !out.Blocked {
		t.Fatalf("running stream after reload: %q, want the old lists (blocks heck)", got)
	}
}

func TestPolicyConfigErrors(t *testing.T) {
	_, err := config.Parse("p.toml", []byte("[[filter.lists]]\nname = \"a\"\naction = \"flag\"\nwords = [\"x\"]\n[filter.policies]\nstrict = [\"a\", \"b\"]\n"))
	if err == nil || !strings.Contains(err.Error(), "p.toml:6: filter.policies.strict: list \"b\" is not defined") {
		t.Fatalf("err %v", err)
	}
}

// TestReloadWhileStreaming: jobs take filters and stream while reloads
// swap them; every text is filtered whole by one set of lists.
func TestReloadWhileStreaming(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "strong.txt"), []byte("heck\n"), 0o644)
	cfg := parse(t, dir, policiesTOML)
	f, err := policy.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 200 {
				p, err := f.Lookup("lenient")
				if err != nil {
					t.Error(err)
					return
				}
				s := p.Output()
				var out []byte
				for _, p := range []string{"da", "rn 坏", "\xe8", "\x9b\x8b!"} {
					out = append(out, s.Write([]byte(p)).Text...)
				}
				out = append(out, s.Close().Text...)
				if string(out) != "*** 坏蛋!" {
					t.Errorf("goroutine %d: %q", i, out)
					return
				}
			}
		})
	}
	for range 50 {
		if err := f.Reload(cfg); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
}
