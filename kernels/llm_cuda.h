// The Llama-family transformer's ops on a CUDA context (kernels/cuda/llm_rows.cu, attention.cu,
// xent.cu, lora.cu, linear.cu): the GPU counterparts of kernels/cpu/llm_ops.h, checked against them
// by tests/cuda_cpu/test_llm_parity.c. Same shape names: N = B·T tokens, C = model width, H query
// heads, KVH key/value heads, D head size, V vocabulary.
//
// Storage and arithmetic: activations and their gradients are bf16 (agir_bf16); every kernel loads
// them into fp32, accumulates in fp32 and rounds once when it stores. fp32 throughout: RMSNorm's
// rstd, RoPE's cos/sin tables, attention's logsumexp and delta rows, per-token losses and the loss,
// and parameter gradients (RMSNorm weight, embedding rows, LoRA A/B, biases), which feed AdamW's fp32
// master copies (agir_op_adamw_bf16).
//
// As on the CPU, backward ops ADD into their gradient buffers (callers zero them) and a NULL
// parameter-gradient pointer means the parameter is frozen. For bf16 gradient buffers "add" reads the
// old value, adds in fp32 and rounds the sum. The hand-written kernels use no float atomics: every
// output element is summed by one thread in a fixed order, so results repeat bit for bit; cuBLAS
// products repeat on the same GPU model and library version (cuBLAS guide, "Results
// reproducibility").
//
// Every op takes a context opened on AGIR_DEV_CUDA and device pointers; a CPU context, NULL tensors
// or impossible sizes are bugs of the caller (AGIR_BUG). In a build without CUDA every op returns
// AGIR_BUG (no CUDA context can exist there).
#ifndef AGIR_KERNELS_LLM_CUDA_H
#define AGIR_KERNELS_LLM_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "kernels/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

// out: (N, C) bf16; ids: (N) int32; base: (V0, C) bf16; extra: (V1, C) bf16 (rows V0.., may be NULL
// when V1 = 0). An id outside [0, V0 + V1) yields a NaN row (the step's finiteness check stops it),
// never an out-of-bounds read.
int agir_llm_embedding_fwd(const agir_ctx *c, agir_bf16 *out, const int32_t *ids, const agir_bf16 *base,
                           const agir_bf16 *extra, int V0, int V1, int N, int C, agir_err *e);
// dbase: (V0, C) f32, dextra: (V1, C) f32, either NULL when frozen; dout: (N, C) bf16. Tokens are
// added in index order, as on the CPU.
int agir_llm_embedding_bwd(const agir_ctx *c, float *dbase, float *dextra, const agir_bf16 *dout, const int32_t *ids,
                           int V0, int V1, int N, int C, agir_err *e);

// y, x: (N, C) bf16; w: (C) bf16; rstd: (N) f32 out.
int agir_llm_rmsnorm_fwd(const agir_ctx *c, agir_bf16 *y, float *rstd, const agir_bf16 *x, const agir_bf16 *w, int N,
                         int C, float eps, agir_err *e);
// dx: (N, C) bf16 or NULL; dw: (C) f32 or NULL; dy, x: (N, C) bf16; rstd: (N) f32 from the forward.
int agir_llm_rmsnorm_bwd(const agir_ctx *c, agir_bf16 *dx, float *dw, const agir_bf16 *dy, const agir_bf16 *x,
                         const agir_bf16 *w, const float *rstd, int N, int C, agir_err *e);

// In place on x: (N, nh, D) bf16, HF rotate_half layout; cos_t, sin_t: (N, D/2) f32 from
// agir_rope_table (computed on the host, uploaded). inverse = 1 is the backward rotation.
int agir_llm_rope(const agir_ctx *c, agir_bf16 *x, const float *cos_t, const float *sin_t, int N, int nh, int D,
                  int inverse, agir_err *e);

// Causal attention with GQA and the packed-sequence mask of agir_attention_fwd, computed tile by tile
// with an online softmax (FlashAttention, Dao et al. 2022): no (T, T) matrix is ever stored.
// q, out: (B, T, H, D) bf16; k, v: (B, T, KVH, D) bf16; seg: (B, T) int32; lse: (B, H, T) f32 out,
// the log-sum-exp of each row's scaled scores, all the backward pass needs from the forward.
// D must be 32, 64 or 128; H a multiple of KVH.
int agir_llm_attention_fwd(const agir_ctx *c, agir_bf16 *out, float *lse, const agir_bf16 *q, const agir_bf16 *k,
                           const agir_bf16 *v, const int32_t *seg, int B, int T, int H, int KVH, int D, agir_err *e);
// dq: (B, T, H, D) bf16, dk, dv: (B, T, KVH, D) bf16, accumulated; delta: (B, H, T) f32 scratch;
// dout, out: (B, T, H, D) bf16; lse from the forward. Probabilities are recomputed from lse.
int agir_llm_attention_bwd(const agir_ctx *c, agir_bf16 *dq, agir_bf16 *dk, agir_bf16 *dv, float *delta,
                           const agir_bf16 *dout, const agir_bf16 *out, const float *lse, const agir_bf16 *q,
                           const agir_bf16 *k, const agir_bf16 *v, const int32_t *seg, int B, int T, int H, int KVH,
                           int D, agir_err *e);

// out = silu(gate) · up; all (n) bf16.
int agir_llm_swiglu_fwd(const agir_ctx *c, agir_bf16 *out, const agir_bf16 *gate, const agir_bf16 *up, size_t n,
                        agir_err *e);
// dgate, dup accumulate; all (n) bf16.
int agir_llm_swiglu_bwd(const agir_ctx *c, agir_bf16 *dgate, agir_bf16 *dup, const agir_bf16 *dout,
                        const agir_bf16 *gate, const agir_bf16 *up, size_t n, agir_err *e);

// Fused softmax + cross-entropy, as agir_softmax_xent: logits (N, V) bf16; labels (N) int32, -1 =
// ignored; losses (N) f32 out = -log p[label] · scale (0 when ignored); loss (1) f32 out = Σ losses,
// summed in a fixed order. Row statistics (max, Σ exp) are fp32. dlogits (N, V) bf16, may be NULL
// or logits itself (in place: no probability tensor is kept), receives (softmax - onehot) · scale,
// zero rows for ignored tokens. A label ≥ V gives a NaN loss.
int agir_llm_softmax_xent(const agir_ctx *c, agir_bf16 *dlogits, float *losses, float *loss, const agir_bf16 *logits,
                          const int32_t *labels, int N, int V, float scale, agir_err *e);

// LoRA's dropout with the mask of models/lora.c, regenerated from the same Philox streams: row n
// draws from agir_rng_child(rng, n), element i keeps its value when the i-th agir_rng_uniform of
// that stream is ≥ p, and kept values are scaled by 1 / (1 - p). dst = mask(src) (accumulate = 0,
// the forward's dropped input) or dst += mask(src) (accumulate = 1, the backward's input gradient).
// dst, src: (N, in) bf16; 0 < p < 1.
int agir_llm_dropout(const agir_ctx *c, agir_bf16 *dst, const agir_bf16 *src, int N, int in, float p,
                     const agir_rng *rng, int accumulate, agir_err *e);

// Matrix products through cuBLAS on the context's handle (ctx->blas): bf16 operands, fp32 compute.
// y = alpha · x Wᵀ + b + beta · y (b may be NULL; beta 0 overwrites y, 1 accumulates). With beta = 0
// the sum is rounded to bf16 once; with beta = 1 and a bias, y + b is rounded before the product.
// y: (N, ldy) bf16 with OC used columns; x: (N, C) bf16; W: (OC, C) bf16; b: (OC) bf16 or NULL.
int agir_llm_linear_fwd(const agir_ctx *c, agir_bf16 *y, int ldy, const agir_bf16 *x, const agir_bf16 *W,
                        const agir_bf16 *b, int N, int C, int OC, float alpha, float beta, agir_err *e);
// dx += alpha · dy W (bf16, or NULL); dW += alpha · dyᵀ x (f32, or NULL); db += alpha · Σ_n dy (f32, or
// NULL). dy: (N, ldy) bf16 with OC used columns.
int agir_llm_linear_bwd(const agir_ctx *c, agir_bf16 *dx, float *dW, float *db, const agir_bf16 *dy, int ldy,
                        const agir_bf16 *x, const agir_bf16 *W, int N, int C, int OC, float alpha, agir_err *e);

// The CUDA launchers behind the ops above (kernels/cuda/*.cu), for kernels/llm_cuda.c only: same
// arguments, already validated. Defined only in builds with AGIR_HAVE_CUDA.
int agir_cuda_embedding_fwd(const agir_ctx *c, agir_bf16 *out, const int32_t *ids, const agir_bf16 *base,
                            const agir_bf16 *extra, int V0, int V1, int N, int C, agir_err *e);
int agir_cuda_embedding_bwd(const agir_ctx *c, float *dbase, float *dextra, const agir_bf16 *dout, const int32_t *ids,
                            int V0, int V1, int N, int C, agir_err *e);
int agir_cuda_rmsnorm_fwd(const agir_ctx *c, agir_bf16 *y, float *rstd, const agir_bf16 *x, const agir_bf16 *w, int N,
                          int C, float eps, agir_err *e);
int agir_cuda_rmsnorm_bwd(const agir_ctx *c, agir_bf16 *dx, float *dw, const agir_bf16 *dy, const agir_bf16 *x,
                          const agir_bf16 *w, const float *rstd, int N, int C, agir_err *e);
int agir_cuda_rope(const agir_ctx *c, agir_bf16 *x, const float *cos_t, const float *sin_t, int N, int nh, int D,
                   int inverse, agir_err *e);
int agir_cuda_attention_fwd(const agir_ctx *c, agir_bf16 *out, float *lse, const agir_bf16 *q, const agir_bf16 *k,
                            const agir_bf16 *v, const int32_t *seg, int B, int T, int H, int KVH, int D, agir_err *e);
int agir_cuda_attention_bwd(const agir_ctx *c, agir_bf16 *dq, agir_bf16 *dk, agir_bf16 *dv, float *delta,
                            const agir_bf16 *dout, const agir_bf16 *out, const float *lse, const agir_bf16 *q,
                            const agir_bf16 *k, const agir_bf16 *v, const int32_t *seg, int B, int T, int H, int KVH,
                            int D, agir_err *e);
int agir_cuda_swiglu_fwd(const agir_ctx *c, agir_bf16 *out, const agir_bf16 *gate, const agir_bf16 *up, size_t n,
                         agir_err *e);
int agir_cuda_swiglu_bwd(const agir_ctx *c, agir_bf16 *dgate, agir_bf16 *dup, const agir_bf16 *dout,
                         const agir_bf16 *gate, const agir_bf16 *up, size_t n, agir_err *e);
int agir_cuda_softmax_xent(const agir_ctx *c, agir_bf16 *dlogits, float *losses, float *loss, const agir_bf16 *logits,
                           const int32_t *labels, int N, int V, float scale, agir_err *e);
// keep_min: an element is kept when (64-bit draw >> 11) ≥ keep_min, i.e. uniform ≥ p exactly.
int agir_cuda_dropout(const agir_ctx *c, agir_bf16 *dst, const agir_bf16 *src, int N, int in, uint64_t keep_min,
                      float keep_scale, uint64_t seed, uint64_t stream, int accumulate, agir_err *e);
int agir_cuda_linear_fwd(const agir_ctx *c, agir_bf16 *y, int ldy, const agir_bf16 *x, const agir_bf16 *W,
                         const agir_bf16 *b, int N, int C, int OC, float alpha, float beta, agir_err *e);
int agir_cuda_linear_bwd(const agir_ctx *c, agir_bf16 *dx, float *dW, float *db, const agir_bf16 *dy, int ldy,
                         const agir_bf16 *x, const agir_bf16 *W, int N, int C, int OC, float alpha, agir_err *e);

#ifdef __cplusplus
}
#endif

#endif
