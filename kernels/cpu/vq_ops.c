// The VQ-VAE's element-wise ops, losses and EMA quantizer on the CPU (shapes in kernels/cpu/vq_ops.h).
//
// The quantizer follows T2M-GPT's QuantizeEMAReset (models/quantize_cnn.py of Mael-zys/T2M-GPT):
// nearest code, straight-through gradient (applied by the model), EMA of per-code counts and sums,
// and replacement of codes whose EMA count is under 1 by random encoder outputs. Every reduction is
// split by sizes only, never by thread, so results do not depend on the thread count.
//
// Each op validates its arguments, then hands a CUDA context's tensors to the launcher of
// kernels/cuda/vq_ops.cu (AGIR_ON_CUDA); the code after that is the CPU kernel.
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/backend.h"
#include "kernels/cpu/vq_ops.h"

int agir_op_add_into(const agir_ctx *c, const float *x, float *y, size_t n, agir_err *e) {
    AGIR_ON_CUDA(c, e, agir_cuda_add_into(c, x, y, n, e));
#pragma omp parallel for simd schedule(static) if (n >= (1u << 16))
    for (size_t i = 0; i < n; i++) y[i] += x[i];
    return AGIR_OK;
}

int agir_op_relu_fwd(const agir_ctx *c, const float *x, float *y, size_t n, agir_err *e) {
    AGIR_ON_CUDA(c, e, agir_cuda_relu_fwd(c, x, y, n, e));
#pragma omp parallel for simd schedule(static) if (n >= (1u << 16))
    for (size_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0;
    return AGIR_OK;
}

int agir_op_relu_bwd(const agir_ctx *c, const float *y, const float *dy, float *dx, size_t n, agir_err *e) {
    AGIR_ON_CUDA(c, e, agir_cuda_relu_bwd(c, y, dy, dx, n, e));
    // Branch-free: half the signs are random, and a branch per element mispredicts on them.
#pragma omp parallel for simd schedule(static) if (n >= (1u << 16))
    for (size_t i = 0; i < n; i++) dx[i] += y[i] > 0 ? dy[i] : 0.0f;
    return AGIR_OK;
}

int agir_op_upsample2_fwd(const agir_ctx *c, const float *x, float *y, int B, int T, int C, agir_err *e) {
    AGIR_ON_CUDA(c, e, agir_cuda_upsample2_fwd(c, x, y, B, T, C, e));
    size_t rows = (size_t)B * T;
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) {
        memcpy(y + 2 * r * C, x + r * C, sizeof(float) * C);
        memcpy(y + (2 * r + 1) * C, x + r * C, sizeof(float) * C);
    }
    return AGIR_OK;
}

int agir_op_upsample2_bwd(const agir_ctx *c, const float *dy, float *dx, int B, int T, int C, agir_err *e) {
    AGIR_ON_CUDA(c, e, agir_cuda_upsample2_bwd(c, dy, dx, B, T, C, e));
    size_t rows = (size_t)B * T;
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) {
        const float *a = dy + 2 * r * C, *b = a + C;
        float *d = dx + r * C;
        for (int i = 0; i < C; i++) d[i] += a[i] + b[i];
    }
    return AGIR_OK;
}

#ifdef AGIR_HAVE_CUDA
// The device returns the unscaled sum and the row count; the scaling is the CPU kernel's, in double.
static int cuda_loss(const agir_ctx *c, const agir_loss_spec *s, const float *pred, const float *target,
                     const uint8_t *mask, double *loss, float *dpred, agir_err *e) {
    double total = 0, rows = 0;
    AGIR_TRY(agir_cuda_loss(c, s, pred, target, mask, &total, &rows, dpred, e));
    *loss = rows > 0 ? total * (s->weight / (rows * (s->c1 - s->c0))) : 0;
    return AGIR_OK;
}
#endif

int agir_op_loss(const agir_ctx *c, const agir_loss_spec *s, const float *pred, const float *target,
                 const uint8_t *mask, double *loss, float *dpred, agir_err *e) {
    if (s->N < 0 || s->C < 1 || s->c0 < 0 || s->c1 <= s->c0 || s->c1 > s->C || (s->kind != AGIR_LOSS_SMOOTH_L1 &&
        s->kind != AGIR_LOSS_L2))
        return AGIR_BUG(e, "invalid loss spec (N %d, C %d, channels [%d, %d), kind %d)", s->N, s->C, s->c0, s->c1,
                        (int)s->kind);
    AGIR_ON_CUDA(c, e, cuda_loss(c, s, pred, target, mask, loss, dpred, e));
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
            row += agir_loss_elem(s->kind, (double)p[ch] - t[ch], &g);
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
    if (N < 0 || K < 1 || D < 1) return AGIR_BUG(e, "invalid vq_assign sizes (N %d, K %d, D %d)", N, K, D);
    if (!N) return AGIR_OK;
    AGIR_ON_CUDA(c, e, agir_cuda_vq_assign(c, x, codebook, N, K, D, idx, ws, e));
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
    AGIR_ON_CUDA(c, e, agir_cuda_vq_gather(c, codebook, idx, N, K, D, q, e));
    AGIR_TRY(check_idx(idx, N, K, e));
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) memcpy(q + (size_t)n * D, codebook + (size_t)idx[n] * D, sizeof(float) * D);
    return AGIR_OK;
}

int agir_op_vq_stats(const agir_ctx *c, const float *x, const int32_t *idx, int N, int K, int D, float *counts,
                     float *sums, agir_err *e) {
    AGIR_ON_CUDA(c, e, agir_cuda_vq_stats(c, x, idx, N, K, D, counts, sums, e));
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

// The candidates' rows of x: ws[k] % N for k < K. ws: agir_vq_reset_ws_ints(N, K) host ints.
static void reset_pick(agir_rng *r, int N, int K, int32_t *ws) {
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
}

static double reset_std(int N, int K, int D) { return N < K ? 0.01 / sqrt((double)D) : 0; }

#ifdef AGIR_HAVE_CUDA
// The CUDA op: the same draws in the same order as the CPU kernel below, made here on the host; the
// device gathers the rows and adds the noise.
static int cuda_reset_rows(const agir_ctx *c, agir_rng *r, const float *x, int N, int K, int D, float *rows,
                           int32_t *ws, agir_err *e) {
    int32_t *pick = malloc(agir_vq_reset_ws_ints(N, K) * sizeof *pick);
    double std = reset_std(N, K, D), *noise = std > 0 ? malloc((size_t)K * D * sizeof *noise) : NULL;
    if (!pick || (std > 0 && !noise)) {
        free(pick);
        free(noise);
        return AGIR_BAD(e, "out of memory drawing %d reset rows (hint: use fewer codes)", K);
    }
    reset_pick(r, N, K, pick);
    for (int k = 0; k < K; k++) {
        pick[k] %= N;
        for (int i = 0; noise && i < D; i++) noise[(size_t)k * D + i] = std * agir_rng_normal(r);
    }
    int rc = agir_cuda_vq_reset_rows(c, x, pick, noise, K, D, rows, ws, e);
    free(pick);
    free(noise);
    return rc;
}
#endif

int agir_op_vq_reset_rows(const agir_ctx *c, agir_rng *r, const float *x, int N, int K, int D, float *rows,
                          int32_t *ws, agir_err *e) {
    if (N < 1 || K < 1 || D < 1) return AGIR_BUG(e, "invalid vq_reset_rows sizes (N %d, K %d, D %d)", N, K, D);
    AGIR_ON_CUDA(c, e, cuda_reset_rows(c, r, x, N, K, D, rows, ws, e));
    reset_pick(r, N, K, ws);
    double std = reset_std(N, K, D);
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
    if (!(mu >= 0 && mu <= 1) || K < 1 || D < 1)
        return AGIR_BUG(e, "invalid vq_ema_update arguments (mu %g, K %d, D %d)", mu, K, D);
    AGIR_ON_CUDA(c, e,
                 agir_cuda_vq_ema_update(c, ema_count, ema_sum, counts, sums, rows, mu, K, D, codebook, n_reset, e));
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
