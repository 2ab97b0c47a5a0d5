// Classification metrics against scikit-learn (tests/fixtures/metrics/cases.json from
// tools/make_metrics_fixtures.py: sklearn's per-class figures, F1 averages, accuracy, confusion
// matrix and MAE, statsmodels' Wilson interval, a numpy ECE), refusals of out-of-range input, the
// degenerate-histogram check and the calibration edge cases.
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "infer/metrics.h"
#include "testutil.h"

#define TOL 1e-12

static void near(double got, double want, const char *what, const char *name, int c) {
    if (fabs(got - want) > TOL) {
        print_error("%s: %s[%d] = %.17g, sklearn %.17g\n", name, what, c, got, want);
        fail();
    }
}

// Reads an integer array item of j into a fresh (n,) buffer.
static int *ints(const cJSON *j, const char *key, int64_t *n) {
    const cJSON *a = cJSON_GetObjectItem(j, key);
    assert_true(cJSON_IsArray(a));
    *n = cJSON_GetArraySize(a);
    int *v = malloc((size_t)(*n ? *n : 1) * sizeof *v), i = 0;
    assert_non_null(v);
    const cJSON *x;
    cJSON_ArrayForEach(x, a) v[i++] = x->valueint;
    return v;
}

static double num(const cJSON *j, const char *key) {
    const cJSON *x = cJSON_GetObjectItem(j, key);
    assert_true(cJSON_IsNumber(x));
    return x->valuedouble;
}

static int one_line(const agir_err *e) { return e->msg[0] && !strchr(e->msg, '\n'); }

// Every case: counts exact, every figure within 1e-12 of sklearn's; classes outside L all zero.
static void matches_sklearn(void **state) {
    (void)state;
    cJSON *j = agir_test_load_json("tests/fixtures/metrics/cases.json");
    assert_true(num(j, "wilson_z") == AGIR_Z95);
    const cJSON *c;
    int ncase = 0, nprob = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "cases")) {
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        int k = (int)num(c, "k");
        int64_t n, np, nl;
        int *truth = ints(c, "truth", &n), *pred = ints(c, "pred", &np), *labels = ints(c, "labels", &nl);
        assert_int_equal(n, np);
        assert_int_equal(n, (int64_t)num(c, "n"));
        agir_cls_metrics m;
        agir_err e = {0};
        assert_int_equal(agir_cls_metrics_compute(truth, pred, n, k, &m, &e), AGIR_OK);
        assert_int_equal(m.k, k);
        assert_int_equal(m.n, n);
        int64_t invalid = 0;
        for (int64_t i = 0; i < n; i++) invalid += pred[i] == -1;
        assert_int_equal(m.n_invalid, invalid);

        // Confusion matrix over the valid predictions; its row sums plus the -1s are the support,
        // its column sums the prediction histogram.
        const cJSON *row;
        int t = 0;
        int64_t col[AGIR_METRICS_MAX_CLASSES] = {0};
        cJSON_ArrayForEach(row, cJSON_GetObjectItem(c, "confusion")) {
            int p = 0;
            const cJSON *x;
            cJSON_ArrayForEach(x, row) {
                if (m.confusion[t][p] != (int64_t)x->valueint)
                    print_error("%s: confusion[%d][%d] = %lld, sklearn %d\n", name, t, p, (long long)m.confusion[t][p],
                                x->valueint);
                assert_int_equal(m.confusion[t][p], x->valueint);
                col[p] += x->valueint;
                p++;
            }
            assert_int_equal(p, k);
            t++;
        }
        assert_int_equal(t, k);
        for (int p = 0; p < k; p++) assert_int_equal(m.predicted[p], col[p]);

        // Per class over L; everything else zero and not present.
        const cJSON *P = cJSON_GetObjectItem(c, "precision"), *R = cJSON_GetObjectItem(c, "recall"),
                    *F = cJSON_GetObjectItem(c, "f1"), *S = cJSON_GetObjectItem(c, "support");
        int in_l[AGIR_METRICS_MAX_CLASSES] = {0};
        for (int64_t l = 0; l < nl; l++) {
            int cl = labels[l];
            in_l[cl] = 1;
            assert_int_equal(m.present[cl], 1);
            assert_int_equal(m.support[cl], cJSON_GetArrayItem(S, (int)l)->valueint);
            near(m.precision[cl], cJSON_GetArrayItem(P, (int)l)->valuedouble, "precision", name, cl);
            near(m.recall[cl], cJSON_GetArrayItem(R, (int)l)->valuedouble, "recall", name, cl);
            near(m.f1[cl], cJSON_GetArrayItem(F, (int)l)->valuedouble, "f1", name, cl);
        }
        for (int cl = 0; cl < AGIR_METRICS_MAX_CLASSES; cl++) {
            if (in_l[cl]) continue;
            assert_int_equal(m.present[cl], 0);
            assert_int_equal(m.support[cl], 0);
            assert_int_equal(m.predicted[cl], 0);
            assert_true(m.precision[cl] == 0 && m.recall[cl] == 0 && m.f1[cl] == 0);
        }

        near(m.accuracy, num(c, "accuracy"), "accuracy", name, 0);
        near(m.macro_f1, num(c, "macro_f1"), "macro_f1", name, 0);
        near(m.weighted_f1, num(c, "weighted_f1"), "weighted_f1", name, 0);
        near(m.within_one, num(c, "within_one"), "within_one", name, 0);
        near(m.acc_lo, num(c, "acc_lo"), "acc_lo", name, 0);
        near(m.acc_hi, num(c, "acc_hi"), "acc_hi", name, 0);
        const cJSON *mae = cJSON_GetObjectItem(c, "mae");
        if (cJSON_IsNull(mae)) {
            assert_true(isnan(m.mae));
            assert_int_equal(m.n_invalid, n);
        } else {
            near(m.mae, mae->valuedouble, "mae", name, 0);
        }

        const cJSON *probs = cJSON_GetObjectItem(c, "probs");
        if (probs) {
            double *pr = malloc((size_t)(n * k) * sizeof *pr), *es = malloc((size_t)n * sizeof *es);
            assert_non_null(pr);
            assert_non_null(es);
            int i = 0;
            cJSON_ArrayForEach(row, probs) {
                assert_int_equal(cJSON_GetArraySize(row), k);
                for (int cl = 0; cl < k; cl++) pr[i * k + cl] = cJSON_GetArrayItem(row, cl)->valuedouble;
                i++;
            }
            assert_int_equal(i, n);
            double ece = -1;
            assert_int_equal(agir_ece(pr, truth, n, k, (int)num(c, "ece_bins"), &ece, &e), AGIR_OK);
            near(ece, num(c, "ece"), "ece", name, 0);
            agir_expected_score(pr, n, k, es);
            const cJSON *want = cJSON_GetObjectItem(c, "expected_score");
            for (i = 0; i < n; i++) near(es[i], cJSON_GetArrayItem(want, i)->valuedouble, "expected_score", name, i);
            free(pr);
            free(es);
            nprob++;
        }
        free(truth);
        free(pred);
        free(labels);
        ncase++;
    }
    assert_true(ncase >= 10);
    assert_int_equal(nprob, 4);
    cJSON_Delete(j);
}

// Out-of-range classes, k and n are one AGIR_EINPUT line naming what is wrong.
static void refuses_bad_input(void **state) {
    (void)state;
    int truth[4] = {0, 1, 2, 3}, pred[4] = {0, 1, 2, 3};
    agir_cls_metrics m;
    agir_err e = {0};
    assert_int_equal(agir_cls_metrics_compute(truth, pred, 4, 5, &m, &e), AGIR_OK);

    truth[2] = 5;
    assert_int_equal(agir_cls_metrics_compute(truth, pred, 4, 5, &m, &e), AGIR_EINPUT);
    assert_true(one_line(&e));
    assert_non_null(strstr(e.msg, "truth[2]"));
    truth[2] = -1;  // -1 means "no answer" for predictions only
    agir_err_clear(&e);
    assert_int_equal(agir_cls_metrics_compute(truth, pred, 4, 5, &m, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "truth[2]"));
    truth[2] = 2;

    pred[3] = 7;
    agir_err_clear(&e);
    assert_int_equal(agir_cls_metrics_compute(truth, pred, 4, 5, &m, &e), AGIR_EINPUT);
    assert_true(one_line(&e));
    assert_non_null(strstr(e.msg, "pred[3]"));
    pred[3] = -2;
    agir_err_clear(&e);
    assert_int_equal(agir_cls_metrics_compute(truth, pred, 4, 5, &m, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "pred[3]"));
    pred[3] = 3;

    agir_err_clear(&e);
    assert_int_equal(agir_cls_metrics_compute(truth, pred, 4, 1, &m, &e), AGIR_EINPUT);
    assert_true(one_line(&e));
    agir_err_clear(&e);
    assert_int_equal(agir_cls_metrics_compute(truth, pred, 4, AGIR_METRICS_MAX_CLASSES + 1, &m, &e), AGIR_EINPUT);
    assert_true(one_line(&e));
    agir_err_clear(&e);
    assert_int_equal(agir_cls_metrics_compute(truth, pred, 0, 5, &m, &e), AGIR_EINPUT);
    assert_true(one_line(&e));
    agir_err_clear(&e);
    assert_int_equal(agir_cls_metrics_compute(truth, pred, -3, 5, &m, &e), AGIR_EINPUT);
    assert_true(one_line(&e));
}

static const cJSON *find_case(const cJSON *j, const char *name) {
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "cases")) {
        if (!strcmp(cJSON_GetObjectItem(c, "name")->valuestring, name)) return c;
    }
    fail_msg("no case %s in the fixture", name);
    return NULL;
}

static void metrics_of(const cJSON *c, agir_cls_metrics *m) {
    int64_t n, np;
    int *truth = ints(c, "truth", &n), *pred = ints(c, "pred", &np);
    agir_err e = {0};
    assert_int_equal(agir_cls_metrics_compute(truth, pred, n, (int)num(c, "k"), m, &e), AGIR_OK);
    free(truth);
    free(pred);
}

// One class predicted for every walk is flagged; a spread histogram and no valid answer are not.
static void dominant_class(void **state) {
    (void)state;
    cJSON *j = agir_test_load_json("tests/fixtures/metrics/cases.json");
    agir_cls_metrics m;
    metrics_of(find_case(j, "degenerate"), &m);
    assert_int_equal(agir_cls_dominant(&m, 0.9), 1);
    assert_int_equal(agir_cls_dominant(&m, 1.0), 1);
    metrics_of(find_case(j, "random_200"), &m);
    assert_int_equal(agir_cls_dominant(&m, 0.9), -1);
    metrics_of(find_case(j, "all_invalid"), &m);
    assert_int_equal(agir_cls_dominant(&m, 0.9), -1);
    cJSON_Delete(j);

    // 9 of 10 valid answers are class 2 (the -1s do not count): exactly the share.
    int truth[12] = {0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1}, pred[12] = {2, 2, 2, 2, 2, 2, 2, 2, 2, 0, -1, -1};
    agir_err e = {0};
    assert_int_equal(agir_cls_metrics_compute(truth, pred, 12, 5, &m, &e), AGIR_OK);
    assert_int_equal(agir_cls_dominant(&m, 0.9), 2);
    assert_int_equal(agir_cls_dominant(&m, 0.91), -1);
}

// Hand-checked figures: a -1 is wrong for accuracy and within-one, left out of MAE and the confusion.
static void small_by_hand(void **state) {
    (void)state;
    int truth[4] = {0, 1, 2, 4}, pred[4] = {0, 2, -1, 1};
    agir_cls_metrics m;
    agir_err e = {0};
    assert_int_equal(agir_cls_metrics_compute(truth, pred, 4, 5, &m, &e), AGIR_OK);
    assert_int_equal(m.n_invalid, 1);
    assert_true(m.accuracy == 0.25);
    assert_true(fabs(m.mae - 4.0 / 3) < TOL);  // |0| + |1| + |3| over 3 valid
    assert_true(m.within_one == 0.5);          // walks 0 and 1
    assert_int_equal(m.present[3], 0);
    assert_int_equal(m.confusion[2][0] + m.confusion[2][1] + m.confusion[2][2], 0);
    assert_true(m.recall[2] == 0 && m.precision[2] == 0);  // class 2 predicted once, wrongly
}

// statsmodels' proportion_confint(count, nobs, method='wilson') gives the figures below.
static void wilson_edges(void **state) {
    (void)state;
    double lo, hi;
    agir_wilson(0, 0, AGIR_Z95, &lo, &hi);
    assert_true(lo == 0 && hi == 1);
    agir_wilson(0, 10, AGIR_Z95, &lo, &hi);
    assert_true(lo == 0 && fabs(hi - 0.27753279986288926) < TOL);
    agir_wilson(10, 10, AGIR_Z95, &lo, &hi);
    assert_true(hi <= 1 && fabs(hi - 1) < TOL && fabs(lo - 0.7224672001371106) < TOL);
    agir_wilson(50, 100, AGIR_Z95, &lo, &hi);
    assert_true(fabs(lo - 0.4038315303659956) < TOL && fabs(hi - 0.5961684696340044) < TOL);
    // The rounded quantile moves the bounds by about 1e-9 only.
    double lo2, hi2;
    agir_wilson(50, 100, 1.959964, &lo2, &hi2);
    assert_true(fabs(lo2 - lo) < 1e-8 && fabs(hi2 - hi) < 1e-8);
}

// Confidence exactly 1 falls in the last bin; one bin compares overall accuracy with mean confidence.
static void ece_edges(void **state) {
    (void)state;
    agir_err e = {0};
    double ece = -1;
    // One-hot rows: confidence 1.0, right twice, wrong once -> the last bin's |2/3 - 1| * 3/3.
    double onehot[3 * 3] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    int truth[3] = {0, 1, 0};
    assert_int_equal(agir_ece(onehot, truth, 3, 3, 10, &ece, &e), AGIR_OK);
    assert_true(fabs(ece - 1.0 / 3) < TOL);
    int all_right[3] = {0, 1, 2};
    assert_int_equal(agir_ece(onehot, all_right, 3, 3, 10, &ece, &e), AGIR_OK);
    assert_true(ece == 0);
    assert_int_equal(agir_ece(onehot, all_right, 3, 3, 1, &ece, &e), AGIR_OK);
    assert_true(ece == 0);

    // One bin: |accuracy - mean confidence| = |1/2 - (0.6 + 0.8) / 2|; ten bins split them apart:
    // 0.6 wrong in [0.6, 0.7), 0.8 right in [0.8, 0.9): (0.6 + 0.2) / 2.
    double p2[2 * 2] = {0.6, 0.4, 0.2, 0.8};
    int t2[2] = {1, 1};
    assert_int_equal(agir_ece(p2, t2, 2, 2, 1, &ece, &e), AGIR_OK);
    assert_true(fabs(ece - 0.2) < TOL);
    assert_int_equal(agir_ece(p2, t2, 2, 2, 10, &ece, &e), AGIR_OK);
    assert_true(fabs(ece - 0.4) < TOL);
    // Ties go to the lowest class, like numpy's argmax.
    double tie[2] = {0.5, 0.5};
    int t0 = 0, t1 = 1;
    assert_int_equal(agir_ece(tie, &t0, 1, 2, 10, &ece, &e), AGIR_OK);
    assert_true(fabs(ece - 0.5) < TOL);
    assert_int_equal(agir_ece(tie, &t1, 1, 2, 10, &ece, &e), AGIR_OK);
    assert_true(fabs(ece - 0.5) < TOL);

    // Refusals.
    assert_int_equal(agir_ece(p2, t2, 2, 2, 0, &ece, &e), AGIR_EINPUT);
    assert_true(one_line(&e));
    agir_err_clear(&e);
    assert_int_equal(agir_ece(p2, t2, 0, 2, 10, &ece, &e), AGIR_EINPUT);
    assert_true(one_line(&e));
    double bad[2 * 2] = {0.6, 0.4, -0.1, 1.1};
    agir_err_clear(&e);
    assert_int_equal(agir_ece(bad, t2, 2, 2, 10, &ece, &e), AGIR_EINPUT);
    assert_true(one_line(&e));
    assert_non_null(strstr(e.msg, "probs[1][0]"));
    bad[2] = NAN;
    agir_err_clear(&e);
    assert_int_equal(agir_ece(bad, t2, 2, 2, 10, &ece, &e), AGIR_EINPUT);
    bad[2] = INFINITY;
    agir_err_clear(&e);
    assert_int_equal(agir_ece(bad, t2, 2, 2, 10, &ece, &e), AGIR_EINPUT);
    int t_bad[2] = {1, 2};
    agir_err_clear(&e);
    assert_int_equal(agir_ece(p2, t_bad, 2, 2, 10, &ece, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "truth[1]"));
}

static void expected_score(void **state) {
    (void)state;
    double p[2 * 5] = {0.1, 0.2, 0.3, 0.2, 0.2, 0, 0, 0, 0, 1}, out[2];
    agir_expected_score(p, 2, 5, out);
    assert_true(fabs(out[0] - (0.2 + 0.6 + 0.6 + 0.8)) < TOL);
    assert_true(out[1] == 4);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_sklearn),
        cmocka_unit_test(refuses_bad_input),
        cmocka_unit_test(dominant_class),
        cmocka_unit_test(small_by_hand),
        cmocka_unit_test(wilson_edges),
        cmocka_unit_test(ece_edges),
        cmocka_unit_test(expected_score),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
