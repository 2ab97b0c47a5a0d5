// Incremental (KV-cached) forward pass of the Llama-family model for generation.
//
// Each of B sequences owns a slice of the cache and a length. One step appends n[b] new tokens to
// every sequence b (0 allowed), runs the whole model on the Σ n[b] new tokens at once (one matrix
// product per weight for all rows, so prefill and decode share one code path), stores their keys
// and values, and returns the logits of each sequence's last new token. RoPE uses absolute
// positions len[b] + i, so logits equal those of the full forward (models/llama.h) on the whole
// sequence. A LoRA adapter is applied unmerged through agir_lora_fwd with dropout off, so one base
// model serves several adapters and the numbers match training's forward.
//
// Shapes: L layers, KVH key/value heads, D head size, T_max positions per sequence.
#ifndef AGIR_INFER_KV_CACHE_H
#define AGIR_INFER_KV_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "models/llama.h"
#include "models/lora.h"

typedef struct agir_kv_cache {
    int L, B, KVH, T_max, D;
    int *len;      // (B) positions filled per sequence
    int32_t *tok;  // (B, T_max) the token at each filled position (to find a reusable prefix)
    int32_t *seg;  // (T_max) zeros: each sequence's slice is one segment for the attention mask
    float *k, *v;  // (L, B, T_max, KVH, D) float32, k after RoPE
} agir_kv_cache;

typedef struct agir_infer {
    const agir_llama *m;
    agir_lora lora;  // a shallow copy of the adapter with dropout 0; n_layer 0 when none
    int has_lora;
    agir_kv_cache kv;
    int cap;  // rows the scratch below holds (grown on demand)
    // scratch for cap new tokens: N rows
    int32_t *pos;               // (N)
    int *row_seq;               // (N) sequence of each row
    float *x, *ln;              // (N, C)
    float *q, *ao;              // (N, H·D)
    float *k, *v;               // (N, KVH·D)
    float *gate, *up;           // (N, F)
    float *rstd;                // (N)
    float *cos_t, *sin_t;       // (N, D/2)
    float *lora_h;              // (N, r)
    float *att;                 // (min(N, 128), H, T_max) attention probabilities of one call
    float *last, *last_ln;      // (B, C) final rows of each sequence
    float *mem;
} agir_infer;

// Bytes of a cache of B sequences of T_max positions (for messages and docs).
size_t agir_kv_cache_bytes(const agir_llama_config *c, int B, int T_max);

// lora may be NULL. The model and adapter must outlive s.
int agir_infer_init(agir_infer *s, const agir_llama *m, const agir_lora *lora, int B, int T_max, agir_err *e);
void agir_infer_free(agir_infer *s);
// Keeps the first len positions of sequence b (0 empties it), e.g. to reuse a shared prompt prefix.
void agir_infer_truncate(agir_infer *s, int b, int len);

// tokens: the new tokens of sequence 0, then of sequence 1, ... (Σ n[b] in all). n: (B).
// logits: (B, V); row b receives, when n[b] > 0, the next-token logits after its last new token
// (rows of sequences with n[b] = 0 may be overwritten).
// Refuses ids outside the vocabulary, sequences that would pass T_max and more than 2^24 new tokens.
int agir_infer_step(agir_infer *s, const int32_t *tokens, const int *n, float *logits, agir_err *e);

#endif
