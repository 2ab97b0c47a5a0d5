// Test of the CPU stand-in for cuBLAS (cublas_cpu.cpp) against a naive double-precision loop
// written from the cuBLAS API reference's definition of cublas<t>gemm: C = α·op(A)·op(B) + β·C,
// column-major, op(X) = X or Xᵀ. Every transpose pair, awkward sizes (1, odd, k = 0), padded
// leading dimensions (the padding must stay untouched), β = 0 over a NaN-filled C, the argument
// checks and statuses, and the row-major wrapper of kernels/cuda/blas.cuh that the kernels use.
#include "kernels/cuda/blas.cuh"

#include <cmath>
#include <cstdio>
#include <vector>

extern "C" {
#include "core/rng.h"
}

namespace {

int failures = 0;

void check(bool ok, const char *fmt, int a = 0, int b = 0, int c = 0, double d = 0) {
    if (ok) return;
    printf("FAIL: ");
    printf(fmt, a, b, c, d);
    printf("\n");
    failures++;
}

std::vector<float> random(size_t n, uint64_t stream) {
    agir_rng r;
    agir_rng_init(&r, 99, stream);
    std::vector<float> v(n);
    for (float &x : v) x = (float)agir_rng_normal(&r);
    return v;
}

// One gemm through the stand-in and the naive loop; returns the worst |error| / (1e-5·(1 + Σ|terms|)).
double one(cublasHandle_t h, bool ta, bool tb, int m, int n, int k, int pad, float alpha, float beta) {
    auto ld = [pad](int rows) { return (rows > 1 ? rows : 1) + pad; };  // cuBLAS: >= max(1, rows)
    int lda = ld(ta ? k : m), ldb = ld(tb ? n : k), ldc = ld(m);
    int acols = ta ? m : k, bcols = tb ? k : n;
    std::vector<float> A = random((size_t)lda * (acols ? acols : 1), 1);
    std::vector<float> B = random((size_t)ldb * (bcols ? bcols : 1), 2);
    std::vector<float> C = random((size_t)ldc * n, 3), C0 = C;
    if (beta == 0.0f)
        for (float &x : C) x = NAN;
    cublasStatus_t st = cublasSgemm(h, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, &alpha,
                                    A.data(), lda, B.data(), ldb, &beta, C.data(), ldc);
    check(st == CUBLAS_STATUS_SUCCESS, "sgemm %d x %d x %d: not CUBLAS_STATUS_SUCCESS", m, n, k);
    double worst = 0;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < ldc; i++) {
            float got = C[i + (size_t)j * ldc];
            if (i >= m) {  // padding rows of C: untouched
                float was = beta == 0.0f ? NAN : C0[i + (size_t)j * ldc];
                check(got == was || (std::isnan(got) && std::isnan(was)), "padding of C changed at (%d, %d)", i, j);
                continue;
            }
            double acc = 0, mag = 0;
            for (int l = 0; l < k; l++) {
                double a = ta ? A[l + (size_t)i * lda] : A[i + (size_t)l * lda];
                double b = tb ? B[j + (size_t)l * ldb] : B[l + (size_t)j * ldb];
                acc += a * b;
                mag += std::fabs(a * b);
            }
            double ref = alpha * acc + (beta == 0.0f ? 0.0 : beta * (double)C0[i + (size_t)j * ldc]);
            double err = std::fabs(got - ref) / (1e-5 * (1 + std::fabs(alpha) * mag + std::fabs(beta)));
            if (!(err <= worst)) worst = std::isnan(err) ? INFINITY : err;
        }
    return worst;
}

void gemms(cublasHandle_t h) {
    const int dims[][3] = {{1, 1, 1}, {7, 5, 3}, {33, 17, 65}, {64, 1, 130}, {3, 9, 0}, {0, 4, 5}, {45, 38, 29}};
    double worst = 0;
    for (const auto &d : dims)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int pad = 0; pad < 5; pad += 3) {
                    double x = one(h, ta, tb, d[0], d[1], d[2], pad, 1.0f, 0.0f);
                    x = std::fmax(x, one(h, ta, tb, d[0], d[1], d[2], pad, -0.5f, 1.5f));
                    check(x <= 1, "sgemm %d x %d x %d: error %.3g of tolerance", d[0], d[1], d[2], x);
                    worst = std::fmax(worst, x);
                }
    printf("sgemm: 7 shapes x 4 transposes x 2 paddings x 2 (alpha, beta): worst error %.3g of tolerance\n", worst);
}

void statuses(cublasHandle_t h) {
    float one_f = 1, zero = 0, a[4] = {0}, c[4] = {0};
    check(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &one_f, a, 1, a, 2, &zero, c, 2) ==
              CUBLAS_STATUS_INVALID_VALUE,
          "lda < m accepted");
    check(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, 2, 2, 3, &one_f, a, 2, a, 3, &zero, c, 2) ==
              CUBLAS_STATUS_INVALID_VALUE,
          "lda < k with op(A) = A^T accepted");
    check(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &one_f, a, 2, a, 2, &zero, c, 1) ==
              CUBLAS_STATUS_INVALID_VALUE,
          "ldc < m accepted");
    check(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, -1, 2, 2, &one_f, a, 2, a, 2, &zero, c, 2) ==
              CUBLAS_STATUS_INVALID_VALUE,
          "negative m accepted");
    check(cublasSgemm(nullptr, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &one_f, a, 2, a, 2, &zero, c, 2) ==
              CUBLAS_STATUS_NOT_INITIALIZED,
          "NULL handle accepted");
    check(!strcmp(cublasGetStatusString(CUBLAS_STATUS_INVALID_VALUE), "CUBLAS_STATUS_INVALID_VALUE"),
          "status string");
    // CUBLAS_CHECK turns a status into an agir error naming the call and the status.
    agir_err e = {};
    int rc = [&]() -> int {
        CUBLAS_CHECK(&e, cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &one_f, a, 1, a, 2, &zero, c, 2));
        return AGIR_OK;
    }();
    check(rc == AGIR_EINTERNAL && strstr(e.msg, "CUBLAS_STATUS_INVALID_VALUE") && strstr(e.msg, "cublasSgemm"),
          "CUBLAS_CHECK message");
}

// gemm_rm (blas.cuh) against the row-major definition, through an agir context's handle.
void row_major() {
    agir_ctx ctx;
    agir_err e = {};
    check(agir_ctx_open(&ctx, AGIR_DEV_CUDA, &e) == AGIR_OK && ctx.blas, "context with a cuBLAS handle");
    const int M = 13, N = 6, K = 9;
    double worst = 0;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int lda = ta ? M : K, ldb = tb ? K : N;
            std::vector<float> A = random((size_t)M * K, 4), B = random((size_t)K * N, 5), C((size_t)M * N, NAN);
            check(gemm_rm(&ctx, ta, tb, M, N, K, A.data(), lda, B.data(), ldb, 0.0f, C.data(), N, &e) == AGIR_OK,
                  "gemm_rm status");
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    double acc = 0, mag = 0;
                    for (int l = 0; l < K; l++) {
                        double a = ta ? A[(size_t)l * lda + i] : A[(size_t)i * lda + l];
                        double b = tb ? B[(size_t)j * ldb + l] : B[(size_t)l * ldb + j];
                        acc += a * b, mag += std::fabs(a * b);
                    }
                    worst = std::fmax(worst, std::fabs(C[(size_t)i * N + j] - acc) / (1e-5 * (1 + mag)));
                }
        }
    check(worst <= 1, "gemm_rm: error %.3g of tolerance", 0, 0, 0, worst);
    printf("gemm_rm: 4 transposes: worst error %.3g of tolerance\n", worst);
    agir_ctx_close(&ctx);
}

}  // namespace

int main() {
    cublasHandle_t h = nullptr;
    check(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS && h, "cublasCreate");
    check(cublasSetStream(h, nullptr) == CUBLAS_STATUS_SUCCESS, "cublasSetStream");
    gemms(h);
    statuses(h);
    check(cublasDestroy(h) == CUBLAS_STATUS_SUCCESS, "cublasDestroy");
    row_major();
    printf(failures ? "FAILED: %d checks\n" : "PASSED\n", failures);
    return failures ? 1 : 0;
}
