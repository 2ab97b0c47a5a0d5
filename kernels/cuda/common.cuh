// What every kernels/cuda/*.cu file includes first: CUDA headers, status checks that fill an
// agir_err, the one launch macro, dynamic shared memory and bf16 helpers.
//
// Each .cu file is compiled twice: by nvcc into the library (AGIR_HAVE_CUDA), and by g++ as C++ with
// AGIR_CUDA_CPU defined, against the CPU runtime of tests/cuda_cpu/ that runs the same kernels in the
// parity tests. Kernels therefore stay inside that runtime's subset (docs/kernels.md).
#ifndef AGIR_KERNELS_CUDA_COMMON_CUH
#define AGIR_KERNELS_CUDA_COMMON_CUH

#ifdef AGIR_CUDA_CPU
// The CPU runtime's build puts tests/cuda_cpu/ on the include path. It must precede every CUDA header
// (it redefines __shared__).
#include "cuda_cpu.h"
#endif
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stddef.h>

#include "kernels/backend.h"

typedef __nv_bfloat16 bf16;

constexpr int kWarp = 32;  // compile-time warp size (warpSize is not a constant under nvcc)
constexpr unsigned kFullMask = 0xffffffffu;

// Reports a failed CUDA call. Running out of device memory is the user's to fix (sizes in the
// config); anything else is internal and carries the source location.
static inline int agir_cuda_fail(agir_err *e, const char *file, int line, const char *call, const char *what, int oom) {
    if (oom)
        return agir_errf(e, AGIR_EINPUT,
                         "%s:%d: %s: out of GPU memory: %s (hint: lower the batch size or "
                         "sequence length)",
                         file, line, call, what);
    return agir_errf_at(e, file, line, "%s: %s", call, what);
}

// Library code never exits: each check returns the error code from the enclosing function. A
// library's status type T, its success value, its status-to-string function and its out-of-memory
// status make one check.
#define AGIR_STATUS_CHECK(e, T, call, ok, name, oom)                                                             \
    do {                                                                                                      \
        T agir_st_ = (call);                                                                                  \
        if (agir_st_ != (ok))                                                                                 \
            return agir_cuda_fail((e), __FILE__, __LINE__, #call, name(agir_st_), agir_st_ == (oom));        \
    } while (0)
#define CUDA_CHECK(e, call) \
    AGIR_STATUS_CHECK(e, cudaError_t, call, cudaSuccess, cudaGetErrorString, cudaErrorMemoryAllocation)
// cuBLAS statuses (include <cublas_v2.h> where used). NCCL_CHECK joins these when NCCL arrives.
#define CUBLAS_CHECK(e, call)                                                                      \
    AGIR_STATUS_CHECK(e, cublasStatus_t, call, CUBLAS_STATUS_SUCCESS, cublasGetStatusString, \
                      CUBLAS_STATUS_ALLOC_FAILED)

// The one way to launch a kernel: AGIR_LAUNCH(e, kernel, grid, block, smem_bytes, stream, args...).
// Parenthesise template kernels: AGIR_LAUNCH(e, (k<float>), ...). The launch status is checked at
// once, so a bad configuration is reported where it happened. Under the CPU runtime the launch runs
// the kernel to completion and reports barrier misuse through the same check.
#ifdef AGIR_CUDA_CPU
#define AGIR_LAUNCH_RAW(kernel, grid, block, smem, stream, ...) \
    cuda_cpu::launch(kernel, grid, block, smem, stream, __VA_ARGS__)
#else
#define AGIR_LAUNCH_RAW(kernel, grid, block, smem, stream, ...) kernel<<<grid, block, smem, stream>>>(__VA_ARGS__)
#endif
#define AGIR_LAUNCH(e, kernel, grid, block, smem, stream, ...)           \
    do {                                                                 \
        AGIR_LAUNCH_RAW(kernel, grid, block, smem, stream, __VA_ARGS__); \
        CUDA_CHECK((e), cudaGetLastError());                             \
    } while (0)

// Dynamic shared memory of the launch as a T array (never write `extern __shared__` in a kernel:
// the CPU runtime cannot serve it; it provides its own dyn_smem).
#ifndef AGIR_CUDA_CPU
template <typename T>
__device__ __forceinline__ T *dyn_smem() {
    extern __shared__ __align__(16) unsigned char agir_dyn_smem_[];
    return reinterpret_cast<T *>(agir_dyn_smem_);
}
#endif

// bf16 storage, fp32 arithmetic: load through to_float, store through from_float<T>.
__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(bf16 x) { return __bfloat162float(x); }
template <typename T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ float from_float<float>(float x) {
    return x;
}
template <>
__device__ __forceinline__ bf16 from_float<bf16>(float x) {
    return __float2bfloat16(x);  // round to nearest even
}

// Grid-stride loop bounds for element-wise kernels: the grid is capped, each thread takes every
// (gridDim.x · blockDim.x)-th element.
__device__ __forceinline__ size_t grid_first() { return (size_t)blockIdx.x * blockDim.x + threadIdx.x; }
__device__ __forceinline__ size_t grid_stride() { return (size_t)gridDim.x * blockDim.x; }

// Blocks for n elements at `threads` per block, at most `cap` (and at least 1, so n = 0 still
// launches and writes its outputs).
static inline unsigned grid_blocks(size_t n, unsigned threads, unsigned cap) {
    size_t b = (n + threads - 1) / threads;
    return b < 1 ? 1u : b > cap ? cap : (unsigned)b;
}

#endif
