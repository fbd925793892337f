# Builds bin/sieve and, beside it in lib/ollama, llama.cpp's CPU backend
# once per x86-64 level (x64, sse42, sandybridge, haswell, skylakex,
# icelake, alderlake). At start sieve loads the best one this CPU runs, as
# llama.cpp's and Ollama's releases do; the CPU backend compiled into the
# binary by cgo targets baseline x86-64 and is only the fallback. Where
# nvcc is installed the CUDA backend is built too.
#
# The backends come from the pinned binding module's own CMake project
# (github.com/ollama/ollama, the version in go.mod), so they are the same
# ggml the binary links. `go build ./cmd/sieve` keeps working; such a
# binary finds the backends through OLLAMA_LIBRARY_PATH.
#
#   make          bin/sieve and lib/ollama (a second run does nothing)
#   make demo     the above, then bin/sieve demo
#   make test     the above, then the tests (what CI runs)
#   make clean
#
# Knobs: JOBS (parallel compile jobs), CUDA_ARCHITECTURES (e.g. "90" to
# build the CUDA backend on a machine without the GPU; default: the GPUs
# present), CMAKE_FLAGS (extra flags for the backend configure).

GO    ?= go
CMAKE ?= cmake
JOBS  ?= $(shell nproc 2>/dev/null || echo 2)

OLLAMA_DIR := $(shell $(GO) list -m -f '{{.Dir}}' github.com/ollama/ollama)
ARCH := $(shell uname -m)
LIBDIR := lib/ollama
STAMP := $(LIBDIR)/.built
NVCC := $(shell command -v nvcc 2>/dev/null)

CONFIGURE = $(CMAKE) -S backends -DOLLAMA_DIR="$(OLLAMA_DIR)" -DCMAKE_INSTALL_PREFIX="$(CURDIR)" $(CMAKE_FLAGS)
ifneq ($(CUDA_ARCHITECTURES),)
CONFIGURE += -DCMAKE_CUDA_ARCHITECTURES="$(CUDA_ARCHITECTURES)"
endif
BUILD = $(CMAKE) --build $(1) -j $(JOBS) $(addprefix --target ,$(2))
INSTALL = $(CMAKE) --install $(1) --component $(2)

GO_SOURCES := $(shell find . -name '*.go' -not -path './build/*' -not -path './.git/*' -not -name '*_test.go') go.mod go.sum

.PHONY: all demo test clean backends
all: bin/sieve $(STAMP)

backends: $(STAMP)

bin/sieve: $(GO_SOURCES)
	$(GO) build -o $@ ./cmd/sieve

# go.mod pins the binding, so a version bump rebuilds the backends.
$(STAMP): go.mod Makefile backends/CMakeLists.txt
	@test -n "$(OLLAMA_DIR)" || { echo "make: cannot find the github.com/ollama/ollama module (go mod download)"; exit 1; }
	@command -v $(CMAKE) >/dev/null || { echo "make: cmake is missing (Debian: apt-get install cmake)"; exit 1; }
	$(CONFIGURE) -B build/ggml
	$(call BUILD,build/ggml,ggml-cpu $(if $(NVCC),ggml-cuda))
ifeq ($(ARCH),x86_64)
	$(CONFIGURE) -B build/ggml-amx -DSIEVE_CPU_VARIANT=sapphirerapids \
		"-DSIEVE_CPU_FEATURES=SSE42;AVX;F16C;AVX2;BMI2;FMA;AVX512;AVX512_VBMI;AVX512_VNNI;AVX512_BF16;AMX_TILE;AMX_INT8"
	$(call BUILD,build/ggml-amx,ggml-cpu)
endif
	rm -rf $(LIBDIR)
	$(call INSTALL,build/ggml,CPU)
	$(if $(NVCC),$(call INSTALL,build/ggml,CUDA))
ifeq ($(ARCH),x86_64)
	$(call INSTALL,build/ggml-amx,CPU)
endif
	touch $@

demo: all
	bin/sieve demo

# SIEVE_BACKENDS tells the tests where the built backends are, so the
# tests of backend selection run instead of skipping.
test: all
	SIEVE_BACKENDS="$(CURDIR)/$(LIBDIR)" $(GO) test ./...

clean:
	rm -rf bin lib build
