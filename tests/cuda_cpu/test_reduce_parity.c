// Parity of kernels/cuda/reduce.cu (sum and sum of squares) with the CPU op (kernels/cpu/reduce.c,
// double accumulation): sizes around the block size, 0 and 1 element, a large array that fills the
// capped grid; three value distributions (see fill); non-finite inputs; and bit-for-bit
// reproducibility (two runs, and forward versus reversed thread order on the CPU runtime).
#include "parity.h"

static const size_t sizes[] = {0, 1, 7, 255, 256, 257, 1000, 4099, (1u << 22) + 3};

// The GPU adds in fp32 along a tree of depth ~log2(n); the bound on the sum's error scales with the
// sum of magnitudes, since signed values may cancel.
enum { RTOL_PPM = 10 };

static void sum_sumsq(parity *t, const agir_ctx *c, const float *x, size_t n, float out[2]) {
    agir_err e = {0};
    float *dout = c->dev == AGIR_DEV_CPU ? out : parity_alloc(t, 2 * sizeof(float));
    if (agir_op_sum_sumsq(c, x, n, dout, &e)) parity_die(&e);
    if (dout != out) {
        parity_down(t, out, dout, 2 * sizeof(float));
        agir_dev_free(&t->cuda, dout);
    }
}

// Reduces x on both devices: the device result in out, the CPU's in ref. On a GPU it runs twice, to
// see that the result is reproducible (the CPU runtime compares its forward and reversed passes).
static void compare(parity *t, const float *x, size_t n, const char *what, float out[2], float ref[2]) {
    float *dx = parity_alloc(t, n * sizeof(float));
    parity_up(t, dx, x, n * sizeof(float));
    float again[2];
    sum_sumsq(t, &t->cpu, x, n, ref);
    sum_sumsq(t, &t->cuda, dx, n, out);
    if (parity_passes() == 1)
        sum_sumsq(t, &t->cuda, dx, n, again);
    else
        memcpy(again, out, sizeof again);
    agir_dev_free(&t->cuda, dx);
    double abs_sum = 0;
    for (size_t i = 0; i < n; i++) abs_sum += fabs((double)x[i]);
    double es = fabs((double)out[0] - ref[0]), es2 = fabs((double)out[1] - ref[1]);
    double tol = RTOL_PPM * 1e-6;
    int ok = es <= tol * abs_sum && es2 <= tol * ref[1];
    if (!isfinite(ref[0]) || !isfinite(ref[1]))  // then both must be the same infinity or both NaN
        ok = (out[0] == ref[0] || (isnan(out[0]) && isnan(ref[0]))) &&
             (out[1] == ref[1] || (isnan(out[1]) && isnan(ref[1])));
    parity_check(t, ok, "%s n=%zu: sum %.9g vs %.9g, sumsq %.9g vs %.9g", what, n, out[0], ref[0], out[1], ref[1]);
    parity_check(t, !memcmp(out, again, sizeof again), "%s n=%zu: two runs differ", what, n);
    printf("%-6s n=%8zu: |dsum| %.3g (%.3g of sum|x|)  |dsumsq| %.3g (%.3g relative)\n", what, n, es,
           abs_sum > 0 ? es / abs_sum : 0.0, es2, ref[1] > 0 ? es2 / ref[1] : 0.0);
}

// Infinity and NaN must come out non-finite, or a gradient-norm check could not see them.
static void non_finite(parity *t) {
    size_t n = 1000;
    float *x = parity_host(n), out[2], ref[2];
    parity_fill(x, n, 7, 1.0, 0.0);
    x[n - 1] = INFINITY;
    compare(t, x, n, "inf", out, ref);
    parity_check(t, isinf(out[1]) && !isfinite(out[0]), "inf: got sum %g, sumsq %g", out[0], out[1]);
    x[n - 1] = 0;
    x[5] = NAN;
    compare(t, x, n, "nan", out, ref);
    parity_check(t, isnan(out[0]) && isnan(out[1]), "nan: got sum %g, sumsq %g", out[0], out[1]);
    free(x);
}

// Values of one scale, of widely mixed scales, and small integers, whose sums are exact in fp32
// (|sum x²| < 2^24): there the device must match exactly, so a single skipped or doubled element
// of a large array shows.
enum { NORMAL, MIXED, INTS, NDIST };
static const char *const dist_name[NDIST] = {"normal", "mixed", "ints"};

static void fill(float *x, size_t n, int dist) {
    parity_fill(x, n, n, 1.0, 0.25);
    agir_rng r;
    agir_rng_init(&r, 11, n);
    for (size_t i = 0; i < n; i++) {
        if (dist == MIXED) x[i] = ldexpf(x[i], (int)(i * 7919 % 41) - 20);  // 2^-20 .. 2^20
        if (dist == INTS) x[i] = (float)agir_rng_below(&r, 3) - 1.0f;
    }
}

int main(void) {
    parity t;
    parity_open(&t);
    size_t nsizes = sizeof sizes / sizeof *sizes;
    float first[NDIST * sizeof sizes / sizeof *sizes][2];
    for (int pass = 0; pass < parity_passes(); pass++) {
        parity_pass(pass);
        for (size_t k = 0; k < nsizes; k++)
            for (int dist = 0; dist < NDIST; dist++) {
                size_t n = sizes[k];
                float *x = parity_host(n), out[2], ref[2];
                fill(x, n, dist);
                compare(&t, x, n, dist_name[dist], out, ref);
                if (dist == INTS)
                    parity_check(&t, out[0] == ref[0] && out[1] == ref[1], "ints n=%zu: %.1f %.1f, exact %.1f %.1f", n,
                                 out[0], out[1], ref[0], ref[1]);
                float *f = first[NDIST * k + (size_t)dist];
                if (!pass)
                    memcpy(f, out, sizeof out);
                else
                    parity_check(&t, !memcmp(f, out, sizeof out), "n=%zu: passes differ (missing barrier?)", n);
                free(x);
            }
        non_finite(&t);
    }
    return parity_close(&t);
}
