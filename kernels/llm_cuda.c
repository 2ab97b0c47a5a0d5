// Argument checks of the CUDA LLM ops (kernels/llm_cuda.h), then the launchers of kernels/cuda/.
// Bad arguments here are bugs of the model code that builds the calls, hence AGIR_BUG.
#include "kernels/llm_cuda.h"

#include <math.h>

// Without a CUDA backend no CUDA context can be opened, so reaching a launcher is a bug; the call is
// then only named inside sizeof (never evaluated, never linked), which keeps its arguments used.
#ifdef AGIR_HAVE_CUDA
#define LAUNCH(e, call) return (call)
#else
#define LAUNCH(e, call) return ((void)sizeof(call), AGIR_BUG((e), "CUDA op in a build without CUDA"))
#endif

static int need_cuda(const agir_ctx *c, const char *op, agir_err *e) {
    if (!c || c->dev != AGIR_DEV_CUDA) return AGIR_BUG(e, "%s: needs a CUDA context", op);
    return AGIR_OK;
}

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

int agir_llm_embedding_fwd(const agir_ctx *c, agir_bf16 *out, const int32_t *ids, const agir_bf16 *base,
                           const agir_bf16 *extra, int V0, int V1, int N, int C, agir_err *e) {
    const char *op = "embedding_fwd";
    AGIR_TRY(need_cuda(c, op, e));
    CHECK_SIZES(e, op, V0, N, C);
    CHECK_PTRS(e, op, out && ids && base && (V1 == 0 || extra) && V1 >= 0);
    LAUNCH(e, agir_cuda_embedding_fwd(c, out, ids, base, extra, V0, V1, N, C, e));
}

int agir_llm_embedding_bwd(const agir_ctx *c, float *dbase, float *dextra, const agir_bf16 *dout, const int32_t *ids,
                           int V0, int V1, int N, int C, agir_err *e) {
    const char *op = "embedding_bwd";
    AGIR_TRY(need_cuda(c, op, e));
    CHECK_SIZES(e, op, V0, N, C);
    CHECK_PTRS(e, op, dout && ids && V1 >= 0);
    if (!dbase && !dextra) return AGIR_OK;
    LAUNCH(e, agir_cuda_embedding_bwd(c, dbase, dextra, dout, ids, V0, V1, N, C, e));
}

int agir_llm_rmsnorm_fwd(const agir_ctx *c, agir_bf16 *y, float *rstd, const agir_bf16 *x, const agir_bf16 *w, int N,
                         int C, float eps, agir_err *e) {
    const char *op = "rmsnorm_fwd";
    AGIR_TRY(need_cuda(c, op, e));
    CHECK_SIZES(e, op, N, C);
    CHECK_PTRS(e, op, y && rstd && x && w);
    if (!(eps > 0 && isfinite(eps))) return AGIR_BUG(e, "%s: eps %g must be positive", op, eps);
    LAUNCH(e, agir_cuda_rmsnorm_fwd(c, y, rstd, x, w, N, C, eps, e));
}

int agir_llm_rmsnorm_bwd(const agir_ctx *c, agir_bf16 *dx, float *dw, const agir_bf16 *dy, const agir_bf16 *x,
                         const agir_bf16 *w, const float *rstd, int N, int C, agir_err *e) {
    const char *op = "rmsnorm_bwd";
    AGIR_TRY(need_cuda(c, op, e));
    CHECK_SIZES(e, op, N, C);
    CHECK_PTRS(e, op, dy && x && w && rstd);
    if (!dx && !dw) return AGIR_OK;
    LAUNCH(e, agir_cuda_rmsnorm_bwd(c, dx, dw, dy, x, w, rstd, N, C, e));
}

int agir_llm_rope(const agir_ctx *c, agir_bf16 *x, const float *cos_t, const float *sin_t, int N, int nh, int D,
                  int inverse, agir_err *e) {
    const char *op = "rope";
    AGIR_TRY(need_cuda(c, op, e));
    CHECK_SIZES(e, op, N, nh, D);
    CHECK_PTRS(e, op, x && cos_t && sin_t);
    if (D % 2) return AGIR_BUG(e, "%s: head size %d is odd", op, D);
    LAUNCH(e, agir_cuda_rope(c, x, cos_t, sin_t, N, nh, D, inverse, e));
}

static int attention_sizes(const char *op, int B, int T, int H, int KVH, int D, agir_err *e) {
    CHECK_SIZES(e, op, B, T, H, KVH, D);
    if (H % KVH) return AGIR_BUG(e, "%s: %d query heads are not a multiple of %d kv heads", op, H, KVH);
    if (D != 32 && D != 64 && D != 128) return AGIR_BUG(e, "%s: head size %d (the kernels take 32, 64 or 128)", op, D);
    return AGIR_OK;
}

int agir_llm_attention_fwd(const agir_ctx *c, agir_bf16 *out, float *lse, const agir_bf16 *q, const agir_bf16 *k,
                           const agir_bf16 *v, const int32_t *seg, int B, int T, int H, int KVH, int D, agir_err *e) {
    const char *op = "attention_fwd";
    AGIR_TRY(need_cuda(c, op, e));
    AGIR_TRY(attention_sizes(op, B, T, H, KVH, D, e));
    CHECK_PTRS(e, op, out && lse && q && k && v && seg);
    LAUNCH(e, agir_cuda_attention_fwd(c, out, lse, q, k, v, seg, B, T, H, KVH, D, e));
}

int agir_llm_attention_bwd(const agir_ctx *c, agir_bf16 *dq, agir_bf16 *dk, agir_bf16 *dv, float *delta,
                           const agir_bf16 *dout, const agir_bf16 *out, const float *lse, const agir_bf16 *q,
                           const agir_bf16 *k, const agir_bf16 *v, const int32_t *seg, int B, int T, int H, int KVH,
                           int D, agir_err *e) {
    const char *op = "attention_bwd";
    AGIR_TRY(need_cuda(c, op, e));
    AGIR_TRY(attention_sizes(op, B, T, H, KVH, D, e));
    CHECK_PTRS(e, op, dq && dk && dv && delta && dout && out && lse && q && k && v && seg);
    LAUNCH(e, agir_cuda_attention_bwd(c, dq, dk, dv, delta, dout, out, lse, q, k, v, seg, B, T, H, KVH, D, e));
}

int agir_llm_swiglu_fwd(const agir_ctx *c, agir_bf16 *out, const agir_bf16 *gate, const agir_bf16 *up, size_t n,
                        agir_err *e) {
    AGIR_TRY(need_cuda(c, "swiglu_fwd", e));
    CHECK_PTRS(e, "swiglu_fwd", !n || (out && gate && up));
    LAUNCH(e, agir_cuda_swiglu_fwd(c, out, gate, up, n, e));
}

int agir_llm_swiglu_bwd(const agir_ctx *c, agir_bf16 *dgate, agir_bf16 *dup, const agir_bf16 *dout,
                        const agir_bf16 *gate, const agir_bf16 *up, size_t n, agir_err *e) {
    AGIR_TRY(need_cuda(c, "swiglu_bwd", e));
    CHECK_PTRS(e, "swiglu_bwd", !n || (dgate && dup && dout && gate && up));
    LAUNCH(e, agir_cuda_swiglu_bwd(c, dgate, dup, dout, gate, up, n, e));
}

int agir_llm_softmax_xent(const agir_ctx *c, agir_bf16 *dlogits, float *losses, float *loss, const agir_bf16 *logits,
                          const int32_t *labels, int N, int V, float scale, agir_err *e) {
    const char *op = "softmax_xent";
    AGIR_TRY(need_cuda(c, op, e));
    CHECK_SIZES(e, op, N, V);
    CHECK_PTRS(e, op, losses && loss && logits && labels);
    if (!(scale >= 0 && isfinite(scale))) return AGIR_BUG(e, "%s: scale %g", op, scale);
    LAUNCH(e, agir_cuda_softmax_xent(c, dlogits, losses, loss, logits, labels, N, V, scale, e));
}

int agir_llm_dropout(const agir_ctx *c, agir_bf16 *dst, const agir_bf16 *src, int N, int in, float p,
                     const agir_rng *rng, int accumulate, agir_err *e) {
    const char *op = "dropout";
    AGIR_TRY(need_cuda(c, op, e));
    CHECK_SIZES(e, op, N, in);
    CHECK_PTRS(e, op, dst && src && rng);
    if (!(p > 0 && p < 1)) return AGIR_BUG(e, "%s: p = %g outside (0, 1)", op, p);
    // agir_rng_uniform is (draw >> 11) · 2^-53, and p · 2^53 is exact in double (p has 24 bits), so
    // "uniform ≥ p" is "draw >> 11 ≥ ceil(p · 2^53)" in integers.
    uint64_t keep_min = (uint64_t)ceil((double)p * 0x1p53);
    float keep_scale = 1.0f / (1.0f - p);  // as models/lora.c computes it
    LAUNCH(e, agir_cuda_dropout(c, dst, src, N, in, keep_min, keep_scale, rng->seed, rng->stream, accumulate, e));
}

int agir_llm_linear_fwd(const agir_ctx *c, agir_bf16 *y, int ldy, const agir_bf16 *x, const agir_bf16 *W,
                        const agir_bf16 *b, int N, int C, int OC, float alpha, float beta, agir_err *e) {
    const char *op = "linear_fwd";
    AGIR_TRY(need_cuda(c, op, e));
    CHECK_SIZES(e, op, N, C, OC);
    CHECK_PTRS(e, op, y && x && W);
    if (ldy < OC || (beta != 0 && beta != 1) || !isfinite(alpha))
        return AGIR_BUG(e, "%s: ldy %d < %d columns, or beta %g / alpha %g", op, ldy, OC, beta, alpha);
    LAUNCH(e, agir_cuda_linear_fwd(c, y, ldy, x, W, b, N, C, OC, alpha, beta, e));
}

int agir_llm_linear_bwd(const agir_ctx *c, agir_bf16 *dx, float *dW, float *db, const agir_bf16 *dy, int ldy,
                        const agir_bf16 *x, const agir_bf16 *W, int N, int C, int OC, float alpha, agir_err *e) {
    const char *op = "linear_bwd";
    AGIR_TRY(need_cuda(c, op, e));
    CHECK_SIZES(e, op, N, C, OC);
    CHECK_PTRS(e, op, dy && x && W);
    if (ldy < OC || !isfinite(alpha)) return AGIR_BUG(e, "%s: ldy %d < %d columns, or alpha %g", op, ldy, OC, alpha);
    if (!dx && !dW && !db) return AGIR_OK;
    LAUNCH(e, agir_cuda_linear_bwd(c, dx, dW, db, dy, ldy, x, W, N, C, OC, alpha, e));
}
