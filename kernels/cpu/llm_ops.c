// CPU kernels of the Llama-family transformer (kernels/llm_ops.h has the shapes; kernels/backend.h
// declares them). Reductions that decide a result (loss, norms) run in a fixed order so the numbers
// do not depend on the thread count; matrix products go to OpenBLAS. bf16 weights are widened to
// fp32 block by block, so the arithmetic is the fp32 path's and the scratch stays small.
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/bf16.h"
#include "core/philox.h"
#include "kernels/backend.h"

// Rows of a bf16 weight widened at a time: 256 rows of 576 are 590 KB of scratch.
enum { WIDEN_ROWS = 256 };

static void widen(float *dst, const agir_bf16 *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = agir_bf16_to_f32(src[i]);
}

static int widen_oom(size_t n, agir_err *e) {
    return AGIR_BAD(e, "out of memory widening %zu bf16 weights (hint: use f32 weights)", n);
}

// *out = the f32 view of a small weight w: (n) (a norm or a bias; NULL stays NULL). A bf16 one is
// widened into *tmp, which the caller frees.
static int as_f32(const void *w, agir_ftype wdt, size_t n, const float **out, float **tmp, agir_err *e) {
    *tmp = NULL;
    *out = w;
    if (!w || wdt == AGIR_F32) return AGIR_OK;
    if (!(*tmp = malloc(n * sizeof(float)))) return widen_oom(n, e);
    widen(*tmp, w, n);
    *out = *tmp;
    return AGIR_OK;
}

static void linear_f32(float *y, int ldy, const float *x, const float *W, const float *b, int N, int C, int OC,
                       float alpha, float beta) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, alpha, x, C, W, C, beta, y, ldy);
    if (!b) return;
#pragma omp parallel for schedule(static) if ((size_t)N * OC >= AGIR_CPU_PAR_MIN)
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) y[(size_t)n * ldy + o] += b[o];
}

int agir_cpu_linear_fwd(float *y, int ldy, const float *x, const void *W, const void *b, agir_ftype wdt, int N, int C,
                        int OC, float alpha, float beta, agir_err *e) {
    if (wdt == AGIR_F32) {
        linear_f32(y, ldy, x, W, b, N, C, OC, alpha, beta);
        return AGIR_OK;
    }
    // y[:, o0:o1] = x W[o0:o1]ᵀ per block of widened rows.
    const float *bf;
    float *bias, *blk;
    AGIR_TRY(as_f32(b, wdt, (size_t)OC, &bf, &bias, e));
    if (!(blk = malloc(sizeof(float) * WIDEN_ROWS * (size_t)C))) {
        free(bias);
        return widen_oom((size_t)WIDEN_ROWS * C, e);
    }
    for (int o0 = 0; o0 < OC; o0 += WIDEN_ROWS) {
        int rows = OC - o0 < WIDEN_ROWS ? OC - o0 : WIDEN_ROWS;
        widen(blk, (const agir_bf16 *)W + (size_t)o0 * C, (size_t)rows * C);
        linear_f32(y + o0, ldy, x, blk, bf ? bf + o0 : NULL, N, C, rows, alpha, beta);
    }
    free(blk), free(bias);
    return AGIR_OK;
}

static void linear_bwd_f32(float *dx, float *dW, float *db, const float *dy, int ldy, const float *x, const float *W,
                           int N, int C, int OC, float alpha) {
    if (dx) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, alpha, dy, ldy, W, C, 1.0f, dx, C);
    if (dW) cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, alpha, dy, ldy, x, C, 1.0f, dW, C);
    if (!db) return;
#pragma omp parallel for schedule(static) if ((size_t)N * OC >= AGIR_CPU_PAR_MIN)
    for (int o = 0; o < OC; o++) {
        double s = 0;
        for (int n = 0; n < N; n++) s += dy[(size_t)n * ldy + o];
        db[o] += (float)(alpha * s);
    }
}

int agir_cpu_linear_bwd(float *dx, float *dW, float *db, const float *dy, int ldy, const float *x, const void *W,
                        agir_ftype wdt, int N, int C, int OC, float alpha, agir_err *e) {
    if (wdt == AGIR_F32 || !dx) {  // dW and db never read W
        linear_bwd_f32(dx, dW, db, dy, ldy, x, W, N, C, OC, alpha);
        return AGIR_OK;
    }
    linear_bwd_f32(NULL, dW, db, dy, ldy, x, NULL, N, C, OC, alpha);
    float *blk = malloc(sizeof(float) * WIDEN_ROWS * (size_t)C);
    if (!blk) return widen_oom((size_t)WIDEN_ROWS * C, e);
    // dx += dy[:, o0:o1] W[o0:o1] per block of widened rows.
    for (int o0 = 0; o0 < OC; o0 += WIDEN_ROWS) {
        int rows = OC - o0 < WIDEN_ROWS ? OC - o0 : WIDEN_ROWS;
        widen(blk, (const agir_bf16 *)W + (size_t)o0 * C, (size_t)rows * C);
        linear_bwd_f32(dx, NULL, NULL, dy + o0, ldy, x, blk, N, C, rows, alpha);
    }
    free(blk);
    return AGIR_OK;
}

int agir_cpu_rmsnorm_fwd(float *y, float *rstd, const float *x, const void *wv, agir_ftype wdt, int N, int C, float eps,
                         agir_err *e) {
    float *tmp;
    const float *w;
    AGIR_TRY(as_f32(wv, wdt, (size_t)C, &w, &tmp, e));
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
    free(tmp);
    return AGIR_OK;
}

int agir_cpu_rmsnorm_bwd(float *dx, float *dw, const float *dy, const float *x, const void *wv, agir_ftype wdt,
                         const float *rstd, int N, int C, agir_err *e) {
    // d/dx_i of x_i·r·w_i with r = (mean(x²)+eps)^-½: r·w_i·dy_i − x_i·r³/C · Σ_j w_j·dy_j·x_j
    if (dx) {
        float *tmp;
        const float *w;
        AGIR_TRY(as_f32(wv, wdt, (size_t)C, &w, &tmp, e));
#pragma omp parallel for schedule(static) if ((size_t)N * C >= AGIR_CPU_PAR_MIN)
        for (int n = 0; n < N; n++) {
            const float *xr = x + (size_t)n * C, *dyr = dy + (size_t)n * C;
            float *dxr = dx + (size_t)n * C;
            float r = rstd[n], dot = 0;
            for (int i = 0; i < C; i++) dot += w[i] * dyr[i] * xr[i];
            float c = dot * r * r * r / C;
            for (int i = 0; i < C; i++) dxr[i] += r * w[i] * dyr[i] - c * xr[i];
        }
        free(tmp);
    }
    if (dw) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= AGIR_CPU_PAR_MIN)
        for (int i = 0; i < C; i++) {
            double s = 0;
            for (int n = 0; n < N; n++) s += (double)dy[(size_t)n * C + i] * x[(size_t)n * C + i] * rstd[n];
            dw[i] += (float)s;
        }
    }
    return AGIR_OK;
}

void agir_cpu_rope(float *x, const float *cos_t, const float *sin_t, int N, int nh, int D, int inverse) {
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

// Loops that take exponentials run on vectors of 4 floats (GCC/Clang vector extensions; the SSE
// width every x86-64 has, so no ABI change): at -O2 compilers leave them scalar (clamps and masks
// are branches to them) and libm's expf is scalar too. Tails are loaded padded into a full vector,
// so every element goes through the same code and results do not depend on where a thread's range
// starts. Horizontal sums run in lane order.
enum { VL = 4 };
typedef float vf __attribute__((vector_size(VL * sizeof(float))));
typedef int32_t vi __attribute__((vector_size(VL * sizeof(int32_t))));

static inline vf vsplat(float x) { return (vf){x, x, x, x}; }
static inline vf vsel(vi m, vf a, vf b) { return (vf)((m & (vi)a) | (~m & (vi)b)); }

// The first min(n, VL) 4-byte lanes at p, the rest of the lanes set to the bits pad. Float vectors
// load through it as bit patterns ((vf) of a vi reinterprets, as in vsel), so both share one body;
// this form measured as fast as two typed copies.
static inline vi vload_bits(const void *p, size_t n, int32_t pad) {
    vi v;
    if (n >= VL) {
        memcpy(&v, p, sizeof v);
        return v;
    }
    for (int i = 0; i < VL; i++) {
        int32_t x = pad;
        if ((size_t)i < n) memcpy(&x, (const char *)p + i * sizeof x, sizeof x);
        v[i] = x;
    }
    return v;
}
static inline vf vload(const float *p, size_t n, float pad) {
    int32_t bits;
    memcpy(&bits, &pad, sizeof bits);
    return (vf)vload_bits(p, n, bits);
}
static inline vi vloadi(const int32_t *p, size_t n, int32_t pad) { return vload_bits(p, n, pad); }
static inline void vstore(float *p, vf v, size_t n) { memcpy(p, &v, (n < VL ? n : VL) * sizeof(float)); }
static inline float vsum(vf v) {
    float s = 0;
    for (int i = 0; i < VL; i++) s += v[i];
    return s;
}
static inline float vmax(vf v) {
    float m = v[0];
    for (int i = 1; i < VL; i++) m = v[i] > m ? v[i] : m;
    return m;
}

// e^x from the Cephes library's expf (S. L. Moshier): x = n·ln2 + r with |r| ≤ ln2/2, a degree-6
// polynomial for e^r, 2^n put straight into the exponent bits; about 1 ulp. Inputs are clamped to
// [-87.3, 88.3], so e^x of anything lower comes out ~1e-38 instead of 0.
static inline vf vexp(vf x) {
    x = vsel(x < -87.3f, vsplat(-87.3f), x);
    x = vsel(x > 88.3f, vsplat(88.3f), x);
    const float shift = 12582912.0f;  // 1.5·2^23: adding it rounds to the nearest integer
    vf n = (x * 1.44269504088896341f + shift) - shift;
    vf r = x - n * 0.693359375f + n * 2.12194440e-4f;
    vf p = r * 1.9875691500e-4f + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    vi e = (__builtin_convertvector(n, vi) + 127) << 23;
    return p * (vf)e;
}

// Attention runs as matrix products per (batch, head) over the strided head views of q, k, v (rows
// of one head are H·D or KVH·D floats apart), called from serial code so OpenBLAS threads them, and
// element-wise passes (softmax and its backward) threaded by OpenMP over rows. Rows are cut into
// blocks of ATT_BLOCK: block [r0, r1) only needs keys [0, q0 + r1) (causal). At T = 256 blocks of 64
// compute 5/8 of the full square (one thread: 10 % less time than blocks of 128, 27 % less than
// none). With D = 64 every product of such a block stays above the size under which OpenBLAS runs
// on one thread (M·N·K ≤ 2^18), so smaller blocks would trade CPU time for idle cores.
enum { ATT_BLOCK = 64 };

static int block_end(int r0, int T) { return r0 + ATT_BLOCK < T ? r0 + ATT_BLOCK : T; }

// The first key any query of rows [q0 + r0, q0 + r1) may see: the first key of the earliest
// segment among them. Keys before it are masked for the whole block, so its products skip them —
// packed rows of a few examples cost what the examples do, not the whole causal square. sg: the
// keys' segments (q0 + r1 of them at least).
static int block_key0(const int32_t *sg, int q0, int r0, int r1) {
    int32_t seen[ATT_BLOCK];
    int n = 0;
    for (int i = q0 + r0; i < q0 + r1; i++) {
        int k = 0;
        while (k < n && seen[k] != sg[i]) k++;
        if (k == n) seen[n++] = sg[i];
    }
    for (int j = 0; j < q0 + r0; j++)
        for (int k = 0; k < n; k++)
            if (sg[j] == seen[k]) return j;
    return q0 + r0;
}

// key0[b · nblk + block] = block_key0 of every block of every row, when B · nblk fit in KEY0_MAX;
// beyond that every block starts at key 0 (correct, only slower).
enum { KEY0_MAX = 1024 };
static void att_key0(int *key0, const int32_t *seg, int B, int T, int q0, int nblk) {
    if (B * nblk > KEY0_MAX) return;
    for (int b = 0; b < B; b++)
        for (int r0 = 0; r0 < T; r0 += ATT_BLOCK)
            key0[b * nblk + r0 / ATT_BLOCK] = block_key0(seg + (size_t)b * (q0 + T), q0, r0, block_end(r0, T));
}
// The first key of row b's block holding query row i.
static int key0_of(const int *key0, int B, int nblk, int b, int i) {
    return B * nblk > KEY0_MAX ? 0 : key0[b * nblk + i / ATT_BLOCK];
}

// T queries and Tk keys per sequence; HD, KD: the row strides of q and k; scale = 1 / sqrt(D).
typedef struct att_view {
    int T, Tk, H, KVH, D, group, HD, KD;
    float scale;
} att_view;

static att_view att_view_of(int T, int Tk, int H, int KVH, int D) {
    return (att_view){T, Tk, H, KVH, D, H / KVH, H * D, KVH * D, 1.0f / sqrtf((float)D)};
}

static size_t qoff(const att_view *v, int b, int h) { return (size_t)b * v->T * v->H * v->D + (size_t)h * v->D; }
static size_t koff(const att_view *v, int b, int h) {
    return (size_t)b * v->Tk * v->KVH * v->D + (size_t)(h / v->group) * v->D;
}
static size_t aoff(const att_view *v, int b, int h) { return ((size_t)b * v->H + h) * v->T * v->Tk; }

// C (ldc) = alpha · op(A) op(B) + beta · C, row-major.
static void gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                 float beta, float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda,
                B, ldb, beta, C, ldc);
}

// The scores a (length T) of the query at position i become softmax over its visible keys (j ≤ i
// in i's segment), 0 from k0 to the end; entries before k0 (its block's first key) are never read.
static void softmax_row(float *a, const int32_t *sg, int k0, int i, int T) {
    int32_t si = sg[i];
    size_t n = (size_t)(i + 1 - k0);
    a += k0, sg += k0;
    vf mx = vsplat(-INFINITY), sum = vsplat(0);
    for (size_t j = 0; j < n; j += VL) {
        vf x = vload(a + j, n - j, -INFINITY);
        vi vis = vloadi(sg + j, n - j, si ^ 1) == si;
        mx = vsel(vis & (x > mx), x, mx);
    }
    vf m = vsplat(vmax(mx));
    for (size_t j = 0; j < n; j += VL) {
        vi vis = vloadi(sg + j, n - j, si ^ 1) == si;
        vf e = vsel(vis, vexp(vload(a + j, n - j, 0) - m), vsplat(0));
        vstore(a + j, e, n - j);
        sum += e;
    }
    float inv = 1.0f / vsum(sum);  // j = i is always visible, so the sum is ≥ 1
    for (size_t j = 0; j < n; j++) a[j] *= inv;
    memset(a + n, 0, sizeof(float) * (size_t)(T - i - 1));
}

void agir_cpu_attention_fwd(float *out, float *att, const float *q, const float *k, const float *v, const int32_t *seg,
                        int B, int T, int q0, int H, int KVH, int D) {
    int Tk = q0 + T, nblk = (T + ATT_BLOCK - 1) / ATT_BLOCK;
    att_view w = att_view_of(T, Tk, H, KVH, D);
    int key0[KEY0_MAX];  // (B, blocks): the first key of each block
    att_key0(key0, seg, B, T, q0, nblk);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int r0 = 0; r0 < T; r0 += ATT_BLOCK) {
                int r1 = block_end(r0, T), k0 = key0_of(key0, B, nblk, b, r0);
                gemm(0, 1, r1 - r0, q0 + r1 - k0, D, w.scale, q + qoff(&w, b, h) + (size_t)r0 * w.HD, w.HD,
                     k + koff(&w, b, h) + (size_t)k0 * w.KD, w.KD, 0.0f, att + aoff(&w, b, h) + (size_t)r0 * Tk + k0,
                     Tk);
            }
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * H * T * Tk >= AGIR_CPU_PAR_MIN)
    for (int bh = 0; bh < B * H; bh++)
        for (int i = 0; i < T; i++)
            softmax_row(att + ((size_t)bh * T + i) * Tk, seg + (size_t)(bh / H) * Tk,
                        key0_of(key0, B, nblk, bh / H, i), q0 + i, Tk);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int r0 = 0; r0 < T; r0 += ATT_BLOCK) {
                int r1 = block_end(r0, T), k0 = key0_of(key0, B, nblk, b, r0);
                gemm(0, 0, r1 - r0, D, q0 + r1 - k0, 1.0f, att + aoff(&w, b, h) + (size_t)r0 * Tk + k0, Tk,
                     v + koff(&w, b, h) + (size_t)k0 * w.KD, w.KD, 0.0f, out + qoff(&w, b, h) + (size_t)r0 * w.HD,
                     w.HD);
            }
}

void agir_cpu_attention_bwd(float *dq, float *dk, float *dv, float *datt, const float *dout, const float *att,
                            const float *q, const float *k, const float *v, const int32_t *seg, int B, int T, int H,
                            int KVH, int D) {
    att_view w = att_view_of(T, T, H, KVH, D);
    int nblk = (T + ATT_BLOCK - 1) / ATT_BLOCK, key0[KEY0_MAX];
    att_key0(key0, seg, B, T, 0, nblk);
    // dP = dO Vᵀ and dV += Pᵀ dO, block by block, over the block's keys [k0, r1).
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int r0 = 0; r0 < T; r0 += ATT_BLOCK) {
                int r1 = block_end(r0, T), k0 = key0_of(key0, B, nblk, b, r0);
                const float *dob = dout + qoff(&w, b, h) + (size_t)r0 * w.HD;
                const float *pb = att + aoff(&w, b, h) + (size_t)r0 * T + k0;
                gemm(0, 1, r1 - r0, r1 - k0, D, 1.0f, dob, w.HD, v + koff(&w, b, h) + (size_t)k0 * w.KD, w.KD, 0.0f,
                     datt + aoff(&w, b, h) + (size_t)r0 * T + k0, T);
                gemm(1, 0, r1 - k0, D, r1 - r0, 1.0f, pb, T, dob, w.HD, 1.0f, dv + koff(&w, b, h) + (size_t)k0 * w.KD,
                     w.KD);
            }
    // Softmax backward: dS = P ⊙ (dP - Σ_j P dP) · scale; masked P = 0 gives dS = 0 there.
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * H * T * T >= AGIR_CPU_PAR_MIN)
    for (int bh = 0; bh < B * H; bh++)
        for (int i = 0; i < T; i++) {
            int k0 = key0_of(key0, B, nblk, bh / H, i);
            const float *a = att + ((size_t)bh * T + i) * T + k0;
            float *da = datt + ((size_t)bh * T + i) * T + k0;
            size_t n = (size_t)(i + 1 - k0);
            vf acc = vsplat(0);
            for (size_t j = 0; j < n; j += VL) acc += vload(a + j, n - j, 0) * vload(da + j, n - j, 0);
            float dot = vsum(acc);
            for (size_t j = 0; j < n; j += VL)
                vstore(da + j, vload(a + j, n - j, 0) * (vload(da + j, n - j, 0) - dot) * w.scale, n - j);
            int r1 = block_end(i / ATT_BLOCK * ATT_BLOCK, T);
            memset(da + n, 0, sizeof(float) * (size_t)(r1 - i - 1));  // the block's product reads them
        }
    // dQ += dS K and dK += dSᵀ Q (query heads of one group add into the same dK rows, in order).
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int r0 = 0; r0 < T; r0 += ATT_BLOCK) {
                int r1 = block_end(r0, T), k0 = key0_of(key0, B, nblk, b, r0);
                const float *dsb = datt + aoff(&w, b, h) + (size_t)r0 * T + k0;
                gemm(0, 0, r1 - r0, D, r1 - k0, 1.0f, dsb, T, k + koff(&w, b, h) + (size_t)k0 * w.KD, w.KD, 1.0f,
                     dq + qoff(&w, b, h) + (size_t)r0 * w.HD, w.HD);
                gemm(1, 0, r1 - k0, D, r1 - r0, 1.0f, dsb, T, q + qoff(&w, b, h) + (size_t)r0 * w.HD, w.HD, 1.0f,
                     dk + koff(&w, b, h) + (size_t)k0 * w.KD, w.KD);
            }
}

void agir_cpu_swiglu_fwd(float *out, const float *gate, const float *up, size_t n) {
#pragma omp parallel for schedule(static) if (n >= AGIR_CPU_PAR_MIN)
    for (size_t i = 0; i < n; i += VL) {
        vf g = vload(gate + i, n - i, 0), u = vload(up + i, n - i, 0);
        vstore(out + i, g / (1.0f + vexp(-g)) * u, n - i);
    }
}

void agir_cpu_swiglu_bwd(float *dgate, float *dup, const float *dout, const float *gate, const float *up, size_t n) {
#pragma omp parallel for schedule(static) if (n >= AGIR_CPU_PAR_MIN)
    for (size_t i = 0; i < n; i += VL) {
        size_t k = n - i;
        vf g = vload(gate + i, k, 0), u = vload(up + i, k, 0), d = vload(dout + i, k, 0);
        vf s = 1.0f / (1.0f + vexp(-g));
        vstore(dgate + i, vload(dgate + i, k, 0) + d * u * s * (1.0f + g * (1.0f - s)), k);
        vstore(dup + i, vload(dup + i, k, 0) + d * g * s, k);
    }
}

void agir_cpu_embedding_fwd(float *out, const int32_t *ids, const void *base, const void *extra, agir_ftype wdt,
                            int V0, int N, int C) {
    size_t es = agir_ftype_size(wdt);
#pragma omp parallel for schedule(static) if ((size_t)N * C >= AGIR_CPU_PAR_MIN)
    for (int n = 0; n < N; n++) {
        int id = ids[n];
        const char *row = id < V0 ? (const char *)base + (size_t)id * C * es
                                  : (const char *)extra + (size_t)(id - V0) * C * es;
        if (wdt == AGIR_F32)
            memcpy(out + (size_t)n * C, row, sizeof(float) * C);
        else
            widen(out + (size_t)n * C, (const agir_bf16 *)row, (size_t)C);
    }
}

void agir_cpu_embedding_bwd(float *dbase, float *dextra, const float *dout, const int32_t *ids, int V0, int N, int C) {
    for (int n = 0; n < N; n++) {
        int id = ids[n];
        float *row = id < V0 ? (dbase ? dbase + (size_t)id * C : NULL) : (dextra ? dextra + (size_t)(id - V0) * C : NULL);
        if (!row) continue;
        for (int c = 0; c < C; c++) row[c] += dout[(size_t)n * C + c];
    }
}

void agir_cpu_rows_gather(float *out, const float *x, const int32_t *rows, int n, int C) {
    for (int i = 0; i < n; i++) memcpy(out + (size_t)i * C, x + (size_t)rows[i] * C, sizeof(float) * (size_t)C);
}

void agir_cpu_rows_scatter_add(float *x, const float *src, const int32_t *rows, int n, int C) {
    for (int i = 0; i < n; i++) {
        float *row = x + (size_t)rows[i] * C;
        for (int c = 0; c < C; c++) row[c] += src[(size_t)i * C + c];
    }
}

enum { XENT_CHUNKS = 64, XENT_BLOCK = 1024 };

// Σ_i e^(x_i - mx), written to e when not NULL (e may be x): float lanes over blocks of XENT_BLOCK,
// the blocks added in double. A padded tail lane adds e^-87.3 ≈ 1e-38, nothing next to a sum ≥ 1.
static double exp_sum(float *e, const float *x, size_t V, float mx) {
    double sum = 0;
    for (size_t i0 = 0; i0 < V; i0 += XENT_BLOCK) {
        size_t i1 = i0 + XENT_BLOCK < V ? i0 + XENT_BLOCK : V;
        vf s = vsplat(0);
        for (size_t i = i0; i < i1; i += VL) {
            vf v = vexp(vload(x + i, i1 - i, -INFINITY) - mx);
            if (e) vstore(e + i, v, i1 - i);
            s += v;
        }
        sum += vsum(s);
    }
    return sum;
}

double agir_cpu_softmax_xent(float *dlogits, const float *logits, const int32_t *labels, int N, int V, float scale) {
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
            float xy = x[y];  // dx may alias x: x[y] is read before it is overwritten
            vf vm = vsplat(-INFINITY);
            for (int i = 0; i < V; i += VL) {
                vf v = vload(x + i, (size_t)(V - i), -INFINITY);
                vm = vsel(v > vm, v, vm);
            }
            float mx = vmax(vm);
            double sum = exp_sum(dx, x, (size_t)V, mx);
            acc += log(sum) + mx - xy;
            if (!dx) continue;
            float k = (float)(scale / sum);
            for (int i = 0; i < V; i++) dx[i] *= k;
            dx[y] -= scale;
        }
        part[ch] = acc;
    }
    double loss = 0;
    for (int ch = 0; ch < nchunk; ch++) loss += part[ch];
    return loss * scale;
}

// Philox4x32-10 (core/philox.h) on many counters at once: the four words of a round are vectors
// over the counters, and the 32 × 32 → 64-bit products are _mm*_mul_epu32 on the even lanes and on
// the odd lanes shifted down. out[j] = block ctr + j of (seed, stream), the bits of
// agir_philox_block. With AVX-512 (checked at run time) 16 blocks per call, with SSE2, which every
// x86-64 has, 4.
#if defined(__x86_64__)
#include <immintrin.h>

#define PHILOX_ROUNDS(V, mul, srli64, slli64, and_, andn, or_, xor_, set1, mask)                              \
    for (int round = 0; round < 10; round++) {                                                              \
        V pe0 = mul(c0, m0), po0 = mul(srli64(c0, 32), m0), pe1 = mul(c2, m1), po1 = mul(srli64(c2, 32), m1); \
        V lo0 = or_(and_(pe0, mask), slli64(po0, 32)), hi0 = or_(srli64(pe0, 32), andn(mask, po0));       \
        V lo1 = or_(and_(pe1, mask), slli64(po1, 32)), hi1 = or_(srli64(pe1, 32), andn(mask, po1));       \
        V n0 = xor_(xor_(hi1, c1), set1((int)k0)), n2 = xor_(xor_(hi0, c3), set1((int)k1));               \
        c1 = lo1, c3 = lo0, c0 = n0, c2 = n2;                                                              \
        k0 += AGIR_PHILOX_W0, k1 += AGIR_PHILOX_W1;                                                        \
    }

__attribute__((target("avx512f"))) static void philox16(uint64_t seed, uint64_t stream, uint64_t ctr,
                                                        uint32_t out[16][4]) {
    uint32_t lo[16], hi[16], w[4][16];
    for (int j = 0; j < 16; j++) lo[j] = (uint32_t)(ctr + (uint64_t)j), hi[j] = (uint32_t)((ctr + (uint64_t)j) >> 32);
    __m512i c0 = _mm512_loadu_si512(lo), c1 = _mm512_loadu_si512(hi);
    __m512i c2 = _mm512_set1_epi32((int)(uint32_t)stream), c3 = _mm512_set1_epi32((int)(uint32_t)(stream >> 32));
    const __m512i m0 = _mm512_set1_epi32((int)AGIR_PHILOX_M0), m1 = _mm512_set1_epi32((int)AGIR_PHILOX_M1);
    const __m512i mask = _mm512_set1_epi64(0xffffffffll);
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    PHILOX_ROUNDS(__m512i, _mm512_mul_epu32, _mm512_srli_epi64, _mm512_slli_epi64, _mm512_and_si512,
                  _mm512_andnot_si512, _mm512_or_si512, _mm512_xor_si512, _mm512_set1_epi32, mask)
    _mm512_storeu_si512(w[0], c0), _mm512_storeu_si512(w[1], c1);
    _mm512_storeu_si512(w[2], c2), _mm512_storeu_si512(w[3], c3);
    for (int j = 0; j < 16; j++)
        for (int i = 0; i < 4; i++) out[j][i] = w[i][j];
}

static void philox4(uint64_t seed, uint64_t stream, uint64_t ctr, uint32_t out[4][4]) {
    uint32_t lo[4], hi[4], w[4][4];
    for (int j = 0; j < 4; j++) lo[j] = (uint32_t)(ctr + (uint64_t)j), hi[j] = (uint32_t)((ctr + (uint64_t)j) >> 32);
    __m128i c0 = _mm_loadu_si128((const __m128i *)lo), c1 = _mm_loadu_si128((const __m128i *)hi);
    __m128i c2 = _mm_set1_epi32((int)(uint32_t)stream), c3 = _mm_set1_epi32((int)(uint32_t)(stream >> 32));
    const __m128i m0 = _mm_set1_epi32((int)AGIR_PHILOX_M0), m1 = _mm_set1_epi32((int)AGIR_PHILOX_M1);
    const __m128i mask = _mm_set1_epi64x(0xffffffffll);
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    PHILOX_ROUNDS(__m128i, _mm_mul_epu32, _mm_srli_epi64, _mm_slli_epi64, _mm_and_si128, _mm_andnot_si128,
                  _mm_or_si128, _mm_xor_si128, _mm_set1_epi32, mask)
    _mm_storeu_si128((__m128i *)w[0], c0), _mm_storeu_si128((__m128i *)w[1], c1);
    _mm_storeu_si128((__m128i *)w[2], c2), _mm_storeu_si128((__m128i *)w[3], c3);
    for (int j = 0; j < 4; j++)
        for (int i = 0; i < 4; i++) out[j][i] = w[i][j];
}

// Blocks ctr .. ctr + 15.
static void philox_blocks(int wide, uint64_t seed, uint64_t stream, uint64_t ctr, uint32_t out[16][4]) {
    if (wide) philox16(seed, stream, ctr, out);
    else
        for (int j = 0; j < 16; j += 4) philox4(seed, stream, ctr + (uint64_t)j, out + j);
}
static int philox_wide(void) { return __builtin_cpu_supports("avx512f"); }
#else
static void philox_blocks(int wide, uint64_t seed, uint64_t stream, uint64_t ctr, uint32_t out[16][4]) {
    (void)wide;
    for (int j = 0; j < 16; j++) agir_philox_block(seed, stream, ctr + (uint64_t)j, out[j]);
}
static int philox_wide(void) { return 0; }
#endif

// Row n draws from agir_rng_child(rng, n), 16 bits per element (kernels/llm_ops.h): block k decides
// elements 8k .. 8k + 7, as kernels/cuda/lora.cu does. 64 elements take 8 blocks, made at once.
void agir_cpu_dropout(float *dst, const float *src, int N, int in, float p, const agir_rng *rng, int accumulate) {
    float keep_scale = 1.0f / (1.0f - p);
    uint32_t keep_min = (uint32_t)agir_dropout_keep_min(p);
    int wide = philox_wide();
#pragma omp parallel for schedule(static) if ((size_t)N * in >= AGIR_CPU_PAR_MIN)
    for (int n = 0; n < N; n++) {
        uint64_t stream = agir_philox_child_stream(rng->seed, rng->stream, (uint64_t)n);
        const float *x = src + (size_t)n * in;
        float *y = dst + (size_t)n * in;
        for (int i0 = 0; i0 < in; i0 += 128) {
            uint32_t w[16][4];
            uint16_t u[128];
            int32_t keep[128];
            philox_blocks(wide, rng->seed, stream, (uint64_t)i0 / 8, w);
            // The 64 words of blocks i0/8 .. i0/8 + 15 in order, each as its low half then its high
            // half: the byte order of a little-endian copy.
            for (int k = 0; k < 64; k++) u[2 * k] = (uint16_t)(&w[0][0])[k], u[2 * k + 1] = (uint16_t)((&w[0][0])[k] >> 16);
            for (int k = 0; k < 128; k++) keep[k] = -(int32_t)(u[k] >= keep_min);
            // A dropped element is 0 whatever x holds: the product is masked, not multiplied by 0.
            size_t m = (size_t)(in - i0 < 128 ? in - i0 : 128);
            for (size_t k = 0; k < m; k += VL) {
                vf v = (vf)((vi)(vload(x + i0 + k, m - k, 0) * keep_scale) & vloadi(keep + k, m - k, 0));
                if (accumulate) v += vload(y + i0 + k, m - k, 0);
                vstore(y + i0 + k, v, m - k);
            }
        }
    }
}
