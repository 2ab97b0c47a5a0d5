// Llama-family decoder (Llama 2/3, SmolLM2, Qwen2) on the CPU in float32, llm.c style: one weights
// struct, one activation arena sized for (B, T), forward, fused loss, backward.
//
// Training is LoRA-only: base weights stay frozen and get no gradients. The vocabulary rows
// [v0, vocab) — new tokens appended to the base vocabulary — are trainable tensors of their own
// (new_embed and, when the output matrix is untied, new_head; tied models use new_embed for both).
// In memory they are the tail of the full (vocab, C) embedding / output matrices, so one matrix
// product covers old and new rows.
//
// Shapes: N = B·T tokens, C = dim, H = n_head, KVH = n_kv_head, D = head_dim, F = ffn, V = vocab.
#ifndef AGIR_MODELS_LLAMA_H
#define AGIR_MODELS_LLAMA_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/rng.h"
#include "kernels/cpu/llm_ops.h"
#include "models/lora.h"

typedef struct agir_llama_config {
    int vocab;  // rows of the embedding, new token rows included
    int dim, ffn, n_layer, n_head, n_kv_head, head_dim;
    float eps;
    agir_rope_cfg rope;
    int tied;      // output matrix = embedding
    int qkv_bias;  // Qwen2 / attention_bias
} agir_llama_config;

// Reads HF config.json (hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
// num_key_value_heads, head_dim, rms_norm_eps, rope_theta, rope_scaling {rope_type llama3, ...},
// tie_word_embeddings, vocab_size, attention_bias; model_type qwen2 implies qkv bias). `name` is
// used in messages. (models/hf_config.c)
int agir_hf_config_parse(const char *json, size_t len, const char *name, agir_llama_config *c, agir_err *e);
int agir_hf_config_load(const char *path, agir_llama_config *c, agir_err *e);

typedef struct agir_llama_layer {
    float *attn_norm;  // (C)
    // indexed by agir_lora_target: q (H·D, C), k and v (KVH·D, C), o (C, H·D), gate and up (F, C),
    // down (C, F)
    float *w[AGIR_LORA_NTARGET];
    float *bq, *bk, *bv;  // (H·D), (KVH·D), (KVH·D); NULL without qkv bias
    float *mlp_norm;      // (C)
} agir_llama_layer;

// The tensors of one layer in storage order, which the CPU weights (llama.c) and their device copy
// (llama_dev.c) both follow.
typedef enum agir_llama_tensor {
    AGIR_LLAMA_ATTN_NORM,
    AGIR_LLAMA_MLP_NORM,
    AGIR_LLAMA_W,  // w[t] is tensor AGIR_LLAMA_W + t
    AGIR_LLAMA_BQ = AGIR_LLAMA_W + AGIR_LORA_NTARGET,
    AGIR_LLAMA_BK,
    AGIR_LLAMA_BV,
    AGIR_LLAMA_NTENSOR,
} agir_llama_tensor;
// shape[i] = {rows, cols} of tensor i as stored: matrices (out, in) as above, vectors {len, 0};
// {0, 0} for the biases without qkv_bias. Checkpoint loaders expect these exact shapes.
void agir_llama_layer_shapes(const agir_llama_config *c, size_t shape[AGIR_LLAMA_NTENSOR][2]);
// n[i] = floats in tensor i of every layer; 0 for the biases without qkv_bias.
void agir_llama_layer_sizes(const agir_llama_config *c, size_t n[AGIR_LLAMA_NTENSOR]);
// slot[i] = the address of L's pointer to tensor i.
void agir_llama_layer_slots(agir_llama_layer *L, float **slot[AGIR_LLAMA_NTENSOR]);

typedef struct agir_llama {
    agir_llama_config cfg;
    int v0;            // frozen vocabulary rows
    float *embed;      // (vocab, C); rows [v0, vocab) are new_embed
    float *head;       // (vocab, C) untied output matrix, or == embed when tied
    float *new_embed;  // (vocab - v0, C), inside embed
    float *new_head;   // (vocab - v0, C), inside head (== new_embed when tied)
    float *norm;       // (C)
    agir_llama_layer *layers;
    float *inv_freq;  // (D/2)
    float *mem;
    size_t n_floats;
} agir_llama;

// Validates cfg (positive sizes, heads dividing evenly, even head size, bounded totals) and
// allocates zeroed weights; the last n_new vocabulary rows become the trainable new rows.
int agir_llama_alloc(agir_llama *m, const agir_llama_config *cfg, int n_new, agir_err *e);
void agir_llama_free(agir_llama *m);
// dims[t] = {in, out} of each adaptable matrix, for agir_lora_alloc.
void agir_llama_lora_dims(const agir_llama_config *cfg, int dims[AGIR_LORA_NTARGET][2]);

// Loads <dir>/config.json and <dir>/model.safetensors (HF tensor names; float types converted to
// float32). Every expected tensor must be present with its exact shape. q/k rows are taken in HF's
// layout (RoPE rotate_half pairs i and i + D/2); a GGUF loader must undo llama.cpp's interleaving
// permutation of q_proj/k_proj rows before filling these weights.
int agir_llama_load_hf(const char *dir, int n_new, agir_llama *m, agir_err *e);

// Activations saved by forward for backward, and backward scratch, for fixed B and T.
typedef struct agir_llama_acts {
    int B, T;
    int32_t *tokens, *pos, *seg;  // (B, T) copies of the inputs
    float *cos_t, *sin_t;         // (N, D/2)
    float *res;    // (L+1, N, C) residual stream entering each layer, and the final one
    float *mid;    // (L, N, C) residual after attention
    float *ln1, *ln2;  // (L, N, C)
    float *rstd1, *rstd2;  // (L, N)
    float *q;      // (L, N, H·D) after RoPE
    float *k, *v;  // (L, N, KVH·D), k after RoPE
    float *att;    // (L, B, H, T, T)
    float *ao;     // (L, N, H·D) attention output before o_proj
    float *gate, *up, *act;  // (L, N, F)
    float *lnf;    // (N, C)
    float *rstdf;  // (N)
    float *logits; // (N, V); after agir_llama_loss with gradients, d(loss)/d(logits)
    agir_lora_act *lora;  // [L · AGIR_LORA_NTARGET]
    agir_rng dropout_rng;  // this step's dropout stream
    // backward scratch
    float *dres, *dtmp;            // (N, C)
    float *dq, *dk, *dv, *dao;     // (N, H·D) / (N, KVH·D)
    float *datt;                   // (B, H, T, T)
    float *dgate, *dup, *dact;     // (N, F)
    float *dh, *du;                // (N, r), (N, max(C, H·D, F))
    float *mem;
} agir_llama_acts;

// The activations and backward scratch that both the CPU engine (float32, agir_llama_acts) and the
// device model (bf16, models/llama_dev.h) keep, in their arena order.
typedef enum agir_llama_act {
    AGIR_LLAMA_ACT_RES, AGIR_LLAMA_ACT_MID, AGIR_LLAMA_ACT_LN1, AGIR_LLAMA_ACT_LN2, AGIR_LLAMA_ACT_Q,
    AGIR_LLAMA_ACT_K, AGIR_LLAMA_ACT_V, AGIR_LLAMA_ACT_AO, AGIR_LLAMA_ACT_GATE, AGIR_LLAMA_ACT_UP,
    AGIR_LLAMA_ACT_ACT, AGIR_LLAMA_ACT_LNF, AGIR_LLAMA_ACT_LOGITS,
    AGIR_LLAMA_ACT_DRES, AGIR_LLAMA_ACT_DTMP, AGIR_LLAMA_ACT_DQ, AGIR_LLAMA_ACT_DK, AGIR_LLAMA_ACT_DV,
    AGIR_LLAMA_ACT_DAO, AGIR_LLAMA_ACT_DGATE, AGIR_LLAMA_ACT_DUP, AGIR_LLAMA_ACT_DACT,
    AGIR_LLAMA_NACT,
} agir_llama_act;
// w[i] = values per token of activation i (all layers: res is (L+1, N, C), so w = (L+1)·C).
void agir_llama_act_widths(const agir_llama_config *c, size_t w[AGIR_LLAMA_NACT]);

int agir_llama_acts_alloc(agir_llama_acts *a, const agir_llama *m, const agir_lora *lora, int B, int T, agir_err *e);
void agir_llama_acts_free(agir_llama_acts *a);

// tokens, pos, seg: (B, T). pos: position of each token inside its own example (RoPE); seg: example
// id of each token, attention stays inside equal ids (packing). lora may be NULL. rng: dropout
// stream of this step (unused when dropout is 0; may then be NULL). Refuses ids outside [0, V).
int agir_llama_forward(const agir_llama *m, const agir_lora *lora, agir_llama_acts *a, const int32_t *tokens,
                       const int32_t *pos, const int32_t *seg, const agir_rng *rng, agir_err *e);

// The buffers of one layer's forward over N rows. The training forward keeps a set per layer for
// backward; the KV-cached forward (infer/kv_cache.c) reuses one set and updates the residual in
// place: x == mid == out, ln1 == ln2, rstd1 == rstd2, act == gate.
typedef struct agir_llama_layer_bufs {
    int N;
    const float *x;              // (N, C) residual entering the layer
    float *mid, *out;            // (N, C) residual after attention, after the MLP
    float *ln1, *ln2;            // (N, C) normed inputs of attention and MLP
    float *rstd1, *rstd2;        // (N)
    float *q, *ao;               // (N, H·D) q after RoPE, attention output before o_proj
    float *k, *v;                // (N, KVH·D) k after RoPE
    float *gate, *up, *act;      // (N, F)
    const float *cos_t, *sin_t;  // (N, D/2) RoPE table of the rows' positions
    agir_lora_act *lora;         // [AGIR_LORA_NTARGET] the adapter's saved values per target
    const agir_rng *dropout;     // the step's dropout stream (child l · AGIR_LORA_NTARGET + t draws
                                 // target t's masks); may be NULL without dropout
} agir_llama_layer_bufs;

// Layer l of the forward is split where the callers differ, at attention (training: all rows at
// once, inference: keys and values appended to a cache first):
// qkv: ln1 = rmsnorm(x); q, k, v projections (LoRA included) with RoPE on q and k.
void agir_llama_layer_qkv_fwd(const agir_llama *m, const agir_lora *lora, int l, const agir_llama_layer_bufs *b);
// out, after attention filled ao: mid = x + o(ao); ln2 = rmsnorm(mid);
// out = mid + down(swiglu(gate(ln2), up(ln2))).
void agir_llama_layer_out_fwd(const agir_llama *m, const agir_lora *lora, int l, const agir_llama_layer_bufs *b);

// Labels with value -1 are ignored.
int64_t agir_llama_count_valid(const int32_t *labels, size_t n);

// Masked cross-entropy of the last forward: Σ_valid -log p / n_valid_global, where
// n_valid_global counts valid labels over the whole global batch (all micro-batches and ranks),
// so summing micro-step gradients equals one big step. labels: (B, T), already aligned with the
// positions. With want_grad the logits are replaced by their gradient, ready for backward.
int agir_llama_loss(const agir_llama *m, agir_llama_acts *a, const int32_t *labels, int64_t n_valid_global,
                    int want_grad, double *loss, agir_err *e);

typedef struct agir_llama_grads {
    float *new_embed;  // (vocab - v0, C)
    float *new_head;   // (vocab - v0, C); NULL when tied (new_embed gets both uses)
    float *mem;
} agir_llama_grads;
int agir_llama_grads_alloc(agir_llama_grads *g, const agir_llama *m, agir_err *e);
void agir_llama_grads_free(agir_llama_grads *g);

// Accumulates into lora_grad (same layout as lora; may be NULL with lora) and g. Needs
// agir_llama_loss(..., want_grad = 1) after the forward.
void agir_llama_backward(const agir_llama *m, const agir_lora *lora, agir_lora *lora_grad, agir_llama_grads *g,
                         agir_llama_acts *a);

#endif
