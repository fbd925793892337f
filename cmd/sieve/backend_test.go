package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/sys/cpu"
)

// runWith runs the binary at path with env replacing the test process's
// OLLAMA_LIBRARY_PATH (unset when lib is ""), and returns its output
// untouched.
func runWith(t *testing.T, path, lib string, args ...string) ran {
	t.Helper()
	cmd := exec.Command(path, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OLLAMA_LIBRARY_PATH=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if lib != "" {
		cmd.Env = append(cmd.Env, "OLLAMA_LIBRARY_PATH="+lib)
	}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := ran{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

// emptyLibs is a lib/ollama folder with no backends in it.
func emptyLibs(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "lib", "ollama")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestVersionNamesTheBuiltinBackend(t *testing.T) {
	r := runWith(t, bin, emptyLibs(t), "version")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
	if !regexp.MustCompile(`(?m)^backend CPU \(cpu\): .*, variant built-in`).MatchString(r.stdout) {
		t.Fatalf("version does not name the built-in CPU backend:\n%s", r.stdout)
	}
}

// TestBaselineWarning: a binary that finds no built backends on a CPU with
// AVX2 says so once per process, in one line that names the fix and where
// it looked, and works on.
func TestBaselineWarning(t *testing.T) {
	if !cpu.X86.HasAVX2 {
		t.Skip("the warning is for CPUs with AVX2")
	}
	libs := emptyLibs(t)
	r := runWith(t, bin, libs, "generate", "--model", scripted(t), "hi")
	if r.code != 0 || r.stdout != scriptText+"\n" {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], baselineWarning) || !strings.Contains(lines[0], "`make`") || !strings.Contains(lines[0], libs) {
		t.Fatalf("want one warning line naming make and %s, got:\n%s", libs, r.stderr)
	}
	// The demo loads four models in one process and warns once.
	r = runWith(t, bin, libs, "demo", "--pace", "0", "--cache", t.TempDir())
	if r.code != 0 || strings.Count(r.stderr, baselineWarning) != 1 {
		t.Fatalf("demo: exit %d, want one warning, stderr:\n%s", r.code, r.stderr)
	}
}

// TestBuiltBackends runs the binary as `make` lays it out, bin/sieve with
// lib/ollama beside bin/, with no environment to help it find them.
func TestBuiltBackends(t *testing.T) {
	libs := os.Getenv("SIEVE_BACKENDS")
	if libs == "" {
		t.Skip("SIEVE_BACKENDS is not set: run `make test` to build the backends and test them")
	}
	root := t.TempDir()
	for _, d := range []string{"bin", "lib"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(libs, filepath.Join(root, "lib", "ollama")); err != nil {
		t.Fatal(err)
	}
	installed := filepath.Join(root, "bin", "sieve")
	if err := os.Link(bin, installed); err != nil {
		t.Fatal(err)
	}

	r := runWith(t, installed, "", "version")
	if r.code != 0 {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
	m := regexp.MustCompile(`(?m)^backend CPU \(cpu\): .*, variant (\S+), from (\S+lib/ollama/libggml-cpu-\S+\.so)(, features (.*))?$`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("version names no CPU backend from lib/ollama:\n%s", r.stdout)
	}
	variant, features := m[1], strings.Fields(m[4])
	// The first CPU backend listed is the one llama.cpp computes with.
	if first := regexp.MustCompile(`(?m)^backend CPU .*$`).FindString(r.stdout); !strings.Contains(first, "variant "+variant+",") {
		t.Fatalf("the first CPU backend is %q, not the loaded variant %s", first, variant)
	}
	if cpu.X86.HasAVX2 && !strings.Contains(" "+strings.Join(features, " ")+" ", " AVX2 ") {
		t.Errorf("this CPU has AVX2 but the variant loaded (%s) was not built for it: %v", variant, features)
	}
	if !strings.Contains(r.stdout, "AARCH64_REPACK") {
		t.Errorf("the variant was built without Q4_0 repacking: %v", features)
	}

	// It computes right, says so at start, and does not warn.
	r = runWith(t, installed, "", "generate", "--log-level", "info", "--model", scripted(t), "hi")
	if r.code != 0 || r.stdout != scriptText+"\n" {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, `msg="llama.cpp backend" device=CPU type=cpu`) || !strings.Contains(r.stderr, "variant="+variant) {
		t.Errorf("the start-up log does not name the backend:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "level=WARN") {
		t.Errorf("warnings with the built backends:\n%s", r.stderr)
	}
}
