// Warp and block sums for kernels: shuffles within a warp, shared memory across warps. Summation
// order is fixed by the block shape, so results are reproducible run to run.
#ifndef AGIR_KERNELS_CUDA_REDUCE_CUH
#define AGIR_KERNELS_CUDA_REDUCE_CUH

#include "kernels/cuda/common.cuh"

// Butterfly sum: every lane of the warp gets the total. All 32 lanes must call it.
__device__ __forceinline__ float warp_sum(float v) {
    for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(kFullMask, v, o);
    return v;
}
// A float2 travels as one 64-bit shuffle: the GPU moves it as two 32-bit ones either way, and the CPU
// test runtime waits once instead of twice.
__device__ __forceinline__ float2 warp_sum(float2 v) {
    for (int o = kWarp / 2; o > 0; o /= 2) {
        unsigned long long bits;
        memcpy(&bits, &v, sizeof bits);
        bits = __shfl_xor_sync(kFullMask, bits, o);
        float2 w;
        memcpy(&w, &bits, sizeof w);
        v.x += w.x;
        v.y += w.y;
    }
    return v;
}

// Reduction over the block, returned to every thread: warp_reduce (a functor reducing one value per
// lane across a warp) within each warp, then once more over the warps' results, idle lanes giving
// `identity`. blockDim must be (n, 1, 1) with n a multiple of 32 and every thread must call it (it
// holds barriers). The closing barrier lets callers use it twice.
template <typename T, typename W>
__device__ T block_reduce(T v, T identity, W warp_reduce) {
    __shared__ T warp_part[kWarp];
    const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, nwarp = blockDim.x / kWarp;
    v = warp_reduce(v);
    if (lane == 0) warp_part[warp] = v;
    __syncthreads();
    v = warp_reduce(lane < nwarp ? warp_part[lane] : identity);
    __syncthreads();
    return v;
}

struct warp_sum_op {
    template <typename T>
    __device__ T operator()(T v) const {
        return warp_sum(v);
    }
};

// Sum over the block, returned to every thread (block_reduce's rules).
template <typename T>
__device__ T block_sum(T v) {
    return block_reduce(v, T{}, warp_sum_op{});
}

#endif
