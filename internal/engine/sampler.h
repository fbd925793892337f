// The sampler of one request: llama.cpp's own sampler chain, as its
// common_sampler builds it for the settings sieve takes, except that with
// top_k 0 the last stages (top_p, min_p, temperature, the draw) run as one
// stage that selects instead of sorting the whole vocabulary. See
// sampler.cpp.
#ifndef SIEVE_SAMPLER_H
#define SIEVE_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct llama_model;
struct llama_context;
struct sieve_sampler;

struct sieve_sampling {
	int32_t top_k;  // 0 = off
	float top_p;    // 1 = off
	float min_p;    // 0 = off
	float temp;     // <= 0: greedy
	int32_t last_n; // tokens the repeat penalty looks back
	float repeat;   // 1 = off
	uint32_t seed;  // 0xFFFFFFFF = random
	bool common;    // build the chain exactly as common_sampler does, also for top_k 0 (tests)
	const char *grammar; // GBNF, root rule "root", that every token must fit; NULL or "": none
};

// sieve_sampler_new returns NULL when llama.cpp refuses (out of memory, or
// a grammar it cannot parse).
struct sieve_sampler *sieve_sampler_new(const struct llama_model *model, struct sieve_sampling p);
// sieve_sampler_sample samples a token from the logits of output idx of
// the last decode, never one of the n banned tokens and, with a grammar,
// only one the grammar allows next. It returns -1 when ctx has no logits
// there, and -2 when the grammar and the bans leave no token.
int32_t sieve_sampler_sample(struct sieve_sampler *s, struct llama_context *ctx, int32_t idx, const int32_t *banned, size_t n);
// sieve_sampler_accept records token as generated (the repeat penalty,
// the grammar's state); it returns false when the grammar cannot take it.
bool sieve_sampler_accept(struct sieve_sampler *s, int32_t token);
// sieve_sampler_replay puts the grammar back at its start and has it take
// the n tokens generated so far: generation went back to an earlier
// token. It returns false when the grammar cannot take them.
bool sieve_sampler_replay(struct sieve_sampler *s, const int32_t *tokens, size_t n);
// sieve_sampler_history replaces the tokens the repeat penalty remembers
// with the n given, oldest first: generation went back to an earlier
// token.
void sieve_sampler_history(struct sieve_sampler *s, const int32_t *tokens, size_t n);
void sieve_sampler_free(struct sieve_sampler *s);

#ifdef __cplusplus
}
#endif

#endif
