// Whole-motion tokenizing and evaluation (infer/vq_tokenize.h, infer/vq_eval.h) with a small random
// VQ-VAE on synthetic walks. References are computed here from the model's own forward functions
// on explicitly padded inputs, so the tests check the length rule (exact length, last row
// repeated), normalisation, weight copies and bookkeeping, and that codes do not depend on what
// was encoded before; the evaluation's MPJPE, codebook figures and gait-feature errors are
// recomputed independently from decoded joints, and a hand-built tokenizer that reconstructs
// exactly must score MPJPE ~0, every code used once and gait features unchanged.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "datasets/features.h"
#include "infer/vq_eval.h"
#include "infer/vq_tokenize.h"
#include "kernels/vq_ops.h"
#include "testutil.h"

typedef struct fixture {
    agir_gait g;
    uint8_t *phase;
    agir_vq_tokenizer t;
    agir_vq_coder c;
} fixture;

// A random tokenizer (width 16, 32 codes of 8, 2 down-samplings) normalised by g's statistics.
static void make_tokenizer(agir_vq_tokenizer *t, const agir_gait *g) {
    memset(t, 0, sizeof *t);
    agir_err e = {0};
    agir_motion_layout L;
    assert_int_equal(agir_motion_layout_init(&L, g->skel, &e), AGIR_OK);
    t->meta.cfg = agir_vqvae_t2m_config(L.dim);
    t->meta.cfg.width = 16, t->meta.cfg.depth = 1, t->meta.cfg.n_codes = 32, t->meta.cfg.code_dim = 8;
    t->meta.motion = agir_motion_default_opts(20);
    t->meta.window = 16;
    assert_int_equal(agir_vqvae_init(&t->model, &t->meta.cfg, 1, 16, 11, &e), AGIR_OK);
    agir_rng r;
    agir_rng_init(&r, 3, 9);
    for (int i = 0; i < 32 * 8; i++) t->model.codebook[i] = (float)(0.3 * agir_rng_normal(&r));
    t->mean = malloc((size_t)L.dim * sizeof(float));
    t->std = malloc((size_t)L.dim * sizeof(float));
    int64_t rows;
    assert_int_equal(agir_motion_stats(g, &L, &t->meta.motion, 0.01, t->mean, t->std, &rows, &e), AGIR_OK);
    snprintf(t->hash, sizeof t->hash, "sha256:test");
    snprintf(t->ckpt_dir, sizeof t->ckpt_dir, "test");
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    static const char *const base[] = {"synth.subjects=3", "synth.walks_per_state=1", "synth.seconds=6", NULL};
    agir_test_synth(&f->g, &f->phase, base, NULL);
    make_tokenizer(&f->t, &f->g);
    agir_err e = {0};
    assert_int_equal(agir_vq_coder_init(&f->c, &f->t, f->g.skel, &e), AGIR_OK);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    agir_vq_coder_free(&f->c);
    agir_vq_tokenizer_free(&f->t);
    agir_gait_free(&f->g);
    free(f->phase);
    free(f);
    return 0;
}

// A model of the tokenizer's weights for exactly T frames.
static void ref_model(const agir_vq_tokenizer *t, int T, agir_vqvae *m) {
    agir_err e = {0};
    assert_int_equal(agir_vqvae_init(m, &t->meta.cfg, 1, T, 99, &e), AGIR_OK);
    memcpy(m->params, t->model.params, t->model.n_params * sizeof(float));
    memcpy(m->codebook, t->model.codebook, (size_t)t->meta.cfg.n_codes * t->meta.cfg.code_dim * sizeof(float));
}

// Codes of feat (n, D) the reference way: normalise, pad to a multiple of 4 with the last row.
static int64_t ref_encode(const agir_vq_tokenizer *t, const float *feat, int64_t n, int32_t *codes) {
    int D = t->meta.cfg.in_dim;
    int64_t T = (n + 3) / 4 * 4;
    float *x = malloc((size_t)T * D * sizeof *x);
    for (int64_t r = 0; r < T; r++)
        for (int k = 0; k < D; k++) {
            float v = feat[(r < n ? r : n - 1) * D + k];
            x[r * D + k] = (v - t->mean[k]) / t->std[k];
        }
    agir_vqvae m;
    ref_model(t, (int)T, &m);
    agir_ctx c;
    agir_err e = {0};
    assert_int_equal(agir_ctx_open(&c, AGIR_DEV_CPU, &e), AGIR_OK);
    assert_int_equal(agir_vqvae_encode(&c, &m, x, &e), AGIR_OK);
    assert_int_equal(agir_vqvae_quantize(&c, &m, 0, NULL, NULL, &e), AGIR_OK);
    memcpy(codes, m.idx, (size_t)(T / 4) * sizeof *codes);
    agir_ctx_close(&c);
    agir_vqvae_free(&m);
    free(x);
    return T / 4;
}

static float *features_of(const fixture *f, int64_t s, int64_t *n) {
    float *feat;
    agir_err e = {0};
    assert_int_equal(agir_motion_from_seq(&f->g, s, &f->c.layout, &f->t.meta.motion, &feat, n, &e), AGIR_OK);
    return feat;
}

static void encode_matches_reference(void **state) {
    fixture *f = *state;
    int64_t n;
    float *feat = features_of(f, 0, &n);
    assert_int_equal(n, 119);  // 6 s at 20 fps: 120 frames, 119 rows
    int32_t got[64], want[64], again[64];
    agir_err e = {0};
    // Lengths on and off the multiple of 4, a single row, and the first length again after others.
    static const int64_t lens[] = {119, 64, 61, 1, 119};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        int64_t k = ref_encode(&f->t, feat, lens[i], want);
        assert_int_equal(agir_vq_codes_for(&f->t, lens[i]), k);
        assert_int_equal(agir_vq_encode(&f->c, feat, lens[i], got, &e), AGIR_OK);
        assert_memory_equal(got, want, (size_t)k * sizeof *got);
        if (i == 0) memcpy(again, got, (size_t)k * sizeof *got);
    }
    assert_memory_equal(again, got, 30 * sizeof *got);
    // The random codebook is not degenerate: several codes occur.
    int distinct = 0;
    for (int k = 0; k < 32; k++)
        for (int i = 0; i < 30; i++)
            if (got[i] == k) {
                distinct++;
                break;
            }
    assert_true(distinct >= 3);
    free(feat);
}

static void decode_matches_reference(void **state) {
    fixture *f = *state;
    int32_t codes[7] = {0, 31, 5, 5, 17, 2, 9};
    int D = f->t.meta.cfg.in_dim;
    float *got = malloc(28 * (size_t)D * sizeof *got), zq[7 * 8];
    agir_err e = {0};
    assert_int_equal(agir_vq_decode(&f->c, codes, 7, got, &e), AGIR_OK);
    for (int i = 0; i < 7; i++) memcpy(zq + i * 8, f->t.model.codebook + codes[i] * 8, 8 * sizeof(float));
    agir_vqvae m;
    ref_model(&f->t, 28, &m);
    agir_ctx c;
    assert_int_equal(agir_ctx_open(&c, AGIR_DEV_CPU, &e), AGIR_OK);
    assert_int_equal(agir_vqvae_decode(&c, &m, zq, &e), AGIR_OK);
    for (int r = 0; r < 28; r++)
        for (int k = 0; k < D; k++) {
            float want = m.out[r * D + k] * f->t.std[k] + f->t.mean[k];
            if (fabsf(got[r * D + k] - want) > 1e-6f * (1 + fabsf(want)))
                fail_msg("row %d feature %d: %g, want %g", r, k, got[r * D + k], want);
        }
    // Joints: one frame per row, starting at the origin.
    float *joints;
    int64_t frames;
    assert_int_equal(agir_vq_decode_joints(&f->c, codes, 7, &joints, &frames, &e), AGIR_OK);
    assert_int_equal(frames, 28);
    int root = f->c.layout.root;
    assert_true(joints[3 * root] == 0 && joints[3 * root + 2] == 0);
    free(joints);
    // Codes outside the codebook are refused.
    codes[3] = 32;
    assert_int_equal(agir_vq_decode(&f->c, codes, 7, got, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "code 32 at position 3"));
    agir_ctx_close(&c);
    agir_vqvae_free(&m);
    free(got);
}

// The round trip in one call: with quantize, the codes and rows of encode then decode; without, the
// decoder applied to the reference encoder's z_e of the padded motion.
static void reconstruct_both_ways(void **state) {
    fixture *f = *state;
    int64_t n;
    float *feat = features_of(f, 1, &n);
    n = 61;  // 16 codes, 64 rows: the last row repeated three times
    int D = f->t.meta.cfg.in_dim;
    float *rec = malloc(64 * (size_t)D * sizeof *rec), *dec = malloc(64 * (size_t)D * sizeof *dec);
    float *x = malloc(64 * (size_t)D * sizeof *x);
    int32_t codes[16], want[16];
    agir_err e = {0};
    assert_int_equal(agir_vq_reconstruct(&f->c, feat, n, 1, codes, rec, &e), AGIR_OK);
    assert_int_equal(ref_encode(&f->t, feat, n, want), 16);
    assert_memory_equal(codes, want, sizeof codes);
    assert_int_equal(agir_vq_decode(&f->c, codes, 16, dec, &e), AGIR_OK);
    assert_memory_equal(rec, dec, 64 * (size_t)D * sizeof *rec);
    assert_int_equal(agir_vq_reconstruct(&f->c, feat, n, 0, codes, rec, &e), AGIR_OK);
    assert_memory_equal(codes, want, sizeof codes);
    for (int64_t r = 0; r < 64; r++)
        for (int k = 0; k < D; k++) x[r * D + k] = (feat[(r < n ? r : n - 1) * D + k] - f->t.mean[k]) / f->t.std[k];
    agir_vqvae m;
    ref_model(&f->t, 64, &m);
    agir_ctx c;
    assert_int_equal(agir_ctx_open(&c, AGIR_DEV_CPU, &e), AGIR_OK);
    assert_int_equal(agir_vqvae_encode(&c, &m, x, &e), AGIR_OK);
    assert_int_equal(agir_vqvae_decode(&c, &m, m.ze, &e), AGIR_OK);
    double moved = 0;
    for (int r = 0; r < 64; r++)
        for (int k = 0; k < D; k++) {
            float w = m.out[r * D + k] * f->t.std[k] + f->t.mean[k];
            if (fabsf(rec[r * D + k] - w) > 1e-6f * (1 + fabsf(w)))
                fail_msg("row %d feature %d: %g, want %g", r, k, rec[r * D + k], w);
            moved = fmax(moved, fabs(rec[r * D + k] - dec[r * D + k]));
        }
    assert_true(moved > 1e-3);  // z_e is not a code of the random codebook
    agir_ctx_close(&c);
    agir_vqvae_free(&m);
    free(x), free(dec), free(rec), free(feat);
}

static void dataset_in_order(void **state) {
    fixture *f = *state;
    // Make lengths differ, so the length-sorted encoding order differs from the dataset's.
    f->g.seq[0].length -= 37;
    agir_tokens tk;
    agir_err e = {0};
    assert_int_equal(agir_tokens_init(&tk, f->t.hash, 32, 4, 20, &e), AGIR_OK);
    assert_int_equal(agir_vq_tokenize_dataset(&f->c, &f->g, NULL, &tk, &e), AGIR_OK);
    assert_int_equal(tk.n_seq, f->g.n_seq);
    for (int64_t s = 0; s < f->g.n_seq; s++) {
        assert_string_equal(tk.seq[s].id, f->g.seq[s].id);
        assert_string_equal(tk.seq[s].subject, f->g.seq[s].subject);
        int64_t n;
        float *feat = features_of(f, s, &n);
        int32_t want[64];
        int64_t k = ref_encode(&f->t, feat, n, want);
        assert_int_equal(tk.seq[s].length, k);
        assert_memory_equal(agir_tokens_seq_codes(&tk, s), want, (size_t)k * sizeof *want);
        free(feat);
    }
    f->g.seq[0].length += 37;
    agir_tokens_free(&tk);
}

// MPJPE, codebook figures and feature errors recomputed from decoded joints.
static void evaluation_recomputed(void **state) {
    fixture *f = *state;
    agir_err e = {0};
    f->g.seq[0].length -= 37;  // evaluated in length order, reported in the dataset's
    uint8_t sel[6];
    const char *subj[] = {f->g.seq[0].subject, f->g.seq[5].subject};
    assert_int_equal(agir_vq_select_subjects(&f->g, "d.h5", subj, 2, sel, &e), AGIR_OK);
    agir_vq_eval r;
    assert_int_equal(agir_vq_evaluate(&f->c, &f->g, sel, 1, NULL, &r, &e), AGIR_OK);
    int J = f->g.skel->n_joints, root = f->c.layout.root;
    double sum_al = 0, sum_gl = 0, pairs = 0;
    float counts[32] = {0};
    int64_t i = 0, speed_walks = 0;
    double speed_rel[6];
    for (int64_t s = 0; s < f->g.n_seq; s++) {
        if (!sel[s]) continue;
        int64_t n, nq, frames;
        float *feat = features_of(f, s, &n), *orig = malloc((size_t)n * J * 3 * sizeof(float)), *rec;
        int32_t codes[64];
        nq = ref_encode(&f->t, feat, n, codes);
        for (int64_t q = 0; q < nq; q++) counts[codes[q]]++;
        assert_int_equal(agir_motion_decode(&f->c.layout, &f->t.meta.motion, feat, n, orig, &e), AGIR_OK);
        assert_int_equal(agir_vq_decode_joints(&f->c, codes, nq, &rec, &frames, &e), AGIR_OK);
        assert_true(frames >= n);
        // agir_vq_decode_joints integrates all nq·4 rows; the first n frames are the compared ones.
        double al = 0;
        for (int64_t t = 0; t < n; t++)
            for (int j = 0; j < J; j++) {
                const float *a = rec + (t * J + j) * 3, *b = orig + (t * J + j) * 3;
                const float *ra = rec + (t * J + root) * 3, *rb = orig + (t * J + root) * 3;
                double g2 = 0, a2 = 0;
                for (int k = 0; k < 3; k++) {
                    g2 += pow(a[k] - b[k], 2);
                    a2 += pow((a[k] - ra[k]) - (b[k] - rb[k]), 2);
                }
                sum_gl += sqrt(g2), sum_al += sqrt(a2), al += sqrt(a2);
            }
        pairs += (double)n * J;
        assert_true(fabs(r.per_seq[i].mpjpe_mm - 1000 * al / ((double)n * J)) < 1e-6 * r.per_seq[i].mpjpe_mm);
        assert_int_equal(r.per_seq[i].seq, s);
        // Speed of both walks, when both give features.
        agir_features fo, fr;
        agir_err ignore = {0};
        int ok = !agir_features_compute(orig, n, 20, f->g.skel, "o", &fo, NULL, &ignore) &&
                 !agir_features_compute(rec, n, 20, f->g.skel, "r", &fr, NULL, &ignore);
        if (ok) speed_rel[speed_walks++] = fabs(fr.speed - fo.speed) / fabs(fo.speed);
        free(feat), free(orig), free(rec);
        i++;
    }
    assert_int_equal(r.n_seq, i);
    assert_int_equal(r.n_seq, 4);
    assert_true(fabs(r.mpjpe_mm - 1000 * sum_al / pairs) < 1e-6 * r.mpjpe_mm);
    assert_true(fabs(r.mpjpe_global_mm - 1000 * sum_gl / pairs) < 1e-6 * r.mpjpe_global_mm);
    assert_true(r.mpjpe_global_mm >= r.mpjpe_mm * 0.5);
    int used = 0;
    double total = 0, ent = 0;
    for (int k = 0; k < 32; k++) used += counts[k] > 0, total += counts[k];
    for (int k = 0; k < 32; k++) ent -= counts[k] / total * log(counts[k] / total + 1e-7);
    assert_int_equal(r.codes_used, used);
    assert_true(fabs(r.usage - used / 32.0) < 1e-12);
    assert_true(fabs(r.perplexity - exp(ent)) < 1e-6 * exp(ent));
    assert_int_equal(r.n_codes, (int64_t)total);
    assert_int_equal(r.n_features, speed_walks);
    int sp = -1;
    for (int k = 0; k < agir_n_features; k++)
        if (!strcmp(agir_feature_table[k].name, "speed")) sp = k;
    assert_int_equal(r.rel_count[sp], speed_walks);
    if (speed_walks == 0) {
        assert_true(isnan(r.rel_median[sp]));
    } else {
        // Median by sorting the few values.
        for (int64_t a = 0; a < speed_walks; a++)
            for (int64_t b = a + 1; b < speed_walks; b++)
                if (speed_rel[b] < speed_rel[a]) {
                    double x = speed_rel[a];
                    speed_rel[a] = speed_rel[b], speed_rel[b] = x;
                }
        double med = speed_walks % 2 ? speed_rel[speed_walks / 2]
                                     : 0.5 * (speed_rel[speed_walks / 2 - 1] + speed_rel[speed_walks / 2]);
        assert_true(fabs(r.rel_median[sp] - med) < 1e-9 * (1 + med));
    }
    printf("  random tokenizer: MPJPE %.1f mm (global %.1f), %lld of 32 codes, %lld of 4 walks keep their features\n",
           r.mpjpe_mm, r.mpjpe_global_mm, (long long)r.codes_used, (long long)speed_walks);
    // JSON carries the same numbers.
    cJSON *j = agir_vq_eval_json(&r, &f->g);
    assert_non_null(j);
    assert_true(cJSON_GetObjectItem(j, "mpjpe_mm")->valuedouble == r.mpjpe_mm);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "per_sequence")), 4);
    cJSON_Delete(j);
    agir_vq_eval_free(&r);
    f->g.seq[0].length += 37;
}

// Sets the middle tap of a 3-tap conv view (C_out, 3, C_in) to the block matrix `sign` describes:
// out o takes +in[o % C_in] or -in[o % C_in] (sign[o / C_in]), or in[o] - in[o + C_out] when sum.
static void set_tap(const agir_vq_views *v, const char *name, int sum) {
    for (int64_t i = 0; i < v->n_model; i++) {
        if (strcmp(v->model[i].name, name)) continue;
        const int64_t *s = v->model[i].shape;
        float *w = (float *)v->model[i].data;
        int64_t co = s[0], ci = s[2];
        memset(w, 0, (size_t)(co * 3 * ci) * sizeof *w);
        for (int64_t o = 0; o < co; o++) {
            if (sum) {
                w[(o * 3 + 1) * ci + o] = 1, w[(o * 3 + 1) * ci + o + co] = -1;
            } else {
                w[(o * 3 + 1) * ci + o % ci] = o < ci || co == ci ? 1.0f : -1.0f;
            }
        }
        return;
    }
    fail_msg("no view %s", name);
}

// A tokenizer that reconstructs the selected walks exactly: encoder x → [ReLU(x), ReLU(-x)],
// decoder back to x, no down-sampling, and a codebook holding every latent row of those walks.
// Then MPJPE is ~0 and every gait feature survives: what the evaluation reports must say so.
static void identity_tokenizer_is_exact(void **state) {
    fixture *f = *state;
    agir_vq_tokenizer t;
    memset(&t, 0, sizeof t);
    int D = f->c.layout.dim, W = 2 * D;
    int64_t rows[6], total = 0;
    float *feat[6];
    for (int s = 0; s < 4; s++) feat[s] = features_of(f, s, &rows[s]), total += rows[s];
    agir_err e = {0};
    t.meta.cfg = agir_vqvae_t2m_config(D);
    t.meta.cfg.width = W, t.meta.cfg.depth = 0, t.meta.cfg.down = 0, t.meta.cfg.code_dim = W;
    t.meta.cfg.n_codes = (int)total;
    t.meta.motion = f->t.meta.motion;
    t.meta.window = 8;
    assert_int_equal(agir_vqvae_init(&t.model, &t.meta.cfg, 1, 8, 1, &e), AGIR_OK);
    t.mean = malloc((size_t)D * sizeof(float)), t.std = malloc((size_t)D * sizeof(float));
    memcpy(t.mean, f->t.mean, (size_t)D * sizeof(float));
    memcpy(t.std, f->t.std, (size_t)D * sizeof(float));
    agir_vq_views v;
    assert_int_equal(agir_vq_views_make(&v, &t.model, t.mean, t.std, &e), AGIR_OK);
    memset(t.model.params, 0, t.model.n_params * sizeof(float));
    set_tap(&v, "enc.0.weight", 0);  // [x; -x]
    set_tap(&v, "enc.2.weight", 0);  // identity
    set_tap(&v, "dec.0.weight", 0);
    set_tap(&v, "dec.2.weight", 0);
    set_tap(&v, "dec.4.weight", 1);  // first half minus second half
    agir_vq_views_free(&v);
    int64_t at = 0;
    for (int s = 0; s < 4; s++)
        for (int64_t r = 0; r < rows[s]; r++, at++)
            for (int k = 0; k < D; k++) {
                float x = (feat[s][r * D + k] - t.mean[k]) / t.std[k];
                t.model.codebook[at * W + k] = x > 0 ? x : 0;
                t.model.codebook[at * W + D + k] = x < 0 ? -x : 0;
            }
    agir_vq_coder c;
    assert_int_equal(agir_vq_coder_init(&c, &t, f->g.skel, &e), AGIR_OK);
    uint8_t sel[6] = {1, 1, 1, 1, 0, 0};
    agir_vq_eval r;
    assert_int_equal(agir_vq_evaluate(&c, &f->g, sel, 1, NULL, &r, &e), AGIR_OK);
    printf("  exact tokenizer: MPJPE %.2g mm (global %.2g), %lld of %d codes used, perplexity %.1f, feature error %.2g\n",
           r.mpjpe_mm, r.mpjpe_global_mm, (long long)r.codes_used, r.codebook_size, r.perplexity, r.rel_median_all);
    assert_true(r.mpjpe_mm < 1e-2 && r.mpjpe_global_mm < 1e-1);
    // Every row of the four walks is its own code, each used once.
    assert_int_equal(r.codes_used, total);
    assert_true(fabs(r.usage - 1) < 1e-12);
    assert_true(fabs(r.perplexity - (double)total) < 1e-3 * (double)total);
    assert_int_equal(r.n_features, 4);
    for (int k = 0; k < agir_n_features; k++)
        if (r.rel_count[k]) assert_true(r.rel_median[k] < 1e-3);
    assert_true(r.rel_median_all < 1e-4);
    agir_vq_eval_free(&r);
    agir_vq_coder_free(&c);
    agir_vq_tokenizer_free(&t);
    for (int s = 0; s < 4; s++) free(feat[s]);
}

static void refusals(void **state) {
    fixture *f = *state;
    agir_err e = {0};
    uint8_t sel[6];
    const char *subj[] = {"NOBODY"};
    assert_int_equal(agir_vq_select_subjects(&f->g, "d.h5", subj, 1, sel, &e), AGIR_EINPUT);
    assert_string_equal(e.msg, "d.h5: has no sequence of subject 'NOBODY' (hint: 'agir info d.h5' lists the subjects)");
    // A tokenizer for another feature count.
    agir_vq_tokenizer t = f->t;
    t.meta.cfg.in_dim = 9;
    agir_vq_coder c;
    agir_err_clear(&e);
    assert_int_equal(agir_vq_coder_init(&c, &t, f->g.skel, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "the tokenizer reads 9 features per frame, skeleton h36m17 gives 105"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(encode_matches_reference), cmocka_unit_test(decode_matches_reference),
        cmocka_unit_test(reconstruct_both_ways),    cmocka_unit_test(dataset_in_order),
        cmocka_unit_test(evaluation_recomputed),
        cmocka_unit_test(identity_tokenizer_is_exact), cmocka_unit_test(refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
