// Fuzz harness for the training-curve reader (plot/curves.c) over metrics.jsonl bytes.
// Checks: failures are one-line input errors naming the file; an accepted file gives at most
// AGIR_CURVES_MAX_SERIES series, each with finite points at strictly increasing steps.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "plot/curves.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    agir_curves c;
    agir_err e = {0};
    int rc = agir_curves_parse((const char *)data, size, "fuzz/metrics.jsonl", &c, &e);
    fuzz_check_error(rc, &e, "fuzz/metrics.jsonl");
    if (rc) return 0;
    if (c.n < 1 || c.n > AGIR_CURVES_MAX_SERIES) abort();
    for (int i = 0; i < c.n; i++)
        for (size_t k = 0; k < c.s[i].n; k++) {
            if (!isfinite(c.s[i].step[k]) || !isfinite(c.s[i].value[k])) abort();
            if (k && !(c.s[i].step[k] > c.s[i].step[k - 1])) abort();
        }
    agir_curves_free(&c);
    return 0;
}
