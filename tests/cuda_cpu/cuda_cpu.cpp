// CPU runtime for CUDA kernel sources (see cuda_cpu.h): the block scheduler, barriers, warp
// shuffles, and host shims of the CUDA runtime API.
//
// Each thread of a block is a ucontext fiber on its own mmap'd stack. A sweep runs every ready fiber
// in index order (or reversed) until it waits at a barrier or exits; each hands over directly to the
// next ready one (one swapcontext per resume: its signal-mask syscall dominates the runtime's cost),
// the last back to the scheduler, which releases the barriers whose participants have all arrived
// and sweeps again. Nothing runs concurrently, so results (atomics included) are deterministic.
#include "tests/cuda_cpu/cuda_cpu.h"

#include <pthread.h>
#include <sys/mman.h>
#include <ucontext.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define CUDA_CPU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CUDA_CPU_ASAN 1
#endif
#endif
#ifdef CUDA_CPU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace cuda_cpu {
namespace {

constexpr size_t kStack = 256 << 10;      // per thread; only touched pages are committed
constexpr size_t kGuard = 4096;           // PROT_NONE page under each stack: an overflow faults
constexpr size_t kMaxDynSmem = 48 << 10;  // a launch's default limit on the GPU
constexpr unsigned kMaxThreads = 1024;    // per block

enum state { READY, AT_BLOCK, AT_WARP, DONE };
constexpr unsigned kSched = ~0u;  // "the scheduler" where a fiber index is expected
enum { KIND_SYNCWARP = 0 };       // warp waits: 0 = __syncwarp, else 1 + 16·mode + size (see shfl)

struct fiber {
    ucontext_t ctx;
    state st;
    int kind;        // warp operation waited at
    unsigned mask;   // its mask
    unsigned phase;  // shuffle slot set this lane writes next (double buffered)
    void *fake_stack;
    bool has_ctx;  // getcontext done once for this slot
};

struct runtime {
    std::vector<fiber> fibers;            // kMaxThreads, never reallocated: a saved context points into itself
    std::vector<unsigned char *> stacks;  // usable stack bottoms; the guard page is just below
    ucontext_t sched;
    const void *sched_bottom = nullptr;  // the scheduler's (calling thread's) stack, for ASan
    size_t sched_size = 0;
    void *sched_fake = nullptr;
    bool in_launch = false;
    bool reversed = false;
    unsigned n = 0, cur = 0;  // threads per block, running thread
    void (*body)(void *) = nullptr;
    void *arg = nullptr;
    // Dynamic shared memory of the launch, exactly its size so that ASan catches accesses past it.
    unsigned char *dyn = nullptr;
    size_t dyn_bytes = 0;
    std::vector<unsigned long long> slots;  // shuffle exchange: [warp][phase][lane]
    std::string fault;                      // first misuse found in the running launch
    cudaError_t last_error = cudaSuccess;
    cudaError_t detail_error = cudaSuccess;
    std::string detail;  // message for detail_error

    ~runtime() {
        for (unsigned char *s : stacks) munmap(s - kGuard, kStack + kGuard);
    }
};

runtime &rt() {
    static runtime r;
    return r;
}

[[noreturn]] void fatal(const char *what) {
    fprintf(stderr, "cuda_cpu: %s\n", what);
    abort();
}

// ASan must be told about every stack switch, or it reports the fibers' frames as overflows.
void switch_start(void **fake_save, const void *bottom, size_t size) {
#ifdef CUDA_CPU_ASAN
    __sanitizer_start_switch_fiber(fake_save, bottom, size);
#else
    (void)fake_save, (void)bottom, (void)size;
#endif
}
void switch_finish(void *fake_save, const void **bottom_old, size_t *size_old) {
#ifdef CUDA_CPU_ASAN
    __sanitizer_finish_switch_fiber(fake_save, bottom_old, size_old);
#else
    (void)fake_save, (void)bottom_old, (void)size_old;
#endif
}

uint3 thread_index(unsigned i) {
    return make_uint3(i % blockDim.x, i / blockDim.x % blockDim.y, i / (blockDim.x * blockDim.y));
}

std::string describe(unsigned i) {
    uint3 t = thread_index(i);
    char buf[128];
    snprintf(buf, sizeof buf, "thread (%u,%u,%u) of block (%u,%u,%u)", t.x, t.y, t.z, blockIdx.x, blockIdx.y,
             blockIdx.z);
    return buf;
}

void set_fault(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void set_fault(const char *fmt, ...) {
    runtime &r = rt();
    if (!r.fault.empty()) return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    r.fault = buf;
}

// Switches from the running context to `to` (a fiber or kSched); returns when `from` is resumed,
// which a finished fiber never is.
void transfer(unsigned from, unsigned to) {
    runtime &r = rt();
    bool from_sched = from == kSched;
    fiber *f = from_sched ? nullptr : &r.fibers[from];
    void **fake = from_sched ? &r.sched_fake : f->st == DONE ? nullptr : &f->fake_stack;  // NULL: frames gone
    switch_start(fake, to == kSched ? r.sched_bottom : r.stacks[to], to == kSched ? r.sched_size : kStack);
    if (to != kSched) {
        r.cur = to;
        threadIdx = thread_index(to);
    }
    swapcontext(from_sched ? &r.sched : &f->ctx, to == kSched ? &r.sched : &r.fibers[to].ctx);
    switch_finish(from_sched ? r.sched_fake : f->fake_stack, nullptr, nullptr);
}

// The next ready fiber after `i` in this sweep's order, or kSched; the first one for i = kSched.
unsigned next_ready(unsigned i) {
    runtime &r = rt();
    for (;;) {
        if (r.reversed)
            i = i == kSched ? r.n - 1 : i == 0 ? kSched : i - 1;
        else
            i = i == kSched ? 0 : i + 1 == r.n ? kSched : i + 1;
        if (i == kSched || r.fibers[i].st == READY) return i;
    }
}

// The running fiber has set its state (waiting or done): hand over to the next one, or back to the
// scheduler after the last one or once a fault is recorded.
void leave() {
    runtime &r = rt();
    unsigned me = r.cur;
    transfer(me, r.fault.empty() ? next_ready(me) : kSched);
}

void fiber_main() {
    runtime &r = rt();
    switch_finish(nullptr, nullptr, nullptr);
    r.body(r.arg);
    r.fibers[r.cur].st = DONE;
    leave();
    fatal("a finished thread was resumed");
}

// getcontext returns twice in the compiler's eyes; called from its own frame it cannot clobber the
// caller's locals (-Wclobbered).
__attribute__((noinline)) void init_context(ucontext_t *c) {
    if (getcontext(c)) fatal("getcontext failed");
}

void grow_pool(unsigned n) {
    runtime &r = rt();
    while (r.stacks.size() < n) {
        void *m =
            mmap(nullptr, kStack + kGuard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED || mprotect(m, kGuard, PROT_NONE)) fatal("cannot map a thread stack");
        r.stacks.push_back(static_cast<unsigned char *>(m) + kGuard);
    }
    if (r.fibers.empty()) r.fibers.resize(kMaxThreads);
}

void prepare(unsigned i) {
    runtime &r = rt();
    fiber &f = r.fibers[i];
    if (!f.has_ctx) init_context(&f.ctx);
    f.has_ctx = true;
    f.ctx.uc_stack.ss_sp = r.stacks[i];
    f.ctx.uc_stack.ss_size = kStack;
    f.ctx.uc_link = nullptr;
    makecontext(&f.ctx, fiber_main, 0);
    // The stack now lives in the saved registers. Left here, it would make ASan's swapcontext
    // interceptor clear the shadow of the whole stack on every switch (slow, and hides bugs).
    f.ctx.uc_stack.ss_sp = nullptr;
    f.ctx.uc_stack.ss_size = 0;
    f.st = READY;
    f.phase = 0;
    f.fake_stack = nullptr;
}

const char *kind_name(int kind) { return kind == KIND_SYNCWARP ? "__syncwarp" : "a warp shuffle"; }

// Releases the warps whose lanes all wait at the same warp operation; failing that, the block
// barrier once every live thread is there. Returns 1 if something was released, 0 when every thread
// has finished, -1 on misuse (recorded in the fault).
int release() {
    runtime &r = rt();
    bool released = false;
    for (unsigned w0 = 0; w0 < r.n; w0 += warpSize) {
        unsigned w1 = std::min(r.n, w0 + warpSize), waiting = 0, at_block = 0, exited = r.n;
        for (unsigned i = w0; i < w1; i++) {
            state st = r.fibers[i].st;
            waiting += st == AT_WARP;
            at_block += st == AT_BLOCK;
            if (st == DONE && exited == r.n) exited = i;
        }
        if (!waiting) continue;
        int kind = -1;
        for (unsigned i = w0; i < w1 && kind < 0; i++)
            if (r.fibers[i].st == AT_WARP) kind = r.fibers[i].kind;
        if (exited != r.n) {
            set_fault(
                "%s exited while %u lanes of its warp wait at %s (hint: guard the work instead of returning early)",
                describe(exited).c_str(), waiting, kind_name(kind));
            return -1;
        }
        if (at_block) {
            set_fault("warp %u of block (%u,%u,%u) diverged: %u lanes wait at __syncthreads, %u at %s", w0 / warpSize,
                      blockIdx.x, blockIdx.y, blockIdx.z, at_block, waiting, kind_name(kind));
            return -1;
        }
        unsigned live = w1 - w0 == 32 ? 0xffffffffu : (1u << (w1 - w0)) - 1;
        for (unsigned i = w0; i < w1; i++) {
            const fiber &f = r.fibers[i];
            if (f.kind != kind) {
                set_fault("lanes of warp %u of block (%u,%u,%u) wait at different warp operations (%s and %s)",
                          w0 / warpSize, blockIdx.x, blockIdx.y, blockIdx.z, kind_name(kind), kind_name(f.kind));
                return -1;
            }
            if ((f.mask & live) != live) {
                set_fault("%s: mask 0x%08x of %s leaves out live lanes 0x%08x (hint: use full masks)",
                          describe(i).c_str(), f.mask, kind_name(kind), live & ~f.mask);
                return -1;
            }
        }
        for (unsigned i = w0; i < w1; i++) r.fibers[i].st = READY;
        released = true;
    }
    if (released) return 1;
    unsigned done = 0, first_done = r.n;
    for (unsigned i = 0; i < r.n; i++)
        if (r.fibers[i].st == DONE) {
            done++;
            if (first_done == r.n) first_done = i;
        }
    if (done == r.n) return 0;
    if (done) {
        set_fault(
            "%s exited while %u threads of its block wait at __syncthreads (hint: guard the work instead of "
            "returning early)",
            describe(first_done).c_str(), r.n - done);
        return -1;
    }
    for (unsigned i = 0; i < r.n; i++) r.fibers[i].st = READY;
    return 1;
}

// Runs the block in blockIdx to completion; false on misuse. An abandoned block's fibers are never
// resumed: their stacks are simply reused.
bool run_block() {
    runtime &r = rt();
    for (unsigned i = 0; i < r.n; i++) prepare(i);
    memset(r.dyn, 0xff, r.dyn_bytes);  // NaN in every float: kernels must not read before writing
    for (;;) {
        transfer(kSched, next_ready(kSched));  // every thread is ready after a release
        if (!r.fault.empty()) return false;
        int rc = release();
        if (rc <= 0) return rc == 0;
    }
}

// Checks a launch configuration against the GPU's limits (compute capability 8.0 and later).
bool valid_config(dim3 grid, dim3 block, size_t smem) {
    unsigned long long threads = (unsigned long long)block.x * block.y * block.z;
    if (!block.x || !block.y || !block.z || block.x > 1024 || block.y > 1024 || block.z > 64 || threads > kMaxThreads) {
        set_fault("block (%u,%u,%u) is not a valid block shape (at most 1024 threads)", block.x, block.y, block.z);
        return false;
    }
    if (!grid.x || !grid.y || !grid.z || grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535) {
        set_fault("grid (%u,%u,%u) is not a valid grid shape", grid.x, grid.y, grid.z);
        return false;
    }
    if (smem > kMaxDynSmem) {
        set_fault(
            "%zu bytes of dynamic shared memory exceed the default 48 KiB (hint: add a "
            "cudaFuncSetAttribute shim to the runtime when a kernel needs more)",
            smem);
        return false;
    }
    return true;
}

cudaError_t set_error(cudaError_t err, const std::string &detail) {
    runtime &r = rt();
    r.last_error = err;
    r.detail_error = err;
    r.detail = detail;
    return err;
}

}  // namespace

void run_grid(dim3 grid, dim3 block, size_t smem, void (*body)(void *), void *arg) {
    runtime &r = rt();
    if (r.in_launch) fatal("a kernel launched a kernel (not supported)");
    r.fault.clear();
    if (!valid_config(grid, block, smem)) {
        set_error(cudaErrorInvalidConfiguration, r.fault);
        return;
    }
    if (!r.sched_size) {  // ASan needs the bounds of the stack the fibers switch back to
        pthread_attr_t a;
        void *lo;
        if (pthread_getattr_np(pthread_self(), &a) || pthread_attr_getstack(&a, &lo, &r.sched_size))
            fatal("cannot find the calling thread's stack");
        pthread_attr_destroy(&a);
        r.sched_bottom = lo;
    }
    r.in_launch = true;
    r.n = block.x * block.y * block.z;
    r.body = body;
    r.arg = arg;
    r.dyn = static_cast<unsigned char *>(malloc(smem ? smem : 1));
    r.dyn_bytes = smem;
    if (!r.dyn) fatal("out of memory for dynamic shared memory");
    r.slots.assign((r.n + warpSize - 1) / warpSize * 2 * warpSize, 0);
    grow_pool(r.n);
    gridDim = grid;
    blockDim = block;
    unsigned long long nblocks = (unsigned long long)grid.x * grid.y * grid.z;
    bool ok = true;
    for (unsigned long long k = 0; k < nblocks && ok; k++) {
        unsigned long long b = r.reversed ? nblocks - 1 - k : k;
        blockIdx = make_uint3((unsigned)(b % grid.x), (unsigned)(b / grid.x % grid.y), (unsigned)(b / grid.x / grid.y));
        ok = run_block();
    }
#ifdef CUDA_CPU_ASAN
    if (!ok)  // frames of abandoned fibers leave poisoned redzones behind
        for (unsigned i = 0; i < r.n; i++) ASAN_UNPOISON_MEMORY_REGION(r.stacks[i], kStack);
#endif
    free(r.dyn);
    r.dyn = nullptr;
    r.in_launch = false;
    if (!ok) set_error(cudaErrorLaunchFailure, r.fault);
}

void *dyn_smem_base() {
    runtime &r = rt();
    if (!r.in_launch) fatal("dyn_smem() outside a kernel");
    return r.dyn;
}

void sync_block() {
    runtime &r = rt();
    if (!r.in_launch) fatal("__syncthreads() outside a kernel");
    r.fibers[r.cur].st = AT_BLOCK;
    leave();
}

namespace {
void wait_warp(int kind, unsigned mask) {
    runtime &r = rt();
    if (!r.in_launch) fatal("warp operation outside a kernel");
    fiber &f = r.fibers[r.cur];
    f.st = AT_WARP;
    f.kind = kind;
    f.mask = mask;
    leave();
}
}  // namespace

void sync_warp(unsigned mask) { wait_warp(KIND_SYNCWARP, mask); }

// Source lane as PTX's shfl.sync computes it (PTX ISA, "shfl.sync"), with CUDA's c operand:
// ((32 - width) << 8) | 31, and no low bits for .up. An invalid source yields the caller's lane.
static unsigned shfl_source(unsigned lane, shfl_mode mode, int b, int width) {
    unsigned seg = (unsigned)(warpSize - width), bval = (unsigned)b & 31u;
    unsigned cval = mode == SHFL_UP ? 0u : 31u;
    unsigned max_lane = (lane & seg) | (cval & ~seg), min_lane = lane & seg;
    int j;
    bool ok;
    switch (mode) {
    case SHFL_UP:
        j = (int)lane - (int)bval;
        ok = j >= (int)min_lane;
        break;
    case SHFL_DOWN:
        j = (int)(lane + bval);
        ok = j <= (int)max_lane;
        break;
    case SHFL_XOR:
        j = (int)(lane ^ bval);
        ok = j <= (int)max_lane;
        break;
    default:
        j = (int)(min_lane | (bval & ~seg));
        ok = j <= (int)max_lane;
        break;
    }
    return ok ? (unsigned)j : lane;
}

void shfl(unsigned mask, const void *in, void *out, size_t size, shfl_mode mode, int b, int width) {
    runtime &r = rt();
    if (!r.in_launch) fatal("warp shuffle outside a kernel");
    unsigned me = r.cur, lane = me % warpSize, warp = me / warpSize;
    if (width < 1 || width > warpSize || (width & (width - 1))) {
        set_fault("%s: shuffle width %d is not a power of two in [1, 32]", describe(me).c_str(), width);
        leave();  // back to the scheduler, which abandons the block
    }
    fiber &f = r.fibers[me];
    unsigned long long *slot = &r.slots[(warp * 2 + f.phase) * warpSize];
    memcpy(&slot[lane], in, size);
    wait_warp(1 + (int)mode * 16 + (int)size, mask);  // lanes must agree on mode and size
    unsigned src = shfl_source(lane, mode, b, width);
    if (warp * warpSize + src < r.n)
        memcpy(out, &slot[src], size);
    else
        memset(out, 0xff, size);  // a lane past the end of the block: undefined on the GPU
    f.phase ^= 1;
}

}  // namespace cuda_cpu

// Host shims of the CUDA runtime API: "device" memory is host memory.
namespace {
const char *error_name(cudaError_t err) {
    switch (err) {
    case cudaSuccess:
        return "no error";
    case cudaErrorInvalidValue:
        return "invalid argument";
    case cudaErrorMemoryAllocation:
        return "out of memory";
    case cudaErrorInvalidConfiguration:
        return "invalid configuration argument";
    case cudaErrorLaunchFailure:
        return "unspecified launch failure";
    default:
        return "unknown error";
    }
}
}  // namespace

extern "C" {

void cuda_cpu_set_reversed(int on) { cuda_cpu::rt().reversed = on != 0; }

// Exactly `size` bytes (256-aligned like the GPU's), so ASan sees accesses past the end.
cudaError_t cudaMalloc(void **p, size_t size) {
    *p = nullptr;
    if (size && posix_memalign(p, 256, size)) return cuda_cpu::set_error(cudaErrorMemoryAllocation, "");
    if (size) memset(*p, 0xff, size);  // fresh GPU memory is often zero by chance: never rely on it
    return cudaSuccess;
}

cudaError_t cudaFree(void *p) {
    free(p);
    return cudaSuccess;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t count, enum cudaMemcpyKind) {
    if (count) memmove(dst, src, count);
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind, cudaStream_t) {
    return cudaMemcpy(dst, src, count, kind);
}

cudaError_t cudaMemset(void *p, int value, size_t count) {
    if (count) memset(p, value, count);
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *p, int value, size_t count, cudaStream_t) { return cudaMemset(p, value, count); }

// Launches run to completion, so there is never anything to wait for.
cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }

cudaError_t cudaGetDeviceCount(int *count) {
    *count = 1;
    return cudaSuccess;
}

cudaError_t cudaGetLastError(void) {
    cuda_cpu::runtime &r = cuda_cpu::rt();
    cudaError_t err = r.last_error;
    r.last_error = cudaSuccess;
    return err;
}

cudaError_t cudaPeekAtLastError(void) { return cuda_cpu::rt().last_error; }

// The runtime's own diagnosis (which thread, which barrier) replaces the generic text.
const char *cudaGetErrorString(cudaError_t err) {
    cuda_cpu::runtime &r = cuda_cpu::rt();
    if (err == r.detail_error && !r.detail.empty()) return r.detail.c_str();
    return error_name(err);
}

}  // extern "C"
