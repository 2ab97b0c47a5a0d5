// The VQ-VAE's element-wise ops, losses and EMA quantizer on the CPU (shapes in kernels/cpu/vq_ops.h).
//
// The quantizer follows T2M-GPT's QuantizeEMAReset (models/quantize_cnn.py of Mael-zys/T2M-GPT):
// nearest code, straight-through gradient (applied by the model), EMA of per-code counts and sums,
// and replacement of codes whose EMA count is under 1 by random encoder outputs. Every reduction is
// split by sizes only, never by thread, so results do not depend on the thread count.
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "kernels/cpu/vq_ops.h"

static int cpu_only(const agir_ctx *c, const char *op, agir_err *e) {
    return c->dev == AGIR_DEV_CPU ? AGIR_OK : AGIR_BUG(e, "%s has no CUDA kernel yet", op);
}

int agir_op_relu_fwd(const agir_ctx *c, const float *x, float *y, size_t n, agir_err *e) {
    AGIR_TRY(cpu_only(c, "relu_fwd", e));
#pragma omp parallel for simd schedule(static) if (n >= (1u << 16))
    for (size_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0;
    return AGIR_OK;
}

int agir_op_relu_bwd(const agir_ctx *c, const float *y, const float *dy, float *dx, size_t n, agir_err *e) {
    AGIR_TRY(cpu_only(c, "relu_bwd", e));
    // Branch-free: half the signs are random, and a branch per element mispredicts on them.
#pragma omp parallel for simd schedule(static) if (n >= (1u << 16))
    for (size_t i = 0; i < n; i++) dx[i] += y[i] > 0 ? dy[i] : 0.0f;
    return AGIR_OK;
}

int agir_op_upsample2_fwd(const agir_ctx *c, const float *x, float *y, int B, int T, int C, agir_err *e) {
    AGIR_TRY(cpu_only(c, "upsample2_fwd", e));
    size_t rows = (size_t)B * T;
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) {
        memcpy(y + 2 * r * C, x + r * C, sizeof(float) * C);
        memcpy(y + (2 * r + 1) * C, x + r * C, sizeof(float) * C);
    }
    return AGIR_OK;
}

int agir_op_upsample2_bwd(const agir_ctx *c, const float *dy, float *dx, int B, int T, int C, agir_err *e) {
    AGIR_TRY(cpu_only(c, "upsample2_bwd", e));
    size_t rows = (size_t)B * T;
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) {
        const float *a = dy + 2 * r * C, *b = a + C;
        float *d = dx + r * C;
        for (int i = 0; i < C; i++) d[i] += a[i] + b[i];
    }
    return AGIR_OK;
}

// Value and derivative of one element's loss for the difference d = pred - target.
static inline double elem_loss(agir_loss_kind k, double d, double *grad) {
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

int agir_op_loss(const agir_ctx *c, const agir_loss_spec *s, const float *pred, const float *target,
                 const uint8_t *mask, double *loss, float *dpred, agir_err *e) {
    AGIR_TRY(cpu_only(c, "loss", e));
    if (s->N < 0 || s->C < 1 || s->c0 < 0 || s->c1 <= s->c0 || s->c1 > s->C || (s->kind != AGIR_LOSS_SMOOTH_L1 &&
        s->kind != AGIR_LOSS_L2))
        return AGIR_BUG(e, "invalid loss spec (N %d, C %d, channels [%d, %d), kind %d)", s->N, s->C, s->c0, s->c1,
                        (int)s->kind);
    size_t rows = 0;
    for (int n = 0; n < s->N; n++) rows += !mask || mask[n];
    *loss = 0;
    if (!rows) return AGIR_OK;
    double scale = s->weight / ((double)rows * (s->c1 - s->c0));
    double total = 0;
    // Serial: a fixed summation order, and the pass is tiny next to the convolutions.
    for (int n = 0; n < s->N; n++) {
        if (mask && !mask[n]) continue;
        const float *p = pred + (size_t)n * s->C, *t = target + (size_t)n * s->C;
        double row = 0;
        for (int ch = s->c0; ch < s->c1; ch++) {
            double g;
            row += elem_loss(s->kind, (double)p[ch] - t[ch], &g);
            if (dpred) dpred[(size_t)n * s->C + ch] += (float)(scale * g);
        }
        total += row;
    }
    *loss = total * scale;
    return AGIR_OK;
}

size_t agir_vq_ws_floats(int N, int K) { return (size_t)N * K + (size_t)K; }

int agir_op_vq_assign(const agir_ctx *c, const float *x, const float *codebook, int N, int K, int D, int32_t *idx,
                      float *ws, agir_err *e) {
    AGIR_TRY(cpu_only(c, "vq_assign", e));
    if (N < 0 || K < 1 || D < 1) return AGIR_BUG(e, "invalid vq_assign sizes (N %d, K %d, D %d)", N, K, D);
    if (!N) return AGIR_OK;
    float *dots = ws, *cnorm = ws + (size_t)N * K;
#pragma omp parallel for schedule(static)
    for (int k = 0; k < K; k++) {
        const float *ck = codebook + (size_t)k * D;
        float acc = 0;
        for (int i = 0; i < D; i++) acc += ck[i] * ck[i];
        cnorm[k] = acc;
    }
    // dots = x · codebookᵀ; ||x||² is the same for every code of a row, so the argmin skips it.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, K, D, 1.0f, x, D, codebook, D, 0.0f, dots, K);
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *dn = dots + (size_t)n * K;
        int best = 0;
        float bd = cnorm[0] - 2 * dn[0];
        for (int k = 1; k < K; k++) {
            float d = cnorm[k] - 2 * dn[k];
            if (d < bd) bd = d, best = k;
        }
        idx[n] = best;
    }
    return AGIR_OK;
}

static int check_idx(const int32_t *idx, int N, int K, agir_err *e) {
    for (int n = 0; n < N; n++)
        if (idx[n] < 0 || idx[n] >= K) return AGIR_BUG(e, "code index %d of row %d outside [0, %d)", idx[n], n, K);
    return AGIR_OK;
}

int agir_op_vq_gather(const agir_ctx *c, const float *codebook, const int32_t *idx, int N, int K, int D, float *q,
                      agir_err *e) {
    AGIR_TRY(cpu_only(c, "vq_gather", e));
    AGIR_TRY(check_idx(idx, N, K, e));
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) memcpy(q + (size_t)n * D, codebook + (size_t)idx[n] * D, sizeof(float) * D);
    return AGIR_OK;
}

int agir_op_vq_stats(const agir_ctx *c, const float *x, const int32_t *idx, int N, int K, int D, float *counts,
                     float *sums, agir_err *e) {
    AGIR_TRY(cpu_only(c, "vq_stats", e));
    AGIR_TRY(check_idx(idx, N, K, e));
    memset(counts, 0, sizeof(float) * K);
    for (int n = 0; n < N; n++) counts[idx[n]] += 1;
    memset(sums, 0, sizeof(float) * K * (size_t)D);
    // Threads own slices of the D columns and walk the rows in order: a fixed summation order.
    enum { SLICE = 64 };
    int nslice = (D + SLICE - 1) / SLICE;
#pragma omp parallel for schedule(static)
    for (int sl = 0; sl < nslice; sl++) {
        int lo = sl * SLICE, hi = lo + SLICE < D ? lo + SLICE : D;
        for (int n = 0; n < N; n++) {
            const float *xn = x + (size_t)n * D;
            float *s = sums + (size_t)idx[n] * D;
            for (int i = lo; i < hi; i++) s[i] += xn[i];
        }
    }
    return AGIR_OK;
}

size_t agir_vq_reset_ws_ints(int N, int K) {
    if (N >= K || N < 1) return (size_t)(N > 0 ? N : 0);
    return (size_t)((K + N - 1) / N) * (size_t)N;
}

int agir_op_vq_reset_rows(const agir_ctx *c, agir_rng *r, const float *x, int N, int K, int D, float *rows,
                          int32_t *ws, agir_err *e) {
    AGIR_TRY(cpu_only(c, "vq_reset_rows", e));
    if (N < 1 || K < 1 || D < 1) return AGIR_BUG(e, "invalid vq_reset_rows sizes (N %d, K %d, D %d)", N, K, D);
    // The pool: each row of x once, or ceil(K/N) times when there are fewer rows than codes.
    int pool = (int)agir_vq_reset_ws_ints(N, K);
    for (int i = 0; i < pool; i++) ws[i] = i;
    // Partial Fisher-Yates: the first K entries become a uniform random K-subset in random order.
    for (int i = 0; i < K; i++) {
        int j = i + (int)agir_rng_below(r, (uint32_t)(pool - i));
        int32_t t = ws[i];
        ws[i] = ws[j];
        ws[j] = t;
    }
    double std = N < K ? 0.01 / sqrt((double)D) : 0;
    for (int k = 0; k < K; k++) {
        const float *src = x + (size_t)(ws[k] % N) * D;
        float *dst = rows + (size_t)k * D;
        for (int i = 0; i < D; i++) dst[i] = std > 0 ? (float)(src[i] + std * agir_rng_normal(r)) : src[i];
    }
    return AGIR_OK;
}

int agir_op_vq_ema_update(const agir_ctx *c, float *ema_count, float *ema_sum, const float *counts,
                          const float *sums, const float *rows, float mu, int K, int D, float *codebook, int *n_reset,
                          agir_err *e) {
    AGIR_TRY(cpu_only(c, "vq_ema_update", e));
    if (!(mu >= 0 && mu <= 1) || K < 1 || D < 1)
        return AGIR_BUG(e, "invalid vq_ema_update arguments (mu %g, K %d, D %d)", mu, K, D);
    int dead = 0;
#pragma omp parallel for schedule(static) reduction(+ : dead)
    for (int k = 0; k < K; k++) {
        float cnt = mu * ema_count[k] + (1 - mu) * counts[k];
        ema_count[k] = cnt;
        float *s = ema_sum + (size_t)k * D, *cb = codebook + (size_t)k * D;
        const float *bs = sums + (size_t)k * D, *rk = rows + (size_t)k * D;
        for (int i = 0; i < D; i++) s[i] = mu * s[i] + (1 - mu) * bs[i];
        if (cnt >= 1) {
            for (int i = 0; i < D; i++) cb[i] = s[i] / cnt;
        } else {
            memcpy(cb, rk, sizeof(float) * D);
            dead++;
        }
    }
    *n_reset = dead;
    return AGIR_OK;
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
