// LoRA adapters (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models") on the
// linear maps of a Llama-family model: y = W x + s · B (A (dropout(x))), s = alpha / r, or
// alpha / sqrt(r) with rsLoRA (Kalajdzievski 2023). A is Kaiming-uniform as in PEFT
// (bound 1/sqrt(in)), B starts at zero, so a fresh adapter leaves the model unchanged.
//
// The same struct holds an adapter's parameters or their gradients (same shapes).
#ifndef AGIR_MODELS_LORA_H
#define AGIR_MODELS_LORA_H

#include <stddef.h>

#include "core/error.h"
#include "core/rng.h"
#include "kernels/ops.h"

typedef enum agir_lora_target {
    AGIR_LORA_Q,  // (H·D, C)      attention query
    AGIR_LORA_K,  // (KVH·D, C)
    AGIR_LORA_V,  // (KVH·D, C)
    AGIR_LORA_O,  // (C, H·D)      attention output
    AGIR_LORA_GATE,  // (F, C)
    AGIR_LORA_UP,    // (F, C)
    AGIR_LORA_DOWN,  // (C, F)
    AGIR_LORA_NTARGET,
} agir_lora_target;

// Short names "q", "k", "v", "o", "gate", "up", "down" (as in the adapter's config).
const char *agir_lora_target_name(agir_lora_target t);
// Parses a comma-separated list of short names into a bit set (1 << target); `what` names the
// setting in the one-line error.
int agir_lora_parse_targets(const char *list, const char *what, unsigned *bits, agir_err *e);

typedef struct agir_lora_cfg {
    int rank;
    float alpha;
    float dropout;  // in [0, 1)
    int rslora;     // scale alpha / sqrt(rank) instead of alpha / rank
    unsigned targets;  // bit set over agir_lora_target
} agir_lora_cfg;

typedef struct agir_lora_mat {
    float *A;  // (r, in), NULL when the target is not adapted
    float *B;  // (out, r)
    int in, out;
} agir_lora_mat;

typedef struct agir_lora {
    agir_lora_cfg cfg;
    float scale;
    int n_layer;
    agir_lora_mat *m;  // [n_layer · AGIR_LORA_NTARGET]
    float *mem;        // every A and B, contiguous (for the optimizer and all-reduce)
    size_t n_params;
} agir_lora;

// dims[t] = {in, out} of target t's base matrix. Zero-filled on success.
int agir_lora_alloc(agir_lora *l, const agir_lora_cfg *cfg, int n_layer, const int dims[AGIR_LORA_NTARGET][2],
                    agir_err *e);
void agir_lora_free(agir_lora *l);
static inline agir_lora_mat *agir_lora_at(const agir_lora *l, int layer, agir_lora_target t) {
    return &l->m[layer * AGIR_LORA_NTARGET + t];
}
// A ~ U(-1/sqrt(in), 1/sqrt(in)) from a child stream per matrix; B = 0.
void agir_lora_init(agir_lora *l, const agir_rng *rng);

// Per adapted matrix, on the model's context in its activation dtype: h: (N, r) s · A u, saved by
// the forward pass for the backward one; u: (N, in) where the forward puts the dropped-out input
// (unused when dropout is 0). The backward makes u again from the same stream, so u is scratch that
// every adapted matrix may share.
typedef struct agir_lora_act {
    void *u, *h;
} agir_lora_act;

// One adapted matrix as the ops see it on a context: A: (r, in) and B: (out, r) compute copies in
// wdt; gA, gB: their fp32 gradients (backward only).
typedef struct agir_lora_view {
    const void *A, *B;
    float *gA, *gB;
    agir_ftype wdt;
    int in, out;
} agir_lora_view;

// y += s · B A dropout(x) on context c. x: (N, in)  y: (N, out) act. rng: the dropout stream of this
// matrix and step; each row draws from its own child stream, so masks do not depend on the thread
// count and backward regenerates them. NULL rng: no dropout (inference, the adapter's expected output).
int agir_lora_fwd(const agir_ctx *c, const agir_lora *l, const agir_lora_view *v, agir_lora_act *a, void *y,
                  const void *x, int N, const agir_rng *rng, agir_err *e);
// gA, gB accumulate; dx += (input gradient). dh: (N, r) and du: (N, in) act scratch (du may be a->u).
int agir_lora_bwd(const agir_ctx *c, const agir_lora *l, const agir_lora_view *v, const agir_lora_act *a, void *dx,
                  const void *dy, const void *x, int N, const agir_rng *rng, void *dh, void *du, agir_err *e);

#endif
