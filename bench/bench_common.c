// Clocks, arguments and the sgemm peak of the benchmark programs (bench_common.h).
#include "bench_common.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

double bench_cpu_now(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_stime.tv_sec + 1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

int bench_arg(const char *prog, int argc, char **argv, int i, int def) {
    if (argc <= i) return def;
    char *end;
    long v = strtol(argv[i], &end, 10);
    if (*end || v < 1 || v > 1 << 20) {
        fprintf(stderr, "%s: argument %d '%s' is not a positive integer\n", prog, i, argv[i]);
        exit(2);
    }
    return (int)v;
}

void bench_check(const char *prog, int rc, const agir_err *e) {
    if (rc) {
        fprintf(stderr, "%s: %s\n", prog, e->msg);
        exit(rc);
    }
}

void *bench_malloc(const char *prog, size_t n) {
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "%s: out of memory (%zu bytes)\n", prog, n);
        exit(1);
    }
    return p;
}

bench_rate bench_sgemm_peak(const char *prog, int n, int threads) {
    size_t nn = (size_t)n * n;
    float *a = bench_malloc(prog, nn * sizeof(float)), *b = bench_malloc(prog, nn * sizeof(float));
    float *c = bench_malloc(prog, nn * sizeof(float));
    for (size_t i = 0; i < nn; i++) a[i] = (float)(i % 7) * 0.1f, b[i] = (float)(i % 5) * 0.1f;
    bench_rate best = {0, 0};
    for (int rep = 0; rep < 5; rep++) {
        double t0 = bench_now(), c0 = bench_cpu_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double gf = 2.0 * n * (double)n * n / 1e9;
        double w = gf / (bench_now() - t0), cp = gf * threads / (bench_cpu_now() - c0);
        if (w > best.wall) best.wall = w;
        if (cp > best.cpu) best.cpu = cp;
    }
    free(a), free(b), free(c);
    return best;
}
