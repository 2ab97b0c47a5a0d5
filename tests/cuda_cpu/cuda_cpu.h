// CPU runtime for CUDA kernel sources, for tests: kernels/cuda/*.cu compiled by g++ as C++ with
// AGIR_CUDA_CPU defined (kernels/cuda/common.cuh includes this header first) run here, with each
// thread of a block as a ucontext fiber. It provides the built-ins of the supported subset (thread
// and block indices, __syncthreads, __syncwarp, static and dynamic shared memory, warp shuffles with
// width, atomics, math intrinsics, bf16 through cuda_bf16.h) and host shims for cudaMalloc & co.
//
// Misuse is reported as a launch failure through cudaGetLastError (so through AGIR_LAUNCH's check),
// never as a hang: a thread that exits while others wait at a barrier, diverged barriers, masks
// that leave out a live lane, bad launch configurations. The subset and the rules for kernel authors
// are in docs/kernels.md; ../shared/CUDA_ON_CPU.md records why each header trap below is handled so.
//
// Launches run one at a time on the calling thread: static __shared__ variables are process-wide.
#ifndef AGIR_TESTS_CUDA_CPU_H
#define AGIR_TESTS_CUDA_CPU_H

// vector_types.h pulls crt/host_defines.h, which without nvcc defines the CUDA keywords as nothing
// (so `__shared__ float s[32]` would silently become a per-thread array). Its include guard keeps
// later CUDA headers from undoing the redefinitions below.
#include <vector_types.h>

#undef __global__
#undef __device__
#undef __host__
#undef __shared__
#undef __constant__
#undef __managed__
#undef __launch_bounds__
#undef __grid_constant__
#define __global__
#define __device__
#define __host__
#define __shared__ static  // one copy shared by the fibers of the running block
// __constant__ and __managed__ stay undefined: they are outside the subset and fail to compile.
#define __launch_bounds__(...)
#define __grid_constant__

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstddef>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

// A constant (not a macro: cuda_runtime.h uses the name for a struct field).
constexpr int warpSize = 32;

// Set by the scheduler before it resumes a thread's fiber. Plain globals: launches are serialised.
// (device_launch_parameters.h is never included here; it would declare them differently.)
inline uint3 threadIdx;
inline uint3 blockIdx;
inline dim3 blockDim;
inline dim3 gridDim;

namespace cuda_cpu {

// Runs body(arg) once per thread of every block of the grid; errors go to cudaGetLastError.
void run_grid(dim3 grid, dim3 block, size_t dyn_smem_bytes, void (*body)(void *), void *arg);

template <typename... P, typename... A>
void launch(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t, A &&...args) {
    // Arguments are converted to the parameter types once, as a real launch copies them.
    struct call {
        void (*kernel)(P...);
        std::tuple<std::decay_t<P>...> args;
    } c{kernel, std::tuple<std::decay_t<P>...>(std::forward<A>(args)...)};
    run_grid(
        grid, block, smem,
        [](void *p) {
            call *k = static_cast<call *>(p);
            std::apply(k->kernel, k->args);
        },
        &c);
}

void *dyn_smem_base();

// Barriers of the running block: the caller's fiber waits until the scheduler releases it.
void sync_block();
void sync_warp(unsigned mask);

enum shfl_mode { SHFL_IDX, SHFL_UP, SHFL_DOWN, SHFL_XOR };
// Exchanges `size` bytes between the lanes of the caller's warp (PTX shfl.sync semantics).
void shfl(unsigned mask, const void *in, void *out, size_t size, shfl_mode mode, int b, int width);

template <typename T>
T shfl_as(unsigned mask, T var, shfl_mode mode, int b, int width) {
    static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 8, "shuffle values of at most 8 bytes");
    T out = var;
    shfl(mask, &var, &out, sizeof(T), mode, b, width);
    return out;
}

}  // namespace cuda_cpu

// Runs thread fibers (and blocks) in reversed index order when on: a missing barrier between a write
// by one thread and a read by another shows in one of the two orders. C linkage: C tests call it.
extern "C" void cuda_cpu_set_reversed(int on);

template <typename T>
T *dyn_smem() {
    return static_cast<T *>(cuda_cpu::dyn_smem_base());
}

inline void __syncthreads() { cuda_cpu::sync_block(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { cuda_cpu::sync_warp(mask); }

template <typename T>
T __shfl_sync(unsigned mask, T var, int src_lane, int width = warpSize) {
    return cuda_cpu::shfl_as(mask, var, cuda_cpu::SHFL_IDX, src_lane, width);
}
template <typename T>
T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
    return cuda_cpu::shfl_as(mask, var, cuda_cpu::SHFL_UP, (int)delta, width);
}
template <typename T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
    return cuda_cpu::shfl_as(mask, var, cuda_cpu::SHFL_DOWN, (int)delta, width);
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize) {
    return cuda_cpu::shfl_as(mask, var, cuda_cpu::SHFL_XOR, lane_mask, width);
}

// Atomics: fibers never preempt each other, so a plain read-modify-write is atomic here. Which
// types each one accepts is left to nvcc, which compiles every kernel too.
template <typename T>
T atomicAdd(T *a, T v) {
    T old = *a;
    *a = old + v;
    return old;
}
template <typename T>
T atomicSub(T *a, T v) {
    T old = *a;
    *a = old - v;
    return old;
}
template <typename T>
T atomicMax(T *a, T v) {
    T old = *a;
    *a = old < v ? v : old;
    return old;
}
template <typename T>
T atomicMin(T *a, T v) {
    T old = *a;
    *a = v < old ? v : old;
    return old;
}
template <typename T>
T atomicExch(T *a, T v) {
    T old = *a;
    *a = v;
    return old;
}
template <typename T>
T atomicCAS(T *a, T expected, T v) {
    T old = *a;
    if (old == expected) *a = v;
    return old;
}

// Device intrinsics the CUDA headers only declare for nvcc. The fast-math ones are exact here, so
// tests compare with tolerances that cover the GPU's approximations.
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float __saturatef(float x) { return x > 0.0f ? (x < 1.0f ? x : 1.0f) : 0.0f; }  // NaN gives 0
template <typename T>
T __ldg(const T *p) {
    return *p;
}

// Library calls (cuBLAS, cuDNN, NCCL) used by kernels/cuda/*.cu get their CPU equivalents next to
// this runtime, one file per library (e.g. tests/cuda_cpu/cublas_cpu.cpp defining cublasCreate,
// cublasSgemm, ... over kernels/cpu/), added to the runtime library in tests/cuda_cpu/CMakeLists.txt.

#endif
