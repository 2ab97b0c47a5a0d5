// Llama-family decoder (Llama 2/3, SmolLM2, Qwen2), llm.c style, one model over both backends: the
// forward pass, the fused loss and the backward pass are written once over the ops of
// kernels/llm_ops.h and run on whatever context the weights were placed on (docs/architecture.md,
// "Backends and the op interface").
//
//   agir_llama          the model as loaded: config and float32 weights in host memory;
//   agir_llama_weights  the model placed on a context: frozen weights in a storage dtype (fp32 or
//                       bf16 on the CPU, bf16 on CUDA), compute copies of the trainable tensors in
//                       that dtype and their fp32 masters (on the CPU with fp32 weights everything
//                       aliases agir_llama and agir_lora: no copy at all);
//   agir_llama_acts     activations for a (B, T) batch on that context (fp32 on the CPU, bf16 on
//                       CUDA), saved by the forward pass for the backward pass;
//   agir_llama_grads    fp32 gradients of the trainable tensors on that context.
//
// Training is LoRA-only: base weights stay frozen and get no gradients. The vocabulary rows
// [v0, vocab) — new tokens appended to the base vocabulary — are trainable tensors of their own
// (new_embed and, when the output matrix is untied, new_head; tied models use new_embed for both).
// In memory they are the tail of the full (vocab, C) embedding / output matrices, so one matrix
// product covers old and new rows.
//
// Shapes: N = B·T tokens, C = dim, H = n_head, KVH = n_kv_head, D = head_dim, F = ffn, V = vocab,
// r = LoRA rank, L = n_layer.
#ifndef AGIR_MODELS_LLAMA_H
#define AGIR_MODELS_LLAMA_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/rng.h"
#include "kernels/llm_ops.h"
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

// The tensors of one layer in storage order, which the host weights and their placed copies follow.
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

// ---- the model on a context --------------------------------------------------------------------

typedef struct agir_llama_weights {
    const agir_ctx *ctx;
    agir_ftype wdt;        // storage of the frozen weights and of the trainable tensors' compute copies
    const agir_llama *m;   // shapes, v0, inv_freq; must outlive this
    const agir_lora *lora;  // the adapter (config, scale, layout of mem) or NULL; must outlive this
    void *embed;    // (V, C); rows [v0, V) are the compute copy of the new rows
    void *head;     // (V, C), == embed when tied
    void *norm;     // (C)
    void **layer;   // host array [L · AGIR_LLAMA_NTENSOR]: layer l's tensor i at l · AGIR_LLAMA_NTENSOR + i
                    // (NULL: an absent bias)
    void *lora_w;   // (lora->n_params) compute copy of every A and B, in the layout of lora->mem
    // fp32 masters that AdamW updates: lora A/B (the layout of lora->mem), new embedding rows
    // (V - v0, C) and new head rows (NULL when tied). On the CPU they are the host's own arrays.
    float *lora_master, *embed_master, *head_master;
    void *mem;      // the block this owns on the context (NULL when everything aliases the host)
} agir_llama_weights;

// Places m (and lora, which may be NULL) on the context c with frozen weights stored as wdt (the
// CPU takes f32 or bf16, CUDA bf16). m, lora and c must outlive w.
int agir_llama_weights_open(agir_llama_weights *w, const agir_ctx *c, agir_ftype wdt, const agir_llama *m,
                            const agir_lora *lora, agir_err *e);
void agir_llama_weights_close(agir_llama_weights *w);  // safe on a zeroed or closed one
// Frees the host copies of m's frozen weights once a placement holds its own (bf16 on the CPU, or
// any CUDA placement), so they are not kept twice: what stays is the config, inv_freq and the new
// rows (the trainable masters on the CPU). m's frozen pointers become NULL; placements opened before
// keep working, new ones are refused.
int agir_llama_drop_frozen(agir_llama *m, agir_err *e);

// Copies the host's LoRA parameters and new rows into the masters and compute copies again (after
// the host values changed, e.g. on resume). Nothing to do where they alias.
int agir_llama_weights_upload_trainable(agir_llama_weights *w, agir_err *e);
// Copies the masters back into lora->mem and m's new rows (for saving); the same shapes as at open.
int agir_llama_weights_download_trainable(const agir_llama_weights *w, agir_lora *lora, agir_llama *m, agir_err *e);
// Whether the compute copies are the masters themselves (fp32 weights on the CPU).
int agir_llama_weights_aliased(const agir_llama_weights *w);

// The trainable tensors of a placement, in the order of agir_llama_grads: [0] every LoRA A and B,
// [1] the new embedding rows, [2] the new head rows. n = 0 for a tensor that is absent (no adapter,
// tied head). copy == master when the placement aliases.
typedef struct agir_llama_trainable {
    float *master;  // (n) f32
    void *copy;     // (n) in the placement's wdt
    size_t n;
} agir_llama_trainable;
void agir_llama_trainables(const agir_llama_weights *w, agir_llama_trainable t[3]);

// Gradients of the trainable tensors, fp32 on the weights' context, one block in the order
// [lora | new_embed | new_head] so that clipping and the data-parallel sum see one buffer.
typedef struct agir_llama_grads {
    const agir_ctx *ctx;
    float *lora;       // (lora->n_params) in the layout of lora->mem; NULL without adapter
    float *new_embed;  // (V - v0, C)
    float *new_head;   // (V - v0, C); NULL when tied (new_embed gets both uses)
    float *mem;
    size_t n, n_lora, n_rows;  // floats in all, in the LoRA group, in the rows group
} agir_llama_grads;
int agir_llama_grads_alloc(agir_llama_grads *g, const agir_llama_weights *w, agir_err *e);  // zeroed
int agir_llama_grads_zero(agir_llama_grads *g, agir_err *e);
void agir_llama_grads_free(agir_llama_grads *g);

// Activations saved by forward for backward, and backward scratch, for fixed B and T, on the
// weights' context. Activation tensors (void *) have the context's activation dtype.
typedef struct agir_llama_acts {
    const agir_ctx *ctx;
    int B, T;
    int32_t *tokens, *pos, *seg, *labels;  // (B, T) device copies of the inputs
    float *cos_t, *sin_t;  // (N, D/2)
    void *res;     // (L+1, N, C) residual stream entering each layer, and the final one
    void *mid;     // (L, N, C) residual after attention
    void *ln1, *ln2;  // (L, N, C)
    float *rstd1, *rstd2;  // (L, N)
    void *q;       // (L, N, H·D) after RoPE
    void *k, *v;   // (L, N, KVH·D), k after RoPE
    float *att;    // L × agir_attention_saved_floats(B, T, T, H): what attention keeps for backward
    void *ao;      // (L, N, H·D) attention output before o_proj
    void *gate, *up, *act;  // (L, N, F)
    void *lnf;     // (N, C)
    float *rstdf;  // (N)
    void *logits;  // (N, V), or (n_rows, V) after agir_llama_forward_train; after agir_llama_loss with
                   // gradients, d(loss)/d(logits)
    int n_rows;       // rows the head ran over after agir_llama_forward_train; -1 after agir_llama_forward (all)
    int32_t *rows;    // (N) device: their indices
    int32_t *host_rows;  // (2·N) host staging: the indices, then the labels packed to them
    void *xrows, *dxrows;  // (N, C) the final residual rows the head saw, and their gradient
    float *xent;   // agir_xent_ws_floats(N): the loss's device workspace
    agir_lora_act *lora;  // [L · AGIR_LORA_NTARGET]
    agir_rng dropout_rng;  // this step's dropout stream
    int dropout_on;        // the last forward had a stream (training); 0: it evaluated without dropout
    // backward scratch
    void *dres, *dtmp;         // (N, C)
    void *dq, *dk, *dv, *dao;  // (N, H·D) / (N, KVH·D)
    float *datt;               // agir_attention_scratch_floats(B, T, H)
    void *dgate, *dup, *dact;  // (N, F)
    void *dh, *du;             // (N, r), (N, max(C, H·D, F))
    void *mem;
    size_t bytes;  // size of mem, for logs
} agir_llama_acts;

// The activations and backward scratch of agir_llama_acts kept per token, in their arena order.
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

int agir_llama_acts_alloc(agir_llama_acts *a, const agir_llama_weights *w, int B, int T, agir_err *e);
void agir_llama_acts_free(agir_llama_acts *a);
// The logits (B·T, V) of the last forward as f32 on the host (converted from bf16 on CUDA).
int agir_llama_logits_f32(const agir_llama_weights *w, const agir_llama_acts *a, float *out, agir_err *e);

// tokens, pos, seg: (B, T) on the host. pos: position of each token inside its own example (RoPE);
// seg: example id of each token, attention stays inside equal ids (packing). rng: dropout stream of
// this step; NULL evaluates (no LoRA dropout; backward is then refused when dropout > 0). Refuses
// ids outside [0, V).
int agir_llama_forward(const agir_llama_weights *w, agir_llama_acts *a, const int32_t *tokens, const int32_t *pos,
                       const int32_t *seg, const agir_rng *rng, agir_err *e);

// The forward of a training step: as agir_llama_forward, but the head (final norm, output matrix)
// runs only over the rows whose label is not -1 — the only rows the loss reads — so its cost and
// the logits' size follow the trained tokens, not the batch. agir_llama_loss must get the same
// labels; agir_llama_logits_f32 then gives those rows' logits (n_rows, V).
int agir_llama_forward_train(const agir_llama_weights *w, agir_llama_acts *a, const int32_t *tokens,
                             const int32_t *pos, const int32_t *seg, const int32_t *labels, const agir_rng *rng,
                             agir_err *e);

// The buffers of one layer's forward over N rows (activation dtype of the context). The training
// forward keeps a set per layer for backward; the KV-cached forward (infer/kv_cache.c) reuses one
// set and updates the residual in place: x == mid == out, ln1 == ln2, rstd1 == rstd2, act == gate.
typedef struct agir_llama_layer_bufs {
    int N;
    const void *x;               // (N, C) residual entering the layer
    void *mid, *out;             // (N, C) residual after attention, after the MLP
    void *ln1, *ln2;             // (N, C) normed inputs of attention and MLP
    float *rstd1, *rstd2;        // (N)
    void *q, *ao;                // (N, H·D) q after RoPE, attention output before o_proj
    void *k, *v;                 // (N, KVH·D) k after RoPE
    void *gate, *up, *act;       // (N, F)
    const float *cos_t, *sin_t;  // (N, D/2) RoPE table of the rows' positions
    agir_lora_act *lora;         // [AGIR_LORA_NTARGET] the adapter's saved values per target
    const agir_rng *dropout;     // the step's dropout stream (child l · AGIR_LORA_NTARGET + t draws
                                 // target t's masks); may be NULL without dropout
} agir_llama_layer_bufs;

// Layer l of the forward is split where the callers differ, at attention (training: all rows at
// once, inference: keys and values appended to a cache first):
// qkv: ln1 = rmsnorm(x); q, k, v projections (LoRA included) with RoPE on q and k.
int agir_llama_layer_qkv_fwd(const agir_llama_weights *w, int l, const agir_llama_layer_bufs *b, agir_err *e);
// out, after attention filled ao: mid = x + o(ao); ln2 = rmsnorm(mid);
// out = mid + down(swiglu(gate(ln2), up(ln2))).
int agir_llama_layer_out_fwd(const agir_llama_weights *w, int l, const agir_llama_layer_bufs *b, agir_err *e);
// The final norm and output matrix over N rows: logits (N, V) = head(rmsnorm(x)); ln: (N, C)
// scratch, rstd: (N) scratch (activation dtype, f32).
int agir_llama_head_fwd(const agir_llama_weights *w, void *logits, void *ln, float *rstd, const void *x, int N,
                        agir_err *e);

// Labels with value -1 are ignored.
int64_t agir_llama_count_valid(const int32_t *labels, size_t n);

// Masked cross-entropy of the last forward (over the rows agir_llama_forward_train kept, or all): Σ_valid -log p / n_valid_global, where
// n_valid_global counts valid labels over the whole global batch (all micro-batches and ranks),
// so summing micro-step gradients equals one big step. labels: (B, T) on the host, already aligned
// with the positions. With want_grad the logits are replaced by their gradient, ready for backward.
int agir_llama_loss(const agir_llama_weights *w, agir_llama_acts *a, const int32_t *labels, int64_t n_valid_global,
                    int want_grad, double *loss, agir_err *e);

// Accumulates into g. Needs agir_llama_loss(..., want_grad = 1) after the forward.
int agir_llama_backward(const agir_llama_weights *w, agir_llama_grads *g, agir_llama_acts *a, agir_err *e);

#endif
