// Resampling a motion from one frame rate to another (e.g. 150 Hz BMCLab to the model's 20 Hz).
//
// Output frame k sits at time k / fps_out and is interpolated linearly between the two input
// frames around it; frames run while k / fps_out <= (T - 1) / fps_in, so the result never
// extrapolates. Linear interpolation of positions is exact for constant-velocity motion. Going
// down in rate without a low-pass filter aliases; gait at 20 Hz keeps its dominant content
// (stride frequency ~1 Hz, its harmonics up to a few Hz), so none is applied.
#ifndef AGIR_RESAMPLE_H
#define AGIR_RESAMPLE_H

#include <stdint.h>

#include "core/error.h"

// Number of output frames for T input frames (T >= 1), or -1 when the rates are not positive
// finite numbers or the count would not fit.
int64_t agir_resample_len(int64_t T, double fps_in, double fps_out);

// x: (T, C) float32 -> y: (agir_resample_len(T, fps_in, fps_out), C) float32 (caller's).
int agir_resample(const float *x, int64_t T, int64_t C, double fps_in, double fps_out, float *y, agir_err *e);

#endif
