// Linear layers on the GPU (kernels/llm_ops.h, agir_op_linear_fwd/bwd): the three products of a
// linear map through cublasGemmEx with bf16 operands and fp32 compute (CUBLAS_COMPUTE_32F), plus the
// bias kernels. The LoRA path s · B A dropout(x) is two of these with alpha = s (see lora.cu).
//
// Row-major to cuBLAS's column-major: a row-major (R, C) matrix is the column-major (C, R) one, so
// C = op(A)·op(B) row-major is Cᵀ = op(B)ᵀ·op(A)ᵀ column-major: operands swapped, same leading
// dimensions (as kernels/cuda/blas.cuh does for fp32).
#include <cublas_v2.h>

#include "kernels/cuda/llm.cuh"

namespace {

constexpr unsigned kThreads = 256;
constexpr unsigned kMaxBlocks = 1024;

struct operand {
    const void *p;
    cudaDataType type;
    int ld;
    bool t;  // transposed
};

// C (M, N) = alpha · op(A) · op(B) + beta · C, row-major; op(A) is (M, K), op(B) is (K, N).
int gemm_ex(const agir_ctx *c, int M, int N, int K, float alpha, operand A, operand B, float beta, void *C,
            cudaDataType ctype, int ldc, agir_err *e) {
    CUBLAS_CHECK(e, cublasGemmEx(static_cast<cublasHandle_t>(c->blas), B.t ? CUBLAS_OP_T : CUBLAS_OP_N,
                                 A.t ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K, &alpha, B.p, B.type, B.ld, A.p, A.type,
                                 A.ld, &beta, C, ctype, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return AGIR_OK;
}

// y = beta·y + b row by row, before the product is added with beta = 1: with beta = 0 (the model's
// case) the product and the bias then meet in fp32 inside cuBLAS and y is rounded once.
__global__ void __launch_bounds__(kThreads) bias_kernel(bf16 *y, int ldy, const bf16 *b, int N, int OC, float beta) {
    size_t total = (size_t)N * OC;
    for (size_t i = grid_first(); i < total; i += grid_stride()) {
        size_t n = i / OC, o = i % OC;
        float old = beta != 0.0f ? to_float(y[n * ldy + o]) : 0.0f;  // beta = 0 never reads y
        y[n * ldy + o] = from_float<bf16>(old + to_float(b[o]));
    }
}

// db[o] += alpha · Σ_n dy[n, o], one thread per column adding rows in order (reproducible).
__global__ void __launch_bounds__(kThreads)
    bias_grad_kernel(float *db, const bf16 *dy, int ldy, int N, int OC, float alpha) {
    for (size_t o = grid_first(); o < (size_t)OC; o += grid_stride()) {
        float s = 0;
        for (int n = 0; n < N; n++) s += to_float(dy[(size_t)n * ldy + o]);
        db[o] += alpha * s;
    }
}

}  // namespace

extern "C" int agir_cuda_linear_fwd(const agir_ctx *c, agir_bf16 *y, int ldy, const agir_bf16 *x, const agir_bf16 *W,
                                    const agir_bf16 *b, int N, int C, int OC, float alpha, float beta, agir_err *e) {
    if (b) {
        AGIR_LAUNCH(e, bias_kernel, grid_blocks((size_t)N * OC, kThreads, kMaxBlocks), kThreads, 0, stream_of(c),
                    as_bf16(y), ldy, as_bf16(b), N, OC, beta);
        beta = 1.0f;
    }
    return gemm_ex(c, N, OC, C, alpha, operand{x, CUDA_R_16BF, C, false}, operand{W, CUDA_R_16BF, C, true}, beta, y,
                   CUDA_R_16BF, ldy, e);
}

extern "C" int agir_cuda_linear_bwd(const agir_ctx *c, agir_bf16 *dx, float *dW, float *db, const agir_bf16 *dy,
                                    int ldy, const agir_bf16 *x, const agir_bf16 *W, int N, int C, int OC, float alpha,
                                    agir_err *e) {
    if (dx)  // dx (N, C) += dy (N, OC) · W (OC, C)
        AGIR_TRY(gemm_ex(c, N, C, OC, alpha, operand{dy, CUDA_R_16BF, ldy, false}, operand{W, CUDA_R_16BF, C, false},
                         1.0f, dx, CUDA_R_16BF, C, e));
    if (dW)  // dW (OC, C) += dyᵀ (OC, N) · x (N, C)
        AGIR_TRY(gemm_ex(c, OC, C, N, alpha, operand{dy, CUDA_R_16BF, ldy, true}, operand{x, CUDA_R_16BF, C, false},
                         1.0f, dW, CUDA_R_32F, C, e));
    if (db)
        AGIR_LAUNCH(e, bias_grad_kernel, grid_blocks((size_t)OC, kThreads, kMaxBlocks), kThreads, 0, stream_of(c), db,
                    as_bf16(dy), ldy, N, OC, alpha);
    return AGIR_OK;
}
