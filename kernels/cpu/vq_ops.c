// The VQ-VAE's element-wise ops, losses and EMA quantizer on the CPU (shapes in kernels/vq_ops.h;
// kernels/vq_ops.c checks the arguments before calling these kernels).
//
// The quantizer follows T2M-GPT's QuantizeEMAReset (models/quantize_cnn.py of Mael-zys/T2M-GPT):
// nearest code, straight-through gradient (applied by the model), EMA of per-code counts and sums,
// and replacement of codes whose EMA count is under 1 by random encoder outputs. Every reduction is
// split by sizes only, never by thread, so results do not depend on the thread count.
#include <cblas.h>
#include <string.h>

#include "kernels/backend.h"

void agir_cpu_add_into(const float *x, float *y, size_t n) {
#pragma omp parallel for simd schedule(static) if (n >= (1u << 16))
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

void agir_cpu_relu_fwd(const float *x, float *y, size_t n) {
#pragma omp parallel for simd schedule(static) if (n >= (1u << 16))
    for (size_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0;
}

void agir_cpu_relu_bwd(const float *y, const float *dy, float *dx, size_t n) {
    // Branch-free: half the signs are random, and a branch per element mispredicts on them.
#pragma omp parallel for simd schedule(static) if (n >= (1u << 16))
    for (size_t i = 0; i < n; i++) dx[i] += y[i] > 0 ? dy[i] : 0.0f;
}

void agir_cpu_upsample2_fwd(const float *x, float *y, int B, int T, int C) {
    size_t rows = (size_t)B * T;
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) {
        memcpy(y + 2 * r * C, x + r * C, sizeof(float) * C);
        memcpy(y + (2 * r + 1) * C, x + r * C, sizeof(float) * C);
    }
}

void agir_cpu_upsample2_bwd(const float *dy, float *dx, int B, int T, int C) {
    size_t rows = (size_t)B * T;
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) {
        const float *a = dy + 2 * r * C, *b = a + C;
        float *d = dx + r * C;
        for (int i = 0; i < C; i++) d[i] += a[i] + b[i];
    }
}

void agir_cpu_loss(const agir_loss_spec *s, const float *pred, const float *target, const uint8_t *mask,
                   double *total, double *rows, float *dpred) {
    size_t n_rows = 0;
    for (int n = 0; n < s->N; n++) n_rows += !mask || mask[n];
    *total = 0, *rows = (double)n_rows;
    if (!n_rows) return;
    double scale = agir_loss_scale(s, *rows), sum = 0;
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
        sum += row;
    }
    *total = sum;
}

void agir_cpu_vq_assign(const float *x, const float *codebook, int N, int K, int D, int32_t *idx, float *ws) {
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
}

void agir_cpu_vq_gather(const float *codebook, const int32_t *idx, int N, int D, float *q) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) memcpy(q + (size_t)n * D, codebook + (size_t)idx[n] * D, sizeof(float) * D);
}

void agir_cpu_vq_stats(const float *x, const int32_t *idx, int N, int K, int D, float *counts, float *sums) {
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
}

void agir_cpu_vq_reset_rows(const float *x, const int32_t *pick, const double *noise, int K, int D, float *rows) {
    for (int k = 0; k < K; k++) {
        const float *src = x + (size_t)pick[k] * D;
        float *dst = rows + (size_t)k * D;
        const double *nk = noise ? noise + (size_t)k * D : NULL;
        for (int i = 0; i < D; i++) dst[i] = nk ? (float)(src[i] + nk[i]) : src[i];
    }
}

void agir_cpu_vq_ema_update(float *ema_count, float *ema_sum, const float *counts, const float *sums,
                            const float *rows, float mu, int K, int D, float *codebook, int *n_reset) {
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
}
