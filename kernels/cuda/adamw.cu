// AdamW update on the GPU (kernels/ops.h, agir_op_adamw and agir_op_adamw_bf16): one element-wise
// kernel; with a bf16 output it keeps the fp32 master weights and writes their bf16 copy.
#include "kernels/cuda/common.cuh"

namespace {

constexpr unsigned kThreads = 256;
constexpr unsigned kMaxBlocks = 1024;  // grid-stride beyond this: enough blocks to fill a GPU

__global__ void __launch_bounds__(kThreads)
    adamw_kernel(agir_adamw_coef c, float *param, bf16 *param16, const float *grad, float *m, float *v, size_t n) {
    for (size_t i = grid_first(); i < n; i += grid_stride()) {
        float mi = m[i], vi = v[i];
        float p = agir_adamw_elem(&c, param[i], grad[i], &mi, &vi);
        m[i] = mi;
        v[i] = vi;
        param[i] = p;
        if (param16) param16[i] = from_float<bf16>(p);
    }
}

}  // namespace

extern "C" int agir_cuda_adamw(const agir_ctx *ctx, const agir_adamw_coef *c, float *param, agir_bf16 *param16,
                               const float *grad, float *m, float *v, size_t n, agir_err *e) {
    AGIR_LAUNCH(e, adamw_kernel, grid_blocks(n, kThreads, kMaxBlocks), kThreads, 0,
                static_cast<cudaStream_t>(ctx->stream), *c, param, reinterpret_cast<bf16 *>(param16), grad, m, v, n);
    return AGIR_OK;
}
