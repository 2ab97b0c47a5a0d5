// The synthetic walker: rigid bones, planted stance feet, alternating steps, ground truth that
// matches what the frames show, the severity gradient over scores, determinism, and the CLI job.
//
// Everything is measured on the generated frames and the generator's foot phase labels; the
// expected values are physical limits (no sliding, constant lengths), never the generator's numbers.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/fsio.h"
#include "core/run.h"
#include "datasets/skeleton.h"
#include "datasets/synth.h"
#include "testutil.h"

typedef struct dataset {
    agir_gait g;
    uint8_t *phase;  // (n_frames, 2)
} dataset;

// Generates with [synth] overrides (NULL-terminated); the walker is exact unless noise is set.
static void generate(dataset *d, const char *const *sets) {
    static const char *const base[] = {"synth.noise=0", NULL};
    agir_test_synth(&d->g, &d->phase, base, sets);
}

static void dataset_free(dataset *d) {
    agir_gait_free(&d->g);
    free(d->phase);
}

static const float *joint(const agir_gait *g, int64_t s, int64_t i, int j) {
    return agir_gait_seq_frames(g, s) + ((size_t)i * H36M_J + (size_t)j) * 3;
}

static double dist3(const float *a, const float *b) {
    double dx = a[0] - b[0], dy = a[1] - b[1], dz = a[2] - b[2];
    return sqrt(dx * dx + dy * dy + dz * dz);
}

static double horiz(const float *a, const float *b) { return hypot(a[0] - b[0], a[2] - b[2]); }

static uint8_t phase_of(const dataset *d, int64_t s, int64_t i, int side) {
    return d->phase[2 * (size_t)(d->g.seq[s].offset + i) + (size_t)side];
}

static const int FOOT[2] = {H36M_LFOOT, H36M_RFOOT};

// A dataset spanning every severity with freezing episodes included: few subjects, short walks.
static const char *const SMALL[] = {"synth.subjects=6", "synth.walks_per_state=2", "synth.seconds=8", NULL};

// Every bone keeps the length it has on the subject's first frame, on every frame of every walk.
static void bone_lengths_constant(void **state) {
    (void)state;
    dataset d;
    generate(&d, SMALL);
    const agir_gait *g = &d.g;
    const int *par = g->skel->parents;
    double ref[H36M_J] = {0}, worst = 0;
    const char *subject = "";
    for (int64_t s = 0; s < g->n_seq; s++) {
        if (strcmp(subject, g->seq[s].subject)) {
            subject = g->seq[s].subject;
            for (int j = 1; j < H36M_J; j++) ref[j] = dist3(joint(g, s, 0, j), joint(g, s, 0, par[j]));
        }
        for (int64_t i = 0; i < g->seq[s].length; i++)
            for (int j = 1; j < H36M_J; j++) {
                double len = dist3(joint(g, s, i, j), joint(g, s, i, par[j]));
                assert_true(len > 0.05);
                worst = fmax(worst, fabs(len - ref[j]));
            }
    }
    printf("bone lengths: max deviation %.2e m over %lld frames\n", worst, (long long)g->n_frames);
    assert_true(worst < 1e-4);
    dataset_free(&d);
}

// During each stance (and freezing) the ankle stays where it landed, and stance is the larger part
// of each foot's cycle, as in walking.
static void stance_feet_do_not_slide(void **state) {
    (void)state;
    dataset d;
    generate(&d, SMALL);
    const agir_gait *g = &d.g;
    double worst = 0, worst_y = 0;
    int64_t runs = 0, n_stance = 0, n_swing = 0;
    for (int64_t s = 0; s < g->n_seq; s++)
        for (int side = 0; side < 2; side++) {
            int64_t start = -1;
            for (int64_t i = 0; i < g->seq[s].length; i++) {
                uint8_t p = phase_of(&d, s, i, side);
                const float *a = joint(g, s, i, FOOT[side]);
                if (p == AGIR_SYNTH_SWING) {
                    n_swing++;
                    start = -1;
                    continue;
                }
                n_stance += p == AGIR_SYNTH_STANCE;
                if (start < 0) start = i, runs++;
                const float *a0 = joint(g, s, start, FOOT[side]);
                worst = fmax(worst, horiz(a, a0));
                if (p == AGIR_SYNTH_STANCE && phase_of(&d, s, start, side) == AGIR_SYNTH_STANCE)
                    worst_y = fmax(worst_y, fabs(a[1] - a0[1]));
            }
        }
    printf("stance: %lld planted runs, max horizontal drift %.2e m, max vertical %.2e m; stance %lld / swing %lld "
           "frames\n",
           (long long)runs, worst, worst_y, (long long)n_stance, (long long)n_swing);
    assert_true(runs > 4 * g->n_seq);
    assert_true(worst < 0.005);
    assert_true(worst_y < 0.005);
    double stance_share = (double)n_stance / (double)(n_stance + n_swing);
    assert_true(stance_share > 0.5 && stance_share < 0.8);
    dataset_free(&d);
}

// Heel strikes (swing -> planted) alternate between the feet, one foot is always on the floor, and
// every swing lifts the foot and carries it forward.
static void feet_alternate(void **state) {
    (void)state;
    dataset d;
    generate(&d, SMALL);
    const agir_gait *g = &d.g;
    int64_t strikes = 0, swings = 0;
    for (int64_t s = 0; s < g->n_seq; s++) {
        int last = -1, whole[2] = {0, 0};  // whole: the current swing began inside the walk
        double lift[2] = {0, 0}, base[2] = {0, 0}, z0[2] = {0, 0};
        for (int64_t i = 0; i < g->seq[s].length; i++) {
            assert_false(phase_of(&d, s, i, 0) == AGIR_SYNTH_SWING && phase_of(&d, s, i, 1) == AGIR_SYNTH_SWING);
            for (int side = 0; side < 2; side++) {
                const float *a = joint(g, s, i, FOOT[side]);
                uint8_t p = phase_of(&d, s, i, side), prev = i ? phase_of(&d, s, i - 1, side) : p;
                if (p == AGIR_SYNTH_SWING && prev != AGIR_SYNTH_SWING) {
                    const float *b = joint(g, s, i - 1, FOOT[side]);
                    whole[side] = 1, lift[side] = 0, base[side] = b[1], z0[side] = b[2];
                }
                if (p == AGIR_SYNTH_SWING) lift[side] = fmax(lift[side], a[1] - base[side]);
                if (p != AGIR_SYNTH_SWING && prev == AGIR_SYNTH_SWING) {
                    assert_int_not_equal(side, last);
                    last = side, strikes++;
                    if (whole[side]) {
                        assert_true(lift[side] > 0.02);
                        assert_true(a[2] > z0[side] + 0.1);
                        swings++;
                    }
                }
            }
        }
    }
    printf("alternation: %lld heel strikes in %lld walks, %lld whole swings lift and advance the foot\n",
           (long long)strikes, (long long)g->n_seq, (long long)swings);
    assert_true(strikes > 8 * g->n_seq && swings > 6 * g->n_seq);
    dataset_free(&d);
}

// Heel strikes seen in the frames: frame, side, and the ankle positions of both feet then.
typedef struct strike {
    int64_t frame;
    int side;
    float x[2], z[2];
} strike;

static int find_strikes(const dataset *d, int64_t s, strike *out, int max) {
    int n = 0;
    for (int64_t i = 1; i < d->g.seq[s].length; i++)
        for (int side = 0; side < 2; side++)
            if (phase_of(d, s, i - 1, side) == AGIR_SYNTH_SWING && phase_of(d, s, i, side) != AGIR_SYNTH_SWING &&
                n < max) {
                out[n] = (strike){.frame = i, .side = side};
                for (int f = 0; f < 2; f++) {
                    out[n].x[f] = joint(&d->g, s, i, FOOT[f])[0];
                    out[n].z[f] = joint(&d->g, s, i, FOOT[f])[2];
                }
                n++;
            }
    return n;
}

static int64_t freeze_frames_between(const dataset *d, int64_t s, int64_t a, int64_t b) {
    int64_t n = 0;
    for (int64_t i = a; i <= b; i++) n += phase_of(d, s, i, 0) == AGIR_SYNTH_FREEZE;
    return n;
}

static float gt(const agir_gait *g, int64_t s, const char *name) {
    int c = agir_gait_gt_col(g, name);
    assert_true(c >= 0);
    return g->gt[(size_t)s * (size_t)g->n_gt + (size_t)c];
}

// Measures from the frames what the ground truth claims and compares: step length and width at
// heel strike, step count and time, speed, arm swing, trunk flexion, clearance, freezing count.
static void check_walk_ground_truth(const dataset *d, int64_t s, double fps) {
    const agir_gait *g = &d->g;
    int64_t T = g->seq[s].length;
    strike hs[512];
    int n = find_strikes(d, s, hs, 512);
    assert_true(n >= 4);
    double len = 0, wid = 0, dt = 0;
    int ndt = 0;
    for (int k = 0; k < n; k++) {
        int a = hs[k].side;
        len += hs[k].z[a] - hs[k].z[1 - a];
        wid += fabs(hs[k].x[a] - hs[k].x[1 - a]);
        if (k && !freeze_frames_between(d, s, hs[k - 1].frame, hs[k].frame))
            dt += (double)(hs[k].frame - hs[k - 1].frame) / fps, ndt++;
    }
    assert_int_equal((int)gt(g, s, "n_steps"), n);
    assert_true(fabs(len / n - gt(g, s, "step_length")) < 1e-4);
    assert_true(fabs(wid / n - gt(g, s, "step_width")) < 1e-4);
    // Heel strikes fall between frames: each detected interval is off by under a frame.
    assert_true(ndt > 0 && fabs(dt / ndt - gt(g, s, "step_time")) < 1.0 / fps);
    assert_true(fabs(60.0 / gt(g, s, "step_time") - gt(g, s, "cadence")) < 1e-2);

    // Speed between the first and last heel strike; both frames lag their event by under a frame.
    const float *p0 = joint(g, s, hs[0].frame, H36M_PELVIS), *p1 = joint(g, s, hs[n - 1].frame, H36M_PELVIS);
    double speed = (p1[2] - p0[2]) / ((double)(hs[n - 1].frame - hs[0].frame) / fps);
    assert_true(fabs(speed - gt(g, s, "speed")) < 0.03);
    assert_true(fabs(joint(g, s, 0, H36M_PELVIS)[2]) < 1e-4);  // walks start at the origin

    double lo[2] = {1e9, 1e9}, hi[2] = {-1e9, -1e9}, lean = 0;
    const int wrist[2] = {H36M_LWRIST, H36M_RWRIST};
    for (int64_t i = 0; i < T; i++) {
        const float *pel = joint(g, s, i, H36M_PELVIS), *th = joint(g, s, i, H36M_THORAX);
        for (int side = 0; side < 2; side++) {
            double r = joint(g, s, i, wrist[side])[2] - pel[2];
            lo[side] = fmin(lo[side], r), hi[side] = fmax(hi[side], r);
        }
        lean += atan2(th[2] - pel[2], th[1] - pel[1]) * 180.0 / M_PI;
    }
    assert_true(fabs(hi[0] - lo[0] - gt(g, s, "arm_swing_l")) < 1e-4);
    assert_true(fabs(hi[1] - lo[1] - gt(g, s, "arm_swing_r")) < 1e-4);
    assert_true(fabs(lean / T - gt(g, s, "trunk_flexion")) < 0.01);

    // Swings seen whole: the highest ankle point above the preceding stance height.
    double peak_sum = 0;
    int npeak = 0, freezes = 0;
    for (int side = 0; side < 2; side++) {
        double stance_y = NAN, peak = -1;
        for (int64_t i = 0; i < T; i++) {
            uint8_t p = phase_of(d, s, i, side);
            float y = joint(g, s, i, FOOT[side])[1];
            if (p == AGIR_SYNTH_SWING) {
                peak = isnan(stance_y) ? -1 : fmax(peak, y - stance_y);
                continue;
            }
            if (peak >= 0) peak_sum += peak, npeak++;
            peak = -1;
            if (p == AGIR_SYNTH_STANCE) stance_y = y;
            if (side == 0 && p == AGIR_SYNTH_FREEZE && (i == 0 || phase_of(d, s, i - 1, 0) != AGIR_SYNTH_FREEZE))
                freezes++;
        }
    }
    assert_true(npeak > 0 && fabs(peak_sum / npeak - gt(g, s, "foot_clearance")) < 1e-4);
    assert_int_equal(freezes, (int)gt(g, s, "freezing_episodes"));
}

static void ground_truth_matches_frames(void **state) {
    (void)state;
    const char *sets[] = {"synth.subjects=6", "synth.walks_per_state=2", "synth.seconds=8", "synth.fps=25", NULL};
    dataset d;
    generate(&d, sets);
    int frozen = 0;
    for (int64_t s = 0; s < d.g.n_seq; s++) {
        check_walk_ground_truth(&d, s, 25.0);
        frozen += gt(&d.g, s, "freezing_episodes") > 0;
        assert_true(!strncmp(d.g.seq[s].id, d.g.seq[s].subject, strlen(d.g.seq[s].subject)));
        assert_string_equal(d.g.seq[s].source, "synth");
        assert_true(d.g.seq[s].fps == 25.0f);
    }
    printf("ground truth: %lld walks agree with their frames (%d with freezing)\n", (long long)d.g.n_seq, frozen);
    dataset_free(&d);
}

// Over a 20-subject dataset every score occurs, and mean speed and arm swing, measured on the frames,
// fall strictly from score 0 to 3 with clear margins; freezing only appears at scores 2-3.
static void severity_gradient(void **state) {
    (void)state;
    const char *sets[] = {"synth.subjects=20", "synth.walks_per_state=2", "synth.seconds=6", "synth.noise=0.002",
                          NULL};
    dataset d;
    generate(&d, sets);
    const agir_gait *g = &d.g;
    double speed[4] = {0}, arm[4] = {0};
    int count[4] = {0}, frozen = 0, festinating = 0;
    for (int64_t s = 0; s < g->n_seq; s++) {
        int k = g->seq[s].updrs_gait;
        assert_true(k >= 0 && k <= 3);
        int64_t T = g->seq[s].length;
        double dur = (double)(T - 1) / g->seq[s].fps;
        speed[k] += (joint(g, s, T - 1, H36M_PELVIS)[2] - joint(g, s, 0, H36M_PELVIS)[2]) / dur;
        for (int side = 0; side < 2; side++) {
            double lo = 1e9, hi = -1e9;
            for (int64_t i = 0; i < T; i++) {
                double r = joint(g, s, i, side ? H36M_RWRIST : H36M_LWRIST)[2] - joint(g, s, i, H36M_PELVIS)[2];
                lo = fmin(lo, r), hi = fmax(hi, r);
            }
            arm[k] += 0.5 * (hi - lo);
        }
        count[k]++;
        if (gt(g, s, "freezing_episodes") > 0) frozen++, assert_true(k >= 2);
        if (gt(g, s, "festination") > 0) festinating++, assert_true(k >= 2);
    }
    for (int k = 0; k < 4; k++) {
        printf("score %d: %2d walks, speed %.3f m/s, arm swing %.3f m\n", k, count[k], speed[k] / count[k],
               arm[k] / count[k]);
        assert_true(count[k] >= 3);
        speed[k] /= count[k], arm[k] /= count[k];
    }
    for (int k = 1; k < 4; k++) {
        assert_true(speed[k] < speed[k - 1] - 0.05);
        assert_true(arm[k] < arm[k - 1] - 0.025);
    }
    printf("%d walks with freezing, %d with festination\n", frozen, festinating);
    assert_true(frozen > 0 && festinating > 0);
    dataset_free(&d);
}

static int same_dataset(const agir_gait *a, const agir_gait *b) {
    if (a->n_seq != b->n_seq || a->n_frames != b->n_frames || a->n_gt != b->n_gt) return 0;
    if (memcmp(a->frames, b->frames, (size_t)a->n_frames * H36M_J * 3 * sizeof(float))) return 0;
    if (memcmp(a->gt, b->gt, (size_t)a->n_seq * (size_t)a->n_gt * sizeof(float))) return 0;
    for (int64_t s = 0; s < a->n_seq; s++)
        if (strcmp(a->seq[s].id, b->seq[s].id) || a->seq[s].updrs_gait != b->seq[s].updrs_gait) return 0;
    return 1;
}

// Same seed: the same frames bit for bit, whatever the thread count; another seed: other frames.
static void deterministic(void **state) {
    (void)state;
    const char *base[] = {"synth.subjects=5", "synth.walks_per_state=2", "synth.seconds=4", "synth.noise=0.001",
                          NULL};
    const char *other[] = {"synth.subjects=5", "synth.walks_per_state=2", "synth.seconds=4", "synth.noise=0.001",
                           "run.seed=99", NULL};
    dataset a, b, c;
#ifdef _OPENMP
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
#endif
    generate(&a, base);
#ifdef _OPENMP
    omp_set_num_threads(4);
#endif
    generate(&b, base);
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
    generate(&c, other);
    assert_true(same_dataset(&a.g, &b.g));
    assert_memory_equal(a.phase, b.phase, (size_t)a.g.n_frames * 2);
    assert_false(same_dataset(&a.g, &c.g));
    dataset_free(&a);
    dataset_free(&b);
    dataset_free(&c);
}

// `agir synth` end to end: the file is written where [synth] output says, identical bytes for the
// same seed with 1 or 2 threads, and a bad key is an input error.
static int run_agir(const char *args) {
    const char *bin = agir_test_bin();
    if (!bin) {
        print_error("AGIR_BIN is not set (run through ctest)\n");
        return -1;
    }
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "\"%s\" %s >/dev/null 2>&1", bin, args);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void cli_job(void **state) {
    (void)state;
    char dir[512], cfg[1024], args[4096], out[2][1024];
    agir_test_tmpdir(dir, sizeof dir);
    agir_test_src("configs/synth.ini", cfg, sizeof cfg);
    for (int t = 0; t < 2; t++) {
        snprintf(out[t], sizeof out[t], "%s/out%d/synth.h5", dir, t);
        snprintf(args, sizeof args,
                 "synth \"%s\" --set synth.subjects=3 --set synth.walks_per_state=1 --set synth.seconds=4 "
                 "--set run.threads=%d --set run.dir=%s/run%d --set synth.output=%s",
                 cfg, t + 1, dir, t, out[t]);
        assert_int_equal(run_agir(args), 0);
    }
    char *bytes[2];
    size_t len[2];
    agir_err e;
    agir_err_clear(&e);
    for (int t = 0; t < 2; t++) assert_int_equal(agir_read_file(out[t], 1u << 30, &bytes[t], &len[t], &e), AGIR_OK);
    assert_true(len[0] > 0 && len[0] == len[1]);
    assert_memory_equal(bytes[0], bytes[1], len[0]);
    free(bytes[0]);
    free(bytes[1]);
    agir_gait g;
    assert_int_equal(agir_gait_read(&g, out[0], &e), AGIR_OK);
    assert_int_equal(g.n_seq, 6);
    assert_true(agir_gait_gt_col(&g, "arm_swing_asym") >= 0);
    agir_gait_free(&g);
    snprintf(args, sizeof args, "synth \"%s\" --set synth.subjectz=3 --set run.dir=%s/run9", cfg, dir);
    assert_int_equal(run_agir(args), 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bone_lengths_constant),  cmocka_unit_test(stance_feet_do_not_slide),
        cmocka_unit_test(feet_alternate),         cmocka_unit_test(ground_truth_matches_frames),
        cmocka_unit_test(severity_gradient),      cmocka_unit_test(deterministic),
        cmocka_unit_test(cli_job),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
