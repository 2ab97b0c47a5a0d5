// Gradient norms and clipping shared by the training jobs.
//
// The squared norm of each tensor comes from agir_op_sum_sumsq on the tensor's device
// (deterministic whatever the thread count); the per-tensor sums are added on the host in double,
// in the order given, so the global norm is reproducible bit for bit. A NaN or Inf anywhere makes
// the result non-finite, which is how a training step detects a bad gradient before using it.
#ifndef AGIR_TRAIN_GRAD_H
#define AGIR_TRAIN_GRAD_H

#include <stddef.h>

#include "kernels/ops.h"

typedef struct agir_gradnorm {
    const agir_ctx *ctx;
    float *part;  // (2,) f32 on the context's device: {sum, sum of squares} of one tensor
} agir_gradnorm;

int agir_gradnorm_open(agir_gradnorm *g, const agir_ctx *c, agir_err *e);
void agir_gradnorm_close(agir_gradnorm *g);  // safe on a zeroed value

// *sumsq = Σ_i Σ_j t[i][j]², t[i]: (n[i],) f32 on the device; non-finite when any value is.
int agir_gradnorm_sumsq(agir_gradnorm *g, const float *const *t, const size_t *n, int k, double *sumsq, agir_err *e);

// The factor PyTorch's clip_grad_norm_ applies: max_norm / (norm + 1e-6) when norm exceeds
// max_norm, else 1; max_norm <= 0 turns clipping off (always 1).
double agir_clip_scale(double norm, double max_norm);

#endif
