// Validation of the VQ-VAE on the held-out subjects: reconstruction loss, code usage and the mean
// per-joint position error (MPJPE) of the joints decoded from the reconstructed features.
//
// MPJPE: each held-out window is encoded, quantized, decoded, de-normalised and turned into joints
// by agir_motion_decode; the original joints of the window went through agir_motion_decode too
// (train/vq_data.c), so both start at the origin facing +z. Errors are Euclidean distances averaged
// over frames and joints, reported in millimetres: with each frame's root moved to the origin
// (MotionGPT's reconstruction MPJPE, as `agir eval-vq` reports it), and without, which adds the
// drift of the integrated root path over the window ("global").
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/vq_train_impl.h"

// Sums over the windows of one chunk.
typedef struct val_sums {
    double rec, err, err_global, n;  // rec: loss × windows; err*: Σ distances over n joint positions
} val_sums;

// Adds the errors of one window: rec, orig (T, J, 3).
static void add_errors(const float *rec, const float *orig, int T, int J, int root, val_sums *s) {
    for (int f = 0; f < T; f++) {
        const float *a = rec + (size_t)f * J * 3, *b = orig + (size_t)f * J * 3;
        double ra[3], rb[3];
        for (int c = 0; c < 3; c++) ra[c] = a[3 * root + c], rb[c] = b[3 * root + c];
        for (int j = 0; j < J; j++) {
            double g2 = 0, l2 = 0;
            for (int c = 0; c < 3; c++) {
                double dg = (double)a[3 * j + c] - b[3 * j + c], dl = dg - (ra[c] - rb[c]);
                g2 += dg * dg, l2 += dl * dl;
            }
            s->err_global += sqrt(g2), s->err += sqrt(l2);
        }
    }
    s->n += (double)T * J;
}

static int chunk(vq_trainer *t, int first, int n, double *counts, val_sums *s, agir_err *e) {
    agir_vqvae *m = &t->m;
    const agir_vq_data *d = &t->data;
    size_t per = (size_t)t->T * d->dim, all = (size_t)t->B * per;
    int J = d->layout.n_joints;
    memset(t->hx, 0, all * sizeof(float));
    memcpy(t->hx, d->val_x + (size_t)first * per, (size_t)n * per * sizeof(float));
    memset(t->hmask, 0, (size_t)t->B * t->T);
    memset(t->hmask, 1, (size_t)n * t->T);
    AGIR_TRY(agir_dev_upload(&t->ctx, t->x, t->hx, all * sizeof(float), e));
    AGIR_TRY(agir_dev_upload(&t->ctx, t->mask, t->hmask, (size_t)t->B * t->T, e));
    AGIR_TRY(agir_vqvae_encode(&t->ctx, m, t->x, e));
    AGIR_TRY(agir_vqvae_quantize(&t->ctx, m, 0, NULL, NULL, e));
    AGIR_TRY(agir_vqvae_decode(&t->ctx, m, m->zq, e));
    agir_vqvae_losses l;
    AGIR_TRY(agir_vqvae_loss(&t->ctx, m, t->x, t->mask, &l, e));
    s->rec += l.rec * n;
    AGIR_TRY(agir_dev_download(&t->ctx, t->hidx, m->idx, (size_t)n * m->Tq * sizeof(int32_t), e));
    for (int i = 0; i < n * m->Tq; i++) counts[t->hidx[i]] += 1;
    AGIR_TRY(agir_dev_download(&t->ctx, t->hout, m->out, (size_t)n * per * sizeof(float), e));
    size_t pj = (size_t)t->T * J * 3;
    for (int w = 0; w < n; w++) {
        float *f = t->hout + (size_t)w * per;
        agir_motion_denormalize(f, t->T, d->dim, d->mean, d->std);
        AGIR_TRY(agir_motion_decode(&d->layout, &d->motion, f, t->T, t->hjoints, e));
        add_errors(t->hjoints, d->val_joints + (size_t)(first + w) * pj, t->T, J, d->layout.root, s);
    }
    return AGIR_OK;
}

int agir_vqt_validate(vq_trainer *t, agir_vq_val *v, agir_err *e) {
    int K = t->m.cfg.n_codes, nv = t->data.n_val;
    double *counts = calloc((size_t)K, sizeof *counts);
    float *fc = calloc((size_t)K, sizeof *fc);
    int rc = counts && fc ? AGIR_OK : AGIR_BUG(e, "out of memory for validation");
    val_sums s = {0};
    for (int first = 0; !rc && first < nv; first += t->B) rc = chunk(t, first, nv - first < t->B ? nv - first : t->B,
                                                                     counts, &s, e);
    if (!rc) {
        for (int k = 0; k < K; k++) fc[k] = (float)counts[k];
        *v = (agir_vq_val){.windows = nv, .rec = s.rec / nv, .mpjpe_mm = 1e3 * s.err / s.n,
                           .mpjpe_global_mm = 1e3 * s.err_global / s.n,
                           .usage = agir_vq_usage(fc, K), .perplexity = agir_vq_perplexity(fc, K)};
    }
    free(counts);
    free(fc);
    return rc;
}
