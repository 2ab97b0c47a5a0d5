// Row-major GEMMs through cuBLAS for the CUDA kernels: cuBLAS is column-major, and a row-major
// matrix is its column-major transpose, so C = op(A)·op(B) in row-major is Cᵀ = op(B)ᵀ·op(A)ᵀ in
// column-major, with the operands swapped and the same leading dimensions. Call sites can then read
// exactly like the CPU kernels' cblas_sgemm(CblasRowMajor, ...) calls. The context's handle
// (ctx->blas) is bound to its stream (kernels/cuda/device.cu).
#ifndef AGIR_KERNELS_CUDA_BLAS_CUH
#define AGIR_KERNELS_CUDA_BLAS_CUH

#include "kernels/cuda/common.cuh"

#include <cublas_v2.h>

// C (M, N) = op(A) · op(B) + beta·C, row-major; op(A) is (M, K_), op(B) is (K_, N); ta/tb transpose.
static inline int gemm_rm(const agir_ctx *ctx, bool ta, bool tb, int M, int N, int K_, const float *A, int lda,
                          const float *B, int ldb, float beta, float *C, int ldc, agir_err *e) {
    const float one = 1.0f;
    CUBLAS_CHECK(e, cublasSgemm(static_cast<cublasHandle_t>(ctx->blas), tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K_, &one, B, ldb, A, lda, &beta, C, ldc));
    return AGIR_OK;
}

#endif
