// AdamW on the CPU: the reference update (shapes and formula in kernels/ops.h).
#include "kernels/backend.h"
#include "core/bf16.h"

void agir_cpu_adamw(const agir_adamw_coef *c, float *param, agir_bf16 *param16, const float *grad, float *m, float *v,
                    size_t n) {
    // Threads only pay off on large tensors; the result is the same either way (element-wise).
#pragma omp parallel for schedule(static) if (n >= (1u << 16))
    for (size_t i = 0; i < n; i++) {
        param[i] = agir_adamw_elem(c, param[i], grad[i], &m[i], &v[i]);
        if (param16) param16[i] = agir_f32_to_bf16(param[i]);
    }
}
