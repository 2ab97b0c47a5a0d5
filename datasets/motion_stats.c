// Dataset statistics of the motion features (the normalisation stored with the VQ-VAE), their
// pooling by feature group, and the normalisation itself.
//
// Deterministic: sequences are visited in storage order on one thread, each sequence's mean and
// sum of squared deviations are computed in double by two passes over its rows, and sequences are
// merged with the pairwise update of Chan, Golub and LeVeque ("Algorithms for computing the
// sample variance", 1983), which avoids the cancellation of sum-of-squares formulas.
#include <math.h>
#include <stdlib.h>

#include "datasets/motion_rep.h"

typedef struct moments {
    int64_t n;
    double *mean, *m2;  // (D,) each
} moments;

// Merges the rows of one sequence, feat (n, D), into acc; tmp: (2 D,) scratch.
static void merge(moments *acc, const float *feat, int64_t n, int D, double *tmp) {
    double *mb = tmp, *m2b = tmp + D;
    for (int d = 0; d < D; d++) {
        double s = 0, q = 0;
        for (int64_t t = 0; t < n; t++) s += feat[t * D + d];
        mb[d] = s / (double)n;
        for (int64_t t = 0; t < n; t++) {
            double x = feat[t * D + d] - mb[d];
            q += x * x;
        }
        m2b[d] = q;
    }
    double na = (double)acc->n, nb = (double)n, nt = na + nb;
    for (int d = 0; d < D; d++) {
        double delta = mb[d] - acc->mean[d];
        acc->mean[d] += delta * nb / nt;
        acc->m2[d] += m2b[d] + delta * delta * na * nb / nt;
    }
    acc->n += n;
}

int agir_motion_stats(const agir_gait *g, const agir_motion_layout *L, const agir_motion_opts *o, double std_floor,
                      float *mean, float *std, int64_t *rows, agir_err *e) {
    *rows = 0;
    if (!(std_floor > 0)) return AGIR_BUG(e, "agir_motion_stats: std floor %g", std_floor);
    int D = L->dim;
    double *buf = calloc((size_t)D * 4, sizeof *buf);
    if (!buf) return AGIR_BUG(e, "out of memory for feature statistics");
    moments acc = {0, buf, buf + D};
    int rc = AGIR_OK;
    for (int64_t s = 0; !rc && s < g->n_seq; s++) {
        float *feat = NULL;
        int64_t n = 0;
        rc = agir_motion_from_seq(g, s, L, o, &feat, &n, e);
        if (!rc) merge(&acc, feat, n, D, buf + 2 * D);
        free(feat);
    }
    if (!rc && acc.n == 0) rc = AGIR_BAD(e, "no sequences to compute feature statistics from (hint: pass a dataset "
                                            "with at least one sequence)");
    for (int d = 0; !rc && d < D; d++) {
        double sd = sqrt(acc.m2[d] / (double)acc.n);  // population s.d., as numpy's std()
        mean[d] = (float)acc.mean[d];
        std[d] = (float)(sd > std_floor ? sd : std_floor);
    }
    if (!rc) *rows = acc.n;
    free(buf);
    return rc;
}

void agir_motion_pool_std(const agir_motion_layout *L, double feat_bias, float *std) {
    int vel = agir_motion_vel_at(L), contact = agir_motion_contact_at(L);
    const struct {
        int lo, hi, biased;  // biased: divided by feat_bias
    } group[] = {{AGIR_MOTION_ROT_VEL, AGIR_MOTION_ROOT_VEL, 1}, {AGIR_MOTION_ROOT_VEL, AGIR_MOTION_ROOT_Y, 1},
                 {AGIR_MOTION_ROOT_Y, AGIR_MOTION_RIC, 1},       {AGIR_MOTION_RIC, vel, 0},
                 {vel, contact, 0},                              {contact, L->dim, 1}};
    for (size_t k = 0; k < sizeof group / sizeof group[0]; k++) {
        double sum = 0;
        for (int d = group[k].lo; d < group[k].hi; d++) sum += std[d];
        double pooled = sum / (group[k].hi - group[k].lo) / (group[k].biased ? feat_bias : 1);
        for (int d = group[k].lo; d < group[k].hi; d++) std[d] = (float)pooled;
    }
}

void agir_motion_normalize(float *feat, int64_t n, int D, const float *mean, const float *std) {
    for (int64_t t = 0; t < n; t++)
        for (int d = 0; d < D; d++) feat[t * D + d] = (feat[t * D + d] - mean[d]) / std[d];
}

void agir_motion_denormalize(float *feat, int64_t n, int D, const float *mean, const float *std) {
    for (int64_t t = 0; t < n; t++)
        for (int d = 0; d < D; d++) feat[t * D + d] = feat[t * D + d] * std[d] + mean[d];
}
