// Self-test of the CPU runtime for CUDA kernels (cuda_cpu.h): indices, barriers, shared memory,
// shuffles with width (against the CUDA programming guide's rules, written independently of the
// runtime's PTX-style formula), atomics, intrinsics, bf16, the memory shims, and the misuse it must
// report: threads exiting while others wait, partial masks, bad launches, and a missing barrier
// that only the reversed thread order exposes.
#include "kernels/cuda/common.cuh"

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "core/bf16.h"
extern "C" {
#include "core/rng.h"
}

static_assert(warpSize == 32, "warpSize is a compile-time constant");

namespace {

int failures = 0;

void check(bool ok, const char *what, const std::string &detail = "") {
    if (ok) return;
    printf("FAIL: %s %s\n", what, detail.c_str());
    failures++;
}

// Runs one launch through the project's macro; returns the agir status, message in *e.
#define LAUNCH(e, ...)               \
    ([&]() -> int {                  \
        AGIR_LAUNCH(e, __VA_ARGS__); \
        return AGIR_OK;              \
    }())

template <typename T>
struct dev_buf {  // cudaMalloc'ed array, freed on scope exit
    T *p = nullptr;
    size_t n;
    explicit dev_buf(size_t count) : n(count) {
        check(cudaMalloc(reinterpret_cast<void **>(&p), n * sizeof(T)) == cudaSuccess, "cudaMalloc");
    }
    ~dev_buf() { cudaFree(p); }
    std::vector<T> get() const {
        std::vector<T> h(n);
        cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost);
        return h;
    }
};

// --- indices and barriers ---

__global__ void index_kernel(unsigned *out) {
    unsigned t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    unsigned b = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
    unsigned nt = blockDim.x * blockDim.y * blockDim.z;
    atomicAdd(&out[b * nt + t], 1u + b * nt + t);
}

void indices() {
    dim3 grid(3, 2, 2), block(8, 4, 3);
    size_t n = 12 * 96;
    dev_buf<unsigned> out(n);
    cudaMemset(out.p, 0, n * sizeof(unsigned));
    agir_err e = {};
    check(LAUNCH(&e, index_kernel, grid, block, 0, 0, out.p) == AGIR_OK, "index launch", e.msg);
    std::vector<unsigned> h = out.get();
    bool ok = true;
    for (size_t i = 0; i < n; i++) ok &= h[i] == i + 1;  // each (block, thread) ran exactly once
    check(ok, "every thread of a 3-D grid of 3-D blocks ran once with its own indices");
}

// Each thread reads its neighbour's slot after a barrier: right in either thread order.
__global__ void rotate_kernel(float *out) {
    float *s = dyn_smem<float>();
    __shared__ float t2[256];
    unsigned t = threadIdx.x, n = blockDim.x;
    s[t] = (float)(t + 1000 * blockIdx.x);
    t2[t] = 2.0f * s[t];
    __syncthreads();
    out[blockIdx.x * n + t] = s[(t + 1) % n] + t2[(t + n - 1) % n];
}

// The same without the barrier: the read of slot t - 1 happens to work when threads run in index
// order, and reads the NaN fill when they run reversed.
__global__ void missing_barrier_kernel(float *out) {
    float *s = dyn_smem<float>();
    unsigned t = threadIdx.x;
    s[t] = (float)t;
    out[t] = s[t ? t - 1 : 0];
}

void barriers() {
    const unsigned n = 256, blocks = 3;
    for (int rev = 0; rev < 2; rev++) {
        cuda_cpu_set_reversed(rev);
        dev_buf<float> out(n * blocks);
        agir_err e = {};
        check(LAUNCH(&e, rotate_kernel, blocks, n, n * sizeof(float), 0, out.p) == AGIR_OK, "rotate launch", e.msg);
        std::vector<float> h = out.get();
        bool ok = true;
        for (unsigned b = 0; b < blocks; b++)
            for (unsigned t = 0; t < n; t++)
                ok &= h[b * n + t] == (float)((t + 1) % n + 1000 * b) + 2.0f * (float)((t + n - 1) % n + 1000 * b);
        check(ok, "__syncthreads orders shared-memory writes before reads", rev ? "(reversed)" : "(forward)");

        dev_buf<float> racy(n);
        check(LAUNCH(&e, missing_barrier_kernel, 1, n, n * sizeof(float), 0, racy.p) == AGIR_OK, "racy launch", e.msg);
        std::vector<float> r = racy.get();
        bool right = true;
        for (unsigned t = 0; t < n; t++) right &= r[t] == (float)(t ? t - 1 : 0);
        check(right == !rev, "only the reversed pass exposes the missing barrier", rev ? "(reversed)" : "(forward)");
    }
    cuda_cpu_set_reversed(0);
}

// --- warps ---

__global__ void syncwarp_kernel(int *out) {
    __shared__ int s[64];
    unsigned t = threadIdx.x, base = t / kWarp * kWarp;
    s[t] = (int)t * 3;
    __syncwarp();
    out[t] = s[base + (kWarp - 1 - t % kWarp)];
}

constexpr int kWidths[] = {1, 2, 4, 8, 16, 32};
constexpr int kArgs[] = {0, 1, 3, 6, 17, 37};  // source lanes, deltas, xor masks (37 wraps to 5)
constexpr int kCases = 4 * 6 * 6;

// out[(case) * n + t]: every mode x width x argument, on an int and on a float2.
__global__ void shfl_kernel(int *out, float2 *out2) {
    unsigned t = threadIdx.x, n = blockDim.x;
    int v = (int)t * 10 + 7;
    float2 v2 = make_float2((float)t, -(float)t);
    int c = 0;
    for (int mode = 0; mode < 4; mode++)
        for (int w : kWidths)
            for (int a : kArgs) {
                int r;
                float2 r2;
                switch (mode) {
                case 0:
                    r = __shfl_sync(kFullMask, v, a, w);
                    r2 = __shfl_sync(kFullMask, v2, a, w);
                    break;
                case 1:
                    r = __shfl_up_sync(kFullMask, v, (unsigned)a, w);
                    r2 = __shfl_up_sync(kFullMask, v2, (unsigned)a, w);
                    break;
                case 2:
                    r = __shfl_down_sync(kFullMask, v, (unsigned)a, w);
                    r2 = __shfl_down_sync(kFullMask, v2, (unsigned)a, w);
                    break;
                default:
                    r = __shfl_xor_sync(kFullMask, v, a, w);
                    r2 = __shfl_xor_sync(kFullMask, v2, a, w);
                    break;
                }
                out[c * n + t] = r;
                out2[c * n + t] = r2;
                c++;
            }
}

// The source lane as the CUDA C++ Programming Guide describes each shuffle (not PTX's formula).
unsigned expected_source(int mode, unsigned lane, int w, int a) {
    unsigned g = lane / (unsigned)w * (unsigned)w, in = lane % (unsigned)w;
    switch (mode) {
    case 0:
        return g + (unsigned)(a % w);  // srcLane modulo width, in the group
    case 1:
        return in >= (unsigned)(a % 32) ? lane - (unsigned)(a % 32) : lane;  // none below the group
    case 2:
        return in + (unsigned)(a % 32) < (unsigned)w ? lane + (unsigned)(a % 32) : lane;
    default: {
        unsigned s = lane ^ (unsigned)(a % 32);
        return s < g + (unsigned)w ? s : lane;  // earlier groups allowed, later ones give the own value
    }
    }
}

void warps() {
    const unsigned n = 64;
    for (int rev = 0; rev < 2; rev++) {
        cuda_cpu_set_reversed(rev);
        agir_err e = {};
        dev_buf<int> sw(n);
        check(LAUNCH(&e, syncwarp_kernel, 1, n, 0, 0, sw.p) == AGIR_OK, "syncwarp launch", e.msg);
        std::vector<int> h = sw.get();
        bool ok = true;
        for (unsigned t = 0; t < n; t++) ok &= h[t] == (int)(t / 32 * 32 + 31 - t % 32) * 3;
        check(ok, "__syncwarp orders lane writes before reads");

        dev_buf<int> out(kCases * n);
        dev_buf<float2> out2(kCases * n);
        check(LAUNCH(&e, shfl_kernel, 1, n, 0, 0, out.p, out2.p) == AGIR_OK, "shfl launch", e.msg);
        std::vector<int> r = out.get();
        std::vector<float2> r2 = out2.get();
        int c = 0, bad = 0;
        for (int mode = 0; mode < 4; mode++)
            for (int w : kWidths)
                for (int a : kArgs) {
                    for (unsigned t = 0; t < n; t++) {
                        unsigned src = t / 32 * 32 + expected_source(mode, t % 32, w, a);
                        bool good = r[c * n + t] == (int)src * 10 + 7 && r2[c * n + t].x == (float)src &&
                                    r2[c * n + t].y == -(float)src;
                        if (!good && bad++ < 5)
                            printf("  shuffle mode %d width %d arg %d lane %u: got %d, want lane %u\n", mode, w, a, t,
                                   r[c * n + t], src);
                    }
                    c++;
                }
        check(bad == 0, "shuffles follow CUDA's width rules", std::to_string(bad) + " wrong");
    }
    cuda_cpu_set_reversed(0);
}

// --- atomics ---

__global__ void atomics_kernel(int *ci, unsigned *cu, float *cf, unsigned long long *cl) {
    int id = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    atomicAdd(&ci[0], 1);
    atomicSub(&ci[1], 2);
    atomicMax(&ci[2], id);
    atomicMin(&ci[3], -id);
    atomicAdd(&cf[0], 0.5f);
    atomicAdd(&cl[0], 1ull << 33);
    atomicExch(&cu[1], 42u);
    unsigned old = cu[0], seen;
    while ((seen = atomicCAS(&cu[0], old, old + 3u)) != old) old = seen;  // CAS-loop increment
}

void atomics() {
    dev_buf<int> ci(4);
    dev_buf<unsigned> cu(2);
    dev_buf<float> cf(1);
    dev_buf<unsigned long long> cl(1);
    cudaMemset(ci.p, 0, 4 * sizeof(int));
    cudaMemset(cu.p, 0, 2 * sizeof(unsigned));
    cudaMemset(cf.p, 0, sizeof(float));
    cudaMemset(cl.p, 0, sizeof(unsigned long long));
    agir_err e = {};
    check(LAUNCH(&e, atomics_kernel, 5, 96, 0, 0, ci.p, cu.p, cf.p, cl.p) == AGIR_OK, "atomics launch", e.msg);
    std::vector<int> i = ci.get();
    std::vector<unsigned> u = cu.get();
    const int n = 5 * 96;
    check(i[0] == n && i[1] == -2 * n && i[2] == n - 1 && i[3] == -(n - 1), "integer atomics");
    check(cf.get()[0] == 0.5f * n && cl.get()[0] == (unsigned long long)n << 33, "float and 64-bit atomicAdd");
    check(u[0] == 3u * n && u[1] == 42u, "atomicCAS loop and atomicExch");
}

// --- memory, intrinsics, bf16 ---

__global__ void read_fresh_smem_kernel(unsigned *out) {
    out[threadIdx.x] = dyn_smem<unsigned>()[threadIdx.x];  // before any write: the NaN fill
}

__global__ void math_kernel(float *out, bf16 *out16, const float *in, int n) {
    for (int i = (int)threadIdx.x; i < n; i += (int)blockDim.x) out16[i] = from_float<bf16>(in[i]);
    if (threadIdx.x == 0) {
        out[0] = rsqrtf(4.0f);
        out[1] = __expf(0.0f) + __logf(1.0f);
        out[2] = __saturatef(2.0f) + __saturatef(-1.0f) + __saturatef(NAN);
        out[3] = __ldg(&in[1]) == in[1] ? __fdividef(1.0f, 4.0f) : -1.0f;
        out[4] = to_float(from_float<bf16>(1.0f + 1.0f / 256));  // a tie: rounds to even, 1.0
    }
}

void memory_and_math() {
    dev_buf<unsigned char> fresh(64);
    std::vector<unsigned char> f = fresh.get();
    bool all_ff = true;
    for (unsigned char c : f) all_ff &= c == 0xff;
    check(all_ff, "cudaMalloc memory is filled with NaN bytes");

    agir_err e = {};
    dev_buf<unsigned> s(32);
    check(LAUNCH(&e, read_fresh_smem_kernel, 2, 32, 32 * sizeof(unsigned), 0, s.p) == AGIR_OK, "smem launch", e.msg);
    bool nan_fill = true;
    for (unsigned v : s.get()) nan_fill &= v == 0xffffffffu;
    check(nan_fill, "dynamic shared memory starts as NaN bytes in every block");

    const int n = 4096;
    std::vector<float> in(n);
    agir_rng r;
    agir_rng_init(&r, 5, 5);
    for (float &x : in) x = (float)ldexp(agir_rng_normal(&r), (int)agir_rng_below(&r, 60) - 30);
    in[1] = 1.0f + 1.0f / 256;  // exact ties
    in[2] = -(1.0f + 3.0f / 256);
    dev_buf<float> din(n), out(5);
    dev_buf<bf16> out16(n);
    cudaMemcpy(din.p, in.data(), n * sizeof(float), cudaMemcpyHostToDevice);
    check(LAUNCH(&e, math_kernel, 1, 128, 0, 0, out.p, out16.p, din.p, n) == AGIR_OK, "math launch", e.msg);
    std::vector<float> m = out.get();
    char got[160];
    snprintf(got, sizeof got, "%.9g %.9g %.9g %.9g %.9g", m[0], m[1], m[2], m[3], m[4]);
    check(m[0] == 0.5f && m[1] == 1.0f && m[2] == 1.0f && m[3] == 0.25f && m[4] == 1.0f,
          "math intrinsics and bf16 helpers", got);
    std::vector<bf16> h16 = out16.get();
    int diff = 0;
    for (int i = 0; i < n; i++) {
        agir_bf16 bits;
        memcpy(&bits, &h16[i], sizeof bits);
        diff += bits != agir_f32_to_bf16(in[i]);
    }
    check(diff == 0, "__float2bfloat16 and core/bf16.h round alike", std::to_string(diff) + " differ");
}

// --- misuse ---

__global__ void early_exit_block_kernel(float *out) {
    if (threadIdx.x == 3) return;  // the bug: others wait for it below
    __syncthreads();
    out[threadIdx.x] = 1.0f;
}

__global__ void early_exit_warp_kernel(float *out) {
    if (threadIdx.x % kWarp == 5) return;
    out[threadIdx.x] = __shfl_xor_sync(kFullMask, 1.0f, 1);
}

__global__ void guarded_exit_kernel(float *out, int n) {  // early return with no barrier after: fine
    int i = (int)threadIdx.x;
    if (i >= n) return;
    out[i] = 2.0f;
}

__global__ void partial_mask_kernel(float *out) { out[threadIdx.x] = __shfl_down_sync(0x0000ffffu, 1.0f, 1); }

__global__ void bad_width_kernel(float *out) { out[threadIdx.x] = __shfl_sync(kFullMask, 1.0f, 0, 12); }

__global__ void diverged_kernel(float *out) {
    if (threadIdx.x < 16)
        __syncthreads();
    else
        __syncwarp();
    out[threadIdx.x] = 0;
}

// Launches a faulty kernel and expects an internal error naming this file and `needle`.
template <typename K>
void expect_fault(const char *what, K kernel, dim3 grid, dim3 block, const char *needle) {
    dev_buf<float> out(2048);
    agir_err e = {};
    int rc = LAUNCH(&e, kernel, grid, block, 0, 0, out.p);
    bool ok = rc == AGIR_EINTERNAL && strstr(e.msg, "test_runtime.cpp:") && strstr(e.msg, needle);
    check(ok, what, e.msg);
    check(cudaGetLastError() == cudaSuccess, "the error is consumed by the check", what);
}

void misuse() {
    for (int rev = 0; rev < 2; rev++) {
        cuda_cpu_set_reversed(rev);
        expect_fault("thread exiting before __syncthreads", early_exit_block_kernel, 2, 64,
                     "thread (3,0,0) of block (");
        expect_fault("exit report counts the waiters", early_exit_block_kernel, 1, 64,
                     "while 63 threads of its block wait");
        expect_fault("lane exiting before a shuffle", early_exit_warp_kernel, 1, 64,
                     "lanes of its warp wait at a warp shuffle");
        expect_fault("partial shuffle mask", partial_mask_kernel, 1, 32, "leaves out live lanes 0xffff0000");
        expect_fault("shuffle width not a power of two", bad_width_kernel, 1, 32, "width 12");
        expect_fault("diverged barriers", diverged_kernel, 1, 32, "diverged");
        expect_fault("block of 2048 threads", partial_mask_kernel, 1, 2048, "not a valid block shape");
    }
    cuda_cpu_set_reversed(0);
    dev_buf<float> out(64);
    agir_err e = {};
    check(LAUNCH(&e, guarded_exit_kernel, 1, 64, 0, 0, out.p, 40) == AGIR_OK, "guarded early return is fine", e.msg);
    check(LAUNCH(&e, rotate_kernel, 1, 32, 64 << 10, 0, out.p) == AGIR_EINTERNAL && strstr(e.msg, "48 KiB"),
          "dynamic shared memory over 48 KiB", e.msg);
    // A fault must not leave the runtime stuck: the next launch works.
    agir_err_clear(&e);
    check(LAUNCH(&e, guarded_exit_kernel, 1, 64, 0, 0, out.p, 64) == AGIR_OK && out.get()[63] == 2.0f,
          "launches work after a fault", e.msg);
}

}  // namespace

int main() {
    auto t0 = std::chrono::steady_clock::now();
    indices();
    barriers();
    warps();
    atomics();
    memory_and_math();
    misuse();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    printf("runtime self-test: %.2f s, %s\n", s, failures ? "FAILED" : "PASSED");
    return failures ? 1 : 0;
}
