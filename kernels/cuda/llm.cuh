// What the LLM kernel files (llm_rows.cu, attention.cu, xent.cu, lora.cu, linear.cu) share: the
// op declarations and host-side views of the C interface's types.
#ifndef AGIR_KERNELS_CUDA_LLM_CUH
#define AGIR_KERNELS_CUDA_LLM_CUH

#include "kernels/cuda/common.cuh"
#include "kernels/llm_ops.h"

// agir_bf16 is the bit pattern of a __nv_bfloat16 (both are 16-bit bfloat16).
static_assert(sizeof(agir_bf16) == sizeof(bf16), "agir_bf16 and __nv_bfloat16 must have the same size");
static inline const bf16 *as_bf16(const agir_bf16 *p) { return reinterpret_cast<const bf16 *>(p); }
static inline bf16 *as_bf16(agir_bf16 *p) { return reinterpret_cast<bf16 *>(p); }

static inline cudaStream_t stream_of(const agir_ctx *c) { return static_cast<cudaStream_t>(c->stream); }

#endif
