package engine

/*
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

// From ggml.h, ggml-cpu.h, ggml-backend.h and llama.h of the pinned
// binding; weak for the reason llamacpp.go gives. TestThreadpoolParams
// guards the struct layout.
#define SIEVE_GGML_MAX_N_THREADS 512
struct ggml_threadpool_params {
	bool cpumask[SIEVE_GGML_MAX_N_THREADS];
	int n_threads;
	int prio;
	uint32_t poll;
	bool strict_cpu;
	bool paused;
};
struct ggml_threadpool;
struct llama_context;
typedef struct ggml_backend_device *sieve_dev_t;
typedef struct ggml_backend_reg *sieve_reg_t;

extern struct ggml_threadpool_params ggml_threadpool_params_default(int n_threads) __attribute__((weak));
extern sieve_dev_t ggml_backend_dev_by_type(int type) __attribute__((weak));
extern sieve_reg_t ggml_backend_dev_backend_reg(sieve_dev_t dev) __attribute__((weak));
extern void *ggml_backend_reg_get_proc_address(sieve_reg_t reg, const char *name) __attribute__((weak));
extern void llama_attach_threadpool(struct llama_context *ctx, struct ggml_threadpool *tp, struct ggml_threadpool *tp_batch) __attribute__((weak));
extern void llama_detach_threadpool(struct llama_context *ctx) __attribute__((weak));

typedef struct ggml_threadpool *(*sieve_tp_new_t)(struct ggml_threadpool_params *);
typedef void (*sieve_tp_free_t)(struct ggml_threadpool *);

// The pool must come from the CPU backend llama.cpp computes with (a
// variant library, usually), not from the copy compiled into the binary:
// its workers run that backend's kernels.
static void *sieve_cpu_proc(const char *name) {
	if (!ggml_backend_dev_by_type) return NULL;
	sieve_dev_t dev = ggml_backend_dev_by_type(0); // GGML_BACKEND_DEVICE_TYPE_CPU
	if (!dev) return NULL;
	return ggml_backend_reg_get_proc_address(ggml_backend_dev_backend_reg(dev), name);
}

static struct ggml_threadpool_params sieve_threadpool_defaults(int n) {
	struct ggml_threadpool_params p = {0};
	if (ggml_threadpool_params_default) p = ggml_threadpool_params_default(n);
	return p;
}

// sieve_threadpool_attach starts n worker threads (the caller's thread is
// the first of them) and has ctx compute on them from now on.
static struct ggml_threadpool *sieve_threadpool_attach(struct llama_context *ctx, int n, uint32_t poll) {
	sieve_tp_new_t tp_new = (sieve_tp_new_t)sieve_cpu_proc("ggml_threadpool_new");
	if (!tp_new || !ggml_threadpool_params_default || !llama_attach_threadpool) return NULL;
	struct ggml_threadpool_params p = ggml_threadpool_params_default(n);
	p.poll = poll;
	struct ggml_threadpool *tp = tp_new(&p);
	if (tp) llama_attach_threadpool(ctx, tp, NULL);
	return tp;
}

static void sieve_threadpool_detach(struct llama_context *ctx, struct ggml_threadpool *tp) {
	sieve_tp_free_t tp_free = (sieve_tp_free_t)sieve_cpu_proc("ggml_threadpool_free");
	if (llama_detach_threadpool) llama_detach_threadpool(ctx);
	if (tp_free) tp_free(tp);
}
*/
import "C"

import (
	"unsafe"

	"github.com/ollama/ollama/llama"
)

// poll is how hard the pool's idle workers spin for the next decode step
// before they sleep (ggml's scale, 0 to 100). 50 is ggml's default, and
// what llama-bench runs with: waking a sleeping worker for every token
// costs this machine's decoding 7 % (BENCHMARKS.md).
const poll = 50

// threadpool is a set of llama.cpp compute threads that lives as long as
// the decode loop. Without one, ggml starts and joins its threads on
// every decode call, once per token.
type threadpool struct {
	ctx *C.struct_llama_context
	tp  *C.struct_ggml_threadpool
}

// attachThreadpool gives c a pool of n threads, started from the calling
// thread (so they inherit its priority). poll (0 to 100) is how long idle
// workers spin for the next graph before sleeping. It returns nil where
// the CPU backend offers no pools, and c computes as before.
func attachThreadpool(c *llama.Context, n int, poll uint32) *threadpool {
	ctx := (*C.struct_llama_context)(*(*unsafe.Pointer)(unsafe.Pointer(c)))
	tp := C.sieve_threadpool_attach(ctx, C.int(n), C.uint32_t(poll))
	if tp == nil {
		return nil
	}
	return &threadpool{ctx: ctx, tp: tp}
}

// detach returns c to per-call threads and stops the pool's threads.
func (p *threadpool) detach() {
	if p != nil {
		C.sieve_threadpool_detach(p.ctx, p.tp)
	}
}

// threadpoolDefaults reads ggml's default pool settings for n threads
// through the struct declared here.
func threadpoolDefaults(n int) (threads, prio int, poll uint32, strict, paused bool) {
	p := C.sieve_threadpool_defaults(C.int(n))
	return int(p.n_threads), int(p.prio), uint32(p.poll), bool(p.strict_cpu), bool(p.paused)
}
