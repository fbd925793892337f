package engine

/*
#cgo linux LDFLAGS: -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

typedef struct ggml_backend_reg *ggml_backend_reg_t;
struct ggml_backend_feature { const char *name; const char *value; };
typedef struct ggml_backend_feature *(*ggml_backend_get_features_t)(ggml_backend_reg_t reg);
typedef void (*ggml_log_callback)(int level, const char *text, void *user_data);
typedef void (*ggml_log_set_t)(ggml_log_callback cb, void *user_data);

extern size_t ggml_backend_reg_count(void) __attribute__((weak));
extern ggml_backend_reg_t ggml_backend_reg_get(size_t index) __attribute__((weak));
extern const char *ggml_backend_reg_name(ggml_backend_reg_t reg) __attribute__((weak));
extern size_t ggml_backend_reg_dev_count(ggml_backend_reg_t reg) __attribute__((weak));
extern void *ggml_backend_reg_get_proc_address(ggml_backend_reg_t reg, const char *name) __attribute__((weak));

// The binding's own log sink (package ggml's //export sink), to hand the
// shared library's messages back to once the start is captured.
extern void sink(int level, char *text, void *user_data) __attribute__((weak));

// The backend libraries under lib/ollama share one libggml-base.so,
// which has a logger of its own: the binary's copy of ggml is not the
// one they call. What the CUDA backend says at start (the devices it
// found, or why none) goes there, so sieve loads that library first and
// reads its log while the backends start.
static char capture_buf[16384];
static size_t capture_len;
static int capturing;

static void sieve_base_log(int level, const char *text, void *ud) {
	if (capturing) {
		size_t n = strlen(text);
		if (capture_len + n >= sizeof capture_buf) {
			n = sizeof capture_buf - 1 - capture_len;
		}
		memcpy(capture_buf + capture_len, text, n);
		capture_len += n;
		capture_buf[capture_len] = 0;
		return;
	}
	if (sink) {
		sink(level, (char *)text, ud);
	}
}

// sieve_capture_base loads path (libggml-base.so) and starts capturing
// its log; 0 when it cannot.
static int sieve_capture_base(const char *path) {
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		return 0;
	}
	ggml_log_set_t set = (ggml_log_set_t)dlsym(h, "ggml_log_set");
	if (!set) {
		return 0;
	}
	capture_len = 0;
	capture_buf[0] = 0;
	capturing = 1;
	set(sieve_base_log, NULL);
	return 1;
}

// sieve_capture_end stops capturing and returns what was said.
static const char *sieve_capture_end(void) {
	capturing = 0;
	return capture_buf;
}

// sieve_try_load says why dlopen refuses path: NULL when it loads.
static const char *sieve_try_load(const char *path) {
	dlerror();
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h) {
		dlclose(h);
		return NULL;
	}
	const char *e = dlerror();
	return e ? e : "dlopen failed";
}

// sieve_reg_find returns the index of the registered backend named name,
// -1 when none is.
static int sieve_reg_find(const char *name) {
	if (!ggml_backend_reg_count) {
		return -1;
	}
	for (size_t i = 0; i < ggml_backend_reg_count(); i++) {
		if (strcmp(ggml_backend_reg_name(ggml_backend_reg_get(i)), name) == 0) {
			return (int)i;
		}
	}
	return -1;
}

static size_t sieve_reg_devices(int i) { return ggml_backend_reg_dev_count(ggml_backend_reg_get(i)); }

// sieve_reg_feature returns the value of the backend's feature name, or NULL.
static const char *sieve_reg_feature(int i, const char *name) {
	ggml_backend_reg_t reg = ggml_backend_reg_get(i);
	ggml_backend_get_features_t fn = (ggml_backend_get_features_t)ggml_backend_reg_get_proc_address(reg, "ggml_backend_get_features");
	if (!fn) {
		return NULL;
	}
	for (struct ggml_backend_feature *f = fn(reg); f->name; f++) {
		if (strcmp(f->name, name) == 0) {
			return f->value;
		}
	}
	return NULL;
}
*/
import "C"

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unsafe"
)

// CUDA says what became of llama.cpp's CUDA backend at start.
type CUDA struct {
	// Library is the libggml-cuda.so found beside the other backends;
	// empty when sieve was built without one.
	Library string
	// Archs are the GPU architectures the library was compiled for
	// ("sm_90"); empty when it did not load.
	Archs []string
	// Devices are the GPUs it drives, with their compute capability.
	Devices []GPU
	// Reason says why no GPU is used when Devices is empty: no library,
	// one that does not load (no NVIDIA driver, a missing cuBLAS), or
	// CUDA's own error (no device, a driver too old).
	Reason string
}

// GPU is one CUDA device.
type GPU struct {
	Name        string // "CUDA0"
	Description string // "NVIDIA H200"
	Compute     string // compute capability, "9.0"; empty if CUDA did not say
	MemTotal    uint64 // bytes
	// Supported is false when the library holds no code this device
	// can run (built for newer architectures only).
	Supported bool
}

// startCUDA begins capturing what the shared backends log while they
// start, when the folder dirs hold them; endCUDA reads it.
func startCUDA(dirs []string) bool {
	for _, d := range dirs {
		base := filepath.Join(d, "libggml-base.so")
		if _, err := os.Stat(base); err != nil {
			continue
		}
		p := C.CString(base)
		ok := C.sieve_capture_base(p) == 1
		C.free(unsafe.Pointer(p))
		return ok
	}
	return false
}

func endCUDA(captured bool, dirs []string, devs []Device) CUDA {
	var said string
	if captured {
		said = C.GoString(C.sieve_capture_end())
	}
	return describeCUDA(dirs, devs, said, cudaRegistry)
}

// cudaRegistry reports whether llama.cpp registered a CUDA backend, how
// many devices it has and its ARCHS feature.
func cudaRegistry() (registered bool, devices int, archs string) {
	name := C.CString("CUDA")
	defer C.free(unsafe.Pointer(name))
	i := C.sieve_reg_find(name)
	if i < 0 {
		return false, 0, ""
	}
	feat := C.CString("ARCHS")
	defer C.free(unsafe.Pointer(feat))
	if v := C.sieve_reg_feature(i, feat); v != nil {
		archs = C.GoString(v)
	}
	return true, int(C.sieve_reg_devices(i)), archs
}

// describeCUDA puts together what start-up showed: the library found in
// dirs, the registry's answer, and what the CUDA backend logged (said).
func describeCUDA(dirs []string, devs []Device, said string, reg func() (bool, int, string)) CUDA {
	var c CUDA
	for _, d := range dirs {
		if p := filepath.Join(d, "libggml-cuda.so"); fileExists(p) {
			c.Library = p
			break
		}
	}
	registered, _, archs := reg()
	c.Archs = smArchs(archs)
	caps := computeCaps(said)
	for _, d := range devs {
		if d.Backend != "CUDA" {
			continue
		}
		g := GPU{Name: d.Name, Description: d.Description, MemTotal: d.MemTotal}
		if n, err := strconv.Atoi(strings.TrimPrefix(d.Name, "CUDA")); err == nil {
			g.Compute = caps[n]
		}
		g.Supported = runsOn(c.Archs, g.Compute)
		c.Devices = append(c.Devices, g)
	}
	switch {
	case len(c.Devices) > 0:
	case c.Library == "":
		c.Reason = fmt.Sprintf("sieve was built without the CUDA backend (no libggml-cuda.so in %s): build it with `make` on a machine with nvcc", strings.Join(dirs, string(os.PathListSeparator)))
	case !registered:
		c.Reason = "libggml-cuda.so does not load: " + loadError(c.Library)
	default:
		c.Reason = "CUDA found no usable GPU"
		if m := cudaFailure.FindStringSubmatch(said); m != nil {
			c.Reason += ": " + strings.TrimSpace(m[1])
		}
	}
	return c
}

var (
	cudaFailure = regexp.MustCompile(`failed to initialize CUDA: ([^\n]*)`)
	cudaDevice  = regexp.MustCompile(`Device (\d+): [^\n]*, compute capability (\d+\.\d+)`)
)

// computeCaps reads the compute capability of each device from the CUDA
// backend's start-up log.
func computeCaps(said string) map[int]string {
	out := map[int]string{}
	for _, m := range cudaDevice.FindAllStringSubmatch(said, -1) {
		n, _ := strconv.Atoi(m[1])
		out[n] = m[2]
	}
	return out
}

// smArchs turns CUDA's __CUDA_ARCH_LIST__ ("750,800,900") into sm_75,
// sm_80, sm_90.
func smArchs(list string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' || r == ';' }) {
		n, err := strconv.Atoi(f)
		if err != nil {
			continue
		}
		out = append(out, fmt.Sprintf("sm_%d", n/10))
	}
	return out
}

// runsOn reports whether code built for archs runs on a device of compute
// capability cc: CMake's "90" holds sm_90 machine code and compute_90
// PTX, which the driver compiles for any newer device, so the device
// needs an architecture at or below its own. Unknown is taken as yes.
func runsOn(archs []string, cc string) bool {
	if len(archs) == 0 || cc == "" {
		return true
	}
	major, minor, ok := strings.Cut(cc, ".")
	if !ok {
		return true
	}
	dev, err := strconv.Atoi(major + minor)
	if err != nil {
		return true
	}
	return slices.ContainsFunc(archs, func(a string) bool {
		n, err := strconv.Atoi(strings.TrimPrefix(a, "sm_"))
		return err == nil && n <= dev
	})
}

// loadError says why the dynamic loader refuses lib, in the words a
// person fixes it by.
func loadError(lib string) string {
	p := C.CString(lib)
	defer C.free(unsafe.Pointer(p))
	e := C.sieve_try_load(p)
	if e == nil {
		return "llama.cpp did not register it"
	}
	msg := C.GoString(e)
	if strings.Contains(msg, "libcuda.so") {
		return "the NVIDIA driver is not installed (" + msg + ")"
	}
	return msg
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// String says in one line what CUDA does here: the library, the
// architectures it was built for, and the GPUs it drives or why none.
func (c CUDA) String() string {
	if c.Library == "" {
		return "not used: " + c.Reason
	}
	var b strings.Builder
	archs := "unknown architectures"
	if len(c.Archs) > 0 {
		archs = strings.Join(c.Archs, " ")
	}
	fmt.Fprintf(&b, "%s, built for %s; ", c.Library, archs)
	if len(c.Devices) == 0 {
		b.WriteString("not used: " + c.Reason)
		return b.String()
	}
	for i, g := range c.Devices {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s %s", g.Name, g.Description)
		if g.Compute != "" {
			fmt.Fprintf(&b, ", compute %s", g.Compute)
		}
		if g.MemTotal > 0 {
			fmt.Fprintf(&b, ", %.1f GiB", float64(g.MemTotal)/(1<<30))
		}
		if !g.Supported {
			b.WriteString(", NOT SUPPORTED by this build (rebuild with make CUDA_ARCHITECTURES=" + strings.ReplaceAll(g.Compute, ".", "") + ")")
		}
	}
	return b.String()
}
