package engine

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestBackendWarnings(t *testing.T) {
	builtin := Device{Name: "CPU", Type: DeviceCPU, Variant: Builtin, Features: []string{"LLAMAFILE"}}
	native := Device{Name: "CPU", Type: DeviceCPU, Variant: Builtin, Features: []string{"AVX2", "LLAMAFILE"}}
	haswell := Device{Name: "CPU", Type: DeviceCPU, Variant: "haswell", Library: "/x/lib/ollama/libggml-cpu-haswell.so", Features: []string{"AVX2"}}
	gpu := Device{Name: "CUDA0", Type: DeviceGPU, Library: "/x/lib/ollama/libggml-cuda.so"}
	for _, tt := range []struct {
		name      string
		devs      []Device
		avx2      bool
		gpuLayers int
		baseline  bool   // want the baseline warning
		gpu       string // want a GPU warning naming this
	}{
		{"baseline build on an AVX2 CPU", []Device{builtin}, true, 0, true, ""},
		{"baseline build, CPU without AVX2", []Device{builtin}, false, 0, false, ""},
		{"built-in backend built for this CPU", []Device{native}, true, 0, false, ""},
		// The registry lists the built-in one after the loaded variant.
		{"variant loaded", []Device{haswell, builtin}, true, 0, false, ""},
		{"GPU layers, no GPU backend", []Device{haswell, builtin}, true, -1, false, "gpu_layers is -1"},
		{"GPU layers and a GPU", []Device{gpu, haswell, builtin}, true, 40, false, ""},
		{"both", []Device{builtin}, true, 8, true, "gpu_layers is 8"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			const search = "/opt/sieve/lib/ollama"
			oneLine := func(w, naming string) {
				t.Helper()
				if !strings.Contains(w, naming) || !strings.Contains(w, search) || strings.Contains(w, "\n") {
					t.Errorf("warning %q: want one line naming %q and the folder searched", w, naming)
				}
			}
			b := baselineWarning(tt.devs, tt.avx2, search)
			switch {
			case tt.baseline:
				oneLine(b, "`make`")
			case b != "":
				t.Errorf("unexpected warning %q", b)
			}
			g := gpuWarning(tt.devs, CUDA{}, tt.gpuLayers, search)
			switch {
			case tt.gpu != "":
				oneLine(g, tt.gpu)
			case g != "":
				t.Errorf("unexpected warning %q", g)
			}
		})
	}
}

func TestCPUVariant(t *testing.T) {
	for lib, want := range map[string]string{
		"":                                     Builtin,
		"/a/lib/ollama/libggml-cpu-icelake.so": "icelake",
		"libggml-cpu-x64.so":                   "x64",
		"/a/lib/ollama/libggml-cpu.so":         "ggml-cpu",
	} {
		if got := cpuVariant(lib); got != want {
			t.Errorf("cpuVariant(%q) = %q, want %q", lib, got, want)
		}
	}
}

func TestInUse(t *testing.T) {
	devs := []Device{
		{Name: "CUDA0", Type: DeviceGPU},
		{Name: "CPU", Type: DeviceCPU, Variant: "icelake"},
		{Name: "BLAS", Type: DeviceAccel},
		{Name: "CPU", Type: DeviceCPU, Variant: Builtin},
	}
	var got []string
	for _, d := range InUse(devs) {
		got = append(got, d.Name+"/"+d.Variant)
	}
	if want := []string{"CUDA0/", "CPU/icelake", "BLAS/"}; !slices.Equal(got, want) {
		t.Fatalf("InUse = %q, want %q", got, want)
	}
}

func TestPhysicalCores(t *testing.T) {
	// Two cores with two hyperthreads each, and one without.
	dir := t.TempDir()
	for cpu, siblings := range map[string]string{"cpu0": "03", "cpu1": "03", "cpu2": "0c", "cpu3": "0c", "cpu4": "10"} {
		p := filepath.Join(dir, cpu, "topology")
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "thread_siblings"), []byte(siblings+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "cpufreq"), 0o755); err != nil { // not a CPU
		t.Fatal(err)
	}
	if got := physicalCores(dir); got != 3 {
		t.Errorf("physicalCores = %d, want 3", got)
	}
	if got := physicalCores(filepath.Join(dir, "missing")); got != 0 {
		t.Errorf("physicalCores of no folder = %d, want 0", got)
	}
	if n := defaultThreads(); n < 1 {
		t.Errorf("defaultThreads = %d", n)
	}
}

func TestAutoNice(t *testing.T) {
	for _, tt := range []struct {
		threads, usable, gpuLayers, want int
	}{
		{2, 2, 0, 19},  // every CPU decodes
		{4, 2, 0, 19},  // more threads than CPUs
		{16, 32, 0, 0}, // hyperthreads left for the chunk path
		{2, 2, -1, 0},  // a GPU does the work
		{2, 2, 10, 0},
	} {
		want := tt.want
		if !niceSupported {
			want = 0
		}
		if got := autoNice(tt.threads, tt.usable, tt.gpuLayers); got != want {
			t.Errorf("autoNice(%d threads, %d CPUs, gpu_layers %d) = %d, want %d", tt.threads, tt.usable, tt.gpuLayers, got, want)
		}
	}
}

// TestThreadpoolParams guards the copy of ggml_threadpool_params in
// threadpool.go: ggml's own defaults, read through it, must come back
// whole.
func TestThreadpoolParams(t *testing.T) {
	devices() // registers the backends, as Load does
	n, prio, poll, strict, paused := threadpoolDefaults(3)
	if n != 3 || prio != 0 || poll != 50 || strict || paused {
		t.Fatalf("ggml_threadpool_params_default(3) read as n_threads %d prio %d poll %d strict %v paused %v: the struct layout changed, review threadpool.go",
			n, prio, poll, strict, paused)
	}
}

// TestDescribeCUDA: what sieve says of the CUDA backend, from the
// library found, llama.cpp's registry and what the backend logged.
func TestDescribeCUDA(t *testing.T) {
	dir := t.TempDir()
	lib := filepath.Join(dir, "libggml-cuda.so")
	if err := os.WriteFile(lib, []byte("not a shared object"), 0o644); err != nil {
		t.Fatal(err)
	}
	reg := func(ok bool, n int, archs string) func() (bool, int, string) {
		return func() (bool, int, string) { return ok, n, archs }
	}
	h200 := Device{Name: "CUDA0", Description: "NVIDIA H200", Backend: "CUDA", Type: DeviceGPU, MemTotal: 150 << 30}
	a100 := Device{Name: "CUDA1", Description: "NVIDIA A100", Backend: "CUDA", Type: DeviceGPU}
	const devLog = "ggml_cuda_init: found 2 CUDA devices:\n  Device 0: NVIDIA H200, compute capability 9.0, VMM: yes\n  Device 1: NVIDIA A100, compute capability 8.0, VMM: yes\n"
	for _, tt := range []struct {
		name   string
		dirs   []string
		devs   []Device
		said   string
		reg    func() (bool, int, string)
		want   string // in String()
		gpus   int
		reason string
	}{
		{"not built", []string{t.TempDir()}, nil, "", reg(false, 0, ""), "not used: sieve was built without the CUDA backend", 0, "make"},
		{"does not load", []string{dir}, nil, "", reg(false, 0, ""), "built for unknown architectures; not used: libggml-cuda.so does not load: ", 0, "does not load"},
		{"no device", []string{dir}, nil, "ggml_cuda_init: failed to initialize CUDA: no CUDA-capable device is detected\n", reg(true, 0, "900"),
			"built for sm_90; not used: CUDA found no usable GPU: no CUDA-capable device is detected", 0, "no CUDA-capable device"},
		{"two GPUs, one the build cannot run", []string{dir}, []Device{h200, a100}, devLog, reg(true, 2, "900"),
			"built for sm_90; CUDA0 NVIDIA H200, compute 9.0, 150.0 GiB; CUDA1 NVIDIA A100, compute 8.0, NOT SUPPORTED by this build (rebuild with make CUDA_ARCHITECTURES=80)", 2, ""},
		{"every architecture", []string{dir}, []Device{a100}, devLog, reg(true, 1, "750,800,860,890,900"), "built for sm_75 sm_80 sm_86 sm_89 sm_90; CUDA1 NVIDIA A100, compute 8.0", 1, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := describeCUDA(tt.dirs, tt.devs, tt.said, tt.reg)
			if s := c.String(); !strings.Contains(s, tt.want) {
				t.Errorf("String() = %q, want it to hold %q", s, tt.want)
			}
			if len(c.Devices) != tt.gpus || !strings.Contains(c.Reason, tt.reason) || (tt.gpus > 0) != (c.Reason == "") {
				t.Errorf("%d devices, reason %q", len(c.Devices), c.Reason)
			}
		})
	}
}
