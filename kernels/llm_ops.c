// The LLM ops (kernels/llm_ops.h): host helpers, then argument checks and dispatch to the CPU kernels
// (kernels/cpu/llm_ops.c, fp32 activations) or the CUDA launchers (kernels/cuda/, bf16). Bad
// arguments here are bugs of the model code that builds the calls, hence AGIR_BUG.
#include "kernels/llm_ops.h"

#include <math.h>

#include "kernels/backend.h"

static int on_cuda(const agir_ctx *c) { return c->dev == AGIR_DEV_CUDA; }

// Returns the CPU call's status (kernels that widen bf16 weights may run out of memory) or the CUDA
// launcher's; void CPU kernels go through AGIR_DISPATCH (kernels/backend.h).
#define DISPATCH_INT(c, e, cpu_call, cuda_call)                        \
    do {                                                               \
        if ((c)->dev == AGIR_DEV_CUDA) AGIR_CUDA_CALL((e), cuda_call); \
        return (cpu_call);                                             \
    } while (0)

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

size_t agir_attention_saved_floats(const agir_ctx *c, int B, int T, int Tk, int H) {
    size_t rows = (size_t)B * H * T;
    return on_cuda(c) ? rows : rows * Tk;
}

size_t agir_attention_scratch_floats(const agir_ctx *c, int B, int T, int H) {
    size_t rows = (size_t)B * H * T;
    return on_cuda(c) ? rows : rows * T;
}

size_t agir_xent_ws_floats(const agir_ctx *c, int N) { return on_cuda(c) ? (size_t)N + 1 : 0; }

static int sizes_ok(const char *op, int n_pos, const int *pos, agir_err *e) {
    for (int i = 0; i < n_pos; i++)
        if (pos[i] < 1) return AGIR_BUG(e, "%s: size argument %d is %d (must be positive)", op, i, pos[i]);
    return AGIR_OK;
}

#define CHECK_SIZES(e, op, ...)                                                \
    do {                                                                       \
        const int sz_[] = {__VA_ARGS__};                                       \
        AGIR_TRY(sizes_ok((op), (int)(sizeof sz_ / sizeof *sz_), sz_, (e))); \
    } while (0)

#define CHECK_PTRS(e, op, ok)                                      \
    do {                                                           \
        if (!(ok)) return AGIR_BUG((e), "%s: NULL tensor", (op)); \
    } while (0)

// The weight dtypes a backend reads: both on the CPU, bf16 on CUDA.
static int wdt_ok(const agir_ctx *c, const char *op, agir_ftype wdt, agir_err *e) {
    if (wdt == AGIR_BF16 || (wdt == AGIR_F32 && !on_cuda(c))) return AGIR_OK;
    return AGIR_BUG(e, "%s: %s weights on a %s context", op, agir_ftype_name(wdt), agir_device_name(c->dev));
}

int agir_op_embedding_fwd(const agir_ctx *c, void *out, const int32_t *ids, const void *base, const void *extra,
                          agir_ftype wdt, int V0, int V1, int N, int C, agir_err *e) {
    const char *op = "embedding_fwd";
    CHECK_SIZES(e, op, V0, N, C);
    CHECK_PTRS(e, op, out && ids && base && (V1 == 0 || extra) && V1 >= 0);
    AGIR_TRY(wdt_ok(c, op, wdt, e));
    AGIR_DISPATCH(c, e, agir_cpu_embedding_fwd(out, ids, base, extra, wdt, V0, N, C),
                  agir_cuda_embedding_fwd(c, out, ids, base, extra, V0, V1, N, C, e));
}

int agir_op_embedding_bwd(const agir_ctx *c, float *dbase, float *dextra, const void *dout, const int32_t *ids,
                          int V0, int V1, int N, int C, agir_err *e) {
    const char *op = "embedding_bwd";
    CHECK_SIZES(e, op, V0, N, C);
    CHECK_PTRS(e, op, dout && ids && V1 >= 0);
    if (!dbase && !dextra) return AGIR_OK;
    AGIR_DISPATCH(c, e, agir_cpu_embedding_bwd(dbase, dextra, dout, ids, V0, N, C),
                  agir_cuda_embedding_bwd(c, dbase, dextra, dout, ids, V0, V1, N, C, e));
}

int agir_op_rows_gather(const agir_ctx *c, void *out, const void *x, const int32_t *rows, int n, int N, int C,
                        agir_err *e) {
    const char *op = "rows_gather";
    CHECK_SIZES(e, op, N, C);
    CHECK_PTRS(e, op, (out && x && rows && n >= 0 && n <= N) || n == 0);
    if (n == 0) return AGIR_OK;
    AGIR_DISPATCH(c, e, agir_cpu_rows_gather(out, x, rows, n, C), agir_cuda_rows_gather(c, out, x, rows, n, C, e));
}

int agir_op_rows_scatter_add(const agir_ctx *c, void *x, const void *src, const int32_t *rows, int n, int N, int C,
                             agir_err *e) {
    const char *op = "rows_scatter_add";
    CHECK_SIZES(e, op, N, C);
    CHECK_PTRS(e, op, (x && src && rows && n >= 0 && n <= N) || n == 0);
    if (n == 0) return AGIR_OK;
    AGIR_DISPATCH(c, e, agir_cpu_rows_scatter_add(x, src, rows, n, C),
                  agir_cuda_rows_scatter_add(c, x, src, rows, n, C, e));
}

int agir_op_rmsnorm_fwd(const agir_ctx *c, void *y, float *rstd, const void *x, const void *w, agir_ftype wdt, int N,
                        int C, float eps, agir_err *e) {
    const char *op = "rmsnorm_fwd";
    CHECK_SIZES(e, op, N, C);
    CHECK_PTRS(e, op, y && rstd && x && w);
    AGIR_TRY(wdt_ok(c, op, wdt, e));
    if (!(eps > 0 && isfinite(eps))) return AGIR_BUG(e, "%s: eps %g must be positive", op, eps);
    DISPATCH_INT(c, e, agir_cpu_rmsnorm_fwd(y, rstd, x, w, wdt, N, C, eps, e),
                 agir_cuda_rmsnorm_fwd(c, y, rstd, x, w, N, C, eps, e));
}

int agir_op_rmsnorm_bwd(const agir_ctx *c, void *dx, float *dw, const void *dy, const void *x, const void *w,
                        agir_ftype wdt, const float *rstd, int N, int C, agir_err *e) {
    const char *op = "rmsnorm_bwd";
    CHECK_SIZES(e, op, N, C);
    CHECK_PTRS(e, op, dy && x && w && rstd);
    AGIR_TRY(wdt_ok(c, op, wdt, e));
    if (!dx && !dw) return AGIR_OK;
    DISPATCH_INT(c, e, agir_cpu_rmsnorm_bwd(dx, dw, dy, x, w, wdt, rstd, N, C, e),
                 agir_cuda_rmsnorm_bwd(c, dx, dw, dy, x, w, rstd, N, C, e));
}

int agir_op_rope(const agir_ctx *c, void *x, const float *cos_t, const float *sin_t, int N, int nh, int D, int inverse,
                 agir_err *e) {
    const char *op = "rope";
    CHECK_SIZES(e, op, N, nh, D);
    CHECK_PTRS(e, op, x && cos_t && sin_t);
    if (D % 2) return AGIR_BUG(e, "%s: head size %d is odd", op, D);
    AGIR_DISPATCH(c, e, agir_cpu_rope(x, cos_t, sin_t, N, nh, D, inverse),
                  agir_cuda_rope(c, x, cos_t, sin_t, N, nh, D, inverse, e));
}

static int attention_sizes(const agir_ctx *c, const char *op, int B, int T, int q0, int H, int KVH, int D,
                           agir_err *e) {
    CHECK_SIZES(e, op, B, T, H, KVH, D);
    if (q0 < 0) return AGIR_BUG(e, "%s: query offset %d is negative", op, q0);
    if (H % KVH) return AGIR_BUG(e, "%s: %d query heads are not a multiple of %d kv heads", op, H, KVH);
    if (on_cuda(c) && D != 32 && D != 64 && D != 128)
        return AGIR_BUG(e, "%s: head size %d (the CUDA kernels take 32, 64 or 128)", op, D);
    return AGIR_OK;
}

int agir_op_attention_fwd(const agir_ctx *c, void *out, float *saved, const void *q, const void *k, const void *v,
                          const int32_t *seg, int B, int T, int q0, int H, int KVH, int D, agir_err *e) {
    const char *op = "attention_fwd";
    AGIR_TRY(attention_sizes(c, op, B, T, q0, H, KVH, D, e));
    CHECK_PTRS(e, op, out && saved && q && k && v && seg);
    AGIR_DISPATCH(c, e, agir_cpu_attention_fwd(out, saved, q, k, v, seg, B, T, q0, H, KVH, D),
                  agir_cuda_attention_fwd(c, out, saved, q, k, v, seg, B, T, q0, H, KVH, D, e));
}

int agir_op_attention_bwd(const agir_ctx *c, void *dq, void *dk, void *dv, float *scratch, const void *dout,
                          const void *out, const float *saved, const void *q, const void *k, const void *v,
                          const int32_t *seg, int B, int T, int H, int KVH, int D, agir_err *e) {
    const char *op = "attention_bwd";
    AGIR_TRY(attention_sizes(c, op, B, T, 0, H, KVH, D, e));
    CHECK_PTRS(e, op, dq && dk && dv && scratch && dout && out && saved && q && k && v && seg);
    AGIR_DISPATCH(c, e, agir_cpu_attention_bwd(dq, dk, dv, scratch, dout, saved, q, k, v, seg, B, T, H, KVH, D),
                  agir_cuda_attention_bwd(c, dq, dk, dv, scratch, dout, out, saved, q, k, v, seg, B, T, H, KVH, D, e));
}

int agir_op_swiglu_fwd(const agir_ctx *c, void *out, const void *gate, const void *up, size_t n, agir_err *e) {
    CHECK_PTRS(e, "swiglu_fwd", !n || (out && gate && up));
    AGIR_DISPATCH(c, e, agir_cpu_swiglu_fwd(out, gate, up, n), agir_cuda_swiglu_fwd(c, out, gate, up, n, e));
}

int agir_op_swiglu_bwd(const agir_ctx *c, void *dgate, void *dup, const void *dout, const void *gate, const void *up,
                       size_t n, agir_err *e) {
    CHECK_PTRS(e, "swiglu_bwd", !n || (dgate && dup && dout && gate && up));
    AGIR_DISPATCH(c, e, agir_cpu_swiglu_bwd(dgate, dup, dout, gate, up, n),
                  agir_cuda_swiglu_bwd(c, dgate, dup, dout, gate, up, n, e));
}

int agir_op_linear_fwd(const agir_ctx *c, void *y, int ldy, const void *x, const void *W, const void *b,
                       agir_ftype wdt, int N, int C, int OC, float alpha, float beta, agir_err *e) {
    const char *op = "linear_fwd";
    CHECK_SIZES(e, op, N, C, OC);
    CHECK_PTRS(e, op, y && x && W);
    AGIR_TRY(wdt_ok(c, op, wdt, e));
    if (ldy < OC || (beta != 0 && beta != 1) || !isfinite(alpha))
        return AGIR_BUG(e, "%s: ldy %d < %d columns, or beta %g / alpha %g", op, ldy, OC, beta, alpha);
    DISPATCH_INT(c, e, agir_cpu_linear_fwd(y, ldy, x, W, b, wdt, N, C, OC, alpha, beta, e),
                 agir_cuda_linear_fwd(c, y, ldy, x, W, b, N, C, OC, alpha, beta, e));
}

int agir_op_linear_bwd(const agir_ctx *c, void *dx, float *dW, float *db, const void *dy, int ldy, const void *x,
                       const void *W, agir_ftype wdt, int N, int C, int OC, float alpha, agir_err *e) {
    const char *op = "linear_bwd";
    CHECK_SIZES(e, op, N, C, OC);
    CHECK_PTRS(e, op, dy && x && W);
    AGIR_TRY(wdt_ok(c, op, wdt, e));
    if (ldy < OC || !isfinite(alpha)) return AGIR_BUG(e, "%s: ldy %d < %d columns, or alpha %g", op, ldy, OC, alpha);
    if (!dx && !dW && !db) return AGIR_OK;
    DISPATCH_INT(c, e, agir_cpu_linear_bwd(dx, dW, db, dy, ldy, x, W, wdt, N, C, OC, alpha, e),
                 agir_cuda_linear_bwd(c, dx, dW, db, dy, ldy, x, W, N, C, OC, alpha, e));
}

#ifdef AGIR_HAVE_CUDA
static int cuda_dropout(const agir_ctx *c, void *dst, const void *src, int N, int in, float p, const agir_rng *rng,
                        int accumulate, agir_err *e) {
    uint64_t keep_min = agir_dropout_keep_min(p);
    float keep_scale = 1.0f / (1.0f - p);  // as the CPU kernel computes it
    return agir_cuda_dropout(c, dst, src, N, in, keep_min, keep_scale, rng->seed, rng->stream, accumulate, e);
}

// The device sums the rows in fp32; the host gets that sum.
static int cuda_xent(const agir_ctx *c, void *dlogits, const void *logits, const int32_t *labels, int N, int V,
                     float scale, float *ws, double *loss, agir_err *e) {
    float sum;
    AGIR_TRY(agir_cuda_softmax_xent(c, dlogits, ws, ws + N, logits, labels, N, V, scale, e));
    AGIR_TRY(agir_dev_download(c, &sum, ws + N, sizeof sum, e));
    *loss = sum;
    return AGIR_OK;
}
#endif

int agir_op_dropout(const agir_ctx *c, void *dst, const void *src, int N, int in, float p, const agir_rng *rng,
                    int accumulate, agir_err *e) {
    const char *op = "dropout";
    CHECK_SIZES(e, op, N, in);
    CHECK_PTRS(e, op, dst && src && rng);
    if (!(p > 0 && p < 1)) return AGIR_BUG(e, "%s: p = %g outside (0, 1)", op, p);
    AGIR_DISPATCH(c, e, agir_cpu_dropout(dst, src, N, in, p, rng, accumulate),
                  cuda_dropout(c, dst, src, N, in, p, rng, accumulate, e));
}

int agir_op_softmax_xent(const agir_ctx *c, void *dlogits, const void *logits, const int32_t *labels, int N, int V,
                         float scale, float *ws, double *loss, agir_err *e) {
    const char *op = "softmax_xent";
    CHECK_SIZES(e, op, N, V);
    CHECK_PTRS(e, op, logits && labels && loss && (ws || !on_cuda(c)));
    if (!(scale >= 0 && isfinite(scale))) return AGIR_BUG(e, "%s: scale %g", op, scale);
    AGIR_DISPATCH(c, e, *loss = agir_cpu_softmax_xent(dlogits, logits, labels, N, V, scale),
                  cuda_xent(c, dlogits, logits, labels, N, V, scale, ws, loss, e));
}
