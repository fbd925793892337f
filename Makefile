# Builds bin/sieve and, beside it in lib/ollama, llama.cpp's CPU backend
# once per x86-64 level (x64, sse42, sandybridge, haswell, skylakex,
# icelake, alderlake, sapphirerapids). At start sieve loads the best one
# this CPU runs, as llama.cpp's and Ollama's releases do; the CPU backend
# compiled into the binary by cgo targets baseline x86-64 and is only the
# fallback. Where nvcc is installed the CUDA backend is built too
# (libggml-cuda.so; README "Backends and GPUs").
#
# The backends come from the pinned binding module's own CMake project
# (github.com/ollama/ollama, the version in go.mod), so they are the same
# ggml the binary links. `go build ./cmd/sieve` keeps working; such a
# binary finds the backends through OLLAMA_LIBRARY_PATH.
#
#   make            bin/sieve and lib/ollama (a second run does nothing)
#   make demo       the above, then bin/sieve demo
#   make test       the above, then the tests (what CI runs)
#   make gpu-check  the above, then scripts/gpu-check.sh: is the GPU used, and how fast
#   make clean
#
# Knobs:
#   JOBS                parallel compile jobs (default: every CPU)
#   CUDA_ARCHITECTURES  the GPUs the CUDA backend is compiled for, as CMake
#                       writes them ("90", "80;90"); default: those of the
#                       GPUs present (nvidia-smi), else CUDA_DEFAULT_ARCHITECTURES
#   CUDA_RUNTIME        bundle (default): cuBLAS and the CUDA runtime are
#                       copied into lib/ollama, so a machine with only the
#                       NVIDIA driver runs the backend; system: they are
#                       not, and the GPU machine must have them (CUDA 11.8's
#                       libcublas.so.11, libcublasLt.so.11, libcudart.so.11.0)
#   CMAKE_FLAGS         extra flags for the backend configure
# A change of any of them rebuilds the backends.

GO    ?= go
CMAKE ?= cmake
JOBS  ?= $(shell nproc 2>/dev/null || echo 2)

# The binding module's folder, resolved when a recipe first needs it and
# not when make reads this file: on a fresh machine the module is not
# downloaded yet, and `go mod download` fetches it (then remembered).
OLLAMA_DIR = $(eval OLLAMA_DIR := $(shell $(GO) mod download github.com/ollama/ollama && $(GO) list -m -f '{{.Dir}}' github.com/ollama/ollama))$(OLLAMA_DIR)
ARCH := $(shell uname -m)
LIBDIR := lib/ollama
STAMP := $(LIBDIR)/.built
NVCC := $(shell command -v nvcc 2>/dev/null)

# Turing (T4), Ampere (A100, A10, 30x0), Ada (L4, L40S, 40x0) and Hopper
# (H100, H200): the data-centre GPUs CUDA 11.8 compiles for. One
# architecture takes about 12 minutes on two cores.
CUDA_DEFAULT_ARCHITECTURES := 75;80;86;89;90
CUDA_RUNTIME ?= bundle
ifneq ($(NVCC),)
ifeq ($(CUDA_ARCHITECTURES),)
CUDA_ARCHITECTURES := $(shell nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | tr -d '. ' | sort -u | paste -sd';' -)
endif
ifeq ($(CUDA_ARCHITECTURES),)
CUDA_ARCHITECTURES := $(CUDA_DEFAULT_ARCHITECTURES)
endif
CUDA := ON
else
CUDA := OFF
endif

CONFIGURE = $(CMAKE) -S backends -DOLLAMA_DIR="$(OLLAMA_DIR)" -DCMAKE_INSTALL_PREFIX="$(CURDIR)" \
	-DSIEVE_CUDA=$(CUDA) -DSIEVE_CUDA_RUNTIME=$(CUDA_RUNTIME) $(CMAKE_FLAGS)
ifeq ($(CUDA),ON)
CONFIGURE += -DCMAKE_CUDA_ARCHITECTURES="$(CUDA_ARCHITECTURES)"
endif
# What the backends were configured with: when it changes (nvcc installed,
# another architecture), the next make builds them again.
BACKEND_CONFIG := build/backends.config
BACKEND_SETTINGS := cuda=$(CUDA) archs=$(CUDA_ARCHITECTURES) runtime=$(CUDA_RUNTIME) flags=$(CMAKE_FLAGS)
BUILD = $(CMAKE) --build $(1) -j $(JOBS) $(addprefix --target ,$(2))
INSTALL = $(CMAKE) --install $(1) --component $(2)

GO_SOURCES := $(shell find . -name '*.go' -not -path './build/*' -not -path './.git/*' -not -name '*_test.go') go.mod go.sum

.PHONY: all demo test clean backends gpu-check FORCE
all: bin/sieve $(STAMP)

backends: $(STAMP)

bin/sieve: $(GO_SOURCES)
	$(GO) build -o $@ ./cmd/sieve

$(BACKEND_CONFIG): FORCE
	@mkdir -p $(@D)
	@echo '$(BACKEND_SETTINGS)' | cmp -s - $@ || echo '$(BACKEND_SETTINGS)' > $@

# go.mod pins the binding, so a version bump rebuilds the backends.
$(STAMP): go.mod Makefile backends/CMakeLists.txt $(BACKEND_CONFIG)
	@test -n "$(OLLAMA_DIR)" || { echo "make: cannot find the github.com/ollama/ollama module (go mod download)"; exit 1; }
	@command -v $(CMAKE) >/dev/null || { echo "make: cmake is missing (Debian: apt-get install cmake)"; exit 1; }
	$(CONFIGURE) -B build/ggml
	$(call BUILD,build/ggml,ggml-cpu $(if $(filter ON,$(CUDA)),ggml-cuda))
ifeq ($(ARCH),x86_64)
	$(CONFIGURE) -B build/ggml-amx -DSIEVE_CPU_VARIANT=sapphirerapids \
		"-DSIEVE_CPU_FEATURES=SSE42;AVX;F16C;AVX2;BMI2;FMA;AVX512;AVX512_VBMI;AVX512_VNNI;AVX512_BF16;AMX_TILE;AMX_INT8"
	$(call BUILD,build/ggml-amx,ggml-cpu)
endif
	rm -rf $(LIBDIR)
	$(call INSTALL,build/ggml,CPU)
	$(if $(filter ON,$(CUDA)),$(call INSTALL,build/ggml,CUDA))
ifeq ($(ARCH),x86_64)
	$(call INSTALL,build/ggml-amx,CPU)
endif
	touch $@

demo: all
	bin/sieve demo

# On a machine with an NVIDIA GPU: does sieve compute on it, and how fast?
gpu-check: all
	scripts/gpu-check.sh

# SIEVE_BACKENDS tells the tests where the built backends are, so the
# tests of backend selection run instead of skipping.
test: all
	SIEVE_BACKENDS="$(CURDIR)/$(LIBDIR)" $(GO) test ./...

clean:
	rm -rf bin lib build
