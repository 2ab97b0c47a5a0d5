// What the op dispatchers (kernels/ops.c, kernels/vq_ops.c, kernels/llm_ops.c) call on each backend;
// not for use outside kernels/ and the parity tests. Argument shapes are those of the op of the same
// name in kernels/ops.h, kernels/vq_ops.h or kernels/llm_ops.h.
//
// CPU kernels (kernels/cpu/*.c) cannot fail (except the LLM kernels that widen bf16 weights, which may
// run out of memory): the dispatchers validate arguments before calling them.
// CUDA host launchers (kernels/cuda/*.cu, built when AGIR_HAVE_CUDA is defined) return an agir_err
// code.
#ifndef AGIR_KERNELS_BACKEND_H
#define AGIR_KERNELS_BACKEND_H

#include <math.h>
#include <stddef.h>

#include "kernels/llm_ops.h"
#include "kernels/ops.h"
#include "kernels/vq_ops.h"

#ifdef __cplusplus
extern "C" {
#endif

// Inside an op: returns a CUDA launcher's status. Without a CUDA backend no context can be opened on
// AGIR_DEV_CUDA, so reaching one is a bug; the launcher call is then never compiled.
#ifdef AGIR_HAVE_CUDA
#define AGIR_CUDA_CALL(e, call) return (call)
#else
#define AGIR_CUDA_CALL(e, call) return AGIR_BUG((e), "CUDA op in a build without CUDA")
#endif
// An op's body after its checks: runs the CPU kernel (which cannot fail) or returns the CUDA
// launcher's status.
#define AGIR_DISPATCH(c, e, cpu_call, cuda_call)                       \
    do {                                                               \
        if ((c)->dev == AGIR_DEV_CUDA) AGIR_CUDA_CALL((e), cuda_call); \
        cpu_call;                                                      \
        return AGIR_OK;                                                \
    } while (0)

// Code shared by both backends' kernels must compile for the GPU too.
#ifdef __CUDACC__
#define AGIR_HD __host__ __device__
#else
#define AGIR_HD
#endif

// AdamW's per-step constants, computed once in double on the host (ops.c) so both backends use the
// very same floats.
typedef struct agir_adamw_coef {
    float beta1, beta2, one_minus_beta1, one_minus_beta2, eps, grad_scale;
    float decay;         // 1 - lr·wd
    float step_size;     // lr / (1 - β1^t)
    float inv_sqrt_bc2;  // 1 / sqrt(1 - β2^t)
} agir_adamw_coef;

// One element of AdamW: updates *m and *v and returns the new parameter.
AGIR_HD static inline float agir_adamw_elem(const agir_adamw_coef *c, float p, float g, float *m, float *v) {
    g *= c->grad_scale;
    float mi = c->beta1 * *m + c->one_minus_beta1 * g;
    float vi = c->beta2 * *v + c->one_minus_beta2 * g * g;
    *m = mi;
    *v = vi;
    return p * c->decay - c->step_size * mi / (sqrtf(vi) * c->inv_sqrt_bc2 + c->eps);
}

// One element of a regression loss (agir_op_loss) for the difference d = pred - target: returns the
// value and stores its derivative in *grad. Double precision on both backends, so that the gradient
// (agir_loss_scale·grad rounded once to float) is the same bits on each.
AGIR_HD static inline double agir_loss_elem(agir_loss_kind k, double d, double *grad) {
    if (k == AGIR_LOSS_L2) {
        *grad = 2 * d;
        return d * d;
    }
    if (fabs(d) < 1) {
        *grad = d;
        return 0.5 * d * d;
    }
    *grad = d > 0 ? 1 : -1;
    return fabs(d) - 0.5;
}

// What turns the sum of the element losses of `rows` unmasked rows (rows > 0) into agir_op_loss's
// weighted mean; the gradient's factor too.
AGIR_HD static inline double agir_loss_scale(const agir_loss_spec *s, double rows) {
    return s->weight / (rows * (s->c1 - s->c0));
}

// param16 may be NULL (fp32 AdamW); otherwise it receives bf16(param) after the update.
void agir_cpu_adamw(const agir_adamw_coef *c, float *param, agir_bf16 *param16, const float *grad, float *m, float *v,
                    size_t n);
void agir_cpu_sum_sumsq(const float *x, size_t n, float *out);

// The VQ-VAE ops of kernels/vq_ops.h, each op's CPU kernel (kernels/cpu/conv1d.c, kernels/cpu/vq_ops.c)
// beside its CUDA launcher (kernels/cuda/conv1d.cu, kernels/cuda/vq_ops.cu), called by kernels/vq_ops.c
// after it has checked their arguments. The launchers exist in CUDA builds only; without one the
// dispatcher never names them (AGIR_CUDA_CALL).
void agir_cpu_conv1d_fwd(const agir_conv1d_shape *s, const float *x, const float *w, const float *bias, float *y,
                         float *ws);
int agir_cuda_conv1d_fwd(const agir_ctx *ctx, const agir_conv1d_shape *s, const float *x, const float *w,
                         const float *bias, float *y, float *ws, agir_err *e);
void agir_cpu_conv1d_bwd(const agir_conv1d_shape *s, const float *x, const float *w, const float *dy, float *dx,
                         float *dw, float *dbias, float *ws);
int agir_cuda_conv1d_bwd(const agir_ctx *ctx, const agir_conv1d_shape *s, const float *x, const float *w,
                         const float *dy, float *dx, float *dw, float *dbias, float *ws, agir_err *e);
void agir_cpu_add_into(const float *x, float *y, size_t n);
int agir_cuda_add_into(const agir_ctx *ctx, const float *x, float *y, size_t n, agir_err *e);
void agir_cpu_relu_fwd(const float *x, float *y, size_t n);
int agir_cuda_relu_fwd(const agir_ctx *ctx, const float *x, float *y, size_t n, agir_err *e);
void agir_cpu_relu_bwd(const float *y, const float *dy, float *dx, size_t n);
int agir_cuda_relu_bwd(const agir_ctx *ctx, const float *y, const float *dy, float *dx, size_t n, agir_err *e);
void agir_cpu_upsample2_fwd(const float *x, float *y, int B, int T, int C);
int agir_cuda_upsample2_fwd(const agir_ctx *ctx, const float *x, float *y, int B, int T, int C, agir_err *e);
void agir_cpu_upsample2_bwd(const float *dy, float *dx, int B, int T, int C);
int agir_cuda_upsample2_bwd(const agir_ctx *ctx, const float *dy, float *dx, int B, int T, int C, agir_err *e);
// *total, *rows (host on both): Σ of the unmasked rows' losses (unscaled) and their count.
void agir_cpu_loss(const agir_loss_spec *s, const float *pred, const float *target, const uint8_t *mask,
                   double *total, double *rows, float *dpred);
int agir_cuda_loss(const agir_ctx *ctx, const agir_loss_spec *s, const float *pred, const float *target,
                   const uint8_t *mask, double *total, double *rows, float *dpred, agir_err *e);
void agir_cpu_vq_assign(const float *x, const float *codebook, int N, int K, int D, int32_t *idx, float *ws);
int agir_cuda_vq_assign(const agir_ctx *ctx, const float *x, const float *codebook, int N, int K, int D, int32_t *idx,
                        float *ws, agir_err *e);
// idx: (N,) in [0, K).
void agir_cpu_vq_gather(const float *codebook, const int32_t *idx, int N, int D, float *q);
int agir_cuda_vq_gather(const agir_ctx *ctx, const float *codebook, const int32_t *idx, int N, int K, int D, float *q,
                        agir_err *e);
void agir_cpu_vq_stats(const float *x, const int32_t *idx, int N, int K, int D, float *counts, float *sums);
int agir_cuda_vq_stats(const agir_ctx *ctx, const float *x, const int32_t *idx, int N, int K, int D, float *counts,
                       float *sums, agir_err *e);
// pick: (K,) row numbers in [0, N) of x; noise: (K, D) values added in double, or NULL.
void agir_cpu_vq_reset_rows(const float *x, const int32_t *pick, const double *noise, int K, int D, float *rows);
// pick: (K,) host row numbers in [0, N); noise: (K, D) host values added in double, or NULL. ws: the
// op's device workspace (receives pick).
int agir_cuda_vq_reset_rows(const agir_ctx *ctx, const float *x, const int32_t *pick, const double *noise, int K,
                            int D, float *rows, int32_t *ws, agir_err *e);
void agir_cpu_vq_ema_update(float *ema_count, float *ema_sum, const float *counts, const float *sums,
                            const float *rows, float mu, int K, int D, float *codebook, int *n_reset);
int agir_cuda_vq_ema_update(const agir_ctx *ctx, float *ema_count, float *ema_sum, const float *counts,
                            const float *sums, const float *rows, float mu, int K, int D, float *codebook, int *n_reset,
                            agir_err *e);

// ---- LLM ops (kernels/llm_ops.h) ---------------------------------------------------------------
// Each op's CPU kernel (kernels/cpu/llm_ops.c, fp32 activations, arguments already validated) beside
// its CUDA launcher (kernels/cuda/llm_rows.cu, attention.cu, xent.cu, lora.cu, linear.cu: bf16
// activations and weights). CPU kernels that take a weight type widen bf16 weights on the fly, which
// needs scratch memory: they return AGIR_OK or an out-of-memory error. The CPU attention kernels run
// their products through cblas_sgemm per (batch, head): call them from serial code, never inside an
// OpenMP region. CPU attention saves att: (B, H, T, Tk) probabilities with datt: (B, H, T, T) scratch;
// CUDA saves lse: (B, H, T) log-sum-exp rows with delta: (B, H, T) scratch.

// Below this much work (elements or multiply-adds) a CPU loop runs on one thread: waking an OpenMP
// team costs more than it saves, and far more on a loaded machine.
#define AGIR_CPU_PAR_MIN ((size_t)1 << 15)

void agir_cpu_embedding_fwd(float *out, const int32_t *ids, const void *base, const void *extra, agir_ftype wdt,
                            int V0, int N, int C);
int agir_cuda_embedding_fwd(const agir_ctx *c, agir_bf16 *out, const int32_t *ids, const agir_bf16 *base,
                            const agir_bf16 *extra, int V0, int V1, int N, int C, agir_err *e);
void agir_cpu_embedding_bwd(float *dbase, float *dextra, const float *dout, const int32_t *ids, int V0, int N, int C);
int agir_cuda_embedding_bwd(const agir_ctx *c, float *dbase, float *dextra, const agir_bf16 *dout, const int32_t *ids,
                            int V0, int V1, int N, int C, agir_err *e);
void agir_cpu_rows_gather(float *out, const float *x, const int32_t *rows, int n, int C);
int agir_cuda_rows_gather(const agir_ctx *c, agir_bf16 *out, const agir_bf16 *x, const int32_t *rows, int n, int C,
                          agir_err *e);
void agir_cpu_rows_scatter_add(float *x, const float *src, const int32_t *rows, int n, int C);
int agir_cuda_rows_scatter_add(const agir_ctx *c, agir_bf16 *x, const agir_bf16 *src, const int32_t *rows, int n, int C,
                               agir_err *e);
int agir_cpu_rmsnorm_fwd(float *y, float *rstd, const float *x, const void *w, agir_ftype wdt, int N, int C, float eps,
                         agir_err *e);
int agir_cuda_rmsnorm_fwd(const agir_ctx *c, agir_bf16 *y, float *rstd, const agir_bf16 *x, const agir_bf16 *w, int N,
                          int C, float eps, agir_err *e);
int agir_cpu_rmsnorm_bwd(float *dx, float *dw, const float *dy, const float *x, const void *w, agir_ftype wdt,
                         const float *rstd, int N, int C, agir_err *e);
int agir_cuda_rmsnorm_bwd(const agir_ctx *c, agir_bf16 *dx, float *dw, const agir_bf16 *dy, const agir_bf16 *x,
                          const agir_bf16 *w, const float *rstd, int N, int C, agir_err *e);
void agir_cpu_rope(float *x, const float *cos_t, const float *sin_t, int N, int nh, int D, int inverse);
int agir_cuda_rope(const agir_ctx *c, agir_bf16 *x, const float *cos_t, const float *sin_t, int N, int nh, int D,
                   int inverse, agir_err *e);
void agir_cpu_attention_fwd(float *out, float *att, const float *q, const float *k, const float *v,
                            const int32_t *seg, int B, int T, int q0, int H, int KVH, int D);
int agir_cuda_attention_fwd(const agir_ctx *c, agir_bf16 *out, float *lse, const agir_bf16 *q, const agir_bf16 *k,
                            const agir_bf16 *v, const int32_t *seg, int B, int T, int q0, int H, int KVH, int D,
                            agir_err *e);
void agir_cpu_attention_bwd(float *dq, float *dk, float *dv, float *datt, const float *dout, const float *att,
                            const float *q, const float *k, const float *v, const int32_t *seg, int B, int T, int H,
                            int KVH, int D);
int agir_cuda_attention_bwd(const agir_ctx *c, agir_bf16 *dq, agir_bf16 *dk, agir_bf16 *dv, float *delta,
                            const agir_bf16 *dout, const agir_bf16 *out, const float *lse, const agir_bf16 *q,
                            const agir_bf16 *k, const agir_bf16 *v, const int32_t *seg, int B, int T, int H, int KVH,
                            int D, agir_err *e);
void agir_cpu_swiglu_fwd(float *out, const float *gate, const float *up, size_t n);
int agir_cuda_swiglu_fwd(const agir_ctx *c, agir_bf16 *out, const agir_bf16 *gate, const agir_bf16 *up, size_t n,
                         agir_err *e);
void agir_cpu_swiglu_bwd(float *dgate, float *dup, const float *dout, const float *gate, const float *up, size_t n);
int agir_cuda_swiglu_bwd(const agir_ctx *c, agir_bf16 *dgate, agir_bf16 *dup, const agir_bf16 *dout,
                         const agir_bf16 *gate, const agir_bf16 *up, size_t n, agir_err *e);
int agir_cpu_linear_fwd(float *y, int ldy, const float *x, const void *W, const void *b, agir_ftype wdt, int N, int C,
                        int OC, float alpha, float beta, agir_err *e);
int agir_cuda_linear_fwd(const agir_ctx *c, agir_bf16 *y, int ldy, const agir_bf16 *x, const agir_bf16 *W,
                         const agir_bf16 *b, int N, int C, int OC, float alpha, float beta, agir_err *e);
int agir_cpu_linear_bwd(float *dx, float *dW, float *db, const float *dy, int ldy, const float *x, const void *W,
                        agir_ftype wdt, int N, int C, int OC, float alpha, agir_err *e);
int agir_cuda_linear_bwd(const agir_ctx *c, agir_bf16 *dx, float *dW, float *db, const agir_bf16 *dy, int ldy,
                         const agir_bf16 *x, const agir_bf16 *W, int N, int C, int OC, float alpha, agir_err *e);
void agir_cpu_dropout(float *dst, const float *src, int N, int in, float p, const agir_rng *rng, int accumulate);
// The smallest kept 16-bit number for drop probability p (kernels/llm_ops.h): ceil(p · 2^16).
static inline uint64_t agir_dropout_keep_min(float p) { return (uint64_t)ceil((double)p * 0x1p16); }
// keep_min: an element is kept when its 16-bit number is ≥ keep_min (kernels/llm_ops.h).
int agir_cuda_dropout(const agir_ctx *c, agir_bf16 *dst, const agir_bf16 *src, int N, int in, uint64_t keep_min,
                      float keep_scale, uint64_t seed, uint64_t stream, int accumulate, agir_err *e);
// Returns Σ_valid -log p[label] · scale, summed in double in a fixed order.
double agir_cpu_softmax_xent(float *dlogits, const float *logits, const int32_t *labels, int N, int V, float scale);
// losses: (N) f32 per-row losses; loss: (1) f32 their sum in a fixed order.
int agir_cuda_softmax_xent(const agir_ctx *c, agir_bf16 *dlogits, float *losses, float *loss, const agir_bf16 *logits,
                           const int32_t *labels, int N, int V, float scale, agir_err *e);

#ifdef AGIR_HAVE_CUDA
int agir_cuda_device_count(void);
// Fills c->scratch and c->blas (a cuBLAS handle on c->stream); close frees both.
int agir_cuda_ctx_open(agir_ctx *c, agir_err *e);
void agir_cuda_ctx_close(agir_ctx *c);
int agir_cuda_alloc(size_t bytes, void **out, agir_err *e);
void agir_cuda_free(void *p);
// to_device: 1 host → device, 0 device → host; waits for the stream first.
int agir_cuda_copy(void *stream, void *dst, const void *src, size_t bytes, int to_device, agir_err *e);
int agir_cuda_sync(void *stream, agir_err *e);
// Queued on the stream (no wait).
int agir_cuda_zero(void *stream, void *p, size_t bytes, agir_err *e);
int agir_cuda_copy_d2d(void *stream, void *dst, const void *src, size_t bytes, agir_err *e);

int agir_cuda_adamw(const agir_ctx *ctx, const agir_adamw_coef *c, float *param, agir_bf16 *param16, const float *grad,
                    float *m, float *v, size_t n, agir_err *e);
int agir_cuda_sum_sumsq(const agir_ctx *ctx, const float *x, size_t n, float *out, agir_err *e);

#endif

#ifdef __cplusplus
}
#endif

#endif
