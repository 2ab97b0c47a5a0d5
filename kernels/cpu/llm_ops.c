// CPU forward/backward kernels of the Llama-family transformer (see llm_ops.h for shapes).
// Reductions that decide a result (loss, norms) run in a fixed order so the numbers do not depend
// on the thread count; matrix products go to OpenBLAS.
#include "kernels/cpu/llm_ops.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

void agir_linear_fwd(float *y, int ldy, const float *x, const float *W, const float *b, int N, int C, int OC,
                     float beta) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, x, C, W, C, beta, y, ldy);
    if (!b) return;
#pragma omp parallel for schedule(static) if ((size_t)N * OC >= AGIR_CPU_PAR_MIN)
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) y[(size_t)n * ldy + o] += b[o];
}

void agir_linear_bwd(float *dx, float *dW, float *db, const float *dy, int ldy, const float *x, const float *W, int N,
                     int C, int OC) {
    if (dx) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dy, ldy, W, C, 1.0f, dx, C);
    if (dW) cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dy, ldy, x, C, 1.0f, dW, C);
    if (!db) return;
#pragma omp parallel for schedule(static) if ((size_t)N * OC >= AGIR_CPU_PAR_MIN)
    for (int o = 0; o < OC; o++) {
        double s = 0;
        for (int n = 0; n < N; n++) s += dy[(size_t)n * ldy + o];
        db[o] += (float)s;
    }
}

void agir_rmsnorm_fwd(float *y, float *rstd, const float *x, const float *w, int N, int C, float eps) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= AGIR_CPU_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * C;
        float *yr = y + (size_t)n * C;
        float ss = 0;
        for (int i = 0; i < C; i++) ss += xr[i] * xr[i];
        float r = 1.0f / sqrtf(ss / C + eps);
        for (int i = 0; i < C; i++) yr[i] = xr[i] * r * w[i];
        rstd[n] = r;
    }
}

void agir_rmsnorm_bwd(float *dx, float *dw, const float *dy, const float *x, const float *w, const float *rstd, int N,
                      int C) {
    // d/dx_i of x_i·r·w_i with r = (mean(x²)+eps)^-½: r·w_i·dy_i − x_i·r³/C · Σ_j w_j·dy_j·x_j
    if (dx) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= AGIR_CPU_PAR_MIN)
        for (int n = 0; n < N; n++) {
            const float *xr = x + (size_t)n * C, *dyr = dy + (size_t)n * C;
            float *dxr = dx + (size_t)n * C;
            float r = rstd[n], dot = 0;
            for (int i = 0; i < C; i++) dot += w[i] * dyr[i] * xr[i];
            float c = dot * r * r * r / C;
            for (int i = 0; i < C; i++) dxr[i] += r * w[i] * dyr[i] - c * xr[i];
        }
    }
    if (dw) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= AGIR_CPU_PAR_MIN)
        for (int i = 0; i < C; i++) {
            double s = 0;
            for (int n = 0; n < N; n++) s += (double)dy[(size_t)n * C + i] * x[(size_t)n * C + i] * rstd[n];
            dw[i] += (float)s;
        }
    }
}

void agir_rope_inv_freq(float *inv_freq, int D, const agir_rope_cfg *cfg) {
    const double pi = 3.14159265358979323846;
    for (int i = 0; i < D / 2; i++) {
        double f = 1.0 / pow(cfg->theta, (double)(2 * i) / D);
        if (cfg->factor > 0) {
            // Llama 3.1: long wavelengths are slowed by `factor`, short ones kept, the band between
            // the two thresholds interpolated smoothly.
            double low_wl = cfg->original_max_pos / cfg->low_freq_factor;
            double high_wl = cfg->original_max_pos / cfg->high_freq_factor;
            double wl = 2 * pi / f;
            if (wl > low_wl) {
                f /= cfg->factor;
            } else if (wl >= high_wl) {
                double s = (cfg->original_max_pos / wl - cfg->low_freq_factor) /
                           (cfg->high_freq_factor - cfg->low_freq_factor);
                f = (1 - s) * f / cfg->factor + s * f;
            }
        }
        inv_freq[i] = (float)f;
    }
}

void agir_rope_table(float *cos_t, float *sin_t, const int32_t *pos, const float *inv_freq, int N, int D) {
    int half = D / 2;
    for (int n = 0; n < N; n++)
        for (int i = 0; i < half; i++) {
            float a = (float)pos[n] * inv_freq[i];  // float product, as HF computes the angles
            cos_t[(size_t)n * half + i] = cosf(a);
            sin_t[(size_t)n * half + i] = sinf(a);
        }
}

void agir_rope_apply(float *x, const float *cos_t, const float *sin_t, int N, int nh, int D, int inverse) {
    int half = D / 2;
    float sgn = inverse ? -1.0f : 1.0f;
#pragma omp parallel for schedule(static) if ((size_t)N * nh * D >= AGIR_CPU_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *c = cos_t + (size_t)n * half, *s = sin_t + (size_t)n * half;
        for (int h = 0; h < nh; h++) {
            float *v = x + ((size_t)n * nh + h) * D;
            for (int i = 0; i < half; i++) {
                float a = v[i], b = v[i + half], si = sgn * s[i];
                v[i] = a * c[i] - b * si;
                v[i + half] = b * c[i] + a * si;
            }
        }
    }
}

static int visible(const int32_t *seg, int i, int j) { return j <= i && seg[j] == seg[i]; }

void agir_attention_fwd(float *out, float *att, const float *q, const float *k, const float *v, const int32_t *seg,
                        int B, int T, int H, int KVH, int D) {
    int group = H / KVH;
    float scale = 1.0f / sqrtf((float)D);
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * H * T * T * D >= AGIR_CPU_PAR_MIN)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const int32_t *sg = seg + (size_t)b * T;
            int kh = h / group;
            for (int i = 0; i < T; i++) {
                const float *qi = q + (((size_t)b * T + i) * H + h) * D;
                float *a = att + (((size_t)b * H + h) * T + i) * T;
                float mx = -INFINITY;
                for (int j = 0; j < T; j++) {
                    if (!visible(sg, i, j)) {
                        a[j] = 0;
                        continue;
                    }
                    const float *kj = k + (((size_t)b * T + j) * KVH + kh) * D;
                    float s = 0;
                    for (int d = 0; d < D; d++) s += qi[d] * kj[d];
                    a[j] = s * scale;
                    if (a[j] > mx) mx = a[j];
                }
                float sum = 0;
                for (int j = 0; j <= i; j++)
                    if (visible(sg, i, j)) {
                        a[j] = expf(a[j] - mx);
                        sum += a[j];
                    }
                float inv = 1.0f / sum;  // j = i is always visible, so sum ≥ 1
                float *o = out + (((size_t)b * T + i) * H + h) * D;
                memset(o, 0, sizeof(float) * D);
                for (int j = 0; j <= i; j++) {
                    a[j] *= inv;
                    const float *vj = v + (((size_t)b * T + j) * KVH + kh) * D;
                    for (int d = 0; d < D; d++) o[d] += a[j] * vj[d];
                }
            }
        }
}

void agir_attention_bwd(float *dq, float *dk, float *dv, float *datt, const float *dout, const float *att,
                        const float *q, const float *k, const float *v, int B, int T, int H, int KVH, int D) {
    int group = H / KVH;
    float scale = 1.0f / sqrtf((float)D);
    // One task per (batch, kv head) owns that head's dk/dv rows, so no two threads add to the same row.
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * H * T * T * D >= AGIR_CPU_PAR_MIN)
    for (int b = 0; b < B; b++)
        for (int kh = 0; kh < KVH; kh++)
            for (int h = kh * group; h < (kh + 1) * group; h++)
                for (int i = 0; i < T; i++) {
                    const float *a = att + (((size_t)b * H + h) * T + i) * T;
                    float *da = datt + (((size_t)b * H + h) * T + i) * T;
                    const float *doi = dout + (((size_t)b * T + i) * H + h) * D;
                    const float *qi = q + (((size_t)b * T + i) * H + h) * D;
                    float *dqi = dq + (((size_t)b * T + i) * H + h) * D;
                    float dot = 0;
                    for (int j = 0; j <= i; j++) {
                        const float *vj = v + (((size_t)b * T + j) * KVH + kh) * D;
                        float *dvj = dv + (((size_t)b * T + j) * KVH + kh) * D;
                        float s = 0;
                        for (int d = 0; d < D; d++) {
                            s += doi[d] * vj[d];
                            dvj[d] += a[j] * doi[d];
                        }
                        da[j] = s;
                        dot += a[j] * s;
                    }
                    for (int j = 0; j <= i; j++) {
                        float ds = a[j] * (da[j] - dot) * scale;  // softmax backward; masked a[j] = 0
                        if (ds == 0) continue;
                        const float *kj = k + (((size_t)b * T + j) * KVH + kh) * D;
                        float *dkj = dk + (((size_t)b * T + j) * KVH + kh) * D;
                        for (int d = 0; d < D; d++) {
                            dqi[d] += ds * kj[d];
                            dkj[d] += ds * qi[d];
                        }
                    }
                }
}

static float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

void agir_swiglu_fwd(float *out, const float *gate, const float *up, size_t n) {
#pragma omp parallel for schedule(static) if (n >= AGIR_CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) out[i] = gate[i] * sigmoidf(gate[i]) * up[i];
}

void agir_swiglu_bwd(float *dgate, float *dup, const float *dout, const float *gate, const float *up, size_t n) {
#pragma omp parallel for schedule(static) if (n >= AGIR_CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float g = gate[i], s = sigmoidf(g);
        dgate[i] += dout[i] * up[i] * s * (1 + g * (1 - s));
        dup[i] += dout[i] * g * s;
    }
}

void agir_embedding_fwd(float *out, const int32_t *ids, const float *base, const float *extra, int V0, int N, int C) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= AGIR_CPU_PAR_MIN)
    for (int n = 0; n < N; n++) {
        int id = ids[n];
        const float *row = id < V0 ? base + (size_t)id * C : extra + (size_t)(id - V0) * C;
        memcpy(out + (size_t)n * C, row, sizeof(float) * C);
    }
}

void agir_embedding_bwd(float *dbase, float *dextra, const float *dout, const int32_t *ids, int V0, int N, int C) {
    for (int n = 0; n < N; n++) {
        int id = ids[n];
        float *row = id < V0 ? (dbase ? dbase + (size_t)id * C : NULL) : (dextra ? dextra + (size_t)(id - V0) * C : NULL);
        if (!row) continue;
        for (int c = 0; c < C; c++) row[c] += dout[(size_t)n * C + c];
    }
}

enum { XENT_CHUNKS = 64 };

double agir_softmax_xent(float *dlogits, const float *logits, const int32_t *labels, int N, int V, float scale) {
    // Rows are cut into a fixed number of chunks summed in index order: the loss does not depend on
    // the thread count.
    int nchunk = N < XENT_CHUNKS ? N : XENT_CHUNKS;
    double part[XENT_CHUNKS] = {0};
#pragma omp parallel for schedule(static) if ((size_t)N * V >= AGIR_CPU_PAR_MIN)
    for (int ch = 0; ch < nchunk; ch++) {
        int lo = (int)((long long)N * ch / nchunk), hi = (int)((long long)N * (ch + 1) / nchunk);
        double acc = 0;
        for (int n = lo; n < hi; n++) {
            const float *x = logits + (size_t)n * V;
            float *dx = dlogits ? dlogits + (size_t)n * V : NULL;
            int y = labels[n];
            if (y < 0) {
                if (dx) memset(dx, 0, sizeof(float) * V);
                continue;
            }
            float mx = x[0];
            for (int i = 1; i < V; i++) mx = x[i] > mx ? x[i] : mx;
            double sum = 0;
            for (int i = 0; i < V; i++) sum += exp((double)x[i] - mx);
            acc += log(sum) + mx - x[y];
            if (!dx) continue;
            double inv = 1.0 / sum;
            // dx may alias x: each element is read before it is overwritten, and the loss above
            // was taken first.
            for (int i = 0; i < V; i++) dx[i] = (float)(exp((double)x[i] - mx) * inv) * scale;
            dx[y] -= scale;
        }
        part[ch] = acc;
    }
    double loss = 0;
    for (int ch = 0; ch < nchunk; ch++) loss += part[ch];
    return loss * scale;
}
