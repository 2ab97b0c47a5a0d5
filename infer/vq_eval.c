// Tokenizer evaluation: MPJPE of reconstructions, codebook usage and perplexity, gait-feature
// survival (definitions in vq_eval.h).
#include "infer/vq_eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/features_dsp.h"
#include "kernels/vq_ops.h"

int agir_vq_select_subjects(const agir_gait *g, const char *data, const char *const *subjects, int n, uint8_t *sel,
                            agir_err *e) {
    memset(sel, 0, (size_t)g->n_seq);
    for (int i = 0; i < n; i++) {
        int found = 0;
        for (int64_t s = 0; s < g->n_seq; s++)
            if (!strcmp(g->seq[s].subject, subjects[i])) sel[s] = 1, found = 1;
        if (!found)
            return AGIR_BAD(e, "%s: has no sequence of subject '%s' (hint: 'agir info %s' lists the subjects)", data,
                            subjects[i], data);
    }
    return AGIR_OK;
}

// Sums of joint distances over `frames` frames of J joints: *global as they are, *aligned after
// moving each frame's root joint to the origin.
static void joint_errors(const float *a, const float *b, int64_t frames, int J, int root, double *global,
                         double *aligned) {
    for (int64_t t = 0; t < frames; t++) {
        const float *p = a + t * J * 3, *q = b + t * J * 3;
        for (int j = 0; j < J; j++) {
            double g2 = 0, a2 = 0;
            for (int k = 0; k < 3; k++) {
                double d = (double)p[3 * j + k] - q[3 * j + k];
                double r = d - ((double)p[3 * root + k] - q[3 * root + k]);
                g2 += d * d, a2 += r * r;
            }
            *global += sqrt(g2), *aligned += sqrt(a2);
        }
    }
}

// Features of both walks; an input error of the extractor (too few steps) only marks the walk.
static int features_of(const float *orig, const float *rec, int64_t frames, const agir_vq_coder *c,
                       const agir_gait *g, int64_t s, agir_vq_seq_eval *q, agir_err *e) {
    float fps = (float)c->tok->meta.motion.fps;
    agir_err one;
    agir_err_clear(&one);
    int rc = agir_features_compute(orig, frames, fps, g->skel, g->seq[s].id, &q->orig, NULL, &one);
    if (rc == AGIR_EINPUT) return AGIR_OK;  // has_features stays 0
    if (rc) return agir_errf(e, rc, "%s", one.msg);
    agir_err_clear(&one);
    rc = agir_features_compute(rec, frames, fps, g->skel, g->seq[s].id, &q->rec, NULL, &one);
    if (rc && rc != AGIR_EINPUT) return agir_errf(e, rc, "%s", one.msg);
    q->has_features = rc ? -1 : 1;
    return AGIR_OK;
}

// One walk: encode, decode, compare. counts: (K,) code frequencies, accumulated.
static int eval_seq(agir_vq_coder *c, const agir_gait *g, int64_t s, int quantize, float *counts,
                    agir_vq_seq_eval *q, agir_err *e) {
    const agir_motion_layout *L = &c->layout;
    memset(q, 0, sizeof *q);
    q->seq = s;
    float *feat = NULL, *rec = NULL, *jo = NULL, *jr = NULL;
    int32_t *codes = NULL;
    int64_t n = 0;
    int rc = agir_motion_from_seq(g, s, L, &c->tok->meta.motion, &feat, &n, e);
    if (rc) return rc;
    int64_t nq = agir_vq_codes_for(c->tok, n), T = nq * agir_vq_frames_per_code(c->tok);
    size_t per = (size_t)L->n_joints * 3;
    codes = malloc((size_t)nq * sizeof *codes);
    rec = malloc((size_t)T * L->dim * sizeof *rec);
    jo = malloc((size_t)n * per * sizeof *jo);
    jr = malloc((size_t)n * per * sizeof *jr);
    if (!codes || !rec || !jo || !jr) rc = AGIR_BUG(e, "out of memory evaluating sequence '%s'", g->seq[s].id);
    if (!rc) rc = agir_vq_reconstruct(c, feat, n, quantize, codes, rec, e);
    if (!rc) rc = agir_motion_decode(L, &c->tok->meta.motion, feat, n, jo, e);
    if (!rc) rc = agir_motion_decode(L, &c->tok->meta.motion, rec, n, jr, e);
    if (!rc) {
        for (int64_t i = 0; i < nq; i++) counts[codes[i]] += 1;
        joint_errors(jr, jo, n, L->n_joints, L->root, &q->mpjpe_global_mm, &q->mpjpe_mm);
        q->frames = n, q->codes = nq;
        rc = features_of(jo, jr, n, c, g, s, q, e);
    }
    free(feat), free(rec), free(jo), free(jr), free(codes);
    return rc;
}

// Per-feature and overall medians of the relative errors of the walks with features of both.
static int feature_summary(agir_vq_eval *r, agir_err *e) {
    int F = agir_n_features;
    double *all = malloc((size_t)(r->n_seq * F + 1) * sizeof *all), *col = malloc((size_t)(r->n_seq + 1) * sizeof *col);
    int rc = all && col ? AGIR_OK : AGIR_BUG(e, "out of memory summarising features");
    int64_t n_all = 0;
    for (int f = 0; f < F && !rc; f++) {
        int64_t k = 0;
        for (int64_t i = 0; i < r->n_seq; i++) {
            const agir_vq_seq_eval *q = &r->per_seq[i];
            if (q->has_features != 1) continue;
            double o = agir_feature_get(&q->orig, f), x = agir_feature_get(&q->rec, f);
            if (!isfinite(o) || !isfinite(x) || o == 0) continue;
            col[k++] = fabs(x - o) / fabs(o);
        }
        r->rel_count[f] = k;
        r->rel_median[f] = NAN;
        if (k) rc = agir_quantile(col, k, 0.5, &r->rel_median[f], e);
        memcpy(all + n_all, col, (size_t)k * sizeof *col);
        n_all += k;
    }
    r->rel_median_all = NAN;
    if (!rc && n_all) rc = agir_quantile(all, n_all, 0.5, &r->rel_median_all, e);
    free(all), free(col);
    return rc;
}

// Walks in length order (one model size each); per_seq keeps the dataset's order.
static int evaluate(agir_vq_coder *c, const agir_gait *g, const uint8_t *sel, const agir_log *log, agir_vq_eval *r,
                    float *counts, agir_err *e) {
    int K = c->tok->meta.cfg.n_codes;
    int64_t *order = malloc((size_t)r->n_seq * sizeof *order), *slot = malloc((size_t)g->n_seq * sizeof *slot), n = 0;
    if (!order || !slot) {
        free(order), free(slot);
        return AGIR_BUG(e, "out of memory ordering %lld sequences", (long long)r->n_seq);
    }
    for (int64_t s = 0, i = 0; s < g->n_seq; s++) slot[s] = !sel || sel[s] ? i++ : -1;
    int rc = agir_vq_length_order(c->tok, g, sel, order, &n, e);
    agir_progress p;
    agir_progress_start(&p, log, "eval", r->n_seq);
    double global = 0, aligned = 0;
    for (int64_t k = 0; k < n && !rc; k++) {
        agir_vq_seq_eval *q = &r->per_seq[slot[order[k]]];
        rc = eval_seq(c, g, order[k], r->quantized, counts, q, e);
        if (rc) break;
        global += q->mpjpe_global_mm, aligned += q->mpjpe_mm;
        int64_t pairs = q->frames * c->layout.n_joints;
        q->mpjpe_global_mm *= 1000.0 / (double)pairs, q->mpjpe_mm *= 1000.0 / (double)pairs;
        r->n_frames += q->frames, r->n_codes += q->codes;
        r->n_features += q->has_features == 1, r->n_features_lost += q->has_features == -1;
        agir_progress_add(&p, 1);
    }
    agir_progress_finish(&p);
    free(order), free(slot);
    AGIR_TRY(rc);
    double pairs = (double)r->n_frames * c->layout.n_joints;
    r->mpjpe_global_mm = 1000.0 * global / pairs, r->mpjpe_mm = 1000.0 * aligned / pairs;
    r->codebook_size = K;
    r->usage = agir_vq_usage(counts, K);
    r->perplexity = agir_vq_perplexity(counts, K);
    for (int k = 0; k < K; k++) r->codes_used += counts[k] > 0;
    return feature_summary(r, e);
}

int agir_vq_evaluate(agir_vq_coder *c, const agir_gait *g, const uint8_t *sel, int quantize, const agir_log *log,
                     agir_vq_eval *r, agir_err *e) {
    memset(r, 0, sizeof *r);
    r->quantized = quantize;
    for (int64_t s = 0; s < g->n_seq; s++) r->n_seq += !sel || sel[s];
    if (r->n_seq == 0) return AGIR_BAD(e, "no sequences to evaluate (hint: check the subjects)");
    r->per_seq = calloc((size_t)r->n_seq, sizeof *r->per_seq);
    r->rel_median = calloc((size_t)agir_n_features, sizeof *r->rel_median);
    r->rel_count = calloc((size_t)agir_n_features, sizeof *r->rel_count);
    float *counts = calloc((size_t)c->tok->meta.cfg.n_codes, sizeof *counts);
    int rc = r->per_seq && r->rel_median && r->rel_count && counts ? evaluate(c, g, sel, log, r, counts, e)
                                                                    : AGIR_BUG(e, "out of memory for the evaluation");
    free(counts);
    if (rc) agir_vq_eval_free(r);
    return rc;
}

void agir_vq_eval_free(agir_vq_eval *r) {
    free(r->per_seq);
    free(r->rel_median);
    free(r->rel_count);
    memset(r, 0, sizeof *r);
}

// NaN has no JSON spelling: null.
static cJSON *num(double x) { return isfinite(x) ? cJSON_CreateNumber(x) : cJSON_CreateNull(); }

static int add(cJSON *o, const char *key, cJSON *v) {
    if (v && cJSON_AddItemToObject(o, key, v)) return 1;
    cJSON_Delete(v);
    return 0;
}

static int features_json(const agir_vq_eval *r, cJSON *f) {
    cJSON *per = NULL;
    int ok = add(f, "walks", num((double)r->n_features)) && add(f, "lost", num((double)r->n_features_lost)) &&
             add(f, "median_relative_error", num(r->rel_median_all)) &&
             (per = cJSON_AddObjectToObject(f, "per_feature"));
    for (int i = 0; ok && i < agir_n_features; i++) {
        cJSON *one = cJSON_AddObjectToObject(per, agir_feature_table[i].name);
        ok = one && add(one, "median_relative_error", num(r->rel_median[i])) &&
             add(one, "walks", num((double)r->rel_count[i]));
    }
    return ok;
}

static int seq_json(const agir_vq_eval *r, const agir_gait *g, cJSON *arr) {
    int ok = 1;
    for (int64_t i = 0; ok && i < r->n_seq; i++) {
        const agir_vq_seq_eval *q = &r->per_seq[i];
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            return 0;
        }
        ok = add(o, "id", cJSON_CreateString(g->seq[q->seq].id)) &&
             add(o, "subject", cJSON_CreateString(g->seq[q->seq].subject)) && add(o, "frames", num((double)q->frames)) &&
             add(o, "codes", num((double)q->codes)) && add(o, "mpjpe_mm", num(q->mpjpe_mm)) &&
             add(o, "mpjpe_global_mm", num(q->mpjpe_global_mm));
    }
    return ok;
}

cJSON *agir_vq_eval_json(const agir_vq_eval *r, const agir_gait *g) {
    cJSON *o = cJSON_CreateObject(), *cb = NULL, *f = NULL, *seq = NULL;
    int ok = o && cJSON_AddBoolToObject(o, "quantized", r->quantized) &&
             add(o, "sequences", num((double)r->n_seq)) && add(o, "frames", num((double)r->n_frames)) &&
             add(o, "codes", num((double)r->n_codes)) && add(o, "mpjpe_mm", num(r->mpjpe_mm)) &&
             add(o, "mpjpe_global_mm", num(r->mpjpe_global_mm)) && (cb = cJSON_AddObjectToObject(o, "codebook")) &&
             add(cb, "size", num(r->codebook_size)) && add(cb, "used", num((double)r->codes_used)) &&
             add(cb, "usage", num(r->usage)) && add(cb, "perplexity", num(r->perplexity)) &&
             (f = cJSON_AddObjectToObject(o, "features")) && features_json(r, f) &&
             (seq = cJSON_AddArrayToObject(o, "per_sequence")) && seq_json(r, g, seq);
    if (!ok) cJSON_Delete(o);
    return ok ? o : NULL;
}
