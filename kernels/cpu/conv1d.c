// 1-D convolution on the CPU: im2col + one sgemm per pass over the whole batch (kernels/vq_ops.c
// checks the shape and the tensors before calling these kernels).
//
// Channels-last activations make the im2col matrix a (B·T_out, K·C_in) row-major array whose rows
// are K contiguous C_in-slices of x, and the weight (C_out, K, C_in) is already the (C_out, K·C_in)
// matrix the GEMM wants, so each pass is one large sgemm (M = B·T_out), which keeps OpenBLAS near its
// peak. 1×1 unpadded stride-1 convs use x itself. The copies run under OpenMP; sgemm is always called
// from serial code, so OpenBLAS's own threads (the pthread build) never nest inside OpenMP's.
#include <cblas.h>
#include <string.h>

#include "kernels/backend.h"

// 1×1, stride 1, no padding (the shapes that need no workspace): x is its own im2col matrix.
static int is_direct(const agir_conv1d_shape *s) { return agir_conv1d_ws_floats(s) == 0; }

// col[(b, t), k, :] = x[b, t·stride + k·dilation - pad, :], zero outside [0, T_in).
static void im2col(const agir_conv1d_shape *s, int T_out, const float *x, float *col) {
    size_t kc = (size_t)s->K * s->C_in, rows = (size_t)s->B * T_out;
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) {
        size_t b = r / T_out;
        long t = (long)(r % T_out);
        float *dst = col + r * kc;
        for (int k = 0; k < s->K; k++) {
            long ti = t * s->stride + (long)k * s->dilation - s->pad;
            float *d = dst + (size_t)k * s->C_in;
            if (ti < 0 || ti >= s->T_in)
                memset(d, 0, sizeof(float) * s->C_in);
            else
                memcpy(d, x + (b * s->T_in + (size_t)ti) * s->C_in, sizeof(float) * s->C_in);
        }
    }
}

// dx[b, t·stride + k·dilation - pad, :] += dcol[(b, t), k, :]. One thread per sequence: the rows a
// sequence's taps overlap on stay with it, so the sum order is fixed.
static void col2im_add(const agir_conv1d_shape *s, int T_out, const float *dcol, float *dx) {
    size_t kc = (size_t)s->K * s->C_in;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < s->B; b++) {
        for (int t = 0; t < T_out; t++) {
            const float *src = dcol + ((size_t)b * T_out + t) * kc;
            for (int k = 0; k < s->K; k++) {
                long ti = (long)t * s->stride + (long)k * s->dilation - s->pad;
                if (ti < 0 || ti >= s->T_in) continue;
                float *d = dx + ((size_t)b * s->T_in + (size_t)ti) * s->C_in;
                const float *g = src + (size_t)k * s->C_in;
                for (int i = 0; i < s->C_in; i++) d[i] += g[i];
            }
        }
    }
}

void agir_cpu_conv1d_fwd(const agir_conv1d_shape *s, const float *x, const float *w, const float *bias, float *y,
                         float *ws) {
    int T_out = agir_conv1d_t_out(s);
    size_t rows = (size_t)s->B * T_out;
    int kc = s->K * s->C_in;
    const float *col = x;
    if (!is_direct(s)) {
        im2col(s, T_out, x, ws);
        col = ws;
    }
    if (bias) {
#pragma omp parallel for schedule(static)
        for (size_t r = 0; r < rows; r++) memcpy(y + r * s->C_out, bias, sizeof(float) * s->C_out);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, s->C_out, kc, 1.0f, col, kc, w, kc,
                bias ? 1.0f : 0.0f, y, s->C_out);
}

// dbias[o] += Σ_r dy[r, o]. Threads own blocks of channels and walk the rows in order (a fixed
// summation order), reading each row's block contiguously.
static void bias_grad(const float *dy, size_t rows, int C, float *dbias) {
    enum { BLOCK = 64 };
    int nblock = (C + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblock; blk++) {
        int lo = blk * BLOCK, w = C - lo < BLOCK ? C - lo : BLOCK;
        double acc[BLOCK] = {0};
        for (size_t r = 0; r < rows; r++) {
            const float *d = dy + r * C + lo;
            for (int i = 0; i < w; i++) acc[i] += d[i];
        }
        for (int i = 0; i < w; i++) dbias[lo + i] += (float)acc[i];
    }
}

void agir_cpu_conv1d_bwd(const agir_conv1d_shape *s, const float *x, const float *w, const float *dy, float *dx,
                         float *dw, float *dbias, float *ws) {
    int T_out = agir_conv1d_t_out(s);
    size_t rows = (size_t)s->B * T_out;
    int kc = s->K * s->C_in;
    int direct = is_direct(s);
    const float *col = x;
    if (!direct) {
        im2col(s, T_out, x, ws);
        col = ws;
    }
    // dW (C_out, K·C_in) += dyᵀ · col
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, s->C_out, kc, (int)rows, 1.0f, dy, s->C_out, col, kc, 1.0f,
                dw, kc);
    if (dbias) bias_grad(dy, rows, s->C_out, dbias);
    if (!dx) return;
    // dcol = dy · W; the direct case adds straight into dx. Otherwise the columns are no longer
    // needed, so their buffer takes dcol.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, kc, s->C_out, 1.0f, dy, s->C_out, w, kc,
                direct ? 1.0f : 0.0f, direct ? dx : ws, kc);
    if (!direct) col2im_add(s, T_out, ws, dx);
}
