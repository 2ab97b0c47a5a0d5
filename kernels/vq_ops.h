// Ops of the VQ-VAE motion tokenizer (T2M-GPT's design, Zhang et al., "T2M-GPT: Generating Human
// Motion from Textual Descriptions with Discrete Representations", CVPR 2023): 1-D convolutions,
// ReLU, nearest up-sampling, the reconstruction and commitment losses, and the EMA quantizer.
//
// Same convention as kernels/ops.h: every op takes the context first and an agir_err last, and
// returns AGIR_OK or the error code; tensors live on the context's device (device pointers on a CUDA
// context, masks and index arrays included; results documented as "host" are host memory).
// kernels/vq_ops.c checks the arguments and dispatches to the CPU kernels (kernels/cpu/conv1d.c,
// kernels/cpu/vq_ops.c) or the CUDA launchers (kernels/cuda/conv1d.cu, kernels/cuda/vq_ops.cu);
// docs/kernels.md.
//
// Activations are channels-last: (B, T, C) float32, so that B·T rows form the M dimension of one
// GEMM per convolution. Backward ops ADD into their gradient outputs (callers zero them), so that
// residual branches and shared inputs need no extra buffers.
#ifndef AGIR_KERNELS_VQ_OPS_H
#define AGIR_KERNELS_VQ_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

#include "core/rng.h"  // inside extern "C" for the C++ translation units of kernels/cuda

// A 1-D convolution, PyTorch's Conv1d semantics (zero padding on both sides).
typedef struct agir_conv1d_shape {
    int B, T_in, C_in;  // input (B, T_in, C_in)
    int C_out, K;       // weight (C_out, K, C_in), bias (C_out,)
    int stride, dilation, pad;
} agir_conv1d_shape;

// T_out = (T_in + 2·pad - dilation·(K-1) - 1) / stride + 1; 0 when the shape is invalid.
int agir_conv1d_t_out(const agir_conv1d_shape *s);
// Floats of workspace the conv ops need (the im2col matrix; 0 for 1×1, stride-1, unpadded convs).
size_t agir_conv1d_ws_floats(const agir_conv1d_shape *s);
// Multiply-adds ×2 of one forward pass: 2·B·T_out·C_out·K·C_in (padded taps included: the GEMM
// computes them). The backward pass costs twice that (data and weight gradients).
double agir_conv1d_flops(const agir_conv1d_shape *s);

// x: (B, T_in, C_in); w: (C_out, K, C_in); bias: (C_out,) or NULL; y: (B, T_out, C_out) out;
// ws: agir_conv1d_ws_floats floats.
int agir_op_conv1d_fwd(const agir_ctx *c, const agir_conv1d_shape *s, const float *x, const float *w,
                       const float *bias, float *y, float *ws, agir_err *e);
// dy: (B, T_out, C_out); dx: (B, T_in, C_in) += or NULL (first layer); dw: (C_out, K, C_in) +=;
// dbias: (C_out,) += or NULL.
int agir_op_conv1d_bwd(const agir_ctx *c, const agir_conv1d_shape *s, const float *x, const float *w,
                       const float *dy, float *dx, float *dw, float *dbias, float *ws, agir_err *e);

// y += x (a residual block's skip connection); x, y: (n,).
int agir_op_add_into(const agir_ctx *c, const float *x, float *y, size_t n, agir_err *e);

// y = max(x, 0); x: (n,); y: (n,) out, may alias x.
int agir_op_relu_fwd(const agir_ctx *c, const float *x, float *y, size_t n, agir_err *e);
// dx += dy where y > 0; y: the forward output (n,).
int agir_op_relu_bwd(const agir_ctx *c, const float *y, const float *dy, float *dx, size_t n, agir_err *e);

// Nearest up-sampling by 2 in time. x: (B, T, C); y: (B, 2T, C) out, y[b, 2t+r] = x[b, t].
int agir_op_upsample2_fwd(const agir_ctx *c, const float *x, float *y, int B, int T, int C, agir_err *e);
// dx: (B, T, C) += dy[b, 2t] + dy[b, 2t+1].
int agir_op_upsample2_bwd(const agir_ctx *c, const float *dy, float *dx, int B, int T, int C, agir_err *e);

// Element-wise regression losses over the channels [c0, c1) of rows of width C.
typedef enum agir_loss_kind {
    AGIR_LOSS_SMOOTH_L1 = 0,  // PyTorch SmoothL1Loss, beta = 1: 0.5·d² if |d| < 1 else |d| - 0.5
    AGIR_LOSS_L2 = 1,         // d² (MSELoss)
} agir_loss_kind;

typedef struct agir_loss_spec {
    agir_loss_kind kind;
    int N, C;        // pred, target: (N, C)
    int c0, c1;      // channel range, 0 <= c0 < c1 <= C
    float weight;    // the loss's weight in the total; scales the value and the gradient
} agir_loss_spec;

// Mean over the unmasked rows and the channel range, times weight, into *loss (host, double).
// mask: (N,) uint8, nonzero = row counts, or NULL (all rows). dpred: (N, C) += d(loss)/d(pred), or
// NULL. A batch with no unmasked row has loss 0 and no gradient.
int agir_op_loss(const agir_ctx *c, const agir_loss_spec *s, const float *pred, const float *target,
                 const uint8_t *mask, double *loss, float *dpred, agir_err *e);

// Nearest code of each row by squared Euclidean distance ||x||² - 2x·c + ||c||² (one GEMM); ties go
// to the lower index. x: (N, D); codebook: (K, D); idx: (N,) int32 out; ws: agir_vq_ws_floats.
size_t agir_vq_ws_floats(int N, int K);
int agir_op_vq_assign(const agir_ctx *c, const float *x, const float *codebook, int N, int K, int D, int32_t *idx,
                      float *ws, agir_err *e);
// q[n] = codebook[idx[n]]. q: (N, D) out.
int agir_op_vq_gather(const agir_ctx *c, const float *codebook, const int32_t *idx, int N, int K, int D, float *q,
                      agir_err *e);
// This batch's per-code statistics: counts: (K,) out, sums: (K, D) out = Σ of the rows assigned to
// each code. Kept apart from the running averages so data-parallel ranks can all-reduce them first.
int agir_op_vq_stats(const agir_ctx *c, const float *x, const int32_t *idx, int N, int K, int D, float *counts,
                     float *sums, agir_err *e);
// K candidate rows for dead codes (T2M-GPT's _tile + randperm): distinct random rows of x when
// N >= K, else x tiled with N(0, (0.01/sqrt(D))²) noise, then shuffled. rows: (K, D) out;
// ws: N int32 (N >= K) or ceil(K/N)·N int32 (N < K). Draws from r.
size_t agir_vq_reset_ws_ints(int N, int K);
int agir_op_vq_reset_rows(const agir_ctx *c, agir_rng *r, const float *x, int N, int K, int D, float *rows,
                          int32_t *ws, agir_err *e);
// The EMA update of QuantizeEMAReset: ema_count = mu·ema_count + (1-mu)·counts; ema_sum likewise;
// a code whose ema_count >= 1 becomes ema_sum / ema_count, any other is replaced by its reset row.
// ema_count: (K,) in/out; ema_sum: (K, D) in/out; counts, sums: the (all-reduced) batch statistics;
// rows: (K, D) reset candidates; codebook: (K, D) out. *n_reset: codes replaced (host).
int agir_op_vq_ema_update(const agir_ctx *c, float *ema_count, float *ema_sum, const float *counts,
                          const float *sums, const float *rows, float mu, int K, int D, float *codebook, int *n_reset,
                          agir_err *e);

// Host helpers over batch counts (K,): perplexity exp(-Σ p·log(p + 1e-7)) with p = count / Σcount
// (T2M-GPT's formula), and the fraction of codes used at least once.
double agir_vq_perplexity(const float *counts, int K);
double agir_vq_usage(const float *counts, int K);

#ifdef __cplusplus
}
#endif

#endif
