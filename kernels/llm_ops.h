// The ops of a Llama-family transformer (embedding, RMSNorm, RoPE, causal attention with GQA and
// packed-sequence masks, SwiGLU, linear maps, LoRA dropout, fused softmax + cross-entropy), one set
// over both backends: validated and dispatched in kernels/llm_ops.c, implemented by agir_cpu_* in
// kernels/cpu/llm_ops.c and agir_cuda_* in kernels/cuda/*.cu (docs/kernels.md).
//
// Convention of kernels/ops.h: context first, agir_err last, AGIR_OK or the error code; tensors live
// on the context's device. Arguments the model builds wrongly (NULL tensors, impossible sizes) are
// bugs of the caller (AGIR_BUG).
//
// Two element types meet here:
//   - activations and their gradients (`act` below) have the context's activation dtype
//     (agir_act_ftype): fp32 on the CPU, bf16 on CUDA. Kernels load them into fp32, accumulate in
//     fp32 and round once when they store; "add into" a bf16 buffer reads, adds in fp32, rounds.
//   - weights have the storage dtype `wdt` the caller names: fp32 or bf16 on the CPU (bf16 weights
//     are widened on the fly: half the memory, fp32 arithmetic), bf16 on CUDA.
// Always fp32: RMSNorm's rstd, RoPE's cos/sin tables, attention's saved rows, the loss, and every
// parameter gradient (they feed AdamW's fp32 master copies).
//
// Backward ops ADD into their gradient buffers (callers zero them); a NULL parameter-gradient
// pointer means the parameter is frozen. Every reduction runs in a fixed order on both backends, so
// results repeat bit for bit and do not depend on thread counts.
//
// Shapes: N = B·T tokens, C = model width, H query heads, KVH key/value heads (H a multiple of KVH),
// D head size, F = MLP width, V vocabulary.
#ifndef AGIR_KERNELS_LLM_OPS_H
#define AGIR_KERNELS_LLM_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

#include "core/rng.h"  // inside extern "C" for the C++ translation units of kernels/cuda

// ---- host helpers -----------------------------------------------------------------------------

// RoPE (Su et al. 2021, RoFormer) in HF's rotate_half convention: dimension i pairs with i + D/2,
// which is the layout of q/k projections in HF checkpoints. GGUF (Meta) checkpoints interleave pairs
// (2i, 2i+1); their loader permutes q/k rows to this layout before use.
//
// inv_freq: (D/2). Llama 3 frequency scaling (factor, low/high frequency factors, original context)
// applies when factor > 0, following transformers' _compute_llama3_parameters.
typedef struct agir_rope_cfg {
    double theta;
    double factor;  // 0: no scaling
    double low_freq_factor, high_freq_factor;
    double original_max_pos;
} agir_rope_cfg;
void agir_rope_inv_freq(float *inv_freq, int D, const agir_rope_cfg *cfg);
// Host tables for the token positions pos: (N): cos_t, sin_t: (N, D/2), angles in float as HF.
void agir_rope_table(float *cos_t, float *sin_t, const int32_t *pos, const float *inv_freq, int N, int D);

// Floats of what agir_op_attention_fwd saves for the backward pass on this context: the (B, H, T,
// Tk) probabilities on the CPU, the (B, H, T) log-sum-exp rows on CUDA.
size_t agir_attention_saved_floats(const agir_ctx *c, int B, int T, int Tk, int H);
// Floats of the backward pass's scratch: (B, H, T, T) on the CPU, (B, H, T) on CUDA.
size_t agir_attention_scratch_floats(const agir_ctx *c, int B, int T, int H);
// Floats of the loss's device workspace: 0 on the CPU, N + 1 on CUDA (per-row losses and their sum).
size_t agir_xent_ws_floats(const agir_ctx *c, int N);

// ---- ops --------------------------------------------------------------------------------------

// Lookup from two tables: ids < V0 read base (V0, C), ids in [V0, V0 + V1) read extra (V1, C), both
// wdt (extra may be NULL when V1 = 0). out: (N, C) act; ids: (N) int32. An id outside the tables
// yields a NaN row on CUDA (the step's finiteness check stops it); callers check ids on the host.
int agir_op_embedding_fwd(const agir_ctx *c, void *out, const int32_t *ids, const void *base, const void *extra,
                          agir_ftype wdt, int V0, int V1, int N, int C, agir_err *e);
// dbase: (V0, C) f32, dextra: (V1, C) f32, either NULL when frozen; dout: (N, C) act. Tokens add in
// index order, so repeated ids sum in a fixed order.
int agir_op_embedding_bwd(const agir_ctx *c, float *dbase, float *dextra, const void *dout, const int32_t *ids,
                          int V0, int V1, int N, int C, agir_err *e);

// Rows of a matrix by index: out[i] = x[rows[i]], and its backward, x[rows[i]] += src[i]. out, src:
// (n, C) act; x: (N, C) act; rows: (n) int32 in [0, N), distinct for the scatter. The training
// forward gives the output head only the rows the loss reads (models/llama.h).
int agir_op_rows_gather(const agir_ctx *c, void *out, const void *x, const int32_t *rows, int n, int N, int C,
                        agir_err *e);
int agir_op_rows_scatter_add(const agir_ctx *c, void *x, const void *src, const int32_t *rows, int n, int N, int C,
                             agir_err *e);

// RMSNorm (Zhang & Sennrich 2019), in float like HF: y = x / sqrt(mean(x²) + eps) · w.
// y, x: (N, C) act; w: (C) wdt; rstd: (N) f32 out, saved for the backward pass.
int agir_op_rmsnorm_fwd(const agir_ctx *c, void *y, float *rstd, const void *x, const void *w, agir_ftype wdt, int N,
                        int C, float eps, agir_err *e);
// dx: (N, C) act or NULL; dw: (C) f32 or NULL; dy, x: (N, C) act; rstd from the forward.
int agir_op_rmsnorm_bwd(const agir_ctx *c, void *dx, float *dw, const void *dy, const void *x, const void *w,
                        agir_ftype wdt, const float *rstd, int N, int C, agir_err *e);

// In place on x: (N, nh, D) act; cos_t, sin_t: (N, D/2) f32 on the device (agir_rope_table,
// uploaded). inverse = 1 rotates backwards (the backward pass of the forward rotation).
int agir_op_rope(const agir_ctx *c, void *x, const float *cos_t, const float *sin_t, int N, int nh, int D, int inverse,
                 agir_err *e);

// Causal self-attention: query head h reads kv head h / (H / KVH); position i attends to j ≤ i with
// seg[j] == seg[i] (block-diagonal mask of packed sequences). The T queries of a sequence sit at
// positions q0 .. q0 + T - 1 and see the Tk = q0 + T keys at positions 0 .. q0 + T - 1: q0 = 0 in
// training, q0 > 0 for new rows against a KV cache.
// q, out: (B, T, H, D) act; k, v: (B, Tk, KVH, D) act; seg: (B, Tk) int32; saved:
// agir_attention_saved_floats f32 out. On CUDA D must be 32, 64 or 128.
int agir_op_attention_fwd(const agir_ctx *c, void *out, float *saved, const void *q, const void *k, const void *v,
                          const int32_t *seg, int B, int T, int q0, int H, int KVH, int D, agir_err *e);
// Backward of the forward with q0 = 0: dq (B, T, H, D), dk, dv (B, T, KVH, D) act accumulate;
// scratch: agir_attention_scratch_floats f32; dout, out: (B, T, H, D) act; saved from the forward.
int agir_op_attention_bwd(const agir_ctx *c, void *dq, void *dk, void *dv, float *scratch, const void *dout,
                          const void *out, const float *saved, const void *q, const void *k, const void *v,
                          const int32_t *seg, int B, int T, int H, int KVH, int D, agir_err *e);

// SwiGLU (Shazeer 2020): out = silu(gate) · up; all (n) act. out may alias gate.
int agir_op_swiglu_fwd(const agir_ctx *c, void *out, const void *gate, const void *up, size_t n, agir_err *e);
// dgate, dup accumulate; all (n) act.
int agir_op_swiglu_bwd(const agir_ctx *c, void *dgate, void *dup, const void *dout, const void *gate, const void *up,
                       size_t n, agir_err *e);

// y = alpha · x Wᵀ + b + beta · y, beta 0 (overwrite) or 1 (accumulate). y: (N, ldy) act with OC
// used columns (ldy ≥ OC, so several weight blocks can fill column ranges of one output); x: (N, C)
// act; W: (OC, C) wdt; b: (OC) wdt or NULL.
int agir_op_linear_fwd(const agir_ctx *c, void *y, int ldy, const void *x, const void *W, const void *b,
                       agir_ftype wdt, int N, int C, int OC, float alpha, float beta, agir_err *e);
// dx += alpha · dy W (act, or NULL); dW += alpha · dyᵀ x (f32, or NULL); db += alpha · Σ_n dy (f32,
// or NULL). dy: (N, ldy) act with OC used columns.
int agir_op_linear_bwd(const agir_ctx *c, void *dx, float *dW, float *db, const void *dy, int ldy, const void *x,
                       const void *W, agir_ftype wdt, int N, int C, int OC, float alpha, agir_err *e);

// LoRA's dropout: row n draws from agir_rng_child(rng, n), 16 bits per element: element i reads
// half i % 2 (low first) of word (i % 8) / 2 of Philox block i / 8 of that stream (core/philox.h)
// and keeps its value when that number u is ≥ ceil(p · 2^16), so the drop probability is p rounded up
// to a multiple of 2^-16; kept values are scaled by 1 / (1 - p). (A mask takes a quarter of the
// blocks 64-bit uniforms would: a training step draws hundreds of millions.) dst = mask(src)
// (accumulate = 0, the forward's input) or dst += mask(src) (accumulate = 1, the backward's input
// gradient: the very same mask). dst, src: (N, in) act; 0 < p < 1.
int agir_op_dropout(const agir_ctx *c, void *dst, const void *src, int N, int in, float p, const agir_rng *rng,
                    int accumulate, agir_err *e);

// Fused softmax + cross-entropy over logits (N, V) act; labels (N) int32 on the device, -1 =
// ignored. *loss (host) = Σ_valid -log p[label] · scale (scale = 1 / valid tokens of the global
// batch). dlogits (N, V) act, may be NULL or logits itself (in place: no probability tensor is kept),
// receives (softmax - onehot) · scale, zero rows for ignored tokens. ws: agir_xent_ws_floats f32.
// A label ≥ V gives a NaN loss on CUDA; callers check labels on the host.
int agir_op_softmax_xent(const agir_ctx *c, void *dlogits, const void *logits, const int32_t *labels, int N, int V,
                         float scale, float *ws, double *loss, agir_err *e);

#ifdef __cplusplus
}
#endif

#endif
