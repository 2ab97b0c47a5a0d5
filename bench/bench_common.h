// What the benchmark programs share: clocks, argument parsing, fatal checks and the measured sgemm
// peak every fraction-of-peak figure is taken against.
#ifndef AGIR_BENCH_COMMON_H
#define AGIR_BENCH_COMMON_H

#include <stddef.h>

#include "core/error.h"
#include "core/threads.h"  // agir_thread_env(argv), the first call of every bench main

// A rate measured two ways: per wall second, and per CPU second times the thread count, which is
// what the rate would be with the cores to ourselves (on a shared machine, other processes' load
// slows the wall clock but not the CPU time; spinning threads count against us).
typedef struct bench_rate {
    double wall, cpu;
} bench_rate;

double bench_now(void);      // monotonic seconds
double bench_cpu_now(void);  // CPU seconds of this process (all threads, user + system)
// argv[i] as a positive integer (at most 2^20), def when absent; anything else exits 2 naming `prog`.
int bench_arg(const char *prog, int argc, char **argv, int i, int def);
// Exits with rc, printing e's message, when rc is not 0.
void bench_check(const char *prog, int rc, const agir_err *e);
void *bench_malloc(const char *prog, size_t n);  // exits 1 when out of memory
// Best of 5 cblas_sgemm calls on n × n matrices, 2·n³ FLOP each, in GFLOP/s.
bench_rate bench_sgemm_peak(const char *prog, int n, int threads);

#endif
