// Helpers of the VQ-VAE parity tests (test_conv1d_parity.c, test_vq_parity.c) on top of parity.h:
// device copies of host arrays, and comparisons that print the worst error and record every device
// result of pass 0 so that pass 1 (reversed thread order on the CPU runtime) must reproduce it bit
// for bit.
#ifndef AGIR_TESTS_VQ_PARITY_H
#define AGIR_TESTS_VQ_PARITY_H

#include "parity.h"

typedef struct vqp {
    parity t;
    int pass;
    unsigned char *rec;  // pass 0's device results, in order
    size_t len, cap, pos;
} vqp;

// A device copy of `bytes` bytes of host memory.
// An atol that makes vqp_compare demand equal values (with rtol 0): 0 / EXACT is 0, any difference huge.
#define EXACT 1e-30

static inline void *vqp_dev(vqp *v, const void *h, size_t bytes) {
    void *d = parity_alloc(&v->t, bytes);
    parity_up(&v->t, d, h, bytes);
    return d;
}

static inline void vqp_free(vqp *v, void *d) { agir_dev_free(&v->t.cuda, d); }

// Pass 0 appends the bytes; pass 1 compares them with what pass 0 recorded at the same point.
static inline void vqp_record(vqp *v, const char *what, const void *p, size_t bytes) {
    if (!bytes) return;
    if (v->pass == 0) {
        if (v->len + bytes > v->cap) {
            v->cap = 2 * (v->len + bytes);
            v->rec = realloc(v->rec, v->cap);
            if (!v->rec) {
                fprintf(stderr, "FAILED: out of memory\n");
                exit(1);
            }
        }
        memcpy(v->rec + v->len, p, bytes);
        v->len += bytes;
        return;
    }
    int same = v->pos + bytes <= v->len && !memcmp(v->rec + v->pos, p, bytes);
    parity_check(&v->t, same, "%s: pass %d differs from pass 0 (missing barrier?)", what, v->pass);
    v->pos += bytes;
}

// Downloads n floats from dev into a fresh host array (freed by the caller).
static inline float *vqp_down(vqp *v, const float *dev, size_t n) {
    float *h = parity_host(n);
    parity_down(&v->t, h, dev, n * sizeof *h);
    return h;
}

// Compares n device floats with the CPU's ref within atol + rtol·|ref|, prints the worst error, and
// records them for the pass comparison.
static inline void vqp_compare(vqp *v, const char *what, const float *dev, const float *ref, size_t n, double atol,
                               double rtol) {
    float *h = vqp_down(v, dev, n);
    double max_abs, x = parity_excess(h, ref, n, atol, rtol, &max_abs);
    parity_check(&v->t, x <= 1, "%s: error %.3g of tolerance (max |d| %.3g, atol %.3g, rtol %.3g)", what, x, max_abs,
                 atol, rtol);
    if (v->pass == 0) printf("  %-44s n=%7zu  max |d| %.3g  (%.3g of tolerance)\n", what, n, max_abs, x);
    vqp_record(v, what, h, n * sizeof *h);
    free(h);
}

static inline void vqp_open(vqp *v) {
    memset(v, 0, sizeof *v);
    parity_open(&v->t);
}

static inline void vqp_pass(vqp *v, int pass) {
    v->pass = pass;
    v->pos = 0;
    parity_pass(pass);
}

static inline int vqp_close(vqp *v) {
    if (v->pass > 0) parity_check(&v->t, v->pos == v->len, "passes recorded different amounts of results");
    free(v->rec);
    return parity_close(&v->t);
}

#endif
