package engine

/*
// Declared here rather than included: the binding's headers live in
// another module, and these two symbols are all it leaves out. Weak
// references link without the binding's objects (cgo's own link check) and
// resolve to them in the final binary.
struct llama_context;
extern void llama_free(struct llama_context *ctx) __attribute__((weak));
extern const char *LLAMA_COMMIT __attribute__((weak));

static int sieve_llama_free(void *ctx) {
	if (!llama_free) return 0;
	llama_free((struct llama_context *)ctx);
	return 1;
}

static const char *sieve_llama_commit(void) {
	return &LLAMA_COMMIT ? LLAMA_COMMIT : "";
}
*/
import "C"

import (
	"unsafe"

	"github.com/ollama/ollama/llama"
)

// LlamaCommit returns the llama.cpp commit the binding was built from.
func LlamaCommit() string { return C.GoString(C.sieve_llama_commit()) }

// freeContext frees a context: the binding (at v0.11.4) creates contexts
// but has no call to free them. Its Context struct holds the C pointer as
// its first field; reading it is tied to the pinned binding version, and
// TestFreeContext guards the layout.
func freeContext(c *llama.Context) bool {
	p := *(*unsafe.Pointer)(unsafe.Pointer(c))
	return C.sieve_llama_free(p) == 1
}
