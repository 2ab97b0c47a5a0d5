// Op dispatch: validates arguments once, then calls the CPU kernel or the CUDA host launcher.
#include "kernels/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/backend.h"

const char *agir_device_name(agir_device d) { return d == AGIR_DEV_CUDA ? "cuda" : "cpu"; }

size_t agir_ftype_size(agir_ftype t) { return t == AGIR_BF16 ? sizeof(agir_bf16) : sizeof(float); }
const char *agir_ftype_name(agir_ftype t) { return t == AGIR_BF16 ? "bf16" : "f32"; }
agir_ftype agir_act_ftype(const agir_ctx *c) { return c->dev == AGIR_DEV_CUDA ? AGIR_BF16 : AGIR_F32; }

int agir_device_count(agir_device d) {
    if (d == AGIR_DEV_CPU) return 1;
#ifdef AGIR_HAVE_CUDA
    return agir_cuda_device_count();
#else
    return 0;
#endif
}

int agir_device_parse(const char *name, const char *where, agir_device *out, agir_err *e) {
    if (!strcmp(name, "cpu")) {
        *out = AGIR_DEV_CPU;
        return AGIR_OK;
    }
    if (strcmp(name, "cuda")) return AGIR_BAD(e, "%s: unknown device '%s' (hint: use cpu or cuda)", where, name);
#ifndef AGIR_HAVE_CUDA
    return AGIR_BAD(e,
                    "%s: device = cuda, but this agir was built without CUDA (hint: put nvcc on PATH and "
                    "rebuild with -DAGIR_CUDA=ON, or set device = cpu)",
                    where);
#else
    if (agir_cuda_device_count() < 1)
        return AGIR_BAD(e,
                        "%s: device = cuda, but no CUDA device is visible (hint: check nvidia-smi and "
                        "CUDA_VISIBLE_DEVICES, or set device = cpu)",
                        where);
    *out = AGIR_DEV_CUDA;
    return AGIR_OK;
#endif
}

int agir_ctx_open(agir_ctx *c, agir_device dev, agir_err *e) {
    memset(c, 0, sizeof *c);
    c->dev = dev;
    if (dev == AGIR_DEV_CUDA) AGIR_CUDA_CALL(e, agir_cuda_ctx_open(c, e));
    return AGIR_OK;
}

void agir_ctx_close(agir_ctx *c) {
#ifdef AGIR_HAVE_CUDA
    if (c->dev == AGIR_DEV_CUDA) agir_cuda_ctx_close(c);
#endif
    c->scratch = NULL;
    c->blas = NULL;
}

int agir_ctx_sync(const agir_ctx *c, agir_err *e) { AGIR_DISPATCH(c, e, (void)0, agir_cuda_sync(c->stream, e)); }

int agir_dev_alloc(const agir_ctx *c, size_t bytes, void **out, agir_err *e) {
    *out = NULL;
    if (c->dev == AGIR_DEV_CUDA) AGIR_CUDA_CALL(e, agir_cuda_alloc(bytes, out, e));
    *out = malloc(bytes ? bytes : 1);
    return *out ? AGIR_OK : AGIR_BAD(e, "out of memory allocating %zu bytes (hint: use smaller batches)", bytes);
}

void agir_dev_free(const agir_ctx *c, void *p) {
#ifdef AGIR_HAVE_CUDA
    if (c->dev == AGIR_DEV_CUDA) {
        agir_cuda_free(p);
        return;
    }
#endif
    (void)c;
    free(p);
}

static int copy(const agir_ctx *c, void *dst, const void *src, size_t bytes, int to_device, agir_err *e) {
    if (!bytes) return AGIR_OK;
    if (!dst || !src) return AGIR_BUG(e, "NULL pointer in a copy of %zu bytes", bytes);
    (void)to_device;  // the direction only matters to the CUDA backend
    AGIR_DISPATCH(c, e, memcpy(dst, src, bytes), agir_cuda_copy(c->stream, dst, src, bytes, to_device, e));
}

int agir_dev_upload(const agir_ctx *c, void *dst, const void *src, size_t bytes, agir_err *e) {
    return copy(c, dst, src, bytes, 1, e);
}

int agir_dev_download(const agir_ctx *c, void *dst, const void *src, size_t bytes, agir_err *e) {
    return copy(c, dst, src, bytes, 0, e);
}

int agir_dev_zero(const agir_ctx *c, void *p, size_t bytes, agir_err *e) {
    if (!bytes) return AGIR_OK;
    if (!p) return AGIR_BUG(e, "NULL pointer zeroing %zu bytes", bytes);
    AGIR_DISPATCH(c, e, memset(p, 0, bytes), agir_cuda_zero(c->stream, p, bytes, e));
}

int agir_dev_copy(const agir_ctx *c, void *dst, const void *src, size_t bytes, agir_err *e) {
    if (!bytes) return AGIR_OK;
    if (!dst || !src) return AGIR_BUG(e, "NULL pointer in a copy of %zu bytes", bytes);
    AGIR_DISPATCH(c, e, memmove(dst, src, bytes), agir_cuda_copy_d2d(c->stream, dst, src, bytes, e));
}

int agir_dev_upload_as(const agir_ctx *c, void *dst, agir_ftype t, const float *src, size_t n, agir_err *e) {
    if (t == AGIR_F32) return agir_dev_upload(c, dst, src, n * sizeof(float), e);
    if (!n) return AGIR_OK;
    agir_bf16 *h = malloc(n * sizeof *h);
    if (!h) return AGIR_BAD(e, "out of memory converting %zu values to bf16 (hint: use a smaller model)", n);
    for (size_t i = 0; i < n; i++) h[i] = agir_f32_to_bf16(src[i]);
    int rc = agir_dev_upload(c, dst, h, n * sizeof *h, e);
    free(h);
    return rc;
}

int agir_dev_download_f32(const agir_ctx *c, float *dst, const void *src, agir_ftype t, size_t n, agir_err *e) {
    if (t == AGIR_F32) return agir_dev_download(c, dst, src, n * sizeof(float), e);
    if (!n) return AGIR_OK;
    agir_bf16 *h = malloc(n * sizeof *h);
    if (!h) return AGIR_BAD(e, "out of memory reading %zu bf16 values back", n);
    int rc = agir_dev_download(c, h, src, n * sizeof *h, e);
    for (size_t i = 0; !rc && i < n; i++) dst[i] = agir_bf16_to_f32(h[i]);
    free(h);
    return rc;
}

// The schedule and config layers validate user values; reaching an op with bad ones is a bug.
static int adamw_coef(const agir_adamw_hp *hp, agir_adamw_coef *c, agir_err *e) {
    if (!(hp->lr >= 0 && isfinite(hp->lr)) || !(hp->beta1 >= 0 && hp->beta1 < 1) ||
        !(hp->beta2 >= 0 && hp->beta2 < 1) || !(hp->eps > 0 && isfinite(hp->eps)) ||
        !(hp->weight_decay >= 0 && isfinite(hp->weight_decay)) || !(hp->grad_scale >= 0 && isfinite(hp->grad_scale)) ||
        hp->step < 1)
        return AGIR_BUG(e,
                        "AdamW hyper-parameters out of range (lr %g, betas %g %g, eps %g, wd %g, scale %g, step %lld)",
                        hp->lr, hp->beta1, hp->beta2, hp->eps, hp->weight_decay, hp->grad_scale, hp->step);
    double t = (double)hp->step;
    c->beta1 = hp->beta1;
    c->beta2 = hp->beta2;
    c->one_minus_beta1 = (float)(1.0 - hp->beta1);
    c->one_minus_beta2 = (float)(1.0 - hp->beta2);
    c->eps = hp->eps;
    c->grad_scale = hp->grad_scale;
    c->decay = (float)(1.0 - (double)hp->lr * hp->weight_decay);
    c->step_size = (float)(hp->lr / (1.0 - pow(hp->beta1, t)));
    c->inv_sqrt_bc2 = (float)(1.0 / sqrt(1.0 - pow(hp->beta2, t)));
    return AGIR_OK;
}

static int adamw(const agir_ctx *c, float *param, agir_bf16 *param16, const float *grad, float *m, float *v, size_t n,
                 const agir_adamw_hp *hp, agir_err *e) {
    if (!n) return AGIR_OK;
    if (!param || !grad || !m || !v) return AGIR_BUG(e, "NULL tensor passed to AdamW");
    agir_adamw_coef k;
    AGIR_TRY(adamw_coef(hp, &k, e));
    AGIR_DISPATCH(c, e, agir_cpu_adamw(&k, param, param16, grad, m, v, n),
             agir_cuda_adamw(c, &k, param, param16, grad, m, v, n, e));
}

int agir_op_adamw(const agir_ctx *c, float *param, const float *grad, float *m, float *v, size_t n,
                  const agir_adamw_hp *hp, agir_err *e) {
    return adamw(c, param, NULL, grad, m, v, n, hp, e);
}

int agir_op_adamw_bf16(const agir_ctx *c, float *master, agir_bf16 *param, const float *grad, float *m, float *v,
                       size_t n, const agir_adamw_hp *hp, agir_err *e) {
    if (n && !param) return AGIR_BUG(e, "NULL bf16 tensor passed to AdamW");
    return adamw(c, master, param, grad, m, v, n, hp, e);
}

int agir_op_sum_sumsq(const agir_ctx *c, const float *x, size_t n, float *out, agir_err *e) {
    if (!out || (n && !x)) return AGIR_BUG(e, "NULL tensor passed to sum_sumsq");
    AGIR_DISPATCH(c, e, agir_cpu_sum_sumsq(x, n, out), agir_cuda_sum_sumsq(c, x, n, out, e));
}
