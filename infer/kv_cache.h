// Incremental (KV-cached) forward pass of the Llama-family model for generation.
//
// Each of B sequences owns a slice of the cache and a length. One step appends n[b] new tokens to
// every sequence b (0 allowed), runs the whole model on the Σ n[b] new tokens at once (one matrix
// product per weight for all rows, so prefill and decode share one code path), stores their keys
// and values, and returns the logits of each sequence's last new token. RoPE uses absolute
// positions len[b] + i, so logits equal those of the full forward (models/llama.h) on the whole
// sequence. A LoRA adapter is applied unmerged through agir_lora_fwd with dropout off, so one base
// model serves several adapters and the numbers match training's forward. The cache and the scratch
// live on the context the weights were placed on (models/llama.h), so the same code runs on the CPU
// and on CUDA.
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
    int *len;      // (B) positions filled per sequence (host)
    int32_t *tok;  // (B, T_max) the token at each filled position, to find a reusable prefix (host)
    int32_t *seg;  // (T_max) zeros on the device: each sequence's slice is one attention segment
    void *k, *v;   // (L, B, T_max, KVH, D) on the device, activation dtype, k after RoPE
} agir_kv_cache;

typedef struct agir_infer {
    const agir_llama *m;
    const agir_llama_weights *w;  // the model on its context
    agir_llama_weights own_w;     // what agir_infer_init places (a CPU context, fp32)
    agir_ctx own_ctx;
    agir_kv_cache kv;
    int cap;  // rows the scratch below holds (grown on demand)
    // host scratch for cap new tokens: N rows
    int32_t *pos;     // (N)
    int *row_seq;     // (N) sequence of each row
    float *tab;       // (2, N, D/2) RoPE cos and sin tables
    // device scratch: activation dtype unless noted
    int32_t *ids;          // (N) the new tokens
    void *x, *ln;          // (N, C)
    void *q, *ao;          // (N, H·D)
    void *k, *v;           // (N, KVH·D)
    void *gate, *up;       // (N, F)
    float *rstd;           // (N) f32
    float *cos_t, *sin_t;  // (N, D/2) f32
    void *lora_h;          // (N, r)
    float *att;            // attention's saved rows for min(N, 128) queries against T_max keys, f32
    void *last, *last_ln;  // (B, C) final rows of each sequence
    void *logits;          // (B, V)
    void *mem;
} agir_infer;

// Bytes of a cache of B sequences of T_max positions in float32 (for messages and docs).
size_t agir_kv_cache_bytes(const agir_llama_config *c, int B, int T_max);

// On the weights' context; w->lora, if any, is applied without dropout (its expected output). w must outlive s.
int agir_infer_open(agir_infer *s, const agir_llama_weights *w, int B, int T_max, agir_err *e);
// On the CPU with the host's fp32 weights; lora may be NULL. The model and adapter must outlive s.
int agir_infer_init(agir_infer *s, const agir_llama *m, const agir_lora *lora, int B, int T_max, agir_err *e);
void agir_infer_free(agir_infer *s);
// Keeps the first len positions of sequence b (0 empties it), e.g. to reuse a shared prompt prefix.
void agir_infer_truncate(agir_infer *s, int b, int len);

// tokens: the new tokens of sequence 0, then of sequence 1, ... (Σ n[b] in all), host. n: (B).
// logits: (B, V) f32 host; row b receives, when n[b] > 0, the next-token logits after its last new
// token (rows of sequences with n[b] = 0 may be overwritten).
// Refuses ids outside the vocabulary, sequences that would pass T_max and more than 2^24 new tokens.
int agir_infer_step(agir_infer *s, const int32_t *tokens, const int *n, float *logits, agir_err *e);

#endif
