// CPU stand-in for cublasGemmEx, next to tests/cuda_cpu/cublas_cpu.cpp (handles, cublasSgemm): the
// mixed-precision products of kernels/cuda/linear.cu. Operands of type CUDA_R_16BF or CUDA_R_32F are
// widened to float, multiplied by cblas_sgemm and the result rounded once to the output type (round
// to nearest even, cuda_bf16.h's host conversion), which is what cuBLAS does with
// CUBLAS_COMPUTE_32F: bf16 products are exact in fp32 and summed in fp32. Only the combinations of
// the cuBLAS API reference's cublasGemmEx table that AGIR uses are accepted (A and B of one type;
// bf16 → bf16 or f32 output; f32 → f32); others return CUBLAS_STATUS_NOT_SUPPORTED. As in
// cublas_cpu.cpp, beta = 0 never reads C (fresh "device" memory is NaN here).
#include "tests/cuda_cpu/cuda_cpu.h"

#include <cublas_v2.h>

#include <cblas.h>

#include <vector>

namespace {

bool is_op(cublasOperation_t op) { return op == CUBLAS_OP_N || op == CUBLAS_OP_T; }

float load(const void *p, cudaDataType t, size_t i) {
    return t == CUDA_R_16BF ? __bfloat162float(static_cast<const __nv_bfloat16 *>(p)[i])
                            : static_cast<const float *>(p)[i];
}

// The rows × cols column-major matrix at p (leading dimension ld) as floats, same layout.
std::vector<float> widen(const void *p, cudaDataType t, int rows, int cols, int ld) {
    std::vector<float> out((size_t)ld * cols, 0.0f);
    for (int j = 0; j < cols; j++)
        for (int i = 0; i < rows; i++) out[i + (size_t)j * ld] = load(p, t, i + (size_t)j * ld);
    return out;
}

}  // namespace

extern "C" cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                       int m, int n, int k, const void *alpha, const void *A, cudaDataType Atype,
                                       int lda, const void *B, cudaDataType Btype, int ldb, const void *beta, void *C,
                                       cudaDataType Ctype, int ldc, cublasComputeType_t computeType,
                                       cublasGemmAlgo_t algo) {
    (void)algo;  // a performance hint only
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    bool types_ok = Atype == Btype && computeType == CUBLAS_COMPUTE_32F &&
                    ((Atype == CUDA_R_16BF && (Ctype == CUDA_R_16BF || Ctype == CUDA_R_32F)) ||
                     (Atype == CUDA_R_32F && Ctype == CUDA_R_32F));
    if (!types_ok) return CUBLAS_STATUS_NOT_SUPPORTED;
    int a_rows = transa == CUBLAS_OP_N ? m : k, a_cols = transa == CUBLAS_OP_N ? k : m;
    int b_rows = transb == CUBLAS_OP_N ? k : n, b_cols = transb == CUBLAS_OP_N ? n : k;
    if (!is_op(transa) || !is_op(transb) || m < 0 || n < 0 || k < 0 || lda < (a_rows > 1 ? a_rows : 1) ||
        ldb < (b_rows > 1 ? b_rows : 1) || ldc < (m > 1 ? m : 1) || !alpha || !beta || !A || !B || !C)
        return CUBLAS_STATUS_INVALID_VALUE;
    if (!m || !n) return CUBLAS_STATUS_SUCCESS;
    const float al = *static_cast<const float *>(alpha), be = *static_cast<const float *>(beta);
    std::vector<float> a = widen(A, Atype, a_rows, a_cols, lda), b = widen(B, Btype, b_rows, b_cols, ldb);
    std::vector<float> c = be == 0.0f ? std::vector<float>((size_t)ldc * n, 0.0f) : widen(C, Ctype, m, n, ldc);
    cblas_sgemm(CblasColMajor, transa == CUBLAS_OP_N ? CblasNoTrans : CblasTrans,
                transb == CUBLAS_OP_N ? CblasNoTrans : CblasTrans, m, n, k, al, a.data(), lda, b.data(), ldb, be,
                c.data(), ldc);
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            size_t at = i + (size_t)j * ldc;
            if (Ctype == CUDA_R_16BF)
                static_cast<__nv_bfloat16 *>(C)[at] = __float2bfloat16(c[at]);
            else
                static_cast<float *>(C)[at] = c[at];
        }
    return CUBLAS_STATUS_SUCCESS;
}
