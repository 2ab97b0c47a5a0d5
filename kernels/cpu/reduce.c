// Sum and sum of squares on the CPU, accumulated in double.
//
// The array is cut into a number of chunks that depends on n only, each summed in order by one
// thread, and the chunk sums are added in index order: the result does not depend on the thread
// count, which keeps gradient norms reproducible across machines.
#include "kernels/backend.h"

enum { CHUNK_MIN = 1 << 14, CHUNKS_MAX = 256 };

void agir_cpu_sum_sumsq(const float *x, size_t n, float *out) {
    size_t nchunk = n / CHUNK_MIN + 1;
    if (nchunk > CHUNKS_MAX) nchunk = CHUNKS_MAX;
    size_t len = n / nchunk + 1;
    double part[2 * CHUNKS_MAX];
#pragma omp parallel for schedule(static) if (nchunk > 1)
    for (size_t k = 0; k < nchunk; k++) {
        size_t lo = k * len, hi = lo + len < n ? lo + len : n;
        double s = 0, s2 = 0;
        for (size_t i = lo; i < hi; i++) {
            s += x[i];
            s2 += (double)x[i] * x[i];
        }
        part[2 * k] = s;
        part[2 * k + 1] = s2;
    }
    double s = 0, s2 = 0;
    for (size_t k = 0; k < nchunk; k++) {
        s += part[2 * k];
        s2 += part[2 * k + 1];
    }
    out[0] = (float)s;
    out[1] = (float)s2;
}
