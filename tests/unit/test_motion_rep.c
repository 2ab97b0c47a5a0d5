// Motion features: exact round trip joints -> features -> joints on synthetic walks (straight and
// bent into curves), heading invariance, resampling exactness on constant-velocity motion, foot
// contacts against the walker's stance phases, and the dataset statistics.
//
// Expected values come from the walker's own labels, from geometry (rigid motions) or from
// independent computations here, never from the code under test.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/run.h"
#include "datasets/motion_rep.h"
#include "datasets/resample.h"
#include "datasets/synth.h"
#include "testutil.h"

enum { J = H36M_J };

typedef struct dataset {
    agir_gait g;
    uint8_t *phase;  // (n_frames, 2): left, right
} dataset;

// Synthetic walks with [synth] overrides (NULL-terminated).
static void generate(dataset *d, const char *const *sets) {
    static const char *const base[] = {"synth.subjects=3", "synth.walks_per_state=1", "synth.seconds=6", NULL};
    agir_test_synth(&d->g, &d->phase, base, sets);
}

static void dataset_free(dataset *d) {
    agir_gait_free(&d->g);
    free(d->phase);
}

static agir_motion_layout layout(void) {
    agir_motion_layout L;
    agir_err e;
    agir_err_clear(&e);
    assert_int_equal(agir_motion_layout_init(&L, &agir_skel_h36m17, &e), AGIR_OK);
    return L;
}

static float *encode(const agir_motion_layout *L, const agir_motion_opts *o, const float *x, int64_t T) {
    float *f = malloc((size_t)(T - 1) * (size_t)L->dim * sizeof *f);
    assert_non_null(f);
    agir_err e;
    agir_err_clear(&e);
    int rc = agir_motion_encode(L, o, x, T, f, &e);
    if (rc) print_error("%s\n", e.msg);
    assert_int_equal(rc, AGIR_OK);
    return f;
}

// Rotates every frame t about the vertical axis through (cx, cz) by angle a0 + rate * t, then
// shifts by (dx, dz): a rigid motion when rate = 0, a walk bent into a curve otherwise.
static void turn(float *x, int64_t T, double a0, double rate, double dx, double dz) {
    for (int64_t t = 0; t < T; t++) {
        double a = a0 + rate * (double)t, c = cos(a), s = sin(a);
        for (int j = 0; j < J; j++) {
            float *p = x + ((size_t)t * J + (size_t)j) * 3;
            double px = p[0], pz = p[2];
            p[0] = (float)(c * px - s * pz + dx);
            p[2] = (float)(s * px + c * pz + dz);
        }
    }
}

// Largest distance between got (n, J, 3) and want after the rigid horizontal motion that best
// maps want's frame 0 onto got's (2-D Procrustes on frame 0 about the root, then its offset).
static double anchored_error(const float *want, const float *got, int64_t n) {
    double sc = 0, ss = 0;
    for (int j = 1; j < J; j++) {
        double wx = want[j * 3] - want[0], wz = want[j * 3 + 2] - want[2];
        double gx = got[j * 3] - got[0], gz = got[j * 3 + 2] - got[2];
        sc += wx * gx + wz * gz;
        ss += wx * gz - wz * gx;
    }
    double a = atan2(ss, sc), c = cos(a), s = sin(a), worst = 0;
    for (int64_t t = 0; t < n; t++)
        for (int j = 0; j < J; j++) {
            const float *w = want + ((size_t)t * J + (size_t)j) * 3, *g = got + ((size_t)t * J + (size_t)j) * 3;
            double x = w[0] - want[0], z = w[2] - want[2];
            double px = c * x - s * z + got[0], pz = s * x + c * z + got[2];
            double d = sqrt((px - g[0]) * (px - g[0]) + (w[1] - g[1]) * (w[1] - g[1]) + (pz - g[2]) * (pz - g[2]));
            if (d > worst) worst = d;
        }
    return worst;
}

static double round_trip_error(const agir_motion_layout *L, const agir_motion_opts *o, const float *x, int64_t T) {
    float *f = encode(L, o, x, T), *back = malloc((size_t)(T - 1) * J * 3 * sizeof *back);
    assert_non_null(back);
    agir_err e;
    agir_err_clear(&e);
    assert_int_equal(agir_motion_decode(L, o, f, T - 1, back, &e), AGIR_OK);
    double err = anchored_error(x, back, T - 1);
    free(f);
    free(back);
    return err;
}

static void layout_dimension(void **state) {
    (void)state;
    agir_motion_layout L = layout();
    // 4 root channels + 3 (J - 1) positions + 3 J velocities + 2 contacts.
    assert_int_equal(L.dim, 4 + 3 * (J - 1) + 3 * J + 2);
    assert_int_equal(L.dim, 105);
    assert_int_equal(agir_motion_contact_at(&L) + 2, L.dim);
    assert_int_equal(L.root, H36M_PELVIS);
    assert_int_equal(L.l_foot, H36M_LFOOT);
    assert_int_equal(L.r_shoulder, H36M_RSHOULDER);
    static const char *const names[3] = {"root", "a", "b"};
    static const int parents[3] = {-1, 0, 1};
    agir_skeleton odd = {"odd", 3, names, parents};
    agir_err e;
    agir_err_clear(&e);
    assert_int_equal(agir_motion_layout_init(&L, &odd, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "l_hip"));
}

// Straight synthetic walks and the same walks bent into curves (0.4 rad/s) come back within
// 0.1 mm after re-anchoring the start; with and without facing smoothing.
static void round_trip(void **state) {
    (void)state;
    dataset d;
    generate(&d, NULL);
    agir_motion_layout L = layout();
    double worst = 0;
    for (int64_t s = 0; s < d.g.n_seq; s++) {
        const agir_seq *q = &d.g.seq[s];
        size_t bytes = (size_t)q->length * J * 3 * sizeof(float);
        float *x = malloc(bytes);
        assert_non_null(x);
        for (int variant = 0; variant < 3; variant++) {
            memcpy(x, agir_gait_seq_frames(&d.g, s), bytes);
            agir_motion_opts o = agir_motion_default_opts(q->fps);
            if (variant == 1) turn(x, q->length, 0.7, 0.4 / q->fps, 3.0, -2.0);
            if (variant == 2) o.facing_sigma = 0;
            double err = round_trip_error(&L, &o, x, q->length);
            if (err > worst) worst = err;
        }
        free(x);
    }
    printf("round trip: largest joint error %.3g m over %lld walks x 3 variants\n", worst, (long long)d.g.n_seq);
    assert_true(worst < 1e-4);
    dataset_free(&d);
}

// Rotating a walk about y (and moving it) leaves every feature unchanged.
static void heading_invariance(void **state) {
    (void)state;
    dataset d;
    generate(&d, NULL);
    agir_motion_layout L = layout();
    const agir_seq *q = &d.g.seq[1];
    size_t bytes = (size_t)q->length * J * 3 * sizeof(float);
    float *x = malloc(bytes);
    assert_non_null(x);
    memcpy(x, agir_gait_seq_frames(&d.g, 1), bytes);
    agir_motion_opts o = agir_motion_default_opts(q->fps);
    float *a = encode(&L, &o, x, q->length);
    const double angles[] = {1.234, -2.9, M_PI};
    for (int k = 0; k < 3; k++) {
        memcpy(x, agir_gait_seq_frames(&d.g, 1), bytes);
        turn(x, q->length, angles[k], 0, 5.0 * k - 4, 7.5);
        float *b = encode(&L, &o, x, q->length);
        double worst = 0;
        for (int64_t i = 0; i < (q->length - 1) * L.dim; i++) worst = fmax(worst, fabs(a[i] - b[i]));
        int flips = 0;
        for (int64_t t = 0; t < q->length - 1; t++)
            for (int c = 0; c < 2; c++) {
                size_t i = (size_t)t * (size_t)L.dim + (size_t)agir_motion_contact_at(&L) + (size_t)c;
                flips += a[i] != b[i];
            }
        printf("heading %.3f rad: largest feature change %.3g, contact flips %d\n", angles[k], worst, flips);
        // Float rounding of positions about 10 m from the origin, turned into velocities at fps.
        assert_true(worst < 2e-4);
        assert_true(flips <= 2);
        free(b);
    }
    free(a);
    free(x);
    dataset_free(&d);
}

// Positions moving at constant velocity resample exactly; lengths follow from the durations.
static void resampling(void **state) {
    (void)state;
    agir_err e;
    agir_err_clear(&e);
    assert_int_equal(agir_resample_len(151, 150, 20), 21);  // 1 s: 0, 0.05, ..., 1.0
    assert_int_equal(agir_resample_len(3, 30, 20), 2);      // 1/15 s: 0, 0.05
    assert_int_equal(agir_resample_len(10, 20, 20), 10);
    assert_int_equal(agir_resample_len(5, 20, 40), 9);
    assert_int_equal(agir_resample_len(1, 150, 20), 1);
    assert_int_equal(agir_resample_len(0, 150, 20), -1);
    assert_int_equal(agir_resample_len(10, 0, 20), -1);
    assert_int_equal(agir_resample_len(10, NAN, 20), -1);
    const double rates[][2] = {{150, 20}, {30, 20}, {20, 20}, {20, 50}, {100, 7}};
    for (int r = 0; r < 5; r++) {
        double fin = rates[r][0], fout = rates[r][1];
        int64_t T = 2 * (int64_t)fin + 3, C = 6;
        float *x = malloc((size_t)(T * C) * sizeof *x);
        assert_non_null(x);
        for (int64_t t = 0; t < T; t++)
            for (int64_t c = 0; c < C; c++) x[t * C + c] = (float)(0.3 * (double)c - 1 + (0.5 + 0.2 * (double)c) * (double)t / fin);
        int64_t n = agir_resample_len(T, fin, fout);
        float *y = malloc((size_t)(n * C) * sizeof *y);
        assert_non_null(y);
        assert_int_equal(agir_resample(x, T, C, fin, fout, y, &e), AGIR_OK);
        double worst = 0;
        for (int64_t k = 0; k < n; k++)
            for (int64_t c = 0; c < C; c++) {
                double want = 0.3 * (double)c - 1 + (0.5 + 0.2 * (double)c) * (double)k / fout;
                worst = fmax(worst, fabs(y[k * C + c] - want));
            }
        // The last output frame is at or before the last input frame, and the next would be after it.
        assert_true((double)(n - 1) / fout <= (double)(T - 1) / fin + 1e-9);
        assert_true((double)n / fout > (double)(T - 1) / fin);
        assert_true(worst < 1e-5);
        free(x);
        free(y);
    }
}

// Contacts agree with the walker's stance labels on more than 90% of foot-frames (frames of
// freezing episodes, where the labels do not say whether a foot is down, are left out).
static void contacts_match_stance(void **state) {
    (void)state;
    const char *sets[] = {"synth.fps=20", "synth.subjects=4", NULL};
    dataset d;
    generate(&d, sets);
    agir_motion_layout L = layout();
    int64_t agree = 0, total = 0, stance = 0, contact = 0;
    for (int64_t s = 0; s < d.g.n_seq; s++) {
        const agir_seq *q = &d.g.seq[s];
        agir_motion_opts o = agir_motion_default_opts(q->fps);
        float *f = encode(&L, &o, agir_gait_seq_frames(&d.g, s), q->length);
        for (int64_t t = 0; t + 1 < q->length; t++)
            for (int c = 0; c < 2; c++) {
                uint8_t ph = d.phase[(size_t)(q->offset + t) * 2 + (size_t)c];
                if (ph == AGIR_SYNTH_FREEZE) continue;
                int down = f[(size_t)t * (size_t)L.dim + (size_t)agir_motion_contact_at(&L) + (size_t)c] == 1.0f;
                agree += down == (ph == AGIR_SYNTH_STANCE);
                stance += ph == AGIR_SYNTH_STANCE;
                contact += down;
                total++;
            }
        free(f);
    }
    double rate = (double)agree / (double)total;
    printf("contacts: %.1f%% of %lld foot-frames agree (stance %lld, contact %lld)\n", 100 * rate, (long long)total,
           (long long)stance, (long long)contact);
    assert_true(total > 1000);
    assert_true(rate > 0.90);
    dataset_free(&d);
}

// Statistics equal a plain two-pass computation over all rows, are bit-identical when repeated,
// honour the floor; normalisation inverts.
static void statistics(void **state) {
    (void)state;
    const char *sets[] = {"synth.fps=30", "synth.subjects=2", NULL};
    dataset d;
    generate(&d, sets);
    agir_motion_layout L = layout();
    agir_motion_opts o = agir_motion_default_opts(20);
    int D = L.dim;
    float *mean = malloc((size_t)D * 4 * sizeof *mean), *sd = mean + D, *mean2 = mean + 2 * D, *sd2 = mean + 3 * D;
    assert_non_null(mean);
    int64_t rows = 0, rows2 = 0;
    agir_err e;
    agir_err_clear(&e);
    assert_int_equal(agir_motion_stats(&d.g, &L, &o, 1e-6, mean, sd, &rows, &e), AGIR_OK);
    assert_int_equal(agir_motion_stats(&d.g, &L, &o, 1e-6, mean2, sd2, &rows2, &e), AGIR_OK);
    assert_int_equal(rows, rows2);
    assert_memory_equal(mean, mean2, (size_t)D * 2 * sizeof *mean);
    // Reference: every sequence resampled to 20 fps (linear, written out here) and encoded,
    // rows concatenated, then mean and population s.d. by two passes in long double.
    float *all = NULL;
    int64_t n_all = 0;
    for (int64_t s = 0; s < d.g.n_seq; s++) {
        const agir_seq *q = &d.g.seq[s];
        int64_t T = (int64_t)floor((double)(q->length - 1) * 20 / q->fps + 1e-9) + 1;
        float *x = malloc((size_t)T * J * 3 * sizeof *x);
        assert_non_null(x);
        for (int64_t k = 0; k < T; k++) {
            double u = (double)k * q->fps / 20;
            int64_t i = (int64_t)u;
            double w = u - (double)i;
            if (i >= q->length - 1) i = q->length - 1, w = 0;
            const float *a = agir_gait_seq_frames(&d.g, s) + (size_t)i * J * 3, *b = w > 0 ? a + J * 3 : a;
            for (int c = 0; c < J * 3; c++) x[k * J * 3 + c] = (float)((1 - w) * a[c] + w * b[c]);
        }
        float *f = encode(&L, &o, x, T);
        all = realloc(all, (size_t)(n_all + T - 1) * (size_t)D * sizeof *all);
        assert_non_null(all);
        memcpy(all + n_all * D, f, (size_t)(T - 1) * (size_t)D * sizeof *f);
        n_all += T - 1;
        free(f);
        free(x);
    }
    assert_int_equal(rows, n_all);
    double worst_m = 0, worst_s = 0;
    for (int k = 0; k < D; k++) {
        long double m = 0, v = 0;
        for (int64_t t = 0; t < n_all; t++) m += all[t * D + k];
        m /= n_all;
        for (int64_t t = 0; t < n_all; t++) v += (all[t * D + k] - m) * (all[t * D + k] - m);
        double ref_sd = sqrt((double)(v / n_all));
        if (ref_sd < 1e-6) ref_sd = 1e-6;
        worst_m = fmax(worst_m, fabs(mean[k] - (double)m) / (1 + fabs((double)m)));
        worst_s = fmax(worst_s, fabs(sd[k] - ref_sd) / ref_sd);
    }
    printf("statistics: %lld rows, mean error %.3g, relative s.d. error %.3g\n", (long long)rows, worst_m, worst_s);
    assert_true(worst_m < 1e-5 && worst_s < 1e-4);
    // Normalising gives the reference mean 0 / s.d. 1 per dimension and inverts exactly enough.
    float *copy = malloc((size_t)n_all * (size_t)D * sizeof *copy);
    assert_non_null(copy);
    memcpy(copy, all, (size_t)n_all * (size_t)D * sizeof *copy);
    agir_motion_normalize(copy, n_all, D, mean, sd);
    double m0 = 0;
    for (int64_t t = 0; t < n_all; t++) m0 += copy[t * D + AGIR_MOTION_ROOT_Y];
    assert_true(fabs(m0 / (double)n_all) < 1e-3);
    agir_motion_denormalize(copy, n_all, D, mean, sd);
    for (int64_t i = 0; i < n_all * D; i++) assert_true(fabs(copy[i] - all[i]) < 1e-4 * (1 + fabs(all[i])));
    // A floor above every s.d. replaces them all.
    assert_int_equal(agir_motion_stats(&d.g, &L, &o, 1e3, mean2, sd2, &rows2, &e), AGIR_OK);
    for (int k = 0; k < D; k++) assert_true(sd2[k] == 1e3f);
    free(copy);
    free(all);
    free(mean);
    dataset_free(&d);
}

// Pooling gives every feature group of the documented H36M-17 layout one deviation, the mean of its
// members', and divides the root and contact groups by feat_bias.
static void pooled_deviations(void **state) {
    (void)state;
    agir_motion_layout L = layout();
    assert_int_equal(L.dim, 105);
    // Row layout for J = 17 (motion_rep.h): rotation velocity [0], root velocity [1, 3), root height
    // [3], joint positions [4, 52), joint velocities [52, 103), contacts [103, 105).
    const int lo[] = {0, 1, 3, 4, 52, 103}, hi[] = {1, 3, 4, 52, 103, 105}, biased[] = {1, 1, 1, 0, 0, 1};
    float sd[105], pooled[105];
    for (int d = 0; d < 105; d++) sd[d] = 0.01f + 0.37f * (float)((d * 7919) % 101) / 101.0f;
    for (int bias = 1; bias <= 5; bias += 4) {
        memcpy(pooled, sd, sizeof sd);
        agir_motion_pool_std(&L, bias, pooled);
        for (int k = 0; k < 6; k++) {
            double mean = 0;
            for (int d = lo[k]; d < hi[k]; d++) mean += sd[d];
            mean /= hi[k] - lo[k];
            double want = biased[k] ? mean / bias : mean;
            for (int d = lo[k]; d < hi[k]; d++) assert_true(fabs(pooled[d] - want) <= 1e-6 * want);
        }
    }
}

// A sequence too short for one row at the model's rate is an input error naming it.
static void too_short(void **state) {
    (void)state;
    agir_gait g;
    agir_err e;
    agir_err_clear(&e);
    assert_int_equal(agir_gait_init(&g, &agir_skel_h36m17, 0, NULL, &e), AGIR_OK);
    float frames[5 * J * 3] = {0};
    agir_seq meta = {.id = "SUB09_blip", .subject = "SUB09", .medication = -1, .updrs_gait = -1, .fps = 150,
                     .source = "test"};
    assert_int_equal(agir_gait_append(&g, &meta, frames, 5, NULL, &e), AGIR_OK);
    agir_motion_layout L = layout();
    agir_motion_opts o = agir_motion_default_opts(20);
    float *f = NULL;
    int64_t n = -1;
    assert_int_equal(agir_motion_from_seq(&g, 0, &L, &o, &f, &n, &e), AGIR_EINPUT);
    assert_null(f);
    assert_non_null(strstr(e.msg, "SUB09_blip"));
    assert_null(strchr(e.msg, '\n'));
    float mean[105], sd[105];
    int64_t rows;
    agir_err_clear(&e);
    assert_int_equal(agir_motion_stats(&g, &L, &o, 1e-3, mean, sd, &rows, &e), AGIR_EINPUT);
    agir_gait_free(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(layout_dimension), cmocka_unit_test(round_trip),  cmocka_unit_test(heading_invariance),
        cmocka_unit_test(resampling),       cmocka_unit_test(contacts_match_stance),
        cmocka_unit_test(statistics),       cmocka_unit_test(pooled_deviations), cmocka_unit_test(too_short),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
