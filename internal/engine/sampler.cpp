// The sampler of one request (see sampler.h).
//
// With top_k > 0 it is llama.cpp's sampler chain exactly as
// common_sampler_init builds it for sieve's settings: the stages sieve
// leaves at their neutral values (DRY, XTC, typical-p, logit bias) return
// at once in llama.cpp and are left out here. The repeat penalty is
// sieve's, with llama.cpp's arithmetic: llama.cpp's looks every token of
// the vocabulary up in a hash map of the last tokens (~0.5 ms a token at
// 152,064 tokens); this one visits the few penalized tokens.
//
// With top_k = 0 llama.cpp's chain sorts the whole vocabulary for every
// token: top_p's softmax sorts all logits, and so does the final draw. At
// a 152,064-token vocabulary (CausalLM 14B's) that is ~13 ms a token on
// one core. Here top_p, min_p, temperature and the draw are one pass-based
// stage that keeps the tokens llama.cpp's top_p and min_p keep, and draws
// from the distribution its temperature and dist stages give them, in
// O(vocabulary): a pass for the maximum, one of exp, a histogram of the
// weights that brackets top_p's boundary, a sort of the bracket alone,
// and the draw. Two things differ, both below what the arithmetic can
// tell apart: the weights come from a polynomial exp (within 1e-7 of
// expf), and the sums are in double where llama.cpp's are float. What it
// does not reproduce is which token llama.cpp would draw for a given seed:
// its draw walks the kept tokens sorted by logit, this one mostly in token
// order.
// Seeded runs are reproducible all the same.

#include "sampler.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <new>
#include <random>
#include <unordered_map>
#include <vector>

// From llama.h of the pinned binding (its headers live in another module).
extern "C" {
typedef int32_t llama_token;
typedef struct llama_token_data {
	llama_token id;
	float logit;
	float p;
} llama_token_data;
typedef struct llama_token_data_array {
	llama_token_data *data;
	size_t size;
	int64_t selected;
	bool sorted;
} llama_token_data_array;
typedef void *llama_sampler_context_t;
struct llama_sampler;
struct llama_sampler_i {
	const char *(*name)(const struct llama_sampler *smpl);
	void (*accept)(struct llama_sampler *smpl, llama_token token);
	void (*apply)(struct llama_sampler *smpl, llama_token_data_array *cur_p);
	void (*reset)(struct llama_sampler *smpl);
	struct llama_sampler *(*clone)(const struct llama_sampler *smpl);
	void (*free)(struct llama_sampler *smpl);
};
struct llama_sampler {
	const struct llama_sampler_i *iface;
	llama_sampler_context_t ctx;
};
struct llama_sampler_chain_params {
	bool no_perf;
};
struct llama_vocab;

struct llama_sampler_chain_params llama_sampler_chain_default_params(void);
struct llama_sampler *llama_sampler_init(const struct llama_sampler_i *iface, llama_sampler_context_t ctx);
void llama_sampler_accept(struct llama_sampler *smpl, llama_token token);
void llama_sampler_apply(struct llama_sampler *smpl, llama_token_data_array *cur_p);
void llama_sampler_free(struct llama_sampler *smpl);
struct llama_sampler *llama_sampler_chain_init(struct llama_sampler_chain_params params);
void llama_sampler_chain_add(struct llama_sampler *chain, struct llama_sampler *smpl);
struct llama_sampler *llama_sampler_init_dist(uint32_t seed);
struct llama_sampler *llama_sampler_init_top_k(int32_t k);
struct llama_sampler *llama_sampler_init_top_p(float p, size_t min_keep);
struct llama_sampler *llama_sampler_init_min_p(float p, size_t min_keep);
struct llama_sampler *llama_sampler_init_temp_ext(float t, float delta, float exponent);
struct llama_sampler *llama_sampler_init_penalties(int32_t penalty_last_n, float penalty_repeat, float penalty_freq, float penalty_present);
const struct llama_vocab *llama_model_get_vocab(const struct llama_model *model);
struct llama_sampler *llama_sampler_init_grammar(const struct llama_vocab *vocab, const char *grammar_str, const char *grammar_root);
int32_t llama_token_to_piece(const struct llama_vocab *vocab, llama_token token, char *buf, int32_t length, int32_t lstrip, bool special);
bool llama_vocab_is_eog(const struct llama_vocab *vocab, llama_token token);
void llama_sampler_reset(struct llama_sampler *smpl);
int32_t llama_vocab_n_tokens(const struct llama_vocab *vocab);
float *llama_get_logits_ith(struct llama_context *ctx, int32_t i);
}

namespace {

const uint32_t default_seed = 0xFFFFFFFF; // LLAMA_DEFAULT_SEED

uint32_t rng_seed(uint32_t seed) {
	// As llama.cpp's dist stage: the default seed means a random one.
	return seed == default_seed ? std::random_device{}() : seed;
}

// penalties is llama.cpp's repeat penalty (llama_sampler_penalties) with
// frequency and presence penalties at 0, the case sieve uses: each token
// among the last last_n has its logit divided by repeat if positive,
// multiplied if not, once however often it occurred.
struct penalties {
	int32_t last_n;
	float repeat;
	std::vector<int32_t> ring; // the last last_n tokens, oldest at head once full
	size_t head = 0;
	std::unordered_map<int32_t, int> count;

	bool off() const { return last_n <= 0 || repeat == 1.0f; }

	void clear() {
		ring.clear();
		head = 0;
		count.clear();
	}

	void accept(int32_t tok) {
		if (last_n <= 0) return;
		count[tok]++;
		if (ring.size() < (size_t)last_n) {
			ring.push_back(tok);
			return;
		}
		const int32_t old = ring[head];
		if (--count[old] == 0) count.erase(old);
		ring[head] = tok;
		head = (head + 1) % ring.size();
	}

	// apply penalizes logits indexed by token id.
	void apply(float *logits, size_t n) const {
		if (off()) return;
		for (const auto &kv : count) {
			if (kv.first < 0 || (size_t)kv.first >= n) continue;
			float &l = logits[kv.first];
			if (l <= 0) {
				l *= repeat;
			} else {
				l /= repeat;
			}
		}
	}
};

// The stage llama.cpp's chain starts with for top_k > 0. set_logits lays
// the array out by token id, which apply relies on.
const char *penalties_name(const struct llama_sampler *) { return "sieve-penalties"; }

void penalties_accept(struct llama_sampler *smpl, llama_token tok) { ((penalties *)smpl->ctx)->accept(tok); }

void penalties_apply(struct llama_sampler *smpl, llama_token_data_array *cur) {
	const penalties *p = (const penalties *)smpl->ctx;
	if (p->off()) return;
	for (const auto &kv : p->count) {
		if (kv.first < 0 || (size_t)kv.first >= cur->size || cur->data[kv.first].id != kv.first) continue;
		float &l = cur->data[kv.first].logit;
		if (l <= 0) {
			l *= p->repeat;
		} else {
			l /= p->repeat;
		}
	}
	cur->sorted = false;
}

void penalties_free(struct llama_sampler *smpl) { delete (penalties *)smpl->ctx; }

const struct llama_sampler_i penalties_iface = {
	/* .name   = */ penalties_name,
	/* .accept = */ penalties_accept,
	/* .apply  = */ penalties_apply,
	/* .reset  = */ nullptr,
	/* .clone  = */ nullptr,
	/* .free   = */ penalties_free,
};

// Four floats at a time in GCC's and Clang's vector extensions, which
// become SSE2 on baseline x86-64 and NEON on arm64.
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

// exp_neg is e^x for x <= 0 within 1e-7 of it, relatively (a degree-7
// polynomial after range reduction), with results below e^-87 raised to
// e^-87 (~1.6e-38: no weight a sum of 152,064 of them could notice).
inline v4f exp_neg(v4f x) {
	const v4f lo = {-87.0f, -87.0f, -87.0f, -87.0f};
	x = x > lo ? x : lo;
	const v4f k = (x * 1.44269504f + 12582912.0f) - 12582912.0f; // round(x / ln 2)
	const v4f r = (x - k * 0.693145752f) - k * 1.42860677e-6f;   // |r| <= ln 2 / 2
	const v4f p = 1.0f + r * (1.0f + r * (0.5f + r * (1.66666672e-1f + r * (4.16666679e-2f + r * (8.33333377e-3f + r * (1.38888892e-3f + r * 1.98412701e-4f))))));
	return (v4f)((v4i)p + (__builtin_convertvector(k, v4i) << 23)); // times 2^k
}

inline v4f load4(const float *p) {
	v4f v;
	std::memcpy(&v, p, sizeof v);
	return v;
}

inline void store4(float *p, v4f v) { std::memcpy(p, &v, sizeof v); }

// bucket orders weights in (0, 1] by their float bits: the exponent and
// the top four bits of the mantissa, 16 buckets an octave, in the order
// of the weights.
inline int bucket(float w) {
	int32_t bits;
	std::memcpy(&bits, &w, sizeof bits);
	return bits >> 19;
}
const int buckets = 2048;

// tail is top_p, min_p, temperature and the draw, for top_k = 0, over
// logits laid out by token id. The vectors are scratch space kept
// between tokens, padded to a multiple of four.
struct tail {
	float top_p, min_p, temp;
	std::mt19937 rng;
	std::vector<float> l, w, q; // logits, exp(l - max), exp((l - max) / temp)
	std::vector<int32_t> edge;  // the survivors in top_p's boundary bucket
	std::vector<double> mass;   // four histograms of weights
	std::vector<double> blocks; // the draw's weight by block
	static const size_t block = 256;

	// weigh fills w and q for the n logits in l and returns their largest.
	float weigh(size_t n) {
		const size_t n4 = (n + 3) & ~(size_t)3;
		float *lp = l.data();
		for (size_t i = n; i < n4; i++) lp[i] = -INFINITY; // weight e^-87, never kept
		v4f mv = load4(lp);
		for (size_t i = 4; i < n4; i += 4) {
			const v4f x = load4(lp + i);
			mv = x > mv ? x : mv;
		}
		const float m = std::max(std::max(mv[0], mv[1]), std::max(mv[2], mv[3]));
		w.resize(n4);
		q.resize(n4);
		const float inv = temp > 0 ? 1.0f / temp : 1.0f;
		for (size_t i = 0; i < n4; i += 4) {
			const v4f d = load4(lp + i) - m;
			store4(w.data() + i, exp_neg(d));
			store4(q.data() + i, exp_neg(d * inv));
		}
		return m;
	}

	// cut is the least likely token kept: token i is kept when its logit
	// is above logit, or equal to it and i <= id.
	struct cut {
		float logit;
		int32_t id;
		// A -inf logit (banned, or refused by a grammar) is never kept,
		// even where the cut keeps everything.
		bool keeps(const float *lp, size_t i) const {
			return lp[i] != -INFINITY && (lp[i] > logit || (lp[i] == logit && (int32_t)i <= id));
		}
	};

	// select returns the cut of llama.cpp's top_p then min_p stages:
	// top_p keeps the shortest run of most likely tokens whose
	// probability reaches top_p, min_p those at least min_p times as
	// likely as the most likely one. Both keep a run of the most likely
	// tokens, so together they keep the shorter run, and one cut says
	// what is kept. m is the largest logit.
	cut select(size_t n, float m) {
		const float *lp = l.data(), *wp = w.data();
		// min_p compares logits, as llama.cpp does; id n keeps all ties.
		const float floor = min_p > 0 ? m + logf(min_p) : -INFINITY;
		const cut all = {floor, (int32_t)n};
		if (top_p >= 1.0f) return all;
		// top_p's normalizer is the whole vocabulary's weight. Its
		// boundary among min_p's survivors is bracketed by a histogram of
		// their weights: four, one a lane, so that no addition waits on
		// the one before. No branch on the floor: about half the tokens
		// of a flat distribution pass it, unpredictably.
		mass.assign(4 * buckets, 0.0);
		double *h0 = mass.data(), *h1 = h0 + buckets, *h2 = h1 + buckets, *h3 = h2 + buckets;
		const size_t n4 = (n + 3) & ~(size_t)3; // the padding: w = e^-87, l = -inf
		const v4f fl = {floor, floor, floor, floor};
		v4f part = {0, 0, 0, 0};
		double total = 0;
		for (size_t i = 0; i < n4; i += 4) {
			const v4f wv = load4(wp + i);
			const v4f in = (v4f)((v4i)wv & (v4i)(load4(lp + i) >= fl));
			h0[bucket(wv[0])] += in[0];
			h1[bucket(wv[1])] += in[1];
			h2[bucket(wv[2])] += in[2];
			h3[bucket(wv[3])] += in[3];
			part += wv;
			if (i % 1024 == 1020) { // to double now and then, for precision
				total += ((double)part[0] + part[1]) + ((double)part[2] + part[3]);
				part = v4f{0, 0, 0, 0};
			}
		}
		total += ((double)part[0] + part[1]) + ((double)part[2] + part[3]);
		const double need = (double)top_p * total;
		double acc = 0;
		int at = buckets - 1;
		for (; at >= 0; at--) {
			const double b = (h0[at] + h1[at]) + (h2[at] + h3[at]);
			if (acc + b >= need) break;
			acc += b;
		}
		if (at < 0) return all; // min_p's survivors do not reach top_p
		// In the boundary's bucket, most likely first until the weight is
		// reached; ties go by token id.
		edge.clear();
		for (size_t i = 0; i < n; i++) {
			if (bucket(wp[i]) == at && lp[i] >= floor) edge.push_back((int32_t)i);
		}
		std::sort(edge.begin(), edge.end(), [lp](int32_t a, int32_t b) { return lp[a] > lp[b] || (lp[a] == lp[b] && a < b); });
		size_t j = 0;
		while (j + 1 < edge.size() && acc + wp[edge[j]] < need) acc += wp[edge[j++]];
		return {lp[edge[j]], edge[j]};
	}

	// sample draws a token from the n logits in l.
	int32_t sample(size_t n) {
		const float m = weigh(n);
		if (temp <= 0.0f) {
			// Greedy: llama.cpp's temperature stage keeps only the top.
			size_t best = 0;
			while (l[best] != m) best++;
			return (int32_t)best;
		}
		const cut c = select(n, m);
		// llama.cpp divides the kept logits by the temperature and draws
		// from their softmax: the weights q, over what the cut keeps. The
		// sum goes by blocks, so the draw finds its block first and then
		// walks that block alone.
		const float *lp = l.data(), *qp = q.data();
		const size_t n4 = (n + 3) & ~(size_t)3;
		const v4f at = {c.logit, c.logit, c.logit, c.logit};
		blocks.resize((n4 + block - 1) / block);
		double total = 0;
		for (size_t b = 0; b < blocks.size(); b++) {
			v4f part = {0, 0, 0, 0};
			const size_t end = std::min(n4, (b + 1) * block);
			for (size_t i = b * block; i < end; i += 4) {
				part += (v4f)((v4i)load4(qp + i) & (v4i)(load4(lp + i) > at)); // padding: l = -inf
			}
			double sum = ((double)part[0] + part[1]) + ((double)part[2] + part[3]);
			for (size_t i = b * block; i < std::min(n, end); i++) {
				if (lp[i] == c.logit && (int32_t)i <= c.id) sum += qp[i]; // ties at the cut
			}
			blocks[b] = sum;
			total += sum;
		}
		const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng) * total;
		double acc = 0;
		int32_t last = -1;
		for (size_t b = 0; b < blocks.size(); b++) {
			if (blocks[b] == 0) continue;
			if (acc + blocks[b] <= u && b + 1 < blocks.size()) {
				acc += blocks[b];
				continue;
			}
			for (size_t i = b * block; i < std::min(n, (b + 1) * block); i++) {
				if (!c.keeps(lp, i)) continue;
				acc += qp[i];
				last = (int32_t)i;
				if (u < acc) return last;
			}
		}
		return last; // rounding left u past the end
	}
};

// utf8 follows the bytes of a text as UTF-8 (RFC 3629: no overlong
// forms, no surrogates, nothing past U+10FFFF): need is how many
// continuation bytes the last character still owes, lo..hi the range the
// next one must be in.
struct utf8 {
	int need = 0;
	uint8_t lo = 0x80, hi = 0xBF;

	// step takes byte b; false if the text is no longer UTF-8.
	bool step(uint8_t b) {
		if (need > 0) {
			if (b < lo || b > hi) return false;
			need--;
			lo = 0x80;
			hi = 0xBF;
			return true;
		}
		if (b < 0x80) return true;
		if (b < 0xC2 || b > 0xF4) return false;
		need = b < 0xE0 ? 1 : b < 0xF0 ? 2 : 3;
		lo = b == 0xE0 ? 0xA0 : b == 0xF0 ? 0x90 : 0x80;
		hi = b == 0xED ? 0x9F : b == 0xF4 ? 0x8F : 0xBF;
		return true;
	}

	// takes reports whether the text stays UTF-8 with piece after it.
	bool takes(const char *piece, int32_t n) const {
		utf8 u = *this;
		for (int32_t i = 0; i < n; i++) {
			if (!u.step((uint8_t)piece[i])) return false;
		}
		return true;
	}
};

} // namespace

struct sieve_sampler {
	int32_t n_vocab;
	penalties *pen;   // owned by chain when there is one
	struct llama_sampler *chain; // top_k > 0: llama.cpp's chain
	std::vector<llama_token_data> cur;
	tail *t; // top_k = 0
	// grammar, when the request has one, is llama.cpp's grammar stage,
	// kept out of the chain: as llama.cpp's common_sampler does, the
	// token the chain picks is checked alone, and only when the grammar
	// refuses it is the grammar applied to the whole vocabulary and the
	// token drawn again, so a model that mostly follows the grammar pays
	// for one check a token.
	struct llama_sampler *grammar;
	std::vector<llama_token_data> all; // the vocabulary, for the grammar's second draw
	// With a grammar the text must also stay UTF-8: llama.cpp's grammar
	// lets a token of stray bytes through inside a string, and the
	// released text shows each as U+FFFD, which the schema did not
	// allow for (a maxLength, an enum).
	const struct llama_vocab *vocab;
	utf8 text;
	char piece[256];
	std::vector<float> masked; // the chain's logits under the mask
	std::vector<int32_t> order;  // token ids, for narrow's selection
	size_t pool = 0;             // how many of the likeliest tokens narrow tries

	// narrow sets every logit but those of the allowed tokens among the
	// pool likeliest to -inf, and reports whether any is allowed. The
	// draw that follows then picks among the model's own likeliest tokens
	// that the grammar allows. That is not always what grammar-first
	// sampling would draw from (which takes the top_k likeliest allowed
	// tokens from the whole vocabulary, and applies top_p and min_p to
	// the allowed ones alone): where fewer than top_k allowed tokens are
	// in the pool it draws from fewer, and at top_k 0 the pool bounds
	// what top_p keeps. A model that strays from the grammar costs a check
	// of the pool instead of the whole vocabulary.
	bool narrow(float *l, size_t n) {
		if (pool >= n) return false;
		order.resize(n);
		for (size_t i = 0; i < n; i++) order[i] = (int32_t)i;
		std::nth_element(order.begin(), order.begin() + pool, order.end(),
			[l](int32_t a, int32_t b) { return l[a] > l[b] || (l[a] == l[b] && a < b); });
		all.resize(pool);
		size_t m = 0;
		for (size_t i = 0; i < pool; i++) {
			const int32_t id = order[i];
			if (l[id] != -INFINITY && fits(id)) all[m++] = llama_token_data{id, l[id], 0.0f};
		}
		if (m == 0) return false;
		llama_token_data_array arr = {all.data(), m, -1, false};
		llama_sampler_apply(grammar, &arr);
		bool any = false;
		for (size_t i = 0; i < m && !any; i++) any = all[i].logit != -INFINITY;
		if (!any) return false;
		for (size_t i = 0; i < n; i++) l[i] = -INFINITY;
		for (size_t i = 0; i < m; i++) l[all[i].id] = all[i].logit;
		return true;
	}

	// fits reports whether tok keeps the text UTF-8: an end token only
	// between characters.
	bool fits(int32_t tok) {
		if (llama_vocab_is_eog(vocab, tok)) return text.need == 0;
		const int32_t n = llama_token_to_piece(vocab, tok, piece, sizeof piece, 0, false);
		return n >= 0 && text.takes(piece, n); // longer than the buffer: not JSON text anyway
	}

	void took(int32_t tok) {
		if (llama_vocab_is_eog(vocab, tok)) return;
		const int32_t n = llama_token_to_piece(vocab, tok, piece, sizeof piece, 0, false);
		for (int32_t i = 0; i < n; i++) text.step((uint8_t)piece[i]);
	}

	~sieve_sampler() {
		if (chain) {
			llama_sampler_free(chain);
		} else {
			delete pen;
		}
		if (grammar) llama_sampler_free(grammar);
		delete t;
	}

	// allows reports whether the grammar lets tok come next.
	bool allows(int32_t tok) {
		if (!fits(tok)) return false;
		llama_token_data one{tok, 1.0f, 0.0f};
		llama_token_data_array arr = {&one, 1, -1, false};
		llama_sampler_apply(grammar, &arr);
		return one.logit != -INFINITY;
	}

	// mask sets l[i] to -inf for every token the grammar does not allow
	// next, and reports whether any is left.
	bool mask(float *l, size_t n) {
		all.resize(n);
		size_t m = 0;
		for (size_t i = 0; i < n; i++) {
			if (l[i] == -INFINITY) continue;
			if (!fits((int32_t)i)) {
				l[i] = -INFINITY;
				continue;
			}
			all[m++] = llama_token_data{(llama_token)i, l[i], 0.0f};
		}
		llama_token_data_array arr = {all.data(), m, -1, false};
		llama_sampler_apply(grammar, &arr);
		bool any = false;
		for (size_t i = 0; i < m; i++) {
			l[all[i].id] = all[i].logit;
			any = any || all[i].logit != -INFINITY;
		}
		return any;
	}
};

extern "C" struct sieve_sampler *sieve_sampler_new(const struct llama_model *model, struct sieve_sampling p) {
	sieve_sampler *s = new (std::nothrow) sieve_sampler{};
	if (!s) return nullptr;
	try {
		s->n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
		if (p.top_k > 0 || p.common) {
			s->cur.resize(s->n_vocab);
			s->chain = llama_sampler_chain_init(llama_sampler_chain_default_params());
			if (p.common) {
				llama_sampler_chain_add(s->chain, llama_sampler_init_penalties(p.last_n, p.repeat, 0.0f, 0.0f));
			} else {
				s->pen = new penalties{p.last_n, p.repeat};
				llama_sampler_chain_add(s->chain, llama_sampler_init(&penalties_iface, s->pen));
			}
			llama_sampler_chain_add(s->chain, llama_sampler_init_top_k(p.top_k));
			llama_sampler_chain_add(s->chain, llama_sampler_init_top_p(p.top_p, 0));
			llama_sampler_chain_add(s->chain, llama_sampler_init_min_p(p.min_p, 0));
			llama_sampler_chain_add(s->chain, llama_sampler_init_temp_ext(p.temp, 0.0f, 1.0f));
			llama_sampler_chain_add(s->chain, llama_sampler_init_dist(p.seed));
		} else {
			s->pen = new penalties{p.last_n, p.repeat};
			s->t = new tail{p.top_p, p.min_p, p.temp, std::mt19937(rng_seed(p.seed)), {}, {}, {}, {}, {}, {}};
		}
		if (p.grammar && p.grammar[0]) {
			s->vocab = llama_model_get_vocab(model);
			s->pool = (size_t)std::max(p.top_k, 64) + (size_t)std::max(p.last_n, 0);
			s->grammar = llama_sampler_init_grammar(s->vocab, p.grammar, "root");
			if (!s->grammar) {
				delete s;
				return nullptr;
			}
		}
	} catch (...) {
		delete s;
		return nullptr;
	}
	return s;
}

// draw samples from logits with the bans (and, with masked, the grammar's
// mask) applied.
static int32_t draw(struct sieve_sampler *s, const float *logits, const int32_t *banned, size_t nb, bool masked) {
	const size_t n = (size_t)s->n_vocab;
	if (s->t) {
		tail *t = s->t;
		t->l.resize((n + 3) & ~(size_t)3);
		std::memcpy(t->l.data(), logits, n * sizeof(float));
		for (size_t i = 0; i < nb; i++) {
			if (banned[i] >= 0 && (size_t)banned[i] < n) t->l[banned[i]] = -INFINITY;
		}
		if (masked && !s->narrow(t->l.data(), n) && !s->mask(t->l.data(), n)) return -2;
		s->pen->apply(t->l.data(), n);
		return t->sample(n);
	}
	for (size_t i = 0; i < n; i++) {
		s->cur[i] = llama_token_data{(llama_token)i, logits[i], 0.0f};
	}
	for (size_t i = 0; i < nb; i++) {
		if (banned[i] >= 0 && (size_t)banned[i] < n) s->cur[banned[i]].logit = -INFINITY;
	}
	if (masked) {
		std::vector<float> &l = s->masked;
		l.resize(n);
		for (size_t i = 0; i < n; i++) l[i] = s->cur[i].logit;
		if (!s->narrow(l.data(), n) && !s->mask(l.data(), n)) return -2;
		for (size_t i = 0; i < n; i++) s->cur[i].logit = l[i];
	}
	llama_token_data_array arr = {s->cur.data(), n, -1, false};
	llama_sampler_apply(s->chain, &arr);
	if (arr.selected < 0 || (size_t)arr.selected >= arr.size) return -1;
	return arr.data[arr.selected].id;
}

extern "C" int32_t sieve_sampler_sample(struct sieve_sampler *s, struct llama_context *ctx, int32_t idx, const int32_t *banned, size_t nb) {
	const float *logits = llama_get_logits_ith(ctx, idx);
	if (!logits) return -1;
	try {
		int32_t tok = draw(s, logits, banned, nb, false);
		if (!s->grammar || tok < 0 || s->allows(tok)) return tok;
		return draw(s, logits, banned, nb, true);
	} catch (...) {
		return -3; // out of memory, or the grammar failed on a piece
	}
}

extern "C" bool sieve_sampler_accept(struct sieve_sampler *s, int32_t token) {
	try {
		if (s->chain) {
			llama_sampler_accept(s->chain, token);
		} else {
			s->pen->accept(token);
		}
		if (s->grammar) {
			llama_sampler_accept(s->grammar, token);
			s->took(token);
		}
	} catch (...) {
		return false;
	}
	return true;
}

extern "C" bool sieve_sampler_replay(struct sieve_sampler *s, const int32_t *tokens, size_t n) {
	if (!s->grammar) return true;
	try {
		llama_sampler_reset(s->grammar);
		s->text = utf8{};
		for (size_t i = 0; i < n; i++) {
			llama_sampler_accept(s->grammar, tokens[i]);
			s->took(tokens[i]);
		}
	} catch (...) {
		return false;
	}
	return true;
}

extern "C" void sieve_sampler_history(struct sieve_sampler *s, const int32_t *tokens, size_t n) {
	if (!s->pen) return; // llama.cpp's own penalty (common mode): tests only
	s->pen->clear();
	try {
		for (size_t i = 0; i < n; i++) s->pen->accept(tokens[i]);
	} catch (...) {
		s->pen->clear(); // out of memory: the penalty forgets rather than unwind into Go
	}
}

extern "C" void sieve_sampler_free(struct sieve_sampler *s) { delete s; }

// sieve_kept_ids writes the ids of the tokens the top_k = 0 stage keeps
// for these logits (sieve's selection, or with llama set, llama.cpp's own
// top_p and min_p stages), and returns how many. For the tests.
extern "C" size_t sieve_kept_ids(const float *logits, size_t n, float top_p, float min_p, bool llama, int32_t *out) {
	if (llama) {
		std::vector<llama_token_data> d(n);
		for (size_t i = 0; i < n; i++) d[i] = llama_token_data{(llama_token)i, logits[i], 0.0f};
		llama_token_data_array arr = {d.data(), n, -1, false};
		struct llama_sampler *tp = llama_sampler_init_top_p(top_p, 0), *mp = llama_sampler_init_min_p(min_p, 0);
		llama_sampler_apply(tp, &arr);
		llama_sampler_apply(mp, &arr);
		llama_sampler_free(tp);
		llama_sampler_free(mp);
		for (size_t i = 0; i < arr.size; i++) out[i] = arr.data[i].id;
		return arr.size;
	}
	tail t{top_p, min_p, 1.0f, std::mt19937(1), {}, {}, {}, {}, {}, {}};
	t.l.resize((n + 3) & ~(size_t)3);
	std::memcpy(t.l.data(), logits, n * sizeof(float));
	const tail::cut c = t.select(n, t.weigh(n));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (c.keeps(t.l.data(), i)) out[k++] = (int32_t)i;
	}
	return k;
}

// sieve_logprobs returns the log probability of tok at output idx of the
// last decode (log-softmax of the raw logits: before penalties,
// temperature, truncation or a grammar), and writes the top likeliest
// tokens and theirs, likeliest first, into ids and lps. NAN when ctx has
// no logits there.
extern "C" float sieve_logprobs(struct llama_context *ctx, int32_t idx, int32_t n_vocab, int32_t tok, int32_t top, int32_t *ids, float *lps) {
	const float *l = llama_get_logits_ith(ctx, idx);
	if (!l || n_vocab <= 0) return NAN;
	const size_t n = (size_t)n_vocab;
	float mx = l[0];
	for (size_t i = 1; i < n; i++) mx = std::max(mx, l[i]);
	double sum = 0;
	for (size_t i = 0; i < n; i++) sum += std::exp((double)(l[i] - mx));
	const float lse = mx + (float)std::log(sum);
	if (top > 0) {
		try {
			const size_t k = std::min((size_t)top, n);
			std::vector<int32_t> order(n);
			for (size_t i = 0; i < n; i++) order[i] = (int32_t)i;
			std::partial_sort(order.begin(), order.begin() + k, order.end(),
				[l](int32_t a, int32_t b) { return l[a] > l[b] || (l[a] == l[b] && a < b); });
			for (size_t i = 0; i < k; i++) {
				ids[i] = order[i];
				lps[i] = l[order[i]] - lse;
			}
		} catch (...) {
			return NAN; // out of memory: not into Go
		}
	}
	return l[tok] - lse;
}
