// Helpers shared by the unit tests.
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "core/fsio.h"
#include "core/run.h"
#include "datasets/gait_text.h"
#include "datasets/synth.h"

void agir_test_tmpdir(char *out, size_t outsz) {
    const char *base = getenv("TMPDIR");
    snprintf(out, outsz, "%s/agir-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(out)) {
        perror("mkdtemp");
        exit(1);
    }
}

void agir_test_src(const char *rel, char *out, size_t outsz) {
    const char *root = getenv("AGIR_SOURCE_DIR");
    snprintf(out, outsz, "%s/%s", root && *root ? root : "..", rel);
}

const char *agir_test_bin(void) {
    const char *b = getenv("AGIR_BIN");
    return b && *b ? b : NULL;
}

void agir_test_skip(const char *why) {
    printf("SKIPPED: %s\n", why);
    fflush(stdout);
    exit(77);
}

cJSON *agir_test_load_json(const char *rel) {
    char path[4096], *text;
    size_t n;
    agir_err e = {0};
    agir_test_src(rel, path, sizeof path);
    int rc = agir_read_file(path, 1 << 24, &text, &n, &e);
    if (rc) print_error("%s\n", e.msg);
    assert_int_equal(rc, AGIR_OK);
    cJSON *j = cJSON_ParseWithLength(text, n);
    free(text);
    assert_non_null(j);
    return j;
}

void agir_test_synth(agir_gait *g, uint8_t **phase, const char *const *base, const char *const *sets) {
    const agir_key *const schema[] = {agir_run_keys, agir_synth_keys, NULL};
    const char *all[32] = {"run.job=synth"};
    int n = 1;
    while (base && *base && n < 32) all[n++] = *base++;
    while (sets && *sets && n < 32) all[n++] = *sets++;
    agir_cfg cfg;
    agir_err e;
    agir_err_clear(&e);
    int rc = agir_cfg_load(&cfg, schema, NULL, all, n, &e);
    if (rc) print_error("%s\n", e.msg);
    assert_int_equal(rc, AGIR_OK);
    agir_log log;
    agir_log_init(&log, AGIR_LOG_QUIET);
    rc = agir_synth_generate_phases(&cfg, g, phase, &log, &e);
    if (rc) print_error("%s\n", e.msg);
    assert_int_equal(rc, AGIR_OK);
    agir_cfg_free(&cfg);
}

int agir_test_count_entries(const char *dir, const char *prefix) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t np = strlen(prefix);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && !strncmp(de->d_name, prefix, np)) n++;
    closedir(d);
    return n;
}

double agir_test_max_rel(const float *got, const float *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num = fmax(num, fabs((double)got[i] - ref[i]));
        den = fmax(den, fabs((double)ref[i]));
    }
    return den > 0 ? num / den : num;
}

void agir_test_llama_open(agir_test_llama *t, const agir_llama *m, const agir_lora *lora) {
    agir_err e = {0};
    if (agir_ctx_open(&t->ctx, AGIR_DEV_CPU, &e) || agir_llama_weights_open(&t->w, &t->ctx, AGIR_F32, m, lora, &e))
        fail_msg("%s", e.msg);
}

void agir_test_llama_close(agir_test_llama *t) {
    agir_llama_weights_close(&t->w);
    agir_ctx_close(&t->ctx);
}

agir_features agir_test_features_baseline(void) {
    agir_features f = {.speed = 1.25f, .cadence = 110.0f, .step_length = 0.62f, .step_width = 0.10f,
                       .step_time = 0.55f, .step_time_cv = 0.02f, .step_time_asym = 0.02f,
                       .arm_swing_l = 0.30f, .arm_swing_r = 0.31f, .trunk_flexion = 5.0f,
                       .foot_clearance = 0.10f, .freezing_index = 0.5f, .n_steps = 20};
    f.arm_swing_asym = fabsf(f.arm_swing_l - f.arm_swing_r) / fmaxf(f.arm_swing_l, f.arm_swing_r);
    return f;
}

static float maybe_nan(agir_rng *r, float v) { return agir_rng_uniform(r) < 0.04 ? NAN : v; }

agir_features agir_test_features_random(agir_rng *r) {
    agir_features f;
    f.speed = maybe_nan(r, (float)agir_rng_range(r, 0.3, 1.9));
    f.cadence = maybe_nan(r, (float)agir_rng_range(r, 70, 160));
    f.step_length = maybe_nan(r, (float)agir_rng_range(r, 0.2, 0.8));
    f.step_width = maybe_nan(r, (float)agir_rng_range(r, 0.0, 0.3));
    f.step_time = (float)agir_rng_range(r, 0.4, 0.8);
    f.step_time_cv = maybe_nan(r, (float)agir_rng_range(r, 0.0, 0.1));
    f.step_time_asym = maybe_nan(r, (float)agir_rng_range(r, 0.0, 0.2));
    f.arm_swing_l = maybe_nan(r, (float)agir_rng_range(r, 0.02, 0.5));
    f.arm_swing_r = agir_rng_uniform(r) < 0.3 ? f.arm_swing_l * (float)agir_rng_range(r, 0.9, 1.1)
                                              : maybe_nan(r, (float)agir_rng_range(r, 0.02, 0.5));
    float mx = fmaxf(f.arm_swing_l, f.arm_swing_r);
    f.arm_swing_asym = mx > 0 ? fabsf(f.arm_swing_l - f.arm_swing_r) / mx : NAN;
    f.trunk_flexion = maybe_nan(r, (float)agir_rng_range(r, -5, 40));
    f.foot_clearance = maybe_nan(r, (float)agir_rng_range(r, 0.01, 0.15));
    f.freezing_index = maybe_nan(r, (float)agir_rng_range(r, 0, 4));
    f.n_steps = 2 + (int)agir_rng_below(r, 30);
    return f;
}

void agir_test_each_text(const agir_features *f, uint64_t seed, agir_test_text_check check, void *arg) {
    agir_err e;
    agir_err_clear(&e);
    char text[AGIR_TEXT_MAX];
    agir_rng rng;
    agir_rng_init(&rng, seed, 0);
    assert_int_equal(agir_text_describe(f, &rng, text, sizeof text, &e), 0);
    check(text, f, -1, arg);
    for (int score = 0; score <= 4; score++) {
        assert_int_equal(agir_text_rationale(f, score, &rng, text, sizeof text, &e), 0);
        check(text, f, score, arg);
    }
}
