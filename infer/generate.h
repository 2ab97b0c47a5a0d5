// Generation over a KV cache: prefill a batch of prompts of different lengths, then one token per
// step for every unfinished sequence, until a stop token, a caller's stop test (e.g. a stop
// string), or the token limit.
//
// Prompts are full token sequences. Whatever part of a prompt the cache already holds for that
// sequence (the longest common prefix, e.g. the earlier turns of a chat) is reused, not recomputed.
#ifndef AGIR_INFER_GENERATE_H
#define AGIR_INFER_GENERATE_H

#include <stdint.h>

#include "core/error.h"
#include "infer/kv_cache.h"
#include "infer/sample.h"
#include "models/chat_template.h"
#include "models/tokenizer.h"

enum agir_gen_stop {
    AGIR_GEN_STOP_TOKEN = 1,  // a stop token was drawn (it is not part of the output)
    AGIR_GEN_STOP_TEST,       // the caller's on_token said stop
    AGIR_GEN_MAX_TOKENS,      // max_new tokens were generated
    AGIR_GEN_CONTEXT,         // the cache is full
};

// Work done by one agir_generate call: tokens fed through the model and wall time, for the
// prefill (prompts beyond their reused prefix) and the decode steps.
typedef struct agir_gen_stats {
    long long prefill_tokens, decode_tokens;
    double prefill_s, decode_s;
} agir_gen_stats;

typedef struct agir_gen_cfg {
    int max_new;             // tokens to generate per sequence, ≥ 0
    agir_sample_cfg sample;
    const uint64_t *seed;    // (B) sequence b draws from the Philox stream (seed[b], 0); NULL: all 0
    const int32_t *stop;     // (n_stop) token ids that end a sequence
    int n_stop;
    int prefill_chunk;       // at most this many prompt tokens per step (0: 256), bounds scratch memory
    // Called after each token appended to sequence b (ids: its n generated tokens so far); a
    // nonzero return ends the sequence. May be NULL.
    int (*on_token)(void *ctx, int b, const int32_t *ids, int n);
    void *ctx;
    agir_gen_stats *stats;  // filled when not NULL
    // Called after each prefill step with the prompt tokens fed so far and the total to feed (all
    // sequences together), e.g. for a progress bar on long prompts. May be NULL.
    void (*on_prefill)(void *ctx, long long done, long long total);
    void *prefill_ctx;
    // agir_generate_text only: called with each piece of the output text as soon as it is final,
    // so a caller can stream it. Pieces never end inside a UTF-8 character nor in text that may
    // still become a stop string; they concatenate to the text returned. May be NULL.
    void (*on_text)(void *ctx, const char *text, size_t n);
    void *text_ctx;
} agir_gen_cfg;

typedef struct agir_gen_seq {
    int32_t *ids;  // (n) generated tokens, stop token excluded
    int n;
    int stop;      // enum agir_gen_stop
} agir_gen_seq;

// prompts[b]: (plen[b]) tokens for each of the cache's B sequences; plen[b] = 0 leaves sequence b
// idle (no output). out: (B), freed with agir_gen_seq_free.
int agir_generate(agir_infer *s, const int32_t *const *prompts, const int *plen, const agir_gen_cfg *c,
                  agir_gen_seq *out, agir_err *e);
void agir_gen_seq_free(agir_gen_seq *q, int B);

// Stop tokens of a model: its eos and the template's end-of-turn token when the tokenizer has it
// (duplicates dropped). out: room for 2; returns the count.
int agir_gen_stop_ids(const agir_tok *tok, int32_t eos, const agir_chat_template *tp, int32_t out[2]);

// One prompt in, text out, on sequence 0 of s (others idle): generates from the encoded prompt
// (plen tokens) and decodes every generated token (special ones such as motion tokens included;
// the stop token is not part of the output). Generation also stops when the text contains one
// of stop_str[0..n_stop_str), which is cut from the output with what follows it. The text is
// always valid UTF-8: a character left incomplete by the token limit is dropped, and bytes that
// cannot start a character become U+FFFD. seq (may be NULL) receives the generated ids and the
// stop reason.
int agir_generate_text(agir_infer *s, const agir_tok *tok, const int32_t *prompt, int plen, const agir_gen_cfg *c,
                       const char *const *stop_str, int n_stop_str, char **out, agir_gen_seq *seq, agir_err *e);

#endif
