// Global gradient norm over several tensors and the clipping factor.
#include "train/grad.h"

#include <string.h>

int agir_gradnorm_open(agir_gradnorm *g, const agir_ctx *c, agir_err *e) {
    memset(g, 0, sizeof *g);
    g->ctx = c;
    return agir_dev_alloc(c, 2 * sizeof(float), (void **)&g->part, e);
}

void agir_gradnorm_close(agir_gradnorm *g) {
    if (g->ctx) agir_dev_free(g->ctx, g->part);
    memset(g, 0, sizeof *g);
}

int agir_gradnorm_sumsq(agir_gradnorm *g, const float *const *t, const size_t *n, int k, double *sumsq, agir_err *e) {
    double acc = 0;
    for (int i = 0; i < k; i++) {
        float host[2];
        AGIR_TRY(agir_op_sum_sumsq(g->ctx, t[i], n[i], g->part, e));
        AGIR_TRY(agir_dev_download(g->ctx, host, g->part, sizeof host, e));
        acc += host[1];
    }
    *sumsq = acc;
    return AGIR_OK;
}

double agir_clip_scale(double norm, double max_norm) {
    if (!(max_norm > 0) || !(norm > max_norm)) return 1.0;
    return max_norm / (norm + 1e-6);
}
