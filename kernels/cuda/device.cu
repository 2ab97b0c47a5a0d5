// Device discovery, memory and synchronisation for the CUDA backend (kernels/ops.h, agir_dev_*).
#include "kernels/cuda/common.cuh"

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

extern "C" int agir_cuda_copy(void *stream, void *dst, const void *src, size_t bytes, int to_device, agir_err *e) {
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    CUDA_CHECK(e, cudaMemcpyAsync(dst, src, bytes, to_device ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost, s));
    CUDA_CHECK(e, cudaStreamSynchronize(s));
    return AGIR_OK;
}

extern "C" int agir_cuda_sync(void *stream, agir_err *e) {
    CUDA_CHECK(e, cudaStreamSynchronize(static_cast<cudaStream_t>(stream)));
    return AGIR_OK;
}
