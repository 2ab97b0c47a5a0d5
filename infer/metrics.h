// Classification metrics for scored predictions (MDS-UPDRS gait scores 0..4 read from generated
// text): confusion matrix, per-class precision / recall / F1, macro and weighted F1, accuracy with
// its Wilson interval, MAE and within-one agreement for ordinal scores, expected calibration error
// and expected scores from class probabilities, and a check for a degenerate prediction histogram.
//
// Per-class figures follow scikit-learn's precision_recall_fscore_support(y_true, y_pred, labels=L,
// zero_division=0), with a prediction of -1 (no parseable answer) passed as the label -1 and L the
// classes present in the truth or in the valid predictions (sklearn's default label set once -1 is
// left out), so numbers match what a Python evaluation of the same predictions reports
// (tests/fixtures/metrics from tools/make_metrics_fixtures.py).
#ifndef AGIR_INFER_METRICS_H
#define AGIR_INFER_METRICS_H

#include <stdint.h>

#include "core/error.h"

enum { AGIR_METRICS_MAX_CLASSES = 16 };

// The two-sided 95 % normal quantile, as scipy's norm.isf(0.025) (statsmodels' Wilson interval uses
// it): the rounded 1.959964 moves the bounds by ~1e-9.
#define AGIR_Z95 1.9599639845400545

typedef struct agir_cls_metrics {
    int k;              // classes 0..k-1
    int64_t n;          // predictions scored (all of them)
    int64_t n_invalid;  // predictions that are -1 (no parseable answer): counted wrong
    // [truth][prediction], valid predictions only
    int64_t confusion[AGIR_METRICS_MAX_CLASSES][AGIR_METRICS_MAX_CLASSES];
    int64_t support[AGIR_METRICS_MAX_CLASSES];    // truth counts
    int64_t predicted[AGIR_METRICS_MAX_CLASSES];  // prediction counts (histogram of predicted scores)
    double precision[AGIR_METRICS_MAX_CLASSES], recall[AGIR_METRICS_MAX_CLASSES], f1[AGIR_METRICS_MAX_CLASSES];
    // 1 when the class occurs in the truth or in the valid predictions (sklearn's default label set)
    int present[AGIR_METRICS_MAX_CLASSES];
    double accuracy, macro_f1, weighted_f1;
    double acc_lo, acc_hi;  // Wilson 95 % interval of the accuracy
    double mae;             // mean |pred - truth| over valid predictions (NAN when none)
    double within_one;      // share of ALL predictions with a valid prediction and |pred - truth| <= 1
} agir_cls_metrics;

// truth: (n,) in [0, k); pred: (n,) in [0, k) or -1 (no answer). k in [2, AGIR_METRICS_MAX_CLASSES].
// Refuses other values (AGIR_EINPUT naming the index) and n < 1. Classes outside L get 0 everywhere
// and present = 0.
int agir_cls_metrics_compute(const int *truth, const int *pred, int64_t n, int k, agir_cls_metrics *m, agir_err *e);

// Wilson score interval for successes out of n at normal quantile z (AGIR_Z95 for 95 %), clipped to
// [0, 1] as statsmodels' proportion_confint(method='wilson'); n = 0 gives [0, 1].
void agir_wilson(int64_t successes, int64_t n, double z, double *lo, double *hi);

// Expected calibration error (Guo et al. 2017, "On Calibration of Modern Neural Networks"): probs
// (n, k) rows summing to ~1, truth (n,) in [0, k); the top class's probability as confidence (the
// lowest class among equals as the prediction), `bins` equal-width bins [b/bins, (b+1)/bins) on
// [0, 1] (a confidence of exactly 1 goes to the last bin), ECE = sum over bins of
// |bin|/n * |accuracy(bin) - mean confidence(bin)|. Refuses bins < 1, n < 1, k < 1, a truth outside
// [0, k), non-finite or negative probabilities.
int agir_ece(const double *probs, const int *truth, int64_t n, int k, int bins, double *ece, agir_err *e);

// Expected score sum_c c * p_c of each row: probs (n, k), out (n,).
void agir_expected_score(const double *probs, int64_t n, int k, double *out);

// The prediction histogram is degenerate: one class got at least `share` (e.g. 0.9) of the valid
// predictions. Returns that class (the most predicted one, lowest among equals) or -1, also when
// no prediction is valid.
int agir_cls_dominant(const agir_cls_metrics *m, double share);

#endif
