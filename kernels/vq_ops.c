// VQ-VAE op dispatch (kernels/vq_ops.h): checks each op's arguments once, then calls the CPU kernel
// (kernels/cpu/conv1d.c, kernels/cpu/vq_ops.c) or the CUDA host launcher (kernels/cuda/conv1d.cu,
// kernels/cuda/vq_ops.cu). Also the ops' size helpers, and what both backends share: the loss's
// scaling and the random draws of the dead-code reset rows.
#include "kernels/vq_ops.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include "kernels/backend.h"

// The tensors an op reads or writes must be there; a NULL one is the caller's bug.
static int need(int present, const char *op, agir_err *e) {
    return present ? AGIR_OK : AGIR_BUG(e, "NULL tensor passed to %s", op);
}

// ---------------------------------------------------------------------------------------------
// Convolutions

int agir_conv1d_t_out(const agir_conv1d_shape *s) {
    if (s->B < 1 || s->T_in < 1 || s->C_in < 1 || s->C_out < 1 || s->K < 1 || s->stride < 1 || s->dilation < 1 ||
        s->pad < 0)
        return 0;
    long span = (long)s->T_in + 2L * s->pad - (long)s->dilation * (s->K - 1) - 1;
    return span < 0 ? 0 : (int)(span / s->stride + 1);
}

size_t agir_conv1d_ws_floats(const agir_conv1d_shape *s) {
    if (s->K == 1 && s->stride == 1 && s->pad == 0) return 0;  // the input is its own im2col matrix
    return (size_t)s->B * (size_t)agir_conv1d_t_out(s) * (size_t)s->K * (size_t)s->C_in;
}

double agir_conv1d_flops(const agir_conv1d_shape *s) {
    return 2.0 * s->B * agir_conv1d_t_out(s) * (double)s->C_out * s->K * s->C_in;
}

static int check_shape(const agir_conv1d_shape *s, agir_err *e) {
    if (!agir_conv1d_t_out(s))
        return AGIR_BUG(e, "invalid conv1d shape (B %d, T %d, C_in %d, C_out %d, K %d, stride %d, dilation %d, pad %d)",
                        s->B, s->T_in, s->C_in, s->C_out, s->K, s->stride, s->dilation, s->pad);
    // BLAS dimensions are int.
    if ((size_t)s->B * (size_t)agir_conv1d_t_out(s) > INT_MAX || (size_t)s->K * (size_t)s->C_in > INT_MAX)
        return AGIR_BUG(e, "conv1d of %d x %d rows and %d x %d columns exceeds the BLAS int range", s->B,
                        agir_conv1d_t_out(s), s->K, s->C_in);
    return AGIR_OK;
}

int agir_op_conv1d_fwd(const agir_ctx *c, const agir_conv1d_shape *s, const float *x, const float *w,
                       const float *bias, float *y, float *ws, agir_err *e) {
    AGIR_TRY(check_shape(s, e));
    AGIR_TRY(need(x && w && y && (ws || !agir_conv1d_ws_floats(s)), "conv1d_fwd", e));
    AGIR_DISPATCH(c, e, agir_cpu_conv1d_fwd(s, x, w, bias, y, ws), agir_cuda_conv1d_fwd(c, s, x, w, bias, y, ws, e));
}

int agir_op_conv1d_bwd(const agir_ctx *c, const agir_conv1d_shape *s, const float *x, const float *w,
                       const float *dy, float *dx, float *dw, float *dbias, float *ws, agir_err *e) {
    AGIR_TRY(check_shape(s, e));
    AGIR_TRY(need(x && w && dy && dw && (ws || !agir_conv1d_ws_floats(s)), "conv1d_bwd", e));
    AGIR_DISPATCH(c, e, agir_cpu_conv1d_bwd(s, x, w, dy, dx, dw, dbias, ws),
                  agir_cuda_conv1d_bwd(c, s, x, w, dy, dx, dw, dbias, ws, e));
}

// ---------------------------------------------------------------------------------------------
// Element-wise ops

int agir_op_add_into(const agir_ctx *c, const float *x, float *y, size_t n, agir_err *e) {
    AGIR_TRY(need(!n || (x && y), "add_into", e));
    AGIR_DISPATCH(c, e, agir_cpu_add_into(x, y, n), agir_cuda_add_into(c, x, y, n, e));
}

int agir_op_relu_fwd(const agir_ctx *c, const float *x, float *y, size_t n, agir_err *e) {
    AGIR_TRY(need(!n || (x && y), "relu_fwd", e));
    AGIR_DISPATCH(c, e, agir_cpu_relu_fwd(x, y, n), agir_cuda_relu_fwd(c, x, y, n, e));
}

int agir_op_relu_bwd(const agir_ctx *c, const float *y, const float *dy, float *dx, size_t n, agir_err *e) {
    AGIR_TRY(need(!n || (y && dy && dx), "relu_bwd", e));
    AGIR_DISPATCH(c, e, agir_cpu_relu_bwd(y, dy, dx, n), agir_cuda_relu_bwd(c, y, dy, dx, n, e));
}

static int check_upsample(const float *in, const float *out, int B, int T, int C, const char *op, agir_err *e) {
    if (B < 0 || T < 0 || C < 0) return AGIR_BUG(e, "invalid %s sizes (B %d, T %d, C %d)", op, B, T, C);
    return need(!B || !T || !C || (in && out), op, e);
}

int agir_op_upsample2_fwd(const agir_ctx *c, const float *x, float *y, int B, int T, int C, agir_err *e) {
    AGIR_TRY(check_upsample(x, y, B, T, C, "upsample2_fwd", e));
    AGIR_DISPATCH(c, e, agir_cpu_upsample2_fwd(x, y, B, T, C), agir_cuda_upsample2_fwd(c, x, y, B, T, C, e));
}

int agir_op_upsample2_bwd(const agir_ctx *c, const float *dy, float *dx, int B, int T, int C, agir_err *e) {
    AGIR_TRY(check_upsample(dy, dx, B, T, C, "upsample2_bwd", e));
    AGIR_DISPATCH(c, e, agir_cpu_upsample2_bwd(dy, dx, B, T, C), agir_cuda_upsample2_bwd(c, dy, dx, B, T, C, e));
}

// ---------------------------------------------------------------------------------------------
// Losses

// The unmasked rows' loss sum (unscaled) and their count; the scaling is agir_op_loss's, in double.
static int loss_sums(const agir_ctx *c, const agir_loss_spec *s, const float *pred, const float *target,
                     const uint8_t *mask, double *total, double *rows, float *dpred, agir_err *e) {
    AGIR_DISPATCH(c, e, agir_cpu_loss(s, pred, target, mask, total, rows, dpred),
                  agir_cuda_loss(c, s, pred, target, mask, total, rows, dpred, e));
}

int agir_op_loss(const agir_ctx *c, const agir_loss_spec *s, const float *pred, const float *target,
                 const uint8_t *mask, double *loss, float *dpred, agir_err *e) {
    if (s->N < 0 || s->C < 1 || s->c0 < 0 || s->c1 <= s->c0 || s->c1 > s->C || (s->kind != AGIR_LOSS_SMOOTH_L1 &&
        s->kind != AGIR_LOSS_L2))
        return AGIR_BUG(e, "invalid loss spec (N %d, C %d, channels [%d, %d), kind %d)", s->N, s->C, s->c0, s->c1,
                        (int)s->kind);
    AGIR_TRY(need(loss && (!s->N || (pred && target)), "loss", e));
    double total = 0, rows = 0;
    AGIR_TRY(loss_sums(c, s, pred, target, mask, &total, &rows, dpred, e));
    *loss = rows > 0 ? total * agir_loss_scale(s, rows) : 0;
    return AGIR_OK;
}

// ---------------------------------------------------------------------------------------------
// Quantizer

static int check_vq(int N, int K, int D, const char *op, agir_err *e) {
    if (N < 0 || K < 1 || D < 1) return AGIR_BUG(e, "invalid %s sizes (N %d, K %d, D %d)", op, N, K, D);
    return AGIR_OK;
}

// A CPU context's code indices are host memory and are checked here; the CUDA launchers check theirs
// on the device.
static int check_idx(const agir_ctx *c, const int32_t *idx, int N, int K, agir_err *e) {
    if (c->dev == AGIR_DEV_CUDA) return AGIR_OK;
    for (int n = 0; n < N; n++)
        if (idx[n] < 0 || idx[n] >= K) return AGIR_BUG(e, "code index %d of row %d outside [0, %d)", idx[n], n, K);
    return AGIR_OK;
}

size_t agir_vq_ws_floats(int N, int K) { return (size_t)N * K + (size_t)K; }

int agir_op_vq_assign(const agir_ctx *c, const float *x, const float *codebook, int N, int K, int D, int32_t *idx,
                      float *ws, agir_err *e) {
    AGIR_TRY(check_vq(N, K, D, "vq_assign", e));
    if (!N) return AGIR_OK;
    AGIR_TRY(need(x && codebook && idx && ws, "vq_assign", e));
    AGIR_DISPATCH(c, e, agir_cpu_vq_assign(x, codebook, N, K, D, idx, ws),
                  agir_cuda_vq_assign(c, x, codebook, N, K, D, idx, ws, e));
}

int agir_op_vq_gather(const agir_ctx *c, const float *codebook, const int32_t *idx, int N, int K, int D, float *q,
                      agir_err *e) {
    AGIR_TRY(check_vq(N, K, D, "vq_gather", e));
    AGIR_TRY(need(!N || (codebook && idx && q), "vq_gather", e));
    AGIR_TRY(check_idx(c, idx, N, K, e));
    AGIR_DISPATCH(c, e, agir_cpu_vq_gather(codebook, idx, N, D, q),
                  agir_cuda_vq_gather(c, codebook, idx, N, K, D, q, e));
}

int agir_op_vq_stats(const agir_ctx *c, const float *x, const int32_t *idx, int N, int K, int D, float *counts,
                     float *sums, agir_err *e) {
    AGIR_TRY(check_vq(N, K, D, "vq_stats", e));
    AGIR_TRY(need(counts && sums && (!N || (x && idx)), "vq_stats", e));
    AGIR_TRY(check_idx(c, idx, N, K, e));
    AGIR_DISPATCH(c, e, agir_cpu_vq_stats(x, idx, N, K, D, counts, sums),
                  agir_cuda_vq_stats(c, x, idx, N, K, D, counts, sums, e));
}

size_t agir_vq_reset_ws_ints(int N, int K) {
    if (N >= K || N < 1) return (size_t)(N > 0 ? N : 0);
    return (size_t)((K + N - 1) / N) * (size_t)N;
}

// The reset rows' random draws are made here, on the host, for both backends: a CUDA run draws what
// a CPU run does and leaves r in the same state.
//
// The candidates' rows of x: pool[k] for k < K. The pool holds each row once, or ceil(K/N) times
// when there are fewer rows than codes; a partial Fisher-Yates makes its first K entries a uniform
// random K-subset in random order. pool: agir_vq_reset_ws_ints(N, K) ints.
static void draw_pick(agir_rng *r, int N, int K, int32_t *pool) {
    int n = (int)agir_vq_reset_ws_ints(N, K);
    for (int i = 0; i < n; i++) pool[i] = i;
    for (int i = 0; i < K; i++) {
        int j = i + (int)agir_rng_below(r, (uint32_t)(n - i));
        int32_t t = pool[i];
        pool[i] = pool[j];
        pool[j] = t;
    }
    for (int k = 0; k < K; k++) pool[k] %= N;
}

// The noise of tiled rows: N(0, (0.01/sqrt(D))²) per element. noise: (K, D).
static void draw_noise(agir_rng *r, int K, int D, double *noise) {
    double std = 0.01 / sqrt((double)D);
    for (size_t i = 0; i < (size_t)K * D; i++) noise[i] = std * agir_rng_normal(r);
}

static int reset_rows(const agir_ctx *c, const float *x, const int32_t *pick, const double *noise, int K, int D,
                      float *rows, int32_t *ws, agir_err *e) {
    (void)ws;  // only the CUDA launcher uses it (for its device copy of pick)
    AGIR_DISPATCH(c, e, agir_cpu_vq_reset_rows(x, pick, noise, K, D, rows),
                  agir_cuda_vq_reset_rows(c, x, pick, noise, K, D, rows, ws, e));
}

int agir_op_vq_reset_rows(const agir_ctx *c, agir_rng *r, const float *x, int N, int K, int D, float *rows,
                          int32_t *ws, agir_err *e) {
    if (N < 1 || K < 1 || D < 1) return AGIR_BUG(e, "invalid vq_reset_rows sizes (N %d, K %d, D %d)", N, K, D);
    AGIR_TRY(need(r && x && rows && ws, "vq_reset_rows", e));
    // A CPU context's workspace is host memory and holds the pool itself.
    int host_ws = c->dev == AGIR_DEV_CPU;
    int32_t *pick = host_ws ? ws : malloc(agir_vq_reset_ws_ints(N, K) * sizeof *pick);
    double *noise = N < K ? malloc((size_t)K * D * sizeof *noise) : NULL;
    int rc = AGIR_OK;
    if (!pick || (N < K && !noise)) {
        rc = AGIR_BAD(e, "out of memory drawing %d reset rows (hint: use fewer codes)", K);
    } else {
        draw_pick(r, N, K, pick);
        if (noise) draw_noise(r, K, D, noise);
        rc = reset_rows(c, x, pick, noise, K, D, rows, ws, e);
    }
    if (!host_ws) free(pick);
    free(noise);
    return rc;
}

int agir_op_vq_ema_update(const agir_ctx *c, float *ema_count, float *ema_sum, const float *counts,
                          const float *sums, const float *rows, float mu, int K, int D, float *codebook, int *n_reset,
                          agir_err *e) {
    if (!(mu >= 0 && mu <= 1) || K < 1 || D < 1)
        return AGIR_BUG(e, "invalid vq_ema_update arguments (mu %g, K %d, D %d)", mu, K, D);
    AGIR_TRY(need(ema_count && ema_sum && counts && sums && rows && codebook && n_reset, "vq_ema_update", e));
    AGIR_DISPATCH(c, e, agir_cpu_vq_ema_update(ema_count, ema_sum, counts, sums, rows, mu, K, D, codebook, n_reset),
                  agir_cuda_vq_ema_update(c, ema_count, ema_sum, counts, sums, rows, mu, K, D, codebook, n_reset, e));
}

double agir_vq_perplexity(const float *counts, int K) {
    double total = 0, h = 0;
    for (int k = 0; k < K; k++) total += counts[k];
    if (total <= 0) return 0;
    for (int k = 0; k < K; k++) {
        double p = counts[k] / total;
        h -= p * log(p + 1e-7);
    }
    return exp(h);
}

double agir_vq_usage(const float *counts, int K) {
    int used = 0;
    for (int k = 0; k < K; k++) used += counts[k] > 0;
    return K > 0 ? (double)used / K : 0;
}
