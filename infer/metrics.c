// Classification metrics with scikit-learn's semantics, calibration and expected scores (see metrics.h).
#include "infer/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int agir_cls_metrics_compute(const int *truth, const int *pred, int64_t n, int k, agir_cls_metrics *m, agir_err *e) {
    if (k < 2 || k > AGIR_METRICS_MAX_CLASSES)
        return AGIR_BAD(e, "metrics: %d classes (hint: 2 to %d)", k, AGIR_METRICS_MAX_CLASSES);
    if (n < 1) return AGIR_BAD(e, "metrics: %lld predictions (hint: score at least one)", (long long)n);
    // Check everything before touching m, so a refusal leaves it as it was.
    for (int64_t i = 0; i < n; i++) {
        if (truth[i] < 0 || truth[i] >= k)
            return AGIR_BAD(e, "metrics: truth[%lld] is %d, outside the classes 0..%d (hint: check the labels)",
                            (long long)i, truth[i], k - 1);
        if (pred[i] < -1 || pred[i] >= k)
            return AGIR_BAD(e, "metrics: pred[%lld] is %d, outside the classes 0..%d and -1 for no answer "
                            "(hint: check the answer parser)", (long long)i, pred[i], k - 1);
    }
    memset(m, 0, sizeof *m);
    m->k = k;
    m->n = n;
    int64_t correct = 0, valid = 0, abs_err = 0, near = 0;
    for (int64_t i = 0; i < n; i++) {
        int t = truth[i], p = pred[i];
        m->support[t]++;
        if (p < 0) {
            m->n_invalid++;
            continue;
        }
        m->predicted[p]++;
        m->confusion[t][p]++;
        valid++;
        int d = p > t ? p - t : t - p;
        abs_err += d;
        near += d <= 1;
        correct += p == t;
    }
    // sklearn: tp / pred_sum, tp / true_sum and 2 tp / (true_sum + pred_sum), each 0 where its
    // denominator is (zero_division=0); the averages run over L only, weighted by true_sum.
    int n_present = 0;
    double f1_sum = 0, f1_weighted = 0;
    for (int c = 0; c < k; c++) {
        if (!m->support[c] && !m->predicted[c]) continue;
        m->present[c] = 1;
        n_present++;
        double tp = (double)m->confusion[c][c];
        m->precision[c] = m->predicted[c] ? tp / (double)m->predicted[c] : 0.0;
        m->recall[c] = m->support[c] ? tp / (double)m->support[c] : 0.0;
        m->f1[c] = 2.0 * tp / ((double)m->support[c] + (double)m->predicted[c]);
        f1_sum += m->f1[c];
        f1_weighted += m->f1[c] * (double)m->support[c];
    }
    // Every truth lies in L, so the weights sum to n; L is never empty for n >= 1.
    m->macro_f1 = f1_sum / n_present;
    m->weighted_f1 = f1_weighted / (double)n;
    m->accuracy = (double)correct / (double)n;
    agir_wilson(correct, n, AGIR_Z95, &m->acc_lo, &m->acc_hi);
    m->mae = valid ? (double)abs_err / (double)valid : NAN;
    m->within_one = (double)near / (double)n;
    return 0;
}

void agir_wilson(int64_t successes, int64_t n, double z, double *lo, double *hi) {
    if (n <= 0) {
        *lo = 0.0;
        *hi = 1.0;
        return;
    }
    // Same arrangement as statsmodels' proportion_confint, so the bounds agree to the last bits.
    double nn = (double)n, q = (double)successes / nn, z2 = z * z;
    double denom = 1.0 + z2 / nn;
    double center = (q + z2 / (2.0 * nn)) / denom;
    double dist = z * sqrt(q * (1.0 - q) / nn + z2 / (4.0 * nn * nn)) / denom;
    double l = center - dist, h = center + dist;
    // Rounding can leave the bounds a hair outside [0, 1] at 0 or n successes.
    *lo = l < 0.0 ? 0.0 : l > 1.0 ? 1.0 : l;
    *hi = h < 0.0 ? 0.0 : h > 1.0 ? 1.0 : h;
}

int agir_ece(const double *probs, const int *truth, int64_t n, int k, int bins, double *ece, agir_err *e) {
    if (bins < 1) return AGIR_BAD(e, "calibration: %d bins (hint: at least 1, 10 is common)", bins);
    if (n < 1) return AGIR_BAD(e, "calibration: %lld predictions (hint: score at least one)", (long long)n);
    if (k < 1) return AGIR_BAD(e, "calibration: %d classes (hint: at least 1)", k);
    for (int64_t i = 0; i < n; i++) {
        if (truth[i] < 0 || truth[i] >= k)
            return AGIR_BAD(e, "calibration: truth[%lld] is %d, outside the classes 0..%d (hint: check the labels)",
                            (long long)i, truth[i], k - 1);
        for (int c = 0; c < k; c++) {
            double p = probs[i * k + c];
            if (!isfinite(p) || p < 0)
                return AGIR_BAD(e, "calibration: probs[%lld][%d] is %g, not a finite number >= 0 (hint: pass "
                                "probabilities, not logits)", (long long)i, c, p);
        }
    }
    // Per bin: members, correct top-class predictions, summed confidence. sums: (bins, 3).
    double *sums = calloc((size_t)bins * 3, sizeof *sums);
    if (!sums) return AGIR_BUG(e, "out of memory for %d calibration bins", bins);
    for (int64_t i = 0; i < n; i++) {
        const double *row = probs + i * k;
        int top = 0;  // numpy's argmax: the first of equal maxima
        for (int c = 1; c < k; c++)
            if (row[c] > row[top]) top = c;
        double conf = row[top];
        // Bins are closed on the left; 1.0 (and anything above it) belongs to the last one.
        double fb = floor(conf * bins);
        int b = fb >= bins ? bins - 1 : (int)fb;
        sums[b * 3] += 1;
        sums[b * 3 + 1] += top == truth[i];
        sums[b * 3 + 2] += conf;
    }
    double total = 0;
    for (int b = 0; b < bins; b++) {
        double count = sums[b * 3];
        if (count == 0) continue;
        total += count / (double)n * fabs(sums[b * 3 + 1] / count - sums[b * 3 + 2] / count);
    }
    free(sums);
    *ece = total;
    return 0;
}

void agir_expected_score(const double *probs, int64_t n, int k, double *out) {
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int c = 0; c < k; c++) s += c * probs[i * k + c];
        out[i] = s;
    }
}

int agir_cls_dominant(const agir_cls_metrics *m, double share) {
    int64_t valid = m->n - m->n_invalid;
    if (valid <= 0) return -1;
    int top = 0;
    for (int c = 1; c < m->k; c++)
        if (m->predicted[c] > m->predicted[top]) top = c;
    return (double)m->predicted[top] >= share * (double)valid ? top : -1;
}
