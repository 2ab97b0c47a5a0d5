// The op interface: one set of compute ops over two backends, chosen at run time.
//
// An agir_ctx names the device ([run] device = cpu | cuda) and holds what ops on it need (the
// stream, a small workspace). Every op takes the context first and an agir_err last, and returns
// AGIR_OK or the error code. Tensor pointers live on the context's device: host memory for
// AGIR_DEV_CPU, device memory (agir_dev_alloc) for AGIR_DEV_CUDA. The CPU backend (kernels/cpu/,
// C11 + OpenMP) is the reference; the CUDA backend (kernels/cuda/) is compiled in when nvcc is found
// (AGIR_HAVE_CUDA) and is checked against it by the parity tests in tests/cuda_cpu/.
// How to add an op: docs/kernels.md.
#ifndef AGIR_KERNELS_OPS_H
#define AGIR_KERNELS_OPS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "core/bf16.h"
#include "core/error.h"  // inside extern "C" so C++ translation units (kernels/cuda) link to it

typedef enum agir_device { AGIR_DEV_CPU = 0, AGIR_DEV_CUDA = 1 } agir_device;

// Float types of tensors that ops take in more than one precision (checkpoint files have their
// own, wider agir_dtype: checkpoints/tensor_view.h).
typedef enum agir_ftype { AGIR_F32 = 0, AGIR_BF16 = 1 } agir_ftype;
size_t agir_ftype_size(agir_ftype t);
const char *agir_ftype_name(agir_ftype t);  // "f32" or "bf16"


typedef struct agir_ctx {
    agir_device dev;
    void *stream;   // cudaStream_t of the ops (AGIR_DEV_CUDA); NULL = the default stream
    void *scratch;  // device workspace of AGIR_CTX_SCRATCH_BYTES for multi-pass ops (CUDA only)
    void *blas;     // cublasHandle_t bound to the stream (CUDA only)
} agir_ctx;

#define AGIR_CTX_SCRATCH_BYTES ((size_t)1 << 16)

// "cpu" or "cuda".
const char *agir_device_name(agir_device d);
// Devices of that kind usable now: 1 for the CPU; for CUDA the GPU count, 0 when this build has no
// CUDA backend or the driver reports no device.
int agir_device_count(agir_device d);
// Parses a [run] device value and checks that the device can be used; `where` names the value's
// origin for messages (e.g. "train.ini:4"). Unusable devices are AGIR_EINPUT with a hint.
int agir_device_parse(const char *name, const char *where, agir_device *out, agir_err *e);

int agir_ctx_open(agir_ctx *c, agir_device dev, agir_err *e);
void agir_ctx_close(agir_ctx *c);  // safe on a zeroed or already closed context
// Waits until every op queued on the context has finished (no-op on the CPU).
int agir_ctx_sync(const agir_ctx *c, agir_err *e);
// The dtype of activations and their gradients on the context: fp32 on the CPU (the reference),
// bf16 on CUDA (kernels/llm_ops.h).
agir_ftype agir_act_ftype(const agir_ctx *c);

// Memory on the context's device, not initialised (the CUDA test runtime fills it with NaN bytes).
int agir_dev_alloc(const agir_ctx *c, size_t bytes, void **out, agir_err *e);
void agir_dev_free(const agir_ctx *c, void *p);  // p may be NULL
// Copies from the host to the device and back; both wait for queued ops first.
int agir_dev_upload(const agir_ctx *c, void *dst, const void *src, size_t bytes, agir_err *e);
int agir_dev_download(const agir_ctx *c, void *dst, const void *src, size_t bytes, agir_err *e);
// Zeroes device memory / copies within the device, queued after the ops before them like an op.
int agir_dev_zero(const agir_ctx *c, void *p, size_t bytes, agir_err *e);
int agir_dev_copy(const agir_ctx *c, void *dst, const void *src, size_t bytes, agir_err *e);
// dst: (n) of dtype t on the device = src: (n) f32 on the host, rounded to nearest even for bf16.
int agir_dev_upload_as(const agir_ctx *c, void *dst, agir_ftype t, const float *src, size_t n, agir_err *e);
// dst: (n) f32 on the host = src: (n) of dtype t on the device, widened exactly.
int agir_dev_download_f32(const agir_ctx *c, float *dst, const void *src, agir_ftype t, size_t n, agir_err *e);

// AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019) in PyTorch's
// formulation: g' = grad_scale·g; m = β1·m + (1-β1)·g'; v = β2·v + (1-β2)·g'²;
// p = p·(1 - lr·wd) - lr/(1-β1^t) · m / (sqrt(v)/sqrt(1-β2^t) + eps).
// The decay multiplies the weights directly (decoupled), it never enters m or v.
typedef struct agir_adamw_hp {
    float lr;            // >= 0
    float beta1, beta2;  // in [0, 1)
    float eps;           // > 0
    float weight_decay;  // >= 0
    float grad_scale;    // >= 0, multiplies the gradients (gradient clipping, loss normalisation)
    long long step;      // 1-based count of updates including this one (bias correction)
} agir_adamw_hp;

// param: (n,) f32 in/out; grad: (n,) f32; m, v: (n,) f32 in/out moments (zeros before step 1).
int agir_op_adamw(const agir_ctx *c, float *param, const float *grad, float *m, float *v, size_t n,
                  const agir_adamw_hp *hp, agir_err *e);
// Mixed precision: master (n,) f32 in/out is updated as `param` above, then rounded to nearest-even
// into param (n,) bf16 out, the copy forward and backward passes read.
int agir_op_adamw_bf16(const agir_ctx *c, float *master, agir_bf16 *param, const float *grad, float *m, float *v,
                       size_t n, const agir_adamw_hp *hp, agir_err *e);

// x: (n,) f32; out: (2,) f32 on the device = {sum x, sum x²}. Deterministic: the result depends on n
// and the values only (not on thread counts or scheduling), so a gradient norm built from it is
// reproducible. Non-finite inputs give a non-finite result. n may be 0.
int agir_op_sum_sumsq(const agir_ctx *c, const float *x, size_t n, float *out, agir_err *e);

#ifdef __cplusplus
}
#endif

#endif
