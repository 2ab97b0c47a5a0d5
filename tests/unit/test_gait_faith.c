// Faithfulness checker: the generator's own descriptions and rationales read back as consistent
// with the measured bands, deliberately wrong claims caught, unmeasurable features not scored,
// free text from a model scored with keywords.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/rng.h"
#include "datasets/features.h"
#include "datasets/gait.h"
#include "datasets/gait_faith.h"
#include "datasets/gait_text.h"
#include "testutil.h"


typedef struct stats {
    long texts, claims, scored, consistent;
    long scored_tf[AGIR_TF_COUNT], consistent_tf[AGIR_TF_COUNT];
    int shown;
} stats;

static const char *const TF_NAME[AGIR_TF_COUNT] = {"speed", "cadence", "step length", "step width",
                                                    "variability", "step asymmetry", "clearance", "freezing",
                                                    "arm swing", "arm asymmetry", "trunk"};

static void check_one(const char *text, const agir_features *f, stats *st) {
    agir_faith fa;
    agir_err e;
    agir_err_clear(&e);
    assert_int_equal(agir_faith_check(text, f, &fa, &e), AGIR_OK);
    st->texts++;
    st->claims += fa.n_claims;
    st->scored += fa.n_scored;
    st->consistent += fa.n_consistent;
    for (int tf = 0; tf < AGIR_TF_COUNT; tf++) st->scored_tf[tf] += fa.scored[tf], st->consistent_tf[tf] += fa.consistent[tf];
    for (int i = 0; i < fa.n_claims; i++) {
        const agir_claim *c = &fa.claims[i];
        assert_true(c->start < c->end && c->end <= strlen(text));
        if (c->consistent == 0 && st->shown < 10) {
            st->shown++;
            agir_finding fx[AGIR_TF_COUNT];
            agir_text_findings(f, fx);
            print_message("inconsistent: %s %+d (band %d) in '%.*s'\n  text: %s\n", TF_NAME[c->feature], c->direction,
                          fx[c->feature].band, (int)(c->end - c->start), text + c->start, text);
        }
    }
}

static void check_text(const char *text, const agir_features *f, int score, void *st) {
    (void)score;
    check_one(text, f, st);
}

static void generate_and_check(const agir_features *f, uint64_t seed, stats *st) {
    agir_test_each_text(f, seed, check_text, st);
}

static void report(const char *what, const stats *st) {
    print_message("%s: %ld texts, %ld claims, %ld scored (%.2f per text), %ld consistent (%.3f %%)\n", what, st->texts,
                  st->claims, st->scored, (double)st->scored / (double)st->texts,
                  st->consistent, 100.0 * (double)st->consistent / (double)st->scored);
    for (int tf = 0; tf < AGIR_TF_COUNT; tf++)
        print_message("  %-15s %6ld scored, %6ld consistent\n", TF_NAME[tf], st->scored_tf[tf], st->consistent_tf[tf]);
}

// Features of synthetic walks (walker with PD-like impairments of every score) under several seeds.
static void generated_texts_of_synthetic_walks_are_faithful(void **state) {
    (void)state;
    stats st = {0};
    for (int seed = 1; seed <= 3; seed++) {
        char seed_set[32];
        snprintf(seed_set, sizeof seed_set, "run.seed=%d", seed);
        const char *const sets[] = {"synth.subjects=8", "synth.walks_per_state=1", "synth.seconds=8", seed_set, NULL};
        agir_gait g;
        uint8_t *phase = NULL;
        agir_test_synth(&g, &phase, NULL, sets);
        free(phase);
        agir_features *f = calloc((size_t)g.n_seq, sizeof *f);
        uint8_t *ok = calloc((size_t)g.n_seq, 1);
        assert_true(f && ok);
        agir_log log;
        agir_log_init(&log, AGIR_LOG_QUIET);
        agir_err e;
        agir_err_clear(&e);
        assert_int_equal(agir_features_dataset(&g, 1, &log, f, ok, &e), AGIR_OK);
        for (int64_t s = 0; s < g.n_seq; s++)
            if (ok[s])
                for (uint64_t k = 0; k < 4; k++) generate_and_check(&f[s], 1000 * (uint64_t)seed + 10 * (uint64_t)s + k, &st);
        free(f);
        free(ok);
        agir_gait_free(&g);
    }
    report("synthetic walks", &st);
    assert_true(st.texts >= 200);
    assert_true((double)st.scored / (double)st.texts >= 3.0);
    assert_true((double)st.consistent >= 0.99 * (double)st.scored);
}

// Feature vectors across every band edge, some features missing.
static void generated_texts_of_every_band_are_faithful(void **state) {
    (void)state;
    stats st = {0};
    agir_rng r;
    agir_rng_init(&r, 77, 0);
    for (int i = 0; i < 600; i++) {
        agir_features f = agir_test_features_random(&r);
        generate_and_check(&f, 5000 + (uint64_t)i, &st);
    }
    report("random features", &st);
    assert_true((double)st.scored / (double)st.texts >= 3.0);
    assert_true((double)st.consistent >= 0.99 * (double)st.scored);
}

// The checker must tell walks apart: texts read against another walk's features disagree often.
static void texts_of_another_walk_are_not_faithful(void **state) {
    (void)state;
    stats st = {0};
    agir_rng r;
    agir_rng_init(&r, 78, 0);
    agir_err e;
    agir_err_clear(&e);
    char text[AGIR_TEXT_MAX];
    for (int i = 0; i < 300; i++) {
        agir_features f = agir_test_features_random(&r), other = agir_test_features_random(&r);
        agir_rng g;
        agir_rng_init(&g, 9000 + (uint64_t)i, 0);
        assert_int_equal(agir_text_rationale(&f, (int)agir_rng_below(&g, 5), &g, text, sizeof text, &e), 0);
        st.shown = 10;  // expected disagreements: not printed
        check_one(text, &other, &st);
    }
    print_message("another walk: %ld scored, %ld consistent (%.1f %%)\n", st.scored, st.consistent,
                  100.0 * (double)st.consistent / (double)st.scored);
    assert_true((double)st.consistent < 0.75 * (double)st.scored);
}

static const agir_claim *find_claim(const agir_faith *fa, int tf) {
    for (int i = 0; i < fa->n_claims; i++)
        if (fa->claims[i].feature == tf) return &fa->claims[i];
    return NULL;
}

static void wrong_claims_are_caught(void **state) {
    (void)state;
    agir_features f = agir_test_features_baseline();
    f.speed = 0.55f;  // marked low
    f.arm_swing_l = f.arm_swing_r = 0.08f;  // marked low, symmetric
    f.arm_swing_asym = 0.0f;
    agir_err e;
    agir_err_clear(&e);
    agir_faith fa;
    const char *bad = "Foot: The walking speed is markedly increased. Arm: The arm swing is normal.";
    assert_int_equal(agir_faith_check(bad, &f, &fa, &e), AGIR_OK);
    assert_int_equal(fa.n_claims, 2);
    const agir_claim *sp = find_claim(&fa, AGIR_TF_SPEED), *arm = find_claim(&fa, AGIR_TF_ARM_SWING);
    assert_non_null(sp);
    assert_non_null(arm);
    assert_int_equal(sp->direction, 1);
    assert_int_equal(sp->consistent, 0);
    assert_int_equal(arm->direction, 0);
    assert_int_equal(arm->consistent, 0);
    assert_int_equal(fa.n_scored, 2);
    assert_int_equal(fa.n_consistent, 0);
    assert_int_equal(sp->end - sp->start, strlen("The walking speed is markedly increased"));
    assert_memory_equal(bad + sp->start, "The walking speed is markedly increased", sp->end - sp->start);
    // The same walk described truthfully.
    const char *good = "Foot: The walking speed is markedly reduced. Arm: The arm swing is clearly reduced on both sides.";
    assert_int_equal(agir_faith_check(good, &f, &fa, &e), AGIR_OK);
    assert_int_equal(fa.n_scored, 2);
    assert_int_equal(fa.n_consistent, 2);
    // Mixed: one right, one wrong; per-feature counts.
    const char *mixed = "Foot: Walking is slow, with a normal cadence and a wide base of support. Arm: Both arms swing naturally.";
    assert_int_equal(agir_faith_check(mixed, &f, &fa, &e), AGIR_OK);
    assert_int_equal(fa.scored[AGIR_TF_SPEED], 1);
    assert_int_equal(fa.consistent[AGIR_TF_SPEED], 1);
    assert_int_equal(fa.scored[AGIR_TF_CADENCE], 1);
    assert_int_equal(fa.consistent[AGIR_TF_CADENCE], 1);
    assert_int_equal(fa.scored[AGIR_TF_STEP_WIDTH], 1);
    assert_int_equal(fa.consistent[AGIR_TF_STEP_WIDTH], 0);  // width 0.10 m is normal
    assert_int_equal(fa.scored[AGIR_TF_ARM_SWING], 1);
    assert_int_equal(fa.consistent[AGIR_TF_ARM_SWING], 0);
}

static void unmeasurable_features_are_not_scored(void **state) {
    (void)state;
    agir_features f = agir_test_features_baseline();
    f.speed = NAN;
    f.freezing_index = NAN;
    agir_err e;
    agir_err_clear(&e);
    agir_faith fa;
    const char *t = "Foot: The walking speed is reduced, and there are episodes suggestive of freezing of gait. "
                    "The cadence is normal.";
    assert_int_equal(agir_faith_check(t, &f, &fa, &e), AGIR_OK);
    assert_int_equal(fa.n_claims, 3);
    assert_int_equal(find_claim(&fa, AGIR_TF_SPEED)->consistent, -1);
    assert_int_equal(find_claim(&fa, AGIR_TF_FREEZING)->consistent, -1);
    assert_int_equal(find_claim(&fa, AGIR_TF_CADENCE)->consistent, 1);
    assert_int_equal(fa.n_scored, 1);
    assert_int_equal(fa.n_consistent, 1);
    assert_int_equal(fa.scored[AGIR_TF_SPEED], 0);
}

static void empty_text_has_no_claims(void **state) {
    (void)state;
    agir_features f = agir_test_features_baseline();
    agir_err e;
    agir_err_clear(&e);
    agir_faith fa;
    fa.n_claims = 99;
    assert_int_equal(agir_faith_check("", &f, &fa, &e), AGIR_OK);
    assert_int_equal(fa.n_claims, 0);
    assert_int_equal(fa.n_scored, 0);
    assert_int_equal(agir_faith_check("Score: 2\n", &f, &fa, &e), AGIR_OK);
    assert_int_equal(fa.n_claims, 0);
    assert_int_equal(agir_faith_check("Overall: the gait is normal.", &f, &fa, &e), AGIR_OK);
    assert_int_equal(fa.n_claims, 0);
    assert_int_not_equal(agir_faith_check(NULL, &f, &fa, &e), AGIR_OK);
    agir_err_clear(&e);
    assert_int_not_equal(agir_faith_check("x", NULL, &fa, &e), AGIR_OK);
}

// Free text, as a model might write it: keywords, negation, lists, sides.
static void free_text_is_read_with_keywords(void **state) {
    (void)state;
    agir_finding fx[AGIR_TF_COUNT];
    for (int tf = 0; tf < AGIR_TF_COUNT; tf++) fx[tf] = (agir_finding){AGIR_BAND_NORMAL, 0};
    fx[AGIR_TF_SPEED].band = AGIR_BAND_LOW;
    fx[AGIR_TF_STEP_LENGTH].band = AGIR_BAND_MARKED_LOW;
    fx[AGIR_TF_ARM_SWING].band = AGIR_BAND_LOW;
    fx[AGIR_TF_TRUNK].band = AGIR_BAND_HIGH;
    fx[AGIR_TF_ARM_ASYM].band = AGIR_BAND_HIGH;
    agir_err e;
    agir_err_clear(&e);
    agir_faith fa;
    const char *t = "The patient walks slowly with short strides; arm swing is decreased, the left arm moving less than "
                    "the right. Posture is stooped and there is no freezing. Step width, cadence and rhythm are "
                    "within normal limits.";
    assert_int_equal(agir_faith_check_findings(t, fx, &fa, &e), AGIR_OK);
    struct {
        int tf, dir;
    } want[] = {{AGIR_TF_SPEED, -1},   {AGIR_TF_STEP_LENGTH, -1}, {AGIR_TF_ARM_SWING, -1}, {AGIR_TF_ARM_ASYM, 1},
                {AGIR_TF_TRUNK, 1},    {AGIR_TF_FREEZING, 0},     {AGIR_TF_STEP_WIDTH, 0}, {AGIR_TF_CADENCE, 0},
                {AGIR_TF_VARIABILITY, 0}};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const agir_claim *c = find_claim(&fa, want[i].tf);
        if (!c) fail_msg("no claim about %s", TF_NAME[want[i].tf]);
        if (c->direction != want[i].dir) fail_msg("%s read as %+d", TF_NAME[want[i].tf], c->direction);
    }
    assert_int_equal(fa.n_scored, fa.n_claims);
    assert_int_equal(fa.n_consistent, fa.n_claims);
    // Negated direction words: "not reduced" is normal; "no asymmetry" is symmetric.
    const char *n = "Speed is not reduced. There is no asymmetry in arm swing.";
    assert_int_equal(agir_faith_check_findings(n, fx, &fa, &e), AGIR_OK);
    assert_int_equal(find_claim(&fa, AGIR_TF_SPEED)->direction, 0);
    assert_int_equal(find_claim(&fa, AGIR_TF_SPEED)->consistent, 0);
    assert_int_equal(find_claim(&fa, AGIR_TF_ARM_ASYM)->direction, 0);
    assert_int_equal(find_claim(&fa, AGIR_TF_ARM_ASYM)->consistent, 0);
    // "little variability": a feature that only deviates upwards, read as normal.
    assert_int_equal(agir_faith_check_findings("There is little step-to-step variability.", fx, &fa, &e), AGIR_OK);
    assert_int_equal(fa.n_claims, 1);
    assert_int_equal(fa.claims[0].direction, 0);
    assert_int_equal(fa.claims[0].consistent, 1);
}

// The phrase-bank export: every template has a tag and text, and out-of-range asks give NULL.
static void templates_are_exported(void **state) {
    (void)state;
    int total = 0;
    for (int tf = 0; tf < AGIR_TF_COUNT; tf++)
        for (int dir = -1; dir <= 1; dir++)
            for (int i = 0;; i++) {
                const char *t = agir_text_template(tf, dir, i);
                if (!t) break;
                assert_non_null(strchr("LHN-!", t[0]));
                assert_true(strlen(t) > 2);
                total++;
            }
    assert_true(total > 80);
    assert_non_null(agir_text_template(AGIR_TF_SPEED, -1, 0));
    assert_null(agir_text_template(AGIR_TF_STEP_LENGTH, 1, 0));  // step length is never "too long"
    assert_null(agir_text_template(AGIR_TF_COUNT, 0, 0));
    assert_null(agir_text_template(AGIR_TF_SPEED, 2, 0));
    assert_null(agir_text_template(AGIR_TF_SPEED, 0, -1));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(templates_are_exported),
        cmocka_unit_test(empty_text_has_no_claims),
        cmocka_unit_test(wrong_claims_are_caught),
        cmocka_unit_test(unmeasurable_features_are_not_scored),
        cmocka_unit_test(free_text_is_read_with_keywords),
        cmocka_unit_test(generated_texts_of_every_band_are_faithful),
        cmocka_unit_test(generated_texts_of_synthetic_walks_are_faithful),
        cmocka_unit_test(texts_of_another_walk_are_not_faithful),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
