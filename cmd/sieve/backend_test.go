package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
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
	if strings.Contains(dropMachineWarnings(r.stderr), "level=WARN") {
		t.Errorf("warnings with the built backends:\n%s", r.stderr)
	}
}

// TestCUDAFallback: with the CUDA backend built (lib/ollama holds
// libggml-cuda.so) on a machine without a GPU or driver, every command
// that loads a model starts, says once which backend computes and why
// CUDA does not, and computes on the same CPU variant as without the
// CUDA library. CI builds the CUDA backend and sets SIEVE_REQUIRE_CUDA,
// so there the test cannot skip.
func TestCUDAFallback(t *testing.T) {
	libs := os.Getenv("SIEVE_BACKENDS")
	if _, err := os.Stat(filepath.Join(libs, "libggml-cuda.so")); libs == "" || err != nil {
		if os.Getenv("SIEVE_REQUIRE_CUDA") != "" {
			t.Fatalf("SIEVE_REQUIRE_CUDA is set but SIEVE_BACKENDS (%q) holds no libggml-cuda.so: make did not build the CUDA backend", libs)
		}
		t.Skip("no CUDA backend built: install nvcc and run `make test`")
	}
	r := runWith(t, bin, libs, "version")
	if r.code != 0 {
		t.Fatalf("version: exit %d stderr %q", r.code, r.stderr)
	}
	line := regexp.MustCompile(`(?m)^cuda (\S+libggml-cuda\.so), built for (sm_\d+( sm_\d+)*); (.*)$`).FindStringSubmatch(r.stdout)
	if line == nil {
		t.Fatalf("version does not list the CUDA backend and its architectures:\n%s", r.stdout)
	}
	if !strings.HasPrefix(line[4], "not used: ") {
		t.Skipf("this machine has a GPU CUDA runs on (%s): the fallback cannot be seen here", line[4])
	}
	if strings.Contains(r.stderr, "ggml_cuda_init") {
		t.Errorf("llama.cpp's own CUDA message leaked:\n%s", r.stderr)
	}
	// The CPU variant computing is the one chosen without the CUDA library.
	variant := regexp.MustCompile(`(?m)^backend CPU \(cpu\): .*, variant (\S+),`).FindStringSubmatch(r.stdout)
	if variant == nil {
		t.Fatalf("no CPU backend in:\n%s", r.stdout)
	}
	// The binding loads only from folders named lib/ollama.
	cpuLibs := filepath.Join(t.TempDir(), "lib", "ollama")
	if err := os.MkdirAll(cpuLibs, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(libs)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "libggml-") && e.Name() != "libggml-cuda.so" {
			if err := os.Symlink(filepath.Join(libs, e.Name()), filepath.Join(cpuLibs, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	if w := regexp.MustCompile(`(?m)^backend CPU \(cpu\): .*, variant (\S+),`).FindStringSubmatch(runWith(t, bin, cpuLibs, "version").stdout); w == nil || w[1] != variant[1] {
		t.Fatalf("with CUDA the CPU variant is %s, without it %v", variant[1], w)
	}

	model := scripted(t)
	t.Run("generate", func(t *testing.T) {
		r := runWith(t, bin, libs, "generate", "--model", model, "hi")
		if r.code != 0 || r.stdout != scriptText+"\n" {
			t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
		saidCUDAUnused(t, "generate", r.stderr, variant[1])
	})
	t.Run("bench", func(t *testing.T) {
		r := runWith(t, bin, libs, "bench", "--model", model, "--parallel", "1", "--gen-tokens", "4", "--prompt-tokens", "8", "--threads", "1", "--nats=false")
		if r.code != 0 || !strings.Contains(r.stdout, "CPU backend "+variant[1]) || !strings.Contains(r.stdout, "GPU: none") {
			t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
		saidCUDAUnused(t, "bench", r.stderr, variant[1])
	})
	t.Run("demo", func(t *testing.T) {
		r := runWith(t, bin, libs, "demo", "--pace", "0", "--cache", t.TempDir())
		if r.code != 0 || !strings.Contains(r.stdout, "4 completed, 1 filtered") {
			t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
		saidCUDAUnused(t, "demo (four models in one process)", r.stderr, variant[1])
	})
	t.Run("serve", func(t *testing.T) {
		dir := t.TempDir()
		port := freePort(t)
		cfg := filepath.Join(dir, "sieve.toml")
		if err := os.WriteFile(cfg, []byte(fmt.Sprintf("[model]\npath = %q\nthreads = 1\ncontext = 512\n[nats]\nlisten = \"127.0.0.1:%d\"\ndata_dir = \"store\"\n", model, port)), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Setenv("OLLAMA_LIBRARY_PATH", libs)
		srv, exited, logs, _ := startServe(t, cfg, fmt.Sprintf("nats://127.0.0.1:%d", port))
		if r := sieve(t, "", "submit", "--server", fmt.Sprintf("nats://127.0.0.1:%d", port), "hi"); r.code != 0 || !strings.Contains(r.stdout, scriptText) {
			t.Fatalf("submit: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
		srv.Process.Signal(syscall.SIGTERM)
		if err := <-exited; err != nil {
			t.Fatalf("serve: %v\n%s", err, logs.String())
		}
		saidCUDAUnused(t, "serve", logs.String(), variant[1])
	})
}

// saidCUDAUnused checks the stderr of the command name: it says once, in a
// line that names the reason, the CPU variant and the CUDA library, that CUDA
// is not used, and llama.cpp's own CUDA message does not leak.
func saidCUDAUnused(t *testing.T, name, stderr, variant string) {
	t.Helper()
	if n := strings.Count(stderr, cudaUnused); n != 1 {
		t.Fatalf("%s: says %d times that CUDA is not used, want once:\n%s", name, n, stderr)
	}
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, cudaUnused) && (!strings.Contains(l, "reason=") || !strings.Contains(l, "cpu_variant="+variant) || !strings.Contains(l, "libggml-cuda.so")) {
			t.Fatalf("%s: the line names no reason, CPU variant %s or library: %s", name, variant, l)
		}
	}
	if strings.Contains(stderr, "ggml_cuda_init") {
		t.Errorf("%s: llama.cpp's own CUDA message leaked:\n%s", name, stderr)
	}
}

// TestGPUCheckSaysWhenNoGPURan: the GPU check on a machine where no GPU
// computes (none here, or no CUDA backend built) exits 1 and says why,
// after sieve bench refused to measure the CPU in its place.
func TestGPUCheckSaysWhenNoGPURan(t *testing.T) {
	if r := runWith(t, bin, os.Getenv("SIEVE_BACKENDS"), "version"); regexp.MustCompile(`(?m)^cuda .*; CUDA0 `).MatchString(r.stdout) {
		t.Skip("this machine has a GPU: make gpu-check measures it")
	}
	cmd := exec.Command("bash", filepath.Join("..", "..", "scripts", "gpu-check.sh"))
	cmd.Env = append(os.Environ(), "SIEVE="+bin, "MODEL="+scripted(t), "GPU_CHECK_DIR="+t.TempDir(), "LIMIT=120")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit %v, want 1:\n%s", err, out)
	}
	for _, w := range []string{"sieve bench: the GPU was not used: ", "gpu-check: FAILED: the GPU was not used", "== sieve version"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}
