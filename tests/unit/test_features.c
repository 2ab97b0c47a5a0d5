// Gait features: recovery of known parameters from hand-built analytic walks (clean, noisy, any
// direction and frame rate), input errors, the feature table, the acceptance test on the synthetic
// walker (median relative error vs its ground truth, monotonicity over UPDRS scores) and the
// `agir features` CSV/JSONL output.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cJSON.h>

#include "core/config.h"
#include "core/rng.h"
#include "core/run.h"
#include "datasets/features.h"
#include "datasets/synth.h"
#include "testutil.h"

// An analytic walker: constant pelvis speed, feet that stand still in stance (60% of the stride)
// and move along a smooth zero-velocity-ended profile in swing, sinusoidal arm swing of a given
// forward range, a fixed trunk lean. Built in the walking frame, then rotated by `heading`.
typedef struct walk_spec {
    double speed, step_length, step_width, arm_l, arm_r, trunk_deg, clearance;
    double heading_deg, fps, seconds, noise;  // noise: s.d. of Gaussian joint jitter (m)
    uint64_t seed;
} walk_spec;

static walk_spec default_spec(void) {
    walk_spec s = {.speed = 1.1, .step_length = 0.62, .step_width = 0.12, .arm_l = 0.30, .arm_r = 0.22,
                   .trunk_deg = 8.0, .clearance = 0.07, .heading_deg = 30.0, .fps = 30.0, .seconds = 8.0,
                   .noise = 0.0, .seed = 1};
    return s;
}

#define STANCE 0.6
#define ANKLE_H 0.08
#define PELVIS_H 0.95

// Walking-frame position (fwd, lat, up) of foot `side` (0 left, 1 right) at time t. The left
// foot strikes at t = 2k Ts, the right at (2k + 1) Ts, each landing L/2 ahead of the pelvis.
static void foot_at(const walk_spec *s, int side, double t, double p[3]) {
    double ts = s->step_length / s->speed, stride = 2 * ts;
    double t0 = side * ts;                        // a heel strike of this foot
    double k = floor((t - t0) / stride);          // index of the last heel strike
    double ths = t0 + k * stride, u = (t - ths) / stride;
    double land = s->speed * ths + 0.5 * s->step_length;
    double lat = side == 0 ? 0.5 * s->step_width : -0.5 * s->step_width;
    p[1] = lat;
    if (u < STANCE) {
        p[0] = land, p[2] = ANKLE_H;
        return;
    }
    double v = (u - STANCE) / (1 - STANCE);  // swing phase 0..1 towards the next landing
    p[0] = land + 2 * s->step_length * (v - sin(2 * M_PI * v) / (2 * M_PI));
    p[2] = ANKLE_H + s->clearance * sin(M_PI * v) * sin(M_PI * v);
}

static void put(float *f, int j, const double p[3]) {
    for (int c = 0; c < 3; c++) f[j * 3 + c] = (float)p[c];
}

// frames: (T, 17, 3) in the world (y up); caller frees.
static float *make_walk(const walk_spec *s, int64_t *T_out) {
    int64_t T = (int64_t)(s->seconds * s->fps);
    float *frames = calloc((size_t)T * H36M_J * 3, sizeof *frames);
    assert_non_null(frames);
    double ts = s->step_length / s->speed, th = s->trunk_deg * M_PI / 180, hd = s->heading_deg * M_PI / 180;
    agir_rng rng;
    agir_rng_init(&rng, s->seed, 0);
    for (int64_t i = 0; i < T; i++) {
        double t = (double)i / s->fps, x0 = s->speed * t - 3.0;
        float *f = frames + (size_t)i * H36M_J * 3;
        double pel[3] = {x0, 0, PELVIS_H}, lf[3], rf[3];
        foot_at(s, 0, t, lf);
        foot_at(s, 1, t, rf);
        lf[0] -= 3.0, rf[0] -= 3.0;
        double thor[3] = {x0 + 0.5 * sin(th), 0, PELVIS_H + 0.5 * cos(th)};
        // The left arm swings forward with the right leg: antiphase to the left foot's stride.
        double ph = 2 * M_PI * t / (2 * ts);
        double lw[3] = {x0 + 0.5 * s->arm_l * sin(ph + M_PI), 0.2, 0.85};
        double rw[3] = {x0 + 0.5 * s->arm_r * sin(ph), -0.2, 0.85};
        double w[H36M_J][3];
        memcpy(w[H36M_PELVIS], pel, sizeof pel);
        memcpy(w[H36M_LFOOT], lf, sizeof lf);
        memcpy(w[H36M_RFOOT], rf, sizeof rf);
        memcpy(w[H36M_THORAX], thor, sizeof thor);
        memcpy(w[H36M_LWRIST], lw, sizeof lw);
        memcpy(w[H36M_RWRIST], rw, sizeof rw);
        for (int side = 0; side < 2; side++) {  // hips, knees: between pelvis and feet
            double sg = side == 0 ? 1 : -1, *ft = side == 0 ? lf : rf;
            double hip[3] = {x0, 0.1 * sg, PELVIS_H};
            double knee[3] = {0.5 * (x0 + ft[0]), 0.1 * sg, 0.5 * (PELVIS_H + ft[2])};
            memcpy(w[side == 0 ? H36M_LHIP : H36M_RHIP], hip, sizeof hip);
            memcpy(w[side == 0 ? H36M_LKNEE : H36M_RKNEE], knee, sizeof knee);
            double sh[3] = {thor[0], 0.18 * sg, thor[2] - 0.05}, *wr = side == 0 ? lw : rw;
            double el[3] = {0.5 * (sh[0] + wr[0]), 0.19 * sg, 0.5 * (sh[2] + wr[2])};
            memcpy(w[side == 0 ? H36M_LSHOULDER : H36M_RSHOULDER], sh, sizeof sh);
            memcpy(w[side == 0 ? H36M_LELBOW : H36M_RELBOW], el, sizeof el);
        }
        double sp[3] = {0.5 * (x0 + thor[0]), 0, 0.5 * (PELVIS_H + thor[2])};
        double nk[3] = {thor[0], 0, thor[2] + 0.1}, hdp[3] = {thor[0] + 0.02, 0, thor[2] + 0.25};
        memcpy(w[H36M_SPINE], sp, sizeof sp);
        memcpy(w[H36M_NECK], nk, sizeof nk);
        memcpy(w[H36M_HEAD], hdp, sizeof hdp);
        for (int j = 0; j < H36M_J; j++) {
            // walking frame (fwd, lat, up) -> world (x, y, z): fwd along (cos hd, sin hd) in x-z,
            // lateral = up x forward (the walker's left).
            double fw = w[j][0], la = w[j][1], up = w[j][2];
            double p[3] = {fw * cos(hd) + la * sin(hd), up, fw * sin(hd) - la * cos(hd)};
            for (int c = 0; c < 3; c++) p[c] += s->noise * agir_rng_normal(&rng);
            put(f, j, p);
        }
    }
    *T_out = T;
    return frames;
}

static agir_features run_ok(const walk_spec *s, agir_gait_events *ev) {
    int64_t T;
    float *fr = make_walk(s, &T);
    agir_features f;
    agir_err e;
    agir_err_clear(&e);
    int rc = agir_features_compute(fr, T, (float)s->fps, &agir_skel_h36m17, "walk", &f, ev, &e);
    if (rc) print_error("features failed: %s\n", e.msg);
    assert_int_equal(rc, AGIR_OK);
    free(fr);
    return f;
}

static void near_rel(const char *what, double got, double want, double rel) {
    if (!(fabs(got - want) <= rel * fabs(want))) {
        print_error("%s: got %.5f, want %.5f (relative tolerance %.3f)\n", what, got, want, rel);
        fail();
    }
}

static void near_abs(const char *what, double got, double want, double tol) {
    if (!(fabs(got - want) <= tol)) {
        print_error("%s: got %.5f, want %.5f (tolerance %.4f)\n", what, got, want, tol);
        fail();
    }
}

// Tolerances scale with `loose` (1 for clean walks).
static void check_recovery(const walk_spec *s, const agir_features *f, double loose) {
    double ts = s->step_length / s->speed;
    near_rel("speed", f->speed, s->speed, 0.01 * loose);
    near_rel("cadence", f->cadence, 60.0 / ts, 0.01 * loose);
    near_rel("step_time", f->step_time, ts, 0.01 * loose);
    near_rel("step_length", f->step_length, s->step_length, 0.01 * loose);
    near_abs("step_width", f->step_width, s->step_width, 0.005 * loose);
    near_abs("step_time_cv", f->step_time_cv, 0, 0.03 * loose);
    near_abs("step_time_asym", f->step_time_asym, 0, 0.03 * loose);
    near_rel("arm_swing_l", f->arm_swing_l, s->arm_l, 0.02 * loose);
    near_rel("arm_swing_r", f->arm_swing_r, s->arm_r, 0.02 * loose);
    near_abs("arm_swing_asym", f->arm_swing_asym, fabs(s->arm_l - s->arm_r) / fmax(s->arm_l, s->arm_r), 0.02 * loose);
    near_abs("trunk_flexion", f->trunk_flexion, s->trunk_deg, 0.2 * loose);
    near_rel("foot_clearance", f->foot_clearance, s->clearance, 0.03 * loose);
    // Strides in the walk: about seconds / Ts heel strikes, minus those cut at the two ends.
    int expect = (int)(s->seconds / ts);
    if (f->n_steps < expect - 2 || f->n_steps > expect + 1) {
        print_error("n_steps %d, expected about %d\n", f->n_steps, expect);
        fail();
    }
}

static void analytic_recovery(void **state) {
    (void)state;
    walk_spec s = default_spec();
    agir_gait_events ev;
    agir_features f = run_ok(&s, &ev);
    check_recovery(&s, &f, 1);
    // Heel strikes alternate and sit at the analytic contact times (left at 2k Ts, right at (2k+1) Ts),
    // within the smoothing and contact threshold slack of 0.15 Ts.
    double ts = s.step_length / s.speed;
    for (int side = 0; side < 2; side++) {
        assert_true(ev.n_hs[side] >= 4 && ev.n_to[side] >= 4);
        for (int i = 0; i < ev.n_hs[side]; i++) {
            double t = ev.hs[side][i] / s.fps, k = (t - side * ts) / (2 * ts);
            near_abs("heel strike phase", (k - round(k)) * 2, 0, 0.15);
        }
        for (int i = 0; i < ev.n_to[side]; i++) {
            double t = ev.to[side][i] / s.fps, k = (t - side * ts - STANCE * 2 * ts) / (2 * ts);
            near_abs("toe off phase", (k - round(k)) * 2, 0, 0.15);
        }
    }
    agir_gait_events_free(&ev);
    // A steady regular walk stays well below Moore's freezing threshold of about 2.
    assert_true(f.freezing_index > 0 && f.freezing_index < 1);
}

static void other_speeds_and_rates(void **state) {
    (void)state;
    // Slow shuffling at a low frame rate, brisk walking at a motion-capture rate.
    walk_spec a = default_spec();
    a.speed = 0.45, a.step_length = 0.30, a.step_width = 0.18, a.arm_l = 0.05, a.arm_r = 0.08, a.trunk_deg = 25;
    a.clearance = 0.02, a.fps = 20, a.seconds = 10;
    agir_features f = run_ok(&a, NULL);
    check_recovery(&a, &f, 1);
    walk_spec b = default_spec();
    b.speed = 1.45, b.step_length = 0.78, b.fps = 150, b.seconds = 6, b.heading_deg = -100;
    f = run_ok(&b, NULL);
    check_recovery(&b, &f, 1);
}

static void any_direction(void **state) {
    (void)state;
    walk_spec s = default_spec();
    agir_features ref = run_ok(&s, NULL);
    const double headings[] = {210, 0, 90, 180, 270, -45};  // 210 = the same path walked back
    for (size_t i = 0; i < sizeof headings / sizeof *headings; i++) {
        s.heading_deg = headings[i];
        agir_features f = run_ok(&s, NULL);
        check_recovery(&s, &f, 1);
        for (int k = 0; k < agir_n_features; k++)
            near_abs(agir_feature_table[k].name, agir_feature_get(&f, k), agir_feature_get(&ref, k),
                     1e-3 * fmax(1, fabs(agir_feature_get(&ref, k))));
    }
}

static void noise_robustness(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        walk_spec s = default_spec();
        s.noise = 0.01, s.seed = seed;
        agir_features f = run_ok(&s, NULL);
        check_recovery(&s, &f, 3);
        walk_spec slow = default_spec();
        slow.speed = 0.5, slow.step_length = 0.32, slow.clearance = 0.03, slow.fps = 25, slow.noise = 0.005;
        slow.seed = seed, slow.seconds = 10;
        f = run_ok(&slow, NULL);
        check_recovery(&slow, &f, 3);
    }
}

// Freezing: trembling in place (high-frequency foot oscillation) raises the index well above that
// of the regular walk.
static void freezing_index_responds(void **state) {
    (void)state;
    walk_spec s = default_spec();
    int64_t T;
    float *fr = make_walk(&s, &T);
    agir_features calm, trem;
    agir_err e;
    agir_err_clear(&e);
    assert_int_equal(agir_features_compute(fr, T, (float)s.fps, &agir_skel_h36m17, "w", &calm, NULL, &e), AGIR_OK);
    for (int64_t i = 0; i < T; i++)
        for (int j = 0; j < 2; j++) {
            int jt = j ? H36M_RFOOT : H36M_LFOOT;
            fr[((size_t)i * H36M_J + (size_t)jt) * 3 + 1] += (float)(0.01 * sin(2 * M_PI * 5.5 * (double)i / s.fps));
        }
    assert_int_equal(agir_features_compute(fr, T, (float)s.fps, &agir_skel_h36m17, "w", &trem, NULL, &e), AGIR_OK);
    if (!(trem.freezing_index > 3 * calm.freezing_index && trem.freezing_index > 0.5)) {
        print_error("freezing index: calm %.4f, trembling %.4f\n", calm.freezing_index, trem.freezing_index);
        fail();
    }
    free(fr);
}

static void expect_input_error(const float *fr, int64_t T, float fps, const agir_skeleton *sk, const char *needle) {
    agir_features f;
    agir_err e;
    agir_err_clear(&e);
    int rc = agir_features_compute(fr, T, fps, sk, "SUB07_off_walk_2", &f, NULL, &e);
    if (rc != AGIR_EINPUT || !strstr(e.msg, "SUB07_off_walk_2") || !strstr(e.msg, needle) || strchr(e.msg, '\n')) {
        print_error("rc=%d msg='%s', expected one line naming the sequence and containing '%s'\n", rc, e.msg, needle);
        fail();
    }
}

static void input_errors(void **state) {
    (void)state;
    walk_spec s = default_spec();
    int64_t T;
    float *fr = make_walk(&s, &T);
    expect_input_error(fr, 20, (float)s.fps, &agir_skel_h36m17, "too short");
    expect_input_error(fr, T, 5.0f, &agir_skel_h36m17, "fps");
    expect_input_error(fr, T, NAN, &agir_skel_h36m17, "fps");
    agir_skeleton other = agir_skel_h36m17;
    other.name = "smpl24";
    expect_input_error(fr, T, (float)s.fps, &other, "h36m17");
    // 1.2 s holds a single step at most.
    expect_input_error(fr, (int64_t)(1.2 * s.fps), (float)s.fps, &agir_skel_h36m17, "step");
    float keep = fr[100 * H36M_J * 3 + H36M_LWRIST * 3];
    fr[100 * H36M_J * 3 + H36M_LWRIST * 3] = NAN;
    expect_input_error(fr, T, (float)s.fps, &agir_skel_h36m17, "frame 100");
    fr[100 * H36M_J * 3 + H36M_LWRIST * 3] = 3e4f;  // millimetres, say
    expect_input_error(fr, T, (float)s.fps, &agir_skel_h36m17, "metres");
    fr[100 * H36M_J * 3 + H36M_LWRIST * 3] = keep;
    // Gliding: the whole body translates with the feet fixed relative to the pelvis.
    for (int64_t i = 0; i < T; i++)
        for (int j = 0; j < H36M_J * 3; j++)
            fr[(size_t)i * H36M_J * 3 + (size_t)j] = fr[(size_t)j] + (j % 3 == 0 ? 0.01f * (float)i : 0.0f);
    expect_input_error(fr, T, (float)s.fps, &agir_skel_h36m17, "step");
    // Standing still.
    for (int64_t i = 0; i < T; i++)
        for (int j = 0; j < H36M_J * 3; j++) fr[(size_t)i * H36M_J * 3 + (size_t)j] = fr[(size_t)j];
    expect_input_error(fr, T, (float)s.fps, &agir_skel_h36m17, "walking direction");
    free(fr);
}

static void feature_table(void **state) {
    (void)state;
    assert_int_equal(agir_n_features, 13);
    agir_features f;
    memset(&f, 0, sizeof f);
    f.speed = 1.5f, f.freezing_index = 0.25f, f.arm_swing_r = 0.125f;
    for (int i = 0; i < agir_n_features; i++) {
        const agir_feature_info *fi = &agir_feature_table[i];
        assert_true(fi->name && *fi->name && fi->unit && *fi->unit);
        assert_true(fi->offset + sizeof(float) <= offsetof(agir_features, n_steps));
        for (int j = 0; j < i; j++)
            assert_true(strcmp(fi->name, agir_feature_table[j].name) && fi->offset != agir_feature_table[j].offset);
        float want = !strcmp(fi->name, "speed") ? 1.5f : !strcmp(fi->name, "freezing_index") ? 0.25f
                     : !strcmp(fi->name, "arm_swing_r") ? 0.125f : 0.0f;
        assert_true(agir_feature_get(&f, i) == want);
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_of(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// THE ACCEPTANCE TEST: features of the synthetic walker's walks against its realised ground truth,
// and the ordering of the main parameters over UPDRS gait scores.
static void synth_acceptance(void **state) {
    (void)state;
    const agir_key *const schema[] = {agir_run_keys, agir_synth_keys, NULL};
    const char *text = "[run]\njob = synth\n";
    const char *sets[] = {"synth.subjects=20", "synth.walks_per_state=1", "synth.seconds=8"};
    agir_cfg cfg;
    agir_err e;
    agir_err_clear(&e);
    int rc = agir_cfg_load_text(&cfg, schema, "acceptance.ini", text, strlen(text), sets, 3, &e);
    if (rc) print_error("%s\n", e.msg);
    assert_int_equal(rc, AGIR_OK);
    agir_log log;
    agir_log_init(&log, AGIR_LOG_QUIET);
    agir_gait g;
    rc = agir_synth_generate(&cfg, &g, &log, &e);
    if (rc) print_error("%s\n", e.msg);
    assert_int_equal(rc, AGIR_OK);
    agir_cfg_free(&cfg);
    int64_t n = g.n_seq;
    assert_true(n >= 40);
    agir_features *f = calloc((size_t)n, sizeof *f);
    uint8_t *ok = calloc((size_t)n, 1);
    assert_true(f && ok);
    rc = agir_features_dataset(&g, 0, &log, f, ok, &e);
    if (rc) print_error("%s\n", e.msg);
    assert_int_equal(rc, AGIR_OK);

    const char *checked[] = {"speed", "cadence", "step_length"};
    double *err = calloc((size_t)n, sizeof *err);
    assert_non_null(err);
    printf("acceptance: %lld walks of %d subjects\n", (long long)n, 20);
    for (int c = 0; c < 3; c++) {
        int col = agir_gait_gt_col(&g, checked[c]), fi = -1, m = 0;
        assert_true(col >= 0);
        for (int i = 0; i < agir_n_features; i++)
            if (!strcmp(agir_feature_table[i].name, checked[c])) fi = i;
        assert_true(fi >= 0);
        for (int64_t s = 0; s < n; s++) {
            double want = g.gt[s * g.n_gt + col];
            if (isfinite(want) && want > 0) err[m++] = fabs(agir_feature_get(&f[s], fi) - want) / want;
        }
        assert_true(m >= n / 2);
        double med = median_of(err, m), worst = err[m - 1];
        printf("acceptance: %-12s median relative error %.4f (max %.4f, %d walks)\n", checked[c], med, worst, m);
        if (!(med < 0.10)) {
            print_error("%s: median relative error %.4f is not under 10%%\n", checked[c], med);
            fail();
        }
    }
    double speed[4] = {0}, arm[4] = {0};
    int count[4] = {0};
    for (int64_t s = 0; s < n; s++) {
        int sc = g.seq[s].updrs_gait;
        assert_true(sc >= 0 && sc <= 3);
        speed[sc] += f[s].speed, arm[sc] += 0.5 * (f[s].arm_swing_l + f[s].arm_swing_r), count[sc]++;
    }
    for (int sc = 0; sc < 4; sc++) {
        if (!count[sc]) {
            print_error("no walk with score %d\n", sc);
            fail();
        }
        speed[sc] /= count[sc], arm[sc] /= count[sc];
        printf("acceptance: score %d: %2d walks, mean speed %.3f m/s, mean arm swing %.3f m\n", sc, count[sc],
               speed[sc], arm[sc]);
    }
    for (int sc = 1; sc < 4; sc++)
        if (!(speed[sc] < speed[sc - 1] && arm[sc] < arm[sc - 1])) {
            print_error("score %d: speed %.3f, arm swing %.3f not below score %d's %.3f, %.3f\n", sc, speed[sc],
                        arm[sc], sc - 1, speed[sc - 1], arm[sc - 1]);
            fail();
        }
    free(err);
    free(f);
    free(ok);
    agir_gait_free(&g);
}

// A small dataset of analytic walks (ids that need CSV quoting included); the last is too short
// when `with_short`.
static void analytic_dataset(agir_gait *g, int with_short) {
    agir_err e;
    agir_err_clear(&e);
    assert_int_equal(agir_gait_init(g, &agir_skel_h36m17, 0, NULL, &e), AGIR_OK);
    const char *ids[] = {"S1_off_walk_1", "S1_on,walk \"2\"", "S2_off_walk_1", "S2_short"};
    int n = with_short ? 4 : 3;
    for (int i = 0; i < n; i++) {
        walk_spec s = default_spec();
        s.speed = 0.6 + 0.3 * i, s.step_length = 0.4 + 0.1 * i, s.heading_deg = 70.0 * i, s.fps = 25 + 5 * i;
        if (i == 3) s.seconds = 0.8;
        int64_t T;
        float *fr = make_walk(&s, &T);
        agir_seq q = {.id = (char *)ids[i], .subject = i < 2 ? "S1" : "S2",
                      .medication = i % 2 ? AGIR_MED_ON : AGIR_MED_OFF, .updrs_gait = i, .fps = (float)s.fps,
                      .source = "test"};
        assert_int_equal(agir_gait_append(g, &q, fr, T, NULL, &e), AGIR_OK);
        free(fr);
    }
}

// Splits one CSV line (RFC 4180 quoting, no embedded line breaks) into fields in place.
static int csv_fields(char *line, char **field, int max) {
    int n = 0;
    char *r = line, *w = line;
    while (n < max) {
        field[n++] = w;
        if (*r == '"') {
            for (r++; *r; r++) {
                if (*r == '"' && r[1] == '"') *w++ = '"', r++;
                else if (*r == '"') { r++; break; }
                else *w++ = *r;
            }
        } else {
            while (*r && *r != ',' && *r != '\n') *w++ = *r++;
        }
        int more = *r == ',';
        *w++ = '\0';
        if (!more) break;
        r++;
    }
    return n;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = '\0';
    fclose(f);
    return buf;
}

// The CSV and JSONL tables read back: header, one row per walk, every value equal to the
// library's features (to the 6 significant digits written).
static void check_tables(const char *csv_path, const char *jsonl_path, const agir_gait *g, const agir_features *f) {
    char *csv = slurp(csv_path), *jsonl = slurp(jsonl_path);
    assert_true(csv && jsonl);
    char *fields[64], *save = NULL;
    char *line = strtok_r(csv, "\n", &save);
    int nf = csv_fields(line, fields, 64);
    assert_int_equal(nf, 5 + agir_n_features + 1);
    const char *lead[] = {"id", "subject", "medication", "updrs_gait", "fps"};
    for (int i = 0; i < 5; i++) assert_string_equal(fields[i], lead[i]);
    for (int i = 0; i < agir_n_features; i++) assert_string_equal(fields[5 + i], agir_feature_table[i].name);
    assert_string_equal(fields[nf - 1], "n_steps");
    char *jsave = NULL, *jline = strtok_r(jsonl, "\n", &jsave);
    for (int64_t s = 0; s < g->n_seq; s++) {
        line = strtok_r(NULL, "\n", &save);
        assert_non_null(line);
        assert_int_equal(csv_fields(line, fields, 64), nf);
        const agir_seq *q = &g->seq[s];
        assert_string_equal(fields[0], q->id);
        assert_string_equal(fields[1], q->subject);
        assert_string_equal(fields[2], q->medication == AGIR_MED_ON ? "on" : "off");
        assert_int_equal(atoi(fields[3]), q->updrs_gait);
        near_rel("fps", strtod(fields[4], NULL), q->fps, 1e-6);
        assert_non_null(jline);
        cJSON *o = cJSON_Parse(jline);
        assert_non_null(o);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "id")->valuestring, q->id);
        for (int i = 0; i < agir_n_features; i++) {
            double want = agir_feature_get(&f[s], i);
            near_abs(agir_feature_table[i].name, strtod(fields[5 + i], NULL), want, 1e-5 * fmax(1e-3, fabs(want)));
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, agir_feature_table[i].name);
            assert_true(cJSON_IsNumber(v));
            near_abs(agir_feature_table[i].name, v->valuedouble, want, 1e-5 * fmax(1e-3, fabs(want)));
        }
        assert_int_equal(atoi(fields[nf - 1]), f[s].n_steps);
        assert_int_equal(cJSON_GetObjectItemCaseSensitive(o, "n_steps")->valueint, f[s].n_steps);
        cJSON_Delete(o);
        jline = strtok_r(NULL, "\n", &jsave);
    }
    assert_null(strtok_r(NULL, "\n", &save));
    assert_null(jline);
    free(csv);
    free(jsonl);
}

static void tables_from_library(void **state) {
    (void)state;
    agir_gait g;
    analytic_dataset(&g, 1);
    agir_features f[4];
    uint8_t ok[4];
    agir_err e;
    agir_err_clear(&e);
    agir_log log;
    agir_log_init(&log, AGIR_LOG_QUIET);
    // The short walk stops the dataset with its id, unless skipped.
    assert_int_equal(agir_features_dataset(&g, 0, &log, f, ok, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "S2_short"));
    agir_err_clear(&e);
    assert_int_equal(agir_features_dataset(&g, 1, &log, f, ok, &e), AGIR_OK);
    assert_true(ok[0] && ok[1] && ok[2] && !ok[3]);
    for (int s = 0; s < 3; s++) {
        agir_features one;
        const agir_seq *q = &g.seq[s];
        const float *fr = agir_gait_seq_frames(&g, s);
        assert_int_equal(agir_features_compute(fr, q->length, q->fps, g.skel, q->id, &one, NULL, &e), AGIR_OK);
        assert_memory_equal(&one, &f[s], sizeof one);  // the parallel loop gives the serial results
    }
    char dir[512], csv[600], jsonl[600];
    agir_test_tmpdir(dir, sizeof dir);
    snprintf(csv, sizeof csv, "%s/t.csv", dir);
    snprintf(jsonl, sizeof jsonl, "%s/t.jsonl", dir);
    assert_int_equal(agir_features_write_csv(csv, &g, f, ok, &e), AGIR_OK);
    assert_int_equal(agir_features_write_jsonl(jsonl, &g, f, ok, &e), AGIR_OK);
    g.n_seq = 3;  // the skipped walk has no row
    check_tables(csv, jsonl, &g, f);
    g.n_seq = 4;
    agir_gait_free(&g);
}

static int run_cli(const char *args, const char *err_path) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' features %s > /dev/null 2> '%s'", agir_test_bin(), args, err_path);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void tables_from_cli(void **state) {
    (void)state;
    if (!agir_test_bin()) {
        printf("SKIPPED: AGIR_BIN is not set (run through ctest)\n");
        skip();
    }
    agir_gait g;
    analytic_dataset(&g, 1);
    char dir[512], h5[600], args[2048], err_path[600], csv[700], jsonl[700];
    agir_test_tmpdir(dir, sizeof dir);
    snprintf(h5, sizeof h5, "%s/walks.h5", dir);
    snprintf(err_path, sizeof err_path, "%s/stderr.txt", dir);
    agir_err e;
    agir_err_clear(&e);
    assert_int_equal(agir_gait_write(&g, h5, &e), AGIR_OK);
    // Exit 2 with one line naming the short walk; nothing written.
    snprintf(args, sizeof args, "'%s' --quiet", h5);
    assert_int_equal(run_cli(args, err_path), 2);
    char *msg = slurp(err_path);
    assert_non_null(msg);
    assert_non_null(strstr(msg, "S2_short"));
    assert_true(strchr(msg, '\n') == msg + strlen(msg) - 1);
    free(msg);
    snprintf(csv, sizeof csv, "%s/walks.features.csv", dir);
    assert_null(fopen(csv, "rb"));
    // Default names beside DATA, then --out DIR.
    snprintf(args, sizeof args, "'%s' --skip-invalid --quiet", h5);
    assert_int_equal(run_cli(args, err_path), 0);
    snprintf(jsonl, sizeof jsonl, "%s/walks.features.jsonl", dir);
    agir_features f[4];
    uint8_t ok[4];
    agir_log log;
    agir_log_init(&log, AGIR_LOG_QUIET);
    assert_int_equal(agir_features_dataset(&g, 1, &log, f, ok, &e), AGIR_OK);
    g.n_seq = 3;
    check_tables(csv, jsonl, &g, f);
    snprintf(args, sizeof args, "'%s' --skip-invalid --quiet --out '%s/sub/dir'", h5, dir);
    assert_int_equal(run_cli(args, err_path), 0);
    snprintf(csv, sizeof csv, "%s/sub/dir/walks.features.csv", dir);
    snprintf(jsonl, sizeof jsonl, "%s/sub/dir/walks.features.jsonl", dir);
    check_tables(csv, jsonl, &g, f);
    g.n_seq = 4;
    agir_gait_free(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(analytic_recovery),   cmocka_unit_test(other_speeds_and_rates),
        cmocka_unit_test(any_direction),       cmocka_unit_test(noise_robustness),
        cmocka_unit_test(freezing_index_responds), cmocka_unit_test(input_errors),
        cmocka_unit_test(feature_table),       cmocka_unit_test(synth_acceptance),
        cmocka_unit_test(tables_from_library), cmocka_unit_test(tables_from_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
