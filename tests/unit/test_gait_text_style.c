// Style of generated rationales against the 886 rationales released with the AGIR paper
// (CoT_annotation.json, not part of the repository): word counts and how often each gait feature
// is discussed. Skipped when the file is absent.
//
// File: $AGIR_COT_ANNOTATION, else $AGIR_SOURCE_DIR/../shared/data/CoT_annotation.json.
// Features are counted as docs/architecture.md ("Data") counts them: a case-insensitive substring
// per feature.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "core/fsio.h"
#include "core/rng.h"
#include "datasets/gait_text.h"
#include "testutil.h"

static const char *const KEYS[] = {"arm swing", "speed",        "symmetr", "cadence", "arm movement",
                                   "balance",   "rhythm",       "step width", "variab", "step time"};
#define NKEYS ((int)(sizeof KEYS / sizeof *KEYS))

typedef struct corpus_stats {
    int n, wmin, wmax;
    double wmean;
    int hits[NKEYS];
    int *words;  // (n,)
} corpus_stats;

static int contains_ci(const char *s, const char *key) {
    size_t k = strlen(key);
    for (; *s; s++) {
        size_t i = 0;
        while (i < k && s[i] && (s[i] | 0x20) == key[i]) i++;
        if (i == k) return 1;
    }
    return 0;
}

static int count_words(const char *s) {
    int n = 0, in = 0;
    for (; *s; s++) {
        int sp = *s == ' ' || *s == '\n' || *s == '\t' || *s == '\r';
        if (!sp && !in) n++;
        in = !sp;
    }
    return n;
}

static void add_text(corpus_stats *c, const char *text) {
    int w = count_words(text);
    c->words[c->n++] = w;
    c->wmin = c->n == 1 || w < c->wmin ? w : c->wmin;
    c->wmax = c->n == 1 || w > c->wmax ? w : c->wmax;
    c->wmean += ((double)w - c->wmean) / c->n;
    for (int k = 0; k < NKEYS; k++) c->hits[k] += contains_ci(text, KEYS[k]);
}

static double gauss(agir_rng *r, double mean, double sd) { return mean + sd * agir_rng_normal(r); }

// Features of a Parkinsonian walk with MDS-UPDRS gait score s, spread like clinical cohorts: slower,
// shorter and more variable steps and smaller, more asymmetric arm swing as s grows.
static agir_features realistic(agir_rng *r, int s) {
    agir_features f;
    memset(&f, 0, sizeof f);
    f.speed = (float)gauss(r, 1.25 - 0.17 * s, 0.15);
    f.cadence = (float)gauss(r, 110 - 3 * s, 8);
    f.step_length = (float)gauss(r, 0.63 - 0.06 * s, 0.06);
    f.step_width = (float)fmax(0.01, gauss(r, 0.10 - 0.01 * s, 0.03));
    f.step_time = 60.0f / f.cadence;
    f.step_time_cv = (float)fabs(gauss(r, 0.02 + 0.008 * s, 0.008));
    f.step_time_asym = (float)fabs(gauss(r, 0.025 + 0.015 * s, 0.02));
    double base = fmax(0.04, gauss(r, 0.32 - 0.05 * s, 0.06));
    double a = fmin(0.9, fabs(gauss(r, 0.08 + 0.1 * s, 0.1)));
    int left_weaker = agir_rng_uniform(r) < 0.5;
    f.arm_swing_l = (float)(left_weaker ? base * (1 - a) : base);
    f.arm_swing_r = (float)(left_weaker ? base : base * (1 - a));
    f.arm_swing_asym = fabsf(f.arm_swing_l - f.arm_swing_r) / fmaxf(f.arm_swing_l, f.arm_swing_r);
    f.trunk_flexion = (float)gauss(r, 6 + 4 * s, 4);
    f.foot_clearance = (float)fmax(0.005, gauss(r, 0.10 - 0.012 * s, 0.015));
    f.freezing_index = (float)fabs(gauss(r, 0.8 + 0.3 * s, 0.5));
    f.n_steps = 10 + (int)agir_rng_below(r, 20);
    return f;
}

static void annotation_path(char *out, size_t outsz) {
    const char *env = getenv("AGIR_COT_ANNOTATION");
    if (env && *env)
        snprintf(out, outsz, "%s", env);
    else
        agir_test_src("../shared/data/CoT_annotation.json", out, outsz);
}

static void load_annotations(corpus_stats *theirs) {
    char path[4096];
    annotation_path(path, sizeof path);
    FILE *probe = fopen(path, "rb");
    if (!probe) {
        char why[4200];
        snprintf(why, sizeof why, "%s not found (set AGIR_COT_ANNOTATION to the released CoT_annotation.json)", path);
        agir_test_skip(why);
    }
    fclose(probe);
    agir_err e;
    agir_err_clear(&e);
    char *buf = NULL;
    size_t len = 0;
    if (agir_read_file(path, 16u << 20, &buf, &len, &e)) fail_msg("%s", e.msg);
    cJSON *root = cJSON_ParseWithLength(buf, len);
    free(buf);
    assert_non_null(root);
    int n = cJSON_GetArraySize(root);
    assert_true(n > 100);
    theirs->words = calloc((size_t)n, sizeof(int));
    assert_non_null(theirs->words);
    for (cJSON *it = root->child; it; it = it->next)
        if (cJSON_IsString(it)) add_text(theirs, it->valuestring);
    cJSON_Delete(root);
}

static void style_matches_the_released_rationales(void **state) {
    (void)state;
    corpus_stats theirs = {0}, ours = {0};
    load_annotations(&theirs);
    const int n = 3000;
    ours.words = calloc((size_t)n, sizeof(int));
    assert_non_null(ours.words);
    agir_rng r;
    agir_rng_init(&r, 11, 0);
    agir_err e;
    agir_err_clear(&e);
    char text[AGIR_TEXT_MAX];
    static const double score_share[4] = {0.30, 0.40, 0.25, 0.05};  // mostly 0-2, as in the cohort
    for (int i = 0; i < n; i++) {
        double u = agir_rng_uniform(&r), acc = 0;
        int s = 0;
        while (s < 3 && u >= (acc += score_share[s])) s++;
        agir_features f = realistic(&r, s);
        agir_rng tr;
        agir_rng_child(&r, (uint64_t)i, &tr);
        assert_int_equal(agir_text_rationale(&f, s, &tr, text, sizeof text, &e), 0);
        if (i < 4) printf("  e.g. (score %d) %s\n", s, text);
        *strstr(text, "\nScore: ") = '\0';  // the prose alone, like the released rationales
        add_text(&ours, text);
    }
    printf("  words        released (n=%d)   ours (n=%d)\n", theirs.n, ours.n);
    printf("  min/mean/max %3d / %4.1f / %3d    %3d / %4.1f / %3d\n", theirs.wmin, theirs.wmean, theirs.wmax, ours.wmin,
           ours.wmean, ours.wmax);
    int inside = 0;
    for (int i = 0; i < ours.n; i++) inside += ours.words[i] >= theirs.wmin && ours.words[i] <= theirs.wmax;
    printf("  ours inside the released range: %.1f%%\n", 100.0 * inside / ours.n);
    printf("  feature share  released   ours   ratio\n");
    int off = 0;
    for (int k = 0; k < NKEYS; k++) {
        double a = (double)theirs.hits[k] / theirs.n, b = (double)ours.hits[k] / ours.n;
        double ratio = a > 0 ? b / a : INFINITY;
        int bad = !(ratio >= 1.0 / 3.0 && ratio <= 3.0);
        off += bad;
        printf("  %-13s %6.1f%%  %6.1f%%  %5.2f%s\n", KEYS[k], 100 * a, 100 * b, ratio, bad ? "  <- off" : "");
    }
    assert_true(ours.wmean >= 30 && ours.wmean <= 55);
    assert_true(inside >= ours.n * 95 / 100);
    assert_int_equal(off, 0);  // every feature discussed within a factor of three of the released share
    free(theirs.words);
    free(ours.words);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(style_matches_the_released_rationales)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
