// A Llama-family model with its LoRA adapter on a CUDA context: the GPU counterpart of the CPU
// engine in models/llama.h, built from the ops of kernels/llm_cuda.h (docs/architecture.md,
// "Backends and the op interface").
//
// Storage: every weight, activation and activation gradient is bf16 on the device; RMSNorm rstd,
// attention log-sum-exp rows, RoPE tables, per-token losses, the loss and every parameter gradient
// are fp32. The frozen weights are the agir_llama's rounded to bf16 (nearest even) at upload. The
// trainable tensors (LoRA A/B, new vocabulary rows) have fp32 masters and AdamW moments on the device;
// the passes read their bf16 copies, which agir_llama_dev_adamw refreshes after each update.
//
// Logits are bf16 (N, V), written in one product over the whole vocabulary; the loss turns them in
// place into d(loss)/d(logits), as agir_llama_loss does with its fp32 logits.
//
// Shapes as in llama.h: N = B·T tokens, C = dim, H heads of size D, KVH kv heads, F = ffn, V = vocab,
// r = LoRA rank. The attention kernels take D = 32, 64 or 128 only.
#ifndef AGIR_MODELS_LLAMA_DEV_H
#define AGIR_MODELS_LLAMA_DEV_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/rng.h"
#include "kernels/ops.h"
#include "models/llama.h"
#include "models/lora.h"

// Per layer, bf16 device copies of the frozen weights, indexed by agir_llama_tensor (shapes of
// agir_llama_layer; the biases NULL without qkv bias).
typedef struct agir_llama_dev_layer {
    agir_bf16 *t[AGIR_LLAMA_NTENSOR];
} agir_llama_dev_layer;

typedef struct agir_llama_dev {
    const agir_ctx *ctx;      // AGIR_DEV_CUDA
    const agir_llama *m;      // host model (shapes, v0, inv_freq); must outlive this
    const agir_lora *lora;    // host adapter or NULL (config, scale, layout of mem)
    int B, T;
    // weights
    agir_bf16 *embed;  // (V, C); rows [v0, V) are the new rows
    agir_bf16 *head;   // (V, C), == embed when tied
    agir_bf16 *norm;   // (C)
    agir_llama_dev_layer *layers;  // host array [L] of device pointers
    agir_bf16 *lora_w;  // (lora->n_params) bf16, the layout of lora->mem
    // trainable fp32 masters and AdamW moments (two groups, as in train/llm_step.h)
    float *lora_master;  // (lora->n_params), the layout of lora->mem
    float *rows_master;  // (V - v0, C) new embedding rows, then as many head rows when untied
    float *mom;          // [m, v] of the LoRA group, then [m, v] of the rows group (zero at open)
    // gradients (fp32, zeroed by agir_llama_dev_zero_grads, accumulated by backward); they can feed
    // agir_gradnorm_sumsq (train/grad.h), which works on device buffers
    float *lora_g;    // (lora->n_params), the layout of lora->mem
    float *g_embed;   // (V - v0, C) new embedding rows
    float *g_head;    // (V - v0, C) new head rows; NULL when tied
    // activations, laid out as agir_llama_acts (L = n_layer)
    int32_t *tokens, *seg, *labels;  // (N)
    float *cos_t, *sin_t;            // (N, D/2)
    agir_bf16 *res;                  // (L+1, N, C) residual entering each layer, and the final one
    agir_bf16 *mid, *ln1, *ln2;      // (L, N, C)
    float *rstd1, *rstd2;            // (L, N)
    agir_bf16 *q, *k, *v, *ao;       // (L, N, H·D), (L, N, KVH·D) twice, (L, N, H·D); q, k after RoPE
    float *lse;                      // (L, B, H, T) attention log-sum-exp rows
    agir_bf16 *gate, *up, *act;      // (L, N, F)
    agir_bf16 **lora_u, **lora_h;    // [L · AGIR_LORA_NTARGET] host arrays: (N, in) dropped-out input
                                     // (NULL without dropout) and (N, r) s · A u (NULL when not adapted)
    agir_bf16 *lnf;                  // (N, C)
    float *rstdf;                    // (N)
    agir_bf16 *logits;               // (N, V); d(loss)/d(logits) after a loss with gradients
    float *losses, *loss;            // (N), (1)
    // backward scratch
    agir_bf16 *dres, *dtmp;          // (N, C)
    agir_bf16 *dq, *dk, *dv, *dao;   // (N, H·D), (N, KVH·D), (N, KVH·D), (N, H·D)
    agir_bf16 *dgate, *dup, *dact;   // (N, F)
    agir_bf16 *dh, *du;              // (N, r), (N, max(C, H·D, F)) (du only with dropout)
    float *delta;                    // (B, H, T)
    agir_rng dropout_rng;
    void *mem;     // one device block holding all of the above
    size_t bytes;  // its size, for logs
} agir_llama_dev;

// Uploads m (and lora, which may be NULL) to the CUDA context c, weights rounded to bf16, and
// allocates activations for (B, T). A CPU context or a build without CUDA is AGIR_BUG; a head size
// the attention kernels do not take is AGIR_EINPUT. m, lora and c must outlive d.
int agir_llama_dev_open(agir_llama_dev *d, const agir_ctx *c, const agir_llama *m, const agir_lora *lora, int B,
                        int T, agir_err *e);
void agir_llama_dev_close(agir_llama_dev *d);  // safe on a zeroed or closed one
// Uploads the host's LoRA parameters and new vocabulary rows again (masters and bf16 copies).
int agir_llama_dev_upload_trainable(agir_llama_dev *d, agir_err *e);
// Copies the fp32 masters back into lora->mem and m's new rows (same shapes as at open; for saving).
int agir_llama_dev_download_trainable(const agir_llama_dev *d, agir_lora *lora, agir_llama *m, agir_err *e);

// As agir_llama_forward: tokens, pos, seg (B, T) on the host, checked the same way; rng the step's
// dropout stream (may be NULL without dropout). Leaves bf16 logits in d->logits.
int agir_llama_dev_forward(agir_llama_dev *d, const int32_t *tokens, const int32_t *pos, const int32_t *seg,
                           const agir_rng *rng, agir_err *e);
// As agir_llama_loss: labels (B, T) on the host (-1 ignored); loss = Σ_valid -log p / n_valid_global,
// summed in fp32 on the device. With want_grad the logits become their gradient.
int agir_llama_dev_loss(agir_llama_dev *d, const int32_t *labels, int64_t n_valid_global, int want_grad, float *loss,
                        agir_err *e);

int agir_llama_dev_zero_grads(agir_llama_dev *d, agir_err *e);
// As agir_llama_backward (after a loss with want_grad): LoRA gradients accumulate into d->lora_g,
// new-row gradients into d->g_embed / d->g_head.
int agir_llama_dev_backward(agir_llama_dev *d, agir_err *e);
// Copies the gradients to the host: lora_grad (layout of d->lora, may be NULL without adapter) and g.
int agir_llama_dev_download_grads(const agir_llama_dev *d, agir_lora *lora_grad, agir_llama_grads *g, agir_err *e);

// AdamW (agir_op_adamw_bf16) on the masters with the current gradients: hp_lora for the LoRA group,
// hp_rows for the new rows; the bf16 copies are refreshed. Clipping enters through grad_scale.
int agir_llama_dev_adamw(agir_llama_dev *d, const agir_adamw_hp *hp_lora, const agir_adamw_hp *hp_rows, agir_err *e);

// Not here yet: logits in vocabulary chunks for large V (the (N, V) bf16 logits are kept whole).

#endif
