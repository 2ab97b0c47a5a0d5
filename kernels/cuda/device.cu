// Device discovery, contexts, memory and synchronisation for the CUDA backend (kernels/ops.h,
// agir_ctx_*, agir_dev_*).
#include "kernels/cuda/common.cuh"

#include <cublas_v2.h>

extern "C" int agir_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError();  // no driver or no device: not an error of later calls
        return 0;
    }
    return n;
}

extern "C" int agir_cuda_alloc(size_t bytes, void **out, agir_err *e) {
    *out = nullptr;
    CUDA_CHECK(e, cudaMalloc(out, bytes ? bytes : 1));
    return AGIR_OK;
}

extern "C" void agir_cuda_free(void *p) {
    (void)cudaFree(p);  // only fails on a bad pointer or a dead context; nothing to recover then
}

extern "C" void agir_cuda_ctx_close(agir_ctx *c) {
    if (c->blas) (void)cublasDestroy(static_cast<cublasHandle_t>(c->blas));  // as cudaFree: nothing to recover
    agir_cuda_free(c->scratch);
    c->blas = nullptr;
    c->scratch = nullptr;
}

static int ctx_open(agir_ctx *c, agir_err *e) {
    AGIR_TRY(agir_cuda_alloc(AGIR_CTX_SCRATCH_BYTES, &c->scratch, e));
    cublasHandle_t h = nullptr;
    CUBLAS_CHECK(e, cublasCreate(&h));
    c->blas = h;
    CUBLAS_CHECK(e, cublasSetStream(h, static_cast<cudaStream_t>(c->stream)));
    return AGIR_OK;
}

extern "C" int agir_cuda_ctx_open(agir_ctx *c, agir_err *e) {
    int rc = ctx_open(c, e);
    if (rc) agir_cuda_ctx_close(c);
    return rc;
}

extern "C" int agir_cuda_copy(void *stream, void *dst, const void *src, size_t bytes, int to_device, agir_err *e) {
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    CUDA_CHECK(e, cudaMemcpyAsync(dst, src, bytes, to_device ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost, s));
    CUDA_CHECK(e, cudaStreamSynchronize(s));
    return AGIR_OK;
}

extern "C" int agir_cuda_zero(void *stream, void *p, size_t bytes, agir_err *e) {
    CUDA_CHECK(e, cudaMemsetAsync(p, 0, bytes, static_cast<cudaStream_t>(stream)));
    return AGIR_OK;
}

extern "C" int agir_cuda_copy_d2d(void *stream, void *dst, const void *src, size_t bytes, agir_err *e) {
    CUDA_CHECK(e, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, static_cast<cudaStream_t>(stream)));
    return AGIR_OK;
}

extern "C" int agir_cuda_sync(void *stream, agir_err *e) {
    CUDA_CHECK(e, cudaStreamSynchronize(static_cast<cudaStream_t>(stream)));
    return AGIR_OK;
}
