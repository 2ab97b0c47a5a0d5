// Helpers of the CUDA parity tests (tests/cuda_cpu/test_*.c): a CPU-reference context and a CUDA
// context, the passes to run, random data and checks.
//
// Built against the CPU runtime (AGIR_CUDA_CPU), "cuda" is the same kernel source run on the CPU, in
// two passes: thread order forward, then reversed. Built against the library, it is the GPU, and the
// test is skipped (exit 77) when none is visible.
#ifndef AGIR_TESTS_PARITY_H
#define AGIR_TESTS_PARITY_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "kernels/ops.h"

#ifdef AGIR_CUDA_CPU
void cuda_cpu_set_reversed(int on);  // tests/cuda_cpu/cuda_cpu.cpp
#endif

typedef struct parity {
    agir_ctx cpu, cuda;
    int failures;
} parity;

static inline void parity_die(const agir_err *e) {
    fprintf(stderr, "FAILED: %s\n", e->msg);
    exit(1);
}

static inline void parity_open(parity *t) {
    agir_err e = {0};
    memset(t, 0, sizeof *t);
    if (agir_device_count(AGIR_DEV_CUDA) < 1) {
#ifdef AGIR_HAVE_CUDA
        printf("SKIPPED: no GPU\n");
#else
        printf("SKIPPED: no GPU (this build has no CUDA backend)\n");
#endif
        exit(77);
    }
    if (agir_ctx_open(&t->cpu, AGIR_DEV_CPU, &e) || agir_ctx_open(&t->cuda, AGIR_DEV_CUDA, &e)) parity_die(&e);
}

// Passes over the same checks: thread order forward and reversed on the CPU runtime, once on a GPU.
static inline int parity_passes(void) {
#ifdef AGIR_CUDA_CPU
    return 2;
#else
    return 1;
#endif
}

static inline void parity_pass(int k) {
#ifdef AGIR_CUDA_CPU
    cuda_cpu_set_reversed(k == 1);
    printf("pass %d: thread order %s\n", k, k ? "reversed" : "forward");
#else
    (void)k;
    printf("pass %d: GPU\n", k);
#endif
}

static inline int parity_close(parity *t) {
    agir_ctx_close(&t->cpu);
    agir_ctx_close(&t->cuda);
    if (t->failures) {
        printf("FAILED: %d checks\n", t->failures);
        return 1;
    }
    printf("PASSED\n");
    return 0;
}

static inline void parity_check(parity *t, int ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline void parity_check(parity *t, int ok, const char *fmt, ...) {
    if (ok) return;
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    t->failures++;
}

// Device buffer of n floats (or bytes) on the CUDA context, with upload and download that exit on error.
static inline void *parity_alloc(parity *t, size_t bytes) {
    agir_err e = {0};
    void *p;
    if (agir_dev_alloc(&t->cuda, bytes, &p, &e)) parity_die(&e);
    return p;
}
static inline void parity_up(parity *t, void *dst, const void *src, size_t bytes) {
    agir_err e = {0};
    if (agir_dev_upload(&t->cuda, dst, src, bytes, &e)) parity_die(&e);
}
static inline void parity_down(parity *t, void *dst, const void *src, size_t bytes) {
    agir_err e = {0};
    if (agir_dev_download(&t->cuda, dst, src, bytes, &e)) parity_die(&e);
}

static inline float *parity_host(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (!p) {
        fprintf(stderr, "FAILED: out of memory\n");
        exit(1);
    }
    return p;
}

// n values of scale·N(0, 1) + shift from their own stream.
static inline void parity_fill(float *x, size_t n, uint64_t stream, double scale, double shift) {
    agir_rng r;
    agir_rng_init(&r, 20240607, stream);
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * agir_rng_normal(&r) + shift);
}

// Largest |a - b| / (atol + rtol·|b|); <= 1 means within tolerance. NaN compares as out of tolerance.
static inline double parity_excess(const float *a, const float *b, size_t n, double atol, double rtol,
                                   double *max_abs) {
    double worst = 0, abs_max = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        double q = d / (atol + rtol * fabs((double)b[i]));
        if (isnan(q) || q > worst) worst = isnan(q) ? INFINITY : q;
        if (d > abs_max) abs_max = d;
    }
    if (max_abs) *max_abs = abs_max;
    return worst;
}

#endif
