// Zero-phase Butterworth low-pass, quantiles and periodogram band powers for gait features.
#include "datasets/features_dsp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct biquad {
    double b0, b1, b2, a1, a2;
} biquad;

// 2nd-order Butterworth low-pass by the bilinear transform with pre-warped cutoff.
static biquad butter2(double fs, double fc) {
    double k = tan(M_PI * fc / fs), r2 = sqrt(2.0);
    double norm = 1.0 / (1.0 + r2 * k + k * k);
    biquad q;
    q.b0 = k * k * norm;
    q.b1 = 2.0 * q.b0;
    q.b2 = q.b0;
    q.a1 = 2.0 * (k * k - 1.0) * norm;
    q.a2 = (1.0 - r2 * k + k * k) * norm;
    return q;
}

// One causal pass, started in the steady state of a constant input equal to x[0] (unit DC gain),
// so the padded start does not ring.
static void run_biquad(const biquad *q, double *x, int64_t n) {
    double x1 = x[0], x2 = x[0], y1 = x[0], y2 = x[0];
    for (int64_t i = 0; i < n; i++) {
        double y = q->b0 * x[i] + q->b1 * x1 + q->b2 * x2 - q->a1 * y1 - q->a2 * y2;
        x2 = x1, x1 = x[i], y2 = y1, y1 = y;
        x[i] = y;
    }
}

static void reverse(double *x, int64_t n) {
    for (int64_t i = 0, j = n - 1; i < j; i++, j--) {
        double t = x[i];
        x[i] = x[j], x[j] = t;
    }
}

int agir_lowpass(double *x, int64_t n, double fs, double fc, agir_err *e) {
    if (n < 2 || !(fc > 0) || !(fc < 0.5 * fs)) return AGIR_BUG(e, "lowpass: n=%lld fs=%g fc=%g", (long long)n, fs, fc);
    // Odd reflection at both ends (as scipy's filtfilt does) about three time constants long keeps
    // the ends free of start-up transients and preserves the local slope.
    int64_t pad = 3 * (int64_t)ceil(fs / fc);
    if (pad > n - 1) pad = n - 1;
    int64_t m = n + 2 * pad;
    double *buf = malloc((size_t)m * sizeof *buf);
    if (!buf) return AGIR_BUG(e, "out of memory filtering %lld samples", (long long)n);
    for (int64_t i = 0; i < pad; i++) {
        buf[pad - 1 - i] = 2.0 * x[0] - x[i + 1];
        buf[pad + n + i] = 2.0 * x[n - 1] - x[n - 2 - i];
    }
    memcpy(buf + pad, x, (size_t)n * sizeof *x);
    biquad q = butter2(fs, fc);
    run_biquad(&q, buf, m);
    reverse(buf, m);
    run_biquad(&q, buf, m);
    reverse(buf, m);
    memcpy(x, buf + pad, (size_t)n * sizeof *x);
    free(buf);
    return AGIR_OK;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int agir_quantile(const double *x, int64_t n, double q, double *out, agir_err *e) {
    if (n < 1 || !(q >= 0 && q <= 1)) return AGIR_BUG(e, "quantile: n=%lld q=%g", (long long)n, q);
    double *s = malloc((size_t)n * sizeof *s);
    if (!s) return AGIR_BUG(e, "out of memory sorting %lld samples", (long long)n);
    memcpy(s, x, (size_t)n * sizeof *x);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double pos = q * (double)(n - 1);
    int64_t i = (int64_t)floor(pos);
    double f = pos - (double)i;
    *out = i + 1 < n ? s[i] + f * (s[i + 1] - s[i]) : s[i];
    free(s);
    return AGIR_OK;
}

// Power of bin k of the windowed signal w (n,) by Goertzel's recurrence (one bin costs O(n), which
// beats an FFT when only the bins below 8 Hz are wanted).
static double goertzel(const double *w, int64_t n, int64_t k) {
    double c = 2.0 * cos(2.0 * M_PI * (double)k / (double)n), s1 = 0, s2 = 0;
    for (int64_t i = 0; i < n; i++) {
        double s = w[i] + c * s1 - s2;
        s2 = s1, s1 = s;
    }
    return s1 * s1 + s2 * s2 - c * s1 * s2;
}

int agir_band_powers(const double *x, int64_t n, double fs, const double *edges, int nb, double *pow, agir_err *e) {
    if (n < 2 || nb < 1 || !(fs > 0)) return AGIR_BUG(e, "band_powers: n=%lld nb=%d", (long long)n, nb);
    double *w = malloc((size_t)n * sizeof *w);
    if (!w) return AGIR_BUG(e, "out of memory for a %lld-sample spectrum", (long long)n);
    double mean = 0;
    for (int64_t i = 0; i < n; i++) mean += x[i];
    mean /= (double)n;
    for (int64_t i = 0; i < n; i++) w[i] = (x[i] - mean) * (0.5 - 0.5 * cos(2.0 * M_PI * (double)i / (double)(n - 1)));
    double df = fs / (double)n;
    for (int b = 0; b < nb; b++) {
        pow[b] = 0;
        for (int64_t k = (int64_t)ceil(edges[b] / df); k <= n / 2 && (double)k * df < edges[b + 1]; k++)
            pow[b] += goertzel(w, n, k);
    }
    free(w);
    return AGIR_OK;
}
