// What the op dispatcher (kernels/ops.c) calls on each backend; not for use outside kernels/ and the
// parity tests. Argument shapes are those of the op of the same name in kernels/ops.h.
//
// CPU kernels (kernels/cpu/*.c) cannot fail: ops.c validates arguments before calling them. CUDA
// host launchers (kernels/cuda/*.cu, built when AGIR_HAVE_CUDA is defined) return an agir_err code.
#ifndef AGIR_KERNELS_BACKEND_H
#define AGIR_KERNELS_BACKEND_H

#include <math.h>
#include <stddef.h>

#include "kernels/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

// Code shared by both backends' kernels must compile for the GPU too.
#ifdef __CUDACC__
#define AGIR_HD __host__ __device__
#else
#define AGIR_HD
#endif

// AdamW's per-step constants, computed once in double on the host (ops.c) so both backends use the
// very same floats.
typedef struct agir_adamw_coef {
    float beta1, beta2, one_minus_beta1, one_minus_beta2, eps, grad_scale;
    float decay;         // 1 - lr·wd
    float step_size;     // lr / (1 - β1^t)
    float inv_sqrt_bc2;  // 1 / sqrt(1 - β2^t)
} agir_adamw_coef;

// One element of AdamW: updates *m and *v and returns the new parameter.
AGIR_HD static inline float agir_adamw_elem(const agir_adamw_coef *c, float p, float g, float *m, float *v) {
    g *= c->grad_scale;
    float mi = c->beta1 * *m + c->one_minus_beta1 * g;
    float vi = c->beta2 * *v + c->one_minus_beta2 * g * g;
    *m = mi;
    *v = vi;
    return p * c->decay - c->step_size * mi / (sqrtf(vi) * c->inv_sqrt_bc2 + c->eps);
}

// param16 may be NULL (fp32 AdamW); otherwise it receives bf16(param) after the update.
void agir_cpu_adamw(const agir_adamw_coef *c, float *param, agir_bf16 *param16, const float *grad, float *m, float *v,
                    size_t n);
void agir_cpu_sum_sumsq(const float *x, size_t n, float *out);

#ifdef AGIR_HAVE_CUDA
int agir_cuda_device_count(void);
int agir_cuda_alloc(size_t bytes, void **out, agir_err *e);
void agir_cuda_free(void *p);
// to_device: 1 host → device, 0 device → host; waits for the stream first.
int agir_cuda_copy(void *stream, void *dst, const void *src, size_t bytes, int to_device, agir_err *e);
int agir_cuda_sync(void *stream, agir_err *e);

int agir_cuda_adamw(const agir_ctx *ctx, const agir_adamw_coef *c, float *param, agir_bf16 *param16, const float *grad,
                    float *m, float *v, size_t n, agir_err *e);
int agir_cuda_sum_sumsq(const agir_ctx *ctx, const float *x, size_t n, float *out, agir_err *e);
#endif

#ifdef __cplusplus
}
#endif

#endif
