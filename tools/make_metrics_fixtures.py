#!/usr/bin/env python3
"""Reference fixtures for AGIR's classification metrics (infer/metrics.c): tests/fixtures/metrics/cases.json.

Draws a dozen small cases of MDS-UPDRS-like scores (truth in 0..k-1, predictions in 0..k-1 or -1 for
"no parseable answer") from a fixed seed, including the awkward ones: -1 predictions, a class predicted
but absent from the truth, a class never predicted, a class absent from both, one class predicted for
every walk, every prediction -1, and a perfect case. For each it records what scikit-learn says:
accuracy_score over all predictions (a -1 is wrong), precision_recall_fscore_support and f1_score
(macro, weighted) with labels L = the classes present in the truth or in the valid predictions and
zero_division=0, confusion_matrix over the valid predictions, mean_absolute_error over the valid
predictions, the share within one point, and statsmodels' Wilson 95 % interval of the accuracy. Four
cases also carry Dirichlet probability rows (n, k) with their expected calibration error (10 equal-width
bins, written below in numpy from Guo et al. 2017) and expected scores sum_c c * p_c.

Never needed by CI; run it in a virtual environment outside the repo:

    python3 -m venv /tmp/skvenv && /tmp/skvenv/bin/pip install scikit-learn numpy statsmodels
    /tmp/skvenv/bin/python tools/make_metrics_fixtures.py tests/fixtures/metrics/cases.json
"""
import json
import os
import sys

import numpy as np
import sklearn
import statsmodels
from scipy.stats import norm
from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score, mean_absolute_error,
                             precision_recall_fscore_support)
from statsmodels.stats.proportion import proportion_confint

SEED = 20240611
ECE_BINS = 10


def ece(probs, truth, bins):
    """Guo et al. 2017: top-class probability as confidence, equal-width bins on [0, 1] closed on the
    left ([b/bins, (b+1)/bins)), a confidence of exactly 1 in the last bin."""
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == truth).astype(float)
    idx = np.minimum(np.floor(conf * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        sel = idx == b
        if sel.any():
            total += sel.sum() / len(conf) * abs(correct[sel].mean() - conf[sel].mean())
    return total


def noisy(rng, truth, k, p_exact, p_invalid):
    """Predictions: the truth with probability p_exact, else truth +- 1 or 2 (clipped), -1 with p_invalid."""
    pred = truth.copy()
    off = rng.random(len(truth)) >= p_exact
    pred[off] = np.clip(truth[off] + rng.choice([-2, -1, 1, 2], off.sum(), p=[0.15, 0.35, 0.35, 0.15]), 0, k - 1)
    pred[rng.random(len(truth)) < p_invalid] = -1
    return pred


def scores(rng, n, k, weights=None):
    """Truth drawn like gait scores: mostly the low classes unless weights say otherwise."""
    if weights is None:
        weights = np.array([0.35, 0.3, 0.2, 0.1, 0.05][:k]) if k == 5 else np.full(k, 1.0 / k)
    weights = np.asarray(weights, float)
    return rng.choice(k, n, p=weights / weights.sum())


def make_cases(rng):
    cases = []

    def add(name, truth, pred, k, probs=False):
        cases.append({"name": name, "k": k, "truth": truth, "pred": pred, "probs": probs})

    t = scores(rng, 200, 5)
    add("random_200", t, noisy(rng, t, 5, 0.6, 0.05), 5)
    t = scores(rng, 5, 5)
    add("tiny_5", t, noisy(rng, t, 5, 0.2, 0.0), 5, probs=True)
    t = scores(rng, 40, 3)
    add("three_classes", t, noisy(rng, t, 3, 0.55, 0.05), 3, probs=True)
    t = scores(rng, 80, 5)
    add("many_invalid", t, noisy(rng, t, 5, 0.6, 0.3), 5)
    # Class 4 never occurs in the truth but is predicted.
    t = scores(rng, 60, 5, [0.3, 0.3, 0.25, 0.15, 0.0])
    p = noisy(rng, t, 5, 0.6, 0.05)
    p[:3] = 4
    add("predicted_not_true", t, p, 5)
    # Class 3 occurs in the truth but is never predicted.
    t = scores(rng, 70, 5, [0.3, 0.3, 0.2, 0.15, 0.05])
    p = noisy(rng, t, 5, 0.6, 0.05)
    p[p == 3] = 2
    add("true_not_predicted", t, p, 5)
    # Classes 3 and 4 occur nowhere: not in L.
    t = scores(rng, 50, 5, [0.4, 0.35, 0.25, 0.0, 0.0])
    p = np.minimum(noisy(rng, t, 5, 0.6, 0.05), 2)
    add("absent_classes", t, p, 5, probs=True)
    # One class predicted for every walk.
    t = scores(rng, 60, 5)
    add("degenerate", t, np.full(60, 1), 5)
    t = scores(rng, 45, 5, [0.2, 0.2, 0.2, 0.2, 0.2])
    add("perfect", t, t.copy(), 5, probs=True)
    # No parseable answer at all: MAE undefined (null), accuracy 0.
    t = scores(rng, 6, 5)
    add("all_invalid", t, np.full(6, -1), 5)
    t = scores(rng, 120, 5, [0.25, 0.25, 0.2, 0.2, 0.1])
    add("random_120", t, noisy(rng, t, 5, 0.4, 0.1), 5)
    t = scores(rng, 17, 5)
    add("random_17", t, noisy(rng, t, 5, 0.7, 0.1), 5)
    return cases


def reference(case, rng):
    k, truth, pred = case["k"], case["truth"], case["pred"]
    n = len(truth)
    valid = pred >= 0
    labels = sorted(set(truth.tolist()) | set(pred[valid].tolist()))
    p, r, f, s = precision_recall_fscore_support(truth, pred, labels=labels, zero_division=0)
    acc = accuracy_score(truth, pred)
    correct = int((truth == pred).sum())
    lo, hi = proportion_confint(correct, n, alpha=0.05, method="wilson")
    if valid.any():
        cm = confusion_matrix(truth[valid], pred[valid], labels=list(range(k)))
        mae = float(mean_absolute_error(truth[valid], pred[valid]))
    else:
        cm, mae = np.zeros((k, k), int), None
    within = float((valid & (np.abs(pred - truth) <= 1)).sum() / n)
    out = {
        "name": case["name"], "k": k, "n": n,
        "truth": truth.tolist(), "pred": pred.tolist(),
        "labels": labels,
        "accuracy": float(acc),
        "macro_f1": float(f1_score(truth, pred, labels=labels, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(truth, pred, labels=labels, average="weighted", zero_division=0)),
        "precision": p.tolist(), "recall": r.tolist(), "f1": f.tolist(), "support": [int(x) for x in s],
        "confusion": cm.tolist(),
        "mae": mae, "within_one": within,
        "acc_lo": float(lo), "acc_hi": float(hi),
    }
    if case["probs"]:
        # Dirichlet rows leaning towards the truth, rounded to 6 decimals to keep the file small (rows
        # then sum to 1 within a few 1e-6; the references are computed from the rounded values).
        alpha = np.ones((n, k)) + 3.0 * np.eye(k)[truth]
        probs = np.round(np.array([rng.dirichlet(a) for a in alpha]), 6)
        out["probs"] = probs.tolist()
        out["ece_bins"] = ECE_BINS
        out["ece"] = float(ece(probs, truth, ECE_BINS))
        out["expected_score"] = (probs @ np.arange(k, dtype=float)).tolist()
    return out


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/metrics/cases.json"
    rng = np.random.default_rng(SEED)
    cases = [reference(c, rng) for c in make_cases(rng)]
    doc = {
        "generator": "tools/make_metrics_fixtures.py",
        "versions": {"scikit-learn": sklearn.__version__, "numpy": np.__version__,
                     "statsmodels": statsmodels.__version__},
        "wilson_z": float(norm.isf(0.025)),
        "cases": cases,
    }
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as fp:
        json.dump(doc, fp, separators=(",", ":"))
        fp.write("\n")
    print(f"{path}: {len(cases)} cases, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
