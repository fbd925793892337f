package engine

/*
#cgo linux LDFLAGS: -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

// ggml's backend registry API (ggml-backend.h of the pinned binding),
// declared weak like the symbols in llamacpp.go: the headers live in
// another module.
typedef struct ggml_backend_device *ggml_backend_dev_t;
typedef struct ggml_backend_reg *ggml_backend_reg_t;
struct ggml_backend_feature { const char *name; const char *value; };
typedef struct ggml_backend_feature *(*ggml_backend_get_features_t)(ggml_backend_reg_t reg);

extern size_t ggml_backend_dev_count(void) __attribute__((weak));
extern ggml_backend_dev_t ggml_backend_dev_get(size_t index) __attribute__((weak));
extern const char *ggml_backend_dev_name(ggml_backend_dev_t dev) __attribute__((weak));
extern const char *ggml_backend_dev_description(ggml_backend_dev_t dev) __attribute__((weak));
extern int ggml_backend_dev_type(ggml_backend_dev_t dev) __attribute__((weak));
extern void ggml_backend_dev_memory(ggml_backend_dev_t dev, size_t *free, size_t *total) __attribute__((weak));
extern ggml_backend_reg_t ggml_backend_dev_backend_reg(ggml_backend_dev_t dev) __attribute__((weak));
extern const char *ggml_backend_reg_name(ggml_backend_reg_t reg) __attribute__((weak));
extern void *ggml_backend_reg_get_proc_address(ggml_backend_reg_t reg, const char *name) __attribute__((weak));

static size_t sieve_dev_count(void) {
	return ggml_backend_dev_count ? ggml_backend_dev_count() : 0;
}

typedef struct {
	const char *name, *desc, *reg, *file;
	int type;
	size_t free, total;
	struct ggml_backend_feature *features;
} sieve_dev;

// sieve_dev_describe fills d for device i. file is the shared object the
// device's code lives in, found by dladdr on one of its functions: the
// executable itself for a backend compiled in, a library for one loaded
// at start.
static void sieve_dev_describe(size_t i, sieve_dev *d) {
	ggml_backend_dev_t dev = ggml_backend_dev_get(i);
	ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(dev);
	d->name = ggml_backend_dev_name(dev);
	d->desc = ggml_backend_dev_description(dev);
	d->type = ggml_backend_dev_type(dev);
	d->reg = ggml_backend_reg_name(reg);
	d->free = d->total = 0;
	ggml_backend_dev_memory(dev, &d->free, &d->total);
	d->features = NULL;
	d->file = NULL;
	void *fn = ggml_backend_reg_get_proc_address(reg, "ggml_backend_get_features");
	if (fn) {
		d->features = ((ggml_backend_get_features_t)fn)(reg);
	}
	// The name string lives in the backend's own object too.
	const void *at = fn ? fn : (const void *)d->reg;
	Dl_info info;
	if (dladdr(at, &info) && info.dli_fname) {
		d->file = info.dli_fname;
	}
}

// sieve_dev_mem reads device i's memory now.
static int sieve_dev_mem(size_t i, size_t *free, size_t *total) {
	ggml_backend_dev_t dev = ggml_backend_dev_get(i);
	*free = *total = 0;
	ggml_backend_dev_memory(dev, free, total);
	return ggml_backend_dev_type(dev);
}

static const char *sieve_feature_name(struct ggml_backend_feature *f, int i) { return f[i].name; }
static const char *sieve_feature_value(struct ggml_backend_feature *f, int i) { return f[i].value; }

// sieve_self is any address inside the executable, to tell built-in
// backends from loaded ones.
static const char *sieve_self(void) {
	Dl_info info;
	if (dladdr((void *)sieve_self, &info) && info.dli_fname) {
		return info.dli_fname;
	}
	return "";
}
*/
import "C"

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/ollama/ollama/llama"
	"golang.org/x/sys/cpu"
)

// DeviceType says what kind of device a backend drives.
type DeviceType string

const (
	DeviceCPU   DeviceType = "cpu"
	DeviceGPU   DeviceType = "gpu"
	DeviceAccel DeviceType = "accel" // BLAS, AMX: used together with the CPU
)

// Device is one llama.cpp backend device, as registered at start.
type Device struct {
	Name        string     // "CPU", "CUDA0"
	Description string     // the CPU or GPU model
	Backend     string     // the backend's registry name: "CPU", "CUDA"
	Type        DeviceType //
	// Library is the shared library the backend was loaded from; empty for
	// the CPU backend compiled into the binary.
	Library string
	// Variant names a CPU backend build: "icelake" for
	// libggml-cpu-icelake.so, "built-in" for the one compiled into the
	// binary (which targets whatever the Go build's CFLAGS gave it:
	// baseline x86-64 by default).
	Variant  string
	Features []string // what the backend was compiled for: "AVX2", "AARCH64_REPACK", …
	MemTotal uint64   // bytes; for a GPU its own memory
}

// Builtin is the Variant of the CPU backend compiled into the binary.
const Builtin = "built-in"

// startup is what llama.cpp's backends made of this machine.
type startup struct {
	devs []Device
	cuda CUDA
}

// backends initializes llama.cpp's backends, once per process (its
// registry is process-wide), and lists the devices in the order llama.cpp
// prefers them: GPUs first, then CPU backends best first. The first CPU
// device is the one llama.cpp computes with on the CPU.
var backends = sync.OnceValue(func() startup {
	dirs := libraryDirs()
	captured := startCUDA(dirs)
	// Loads the libraries under $OLLAMA_LIBRARY_PATH, or else under
	// <executable>/../lib/ollama, then registers the backends.
	llama.BackendInit()
	self := C.GoString(C.sieve_self())
	n := int(C.sieve_dev_count())
	out := make([]Device, 0, n)
	for i := 0; i < n; i++ {
		var d C.sieve_dev
		C.sieve_dev_describe(C.size_t(i), &d)
		dev := Device{
			Name:        C.GoString(d.name),
			Description: strings.TrimSpace(C.GoString(d.desc)),
			Backend:     C.GoString(d.reg),
			MemTotal:    uint64(d.total),
		}
		switch d._type {
		case 0:
			dev.Type = DeviceCPU
		case 1:
			dev.Type = DeviceGPU
		default:
			dev.Type = DeviceAccel
		}
		if f := C.GoString(d.file); f != "" && !sameFile(f, self) {
			dev.Library = f
		}
		if d.features != nil {
			for j := 0; ; j++ {
				name := C.sieve_feature_name(d.features, C.int(j))
				if name == nil {
					break
				}
				// Features are flags ("1") or settings ("AVX512_FP16"'s
				// value is "1" too); list the names.
				if v := C.GoString(C.sieve_feature_value(d.features, C.int(j))); v != "" && v != "0" {
					dev.Features = append(dev.Features, C.GoString(name))
				}
			}
		}
		if dev.Type == DeviceCPU {
			dev.Variant = cpuVariant(dev.Library)
		}
		out = append(out, dev)
	}
	return startup{devs: out, cuda: endCUDA(captured, dirs, out)}
})

func devices() []Device { return backends().devs }

// Memory is a GPU's memory at one moment, in bytes.
type Memory struct {
	Device      string // "CUDA0"
	Free, Total uint64
}

// GPUMemory reads every GPU's free and total memory now: what a loaded
// model takes shows as the free memory it took.
func GPUMemory() []Memory {
	devs := devices()
	var out []Memory
	for i, d := range devs {
		var free, total C.size_t
		if C.sieve_dev_mem(C.size_t(i), &free, &total) != 1 {
			continue
		}
		out = append(out, Memory{Device: d.Name, Free: uint64(free), Total: uint64(total)})
	}
	return out
}

// CUDAStatus says whether llama.cpp computes on an NVIDIA GPU here, on
// which, and if not, why; it loads the backends first if nothing has yet.
func CUDAStatus() CUDA { return backends().cuda }

// libraryDirs are the folders the binding loads backend libraries from:
// those in $OLLAMA_LIBRARY_PATH whose path holds lib/ollama, or else
// <executable's folder>/../lib/ollama (package ggml's OnceLoad).
func libraryDirs() []string {
	var dirs []string
	exe, _ := os.Executable()
	for _, p := range filepath.SplitList(searchPath()) {
		abs, err := filepath.Abs(p)
		if err != nil || (abs != filepath.Dir(exe) && !strings.Contains(abs, filepath.FromSlash("lib/ollama"))) || slices.Contains(dirs, abs) {
			continue
		}
		dirs = append(dirs, abs)
	}
	return dirs
}

// Devices returns llama.cpp's backend devices, loading the backend
// libraries first if nothing has yet; see Device.
func Devices() []Device { return devices() }

// cpuVariant names a CPU backend by its library: libggml-cpu-haswell.so is
// "haswell".
func cpuVariant(lib string) string {
	if lib == "" {
		return Builtin
	}
	base := filepath.Base(lib)
	base = strings.TrimSuffix(base, filepath.Ext(base))
	base = strings.TrimPrefix(base, "lib")
	if v, ok := strings.CutPrefix(base, "ggml-cpu-"); ok {
		return v
	}
	return base
}

func sameFile(a, b string) bool {
	if a == b {
		return true
	}
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// searchPath is where the binding looks for backend libraries:
// $OLLAMA_LIBRARY_PATH, or else <executable's folder>/../lib/ollama.
func searchPath() string {
	if p, ok := os.LookupEnv("OLLAMA_LIBRARY_PATH"); ok {
		return p
	}
	exe, err := os.Executable()
	if err != nil {
		return filepath.Join("..", "lib", "ollama")
	}
	return filepath.Join(filepath.Dir(exe), "..", "lib", "ollama")
}

// baselineWarning says when the CPU backend in use leaves this CPU's
// vector units idle: the built-in one, compiled for baseline x86-64, on a
// CPU with AVX2 (2–5× slower than the variant built for it). Empty when
// all is well.
func baselineWarning(devs []Device, hasAVX2 bool, search string) string {
	i := slices.IndexFunc(devs, func(d Device) bool { return d.Type == DeviceCPU })
	if i < 0 || devs[i].Variant != Builtin || !hasAVX2 || slices.Contains(devs[i].Features, "AVX2") {
		return ""
	}
	return "llama.cpp runs on the CPU backend built into the binary, which targets baseline x86-64 and leaves this CPU's AVX2 unused (decoding 2-5x slower): " +
		"build the CPU backends with `make` (they go to lib/ollama beside bin/), or point OLLAMA_LIBRARY_PATH at a lib/ollama folder that holds them; searched " + search
}

// gpuWarning says when layers meant for a GPU find no GPU backend. Empty
// when all is well.
func gpuWarning(devs []Device, cuda CUDA, gpuLayers int, search string) string {
	if gpuLayers == 0 || slices.ContainsFunc(devs, func(d Device) bool { return d.Type == DeviceGPU }) {
		return ""
	}
	if cuda.Library != "" {
		return "" // logCUDA says why the library found no GPU
	}
	return fmt.Sprintf("model.gpu_layers is %d but llama.cpp found no GPU backend, so every layer runs on the CPU: "+
		"build the CUDA backend with `make` on a machine with nvcc (it goes to lib/ollama), or point OLLAMA_LIBRARY_PATH at a lib/ollama folder that holds libggml-cuda.so; searched %s", gpuLayers, search)
}

// baselineWarned and cudaSaid make the baseline warning and the CUDA
// line once per process: the backends are the process's, however many
// models it loads.
var baselineWarned, cudaSaid sync.Once

// InUse returns the devices llama.cpp computes with: every GPU and
// accelerator, and the first CPU device (the others are CPU variants
// that were registered but lost to it).
func InUse(devs []Device) []Device {
	var out []Device
	cpuSeen := false
	for _, d := range devs {
		if d.Type == DeviceCPU {
			if cpuSeen {
				continue
			}
			cpuSeen = true
		}
		out = append(out, d)
	}
	return out
}

// logDevices logs what llama.cpp computes on, and what leaves speed on the
// table.
func logDevices(log *slog.Logger, devs []Device, gpuLayers int) {
	for _, d := range InUse(devs) {
		attrs := []any{"device", d.Name, "type", d.Type, "backend", d.Backend, "description", d.Description}
		if d.Variant != "" {
			attrs = append(attrs, "variant", d.Variant)
		}
		if d.Library != "" {
			attrs = append(attrs, "library", d.Library)
		}
		attrs = append(attrs, "features", strings.Join(d.Features, ","))
		log.Info("llama.cpp backend", attrs...)
	}
	if w := baselineWarning(devs, cpu.X86.HasAVX2, searchPath()); w != "" {
		baselineWarned.Do(func() { log.Warn(w) })
	}
	cuda := CUDAStatus()
	if w := gpuWarning(devs, cuda, gpuLayers, searchPath()); w != "" {
		log.Warn(w)
	}
	cudaSaid.Do(func() { logCUDA(log, cuda, devs, gpuLayers) })
}

// logCUDA says what became of a CUDA backend that was built: the GPUs it
// computes on, or, as a warning, that it is not used, why, and what
// computes instead (a CUDA library on a machine without a GPU is a
// deployment that does not do what was meant). Without the library
// there is nothing to say.
func logCUDA(log *slog.Logger, c CUDA, devs []Device, gpuLayers int) {
	switch {
	case c.Library == "":
	case len(c.Devices) == 0:
		attrs := []any{"reason", c.Reason, "library", c.Library}
		if i := slices.IndexFunc(devs, func(d Device) bool { return d.Type == DeviceCPU }); i >= 0 {
			attrs = append(attrs, "cpu_variant", devs[i].Variant)
		}
		if gpuLayers != 0 {
			attrs = append(attrs, "gpu_layers", gpuLayers)
		}
		log.Warn("CUDA backend not used: llama.cpp computes on the CPU", attrs...)
	default:
		for _, g := range c.Devices {
			attrs := []any{"device", g.Name, "description", g.Description, "compute", g.Compute, "archs", strings.Join(c.Archs, ","), "library", c.Library}
			if !g.Supported {
				log.Warn("the CUDA backend has no code for this GPU: rebuild it with make CUDA_ARCHITECTURES="+strings.ReplaceAll(g.Compute, ".", ""), attrs...)
				continue
			}
			log.Info("CUDA device", attrs...)
		}
	}
}
