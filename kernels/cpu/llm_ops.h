// CPU building blocks of a Llama-family transformer, llm.c style: plain functions over float arrays,
// each forward with its backward. Backward functions ADD into gradient buffers (callers zero them),
// and any gradient pointer may be NULL when that input is frozen. Shapes use N = B·T tokens,
// C = model width, H = query heads, KVH = key/value heads, D = head size, F = MLP width, V = vocab.
//
// These functions trust their arguments (the model checks shapes when it is built).
#ifndef AGIR_KERNELS_CPU_LLM_OPS_H
#define AGIR_KERNELS_CPU_LLM_OPS_H

#include <stddef.h>
#include <stdint.h>

// Below this much work (elements or multiply-adds) a loop runs on one thread: waking an OpenMP
// team costs more than it saves, and far more on a loaded machine.
#define AGIR_CPU_PAR_MIN ((size_t)1 << 15)

// y = x Wᵀ + b, with beta = 0 (overwrite y) or 1 (accumulate into y). ldy: row stride of y (≥ OC),
// so several weight blocks can write column ranges of one output.
// y: (N, ldy)  x: (N, C)  W: (OC, C)  b: (OC) or NULL
void agir_linear_fwd(float *y, int ldy, const float *x, const float *W, const float *b, int N, int C, int OC,
                     float beta);
// dx += dy W ; dW += dyᵀ x ; db += Σ_n dy. dy: (N, ldy) with OC used columns.
void agir_linear_bwd(float *dx, float *dW, float *db, const float *dy, int ldy, const float *x, const float *W, int N,
                     int C, int OC);

// RMSNorm (Zhang & Sennrich 2019): y = x / sqrt(mean(x²) + eps) · w, computed in float like HF.
// y, x: (N, C)  w: (C)  rstd: (N) saved for backward
void agir_rmsnorm_fwd(float *y, float *rstd, const float *x, const float *w, int N, int C, float eps);
void agir_rmsnorm_bwd(float *dx, float *dw, const float *dy, const float *x, const float *w, const float *rstd, int N,
                      int C);

// RoPE (Su et al. 2021, RoFormer) in HF's rotate_half convention: dimension i pairs with i + D/2,
// which is the layout of q/k projections in HF checkpoints. GGUF (Meta) checkpoints interleave pairs
// (2i, 2i+1); their loader must permute q/k rows to this layout before use.
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
// cos, sin: (N, D/2) for the token positions pos: (N)
void agir_rope_table(float *cos_t, float *sin_t, const int32_t *pos, const float *inv_freq, int N, int D);
// In place on x: (N, nh, D). inverse = 1 rotates backwards (the backward pass of the forward rotation).
void agir_rope_apply(float *x, const float *cos_t, const float *sin_t, int N, int nh, int D, int inverse);

// Causal self-attention with grouped-query heads (query head h reads kv head h / (H / KVH)) and a
// block-diagonal mask for packed sequences: position i attends to j ≤ i with seg[j] == seg[i].
// The T queries of a sequence sit at positions q0 .. q0 + T - 1 and see the Tk = q0 + T keys at
// positions 0 .. q0 + T - 1: q0 = 0 in training, q0 > 0 for new tokens against a KV cache.
// q: (B, T, H, D)  k, v: (B, Tk, KVH, D)  seg: (B, Tk)  att: (B, H, T, Tk) probabilities (saved for
// backward)  out: (B, T, H, D). The products run through cblas_sgemm per (batch, head): call these
// from serial code, never inside an OpenMP region (OpenBLAS threads them with its own pool).
void agir_attention_fwd(float *out, float *att, const float *q, const float *k, const float *v, const int32_t *seg,
                        int B, int T, int q0, int H, int KVH, int D);
// Backward of the forward with q0 = 0. dq, dk, dv accumulate; datt: (B, H, T, T) scratch
void agir_attention_bwd(float *dq, float *dk, float *dv, float *datt, const float *dout, const float *att,
                        const float *q, const float *k, const float *v, int B, int T, int H, int KVH, int D);

// SwiGLU (Shazeer 2020): out = silu(gate) · up. All (N, F).
void agir_swiglu_fwd(float *out, const float *gate, const float *up, size_t n);
void agir_swiglu_bwd(float *dgate, float *dup, const float *dout, const float *gate, const float *up, size_t n);

// Embedding lookup from two tables: ids < V0 read base (V0, C), ids ≥ V0 read extra rows (id - V0).
// out: (N, C)
void agir_embedding_fwd(float *out, const int32_t *ids, const float *base, const float *extra, int V0, int N, int C);
// Scatter-add dout rows into dbase / dextra (either may be NULL: frozen). Runs serially over tokens
// so repeated ids add in a fixed order.
void agir_embedding_bwd(float *dbase, float *dextra, const float *dout, const int32_t *ids, int V0, int N, int C);

// Fused softmax + cross-entropy over logits: (N, V). labels: (N), -1 = ignored. Returns
// Σ_valid -log p[label] · scale (scale = 1 / valid tokens of the global batch). When dlogits is not
// NULL it receives d(loss)/d(logits) = (softmax - onehot) · scale (zero rows for ignored tokens);
// dlogits may be logits itself, so no probability tensor is kept. Sums in double.
double agir_softmax_xent(float *dlogits, const float *logits, const int32_t *labels, int N, int V, float scale);

#endif
