// Signal processing for gait features: zero-phase low-pass filtering, order statistics and
// periodogram band power. Signals are plain double arrays: x: (n,) float64.
#ifndef AGIR_FEATURES_DSP_H
#define AGIR_FEATURES_DSP_H

#include <stdint.h>

#include "core/error.h"

// Zero-phase low-pass of x (n,) in place: a 2nd-order Butterworth run forwards and backwards
// (4th-order magnitude response, no phase lag), as is customary for marker kinematics (Winter,
// Biomechanics and Motor Control of Human Movement, 2009, ch. 3). Requires 0 < fc < fs / 2 and n >= 2.
int agir_lowpass(double *x, int64_t n, double fs, double fc, agir_err *e);

// The q-quantile (0..1, linear interpolation) of x (n >= 1), which is left unchanged.
int agir_quantile(const double *x, int64_t n, double q, double *out, agir_err *e);

// Periodogram power of x (n,) summed per band: pow[b] covers the DFT bins whose frequency lies in
// [edges[b], edges[b + 1]) Hz, for b < nb. The mean is removed and a Hann window applied first;
// bins above fs / 2 are never counted. edges: (nb + 1,) increasing.
int agir_band_powers(const double *x, int64_t n, double fs, const double *edges, int nb, double *pow, agir_err *e);

#endif
