// Linear resampling of a (T, C) motion between frame rates (see resample.h).
#include "datasets/resample.h"

#include <math.h>

// Slack for times that should land on an input frame but miss it by rounding (e.g. 150 -> 20 Hz).
static const double TIME_EPS = 1e-9;

int64_t agir_resample_len(int64_t T, double fps_in, double fps_out) {
    if (T < 1 || !isfinite(fps_in) || !isfinite(fps_out) || fps_in <= 0 || fps_out <= 0) return -1;
    double last = (double)(T - 1) * fps_out / fps_in;  // time of the last input frame, in output frames
    if (!(last < 9e15)) return -1;
    return (int64_t)floor(last + TIME_EPS) + 1;
}

int agir_resample(const float *x, int64_t T, int64_t C, double fps_in, double fps_out, float *y, agir_err *e) {
    int64_t n = agir_resample_len(T, fps_in, fps_out);
    if (n < 0 || C < 0)
        return AGIR_BUG(e, "agir_resample: %lld frames, %lld channels, %g -> %g fps", (long long)T, (long long)C,
                        fps_in, fps_out);
    double step = fps_in / fps_out;  // input frames per output frame
    for (int64_t k = 0; k < n; k++) {
        double t = (double)k * step;
        int64_t i = (int64_t)floor(t + TIME_EPS);
        double w = t - (double)i;
        if (i >= T - 1) i = T - 1, w = 0;
        if (w < 0) w = 0;
        const float *a = x + i * C, *b = w > 0 ? a + C : a;
        float *out = y + k * C;
        for (int64_t c = 0; c < C; c++) out[c] = (float)((1 - w) * a[c] + w * b[c]);
    }
    return AGIR_OK;
}
