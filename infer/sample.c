// Greedy choice and temperature / top-k / top-p sampling (see sample.h).
#include "infer/sample.h"

#include <math.h>
#include <stdlib.h>

int agir_sample_check(const agir_sample_cfg *c, agir_err *e) {
    if (!(c->temperature >= 0) || !isfinite(c->temperature))
        return AGIR_BAD(e, "--temperature: %g is not a finite number >= 0 (hint: 0 is greedy, 0.7 is common)",
                        c->temperature);
    if (c->top_k < 0) return AGIR_BAD(e, "--top-k: %d is negative (hint: 0 turns it off)", c->top_k);
    if (!(c->top_p >= 0 && c->top_p <= 1))
        return AGIR_BAD(e, "--top-p: %g is outside [0, 1] (hint: 0 or 1 turns it off, 0.9 is common)", c->top_p);
    return 0;
}

int32_t agir_argmax(const float *logits, int V) {
    int32_t best = 0;
    for (int32_t i = 1; i < V; i++)
        if (logits[i] > logits[best]) best = i;
    return best;
}

// Decreasing value, then increasing id: a total order, so the kept set never depends on qsort.
static int by_value_desc(const void *a, const void *b) {
    const agir_cand *x = a, *y = b;
    if (x->p != y->p) return x->p < y->p ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id);
}

int agir_sample_keep(const float *logits, int V, const agir_sample_cfg *c, agir_cand *cand) {
    for (int32_t i = 0; i < V; i++) cand[i] = (agir_cand){i, logits[i] / c->temperature};
    qsort(cand, (size_t)V, sizeof *cand, by_value_desc);
    int n = V;
    if (c->top_k > 0 && c->top_k < V) {
        n = c->top_k;
        while (n < V && cand[n].p == cand[c->top_k - 1].p) n++;
    }
    // Probabilities of the top-k survivors (softmax over them, in double).
    double mx = cand[0].p, sum = 0;
    for (int i = 0; i < n; i++) sum += exp((double)cand[i].p - mx);
    double kept = 0;
    int m = 0, nucleus = c->top_p > 0 && c->top_p < 1;
    while (m < n && (m == 0 || !nucleus || kept < c->top_p)) {
        double p = exp((double)cand[m].p - mx) / sum;
        cand[m].p = (float)p;
        kept += p;
        m++;
    }
    for (int i = 0; i < m; i++) cand[i].p = (float)(cand[i].p / kept);
    return m;
}

// One draw from cand[0..n) by weight p (summing to total).
static int32_t draw(agir_rng *r, const agir_cand *cand, int n, double total) {
    double u = agir_rng_uniform(r) * total, acc = 0;
    int last = 0;
    for (int i = 0; i < n; i++) {
        if (cand[i].p <= 0) continue;
        acc += cand[i].p;
        last = i;
        if (u < acc) return cand[i].id;
    }
    return cand[last].id;  // rounding left u just above the sum
}

int32_t agir_sample(const float *logits, int V, const agir_sample_cfg *c, agir_rng *r, agir_cand *cand) {
    if (c->temperature == 0) return agir_argmax(logits, V);
    if (c->top_k > 0 || (c->top_p > 0 && c->top_p < 1)) return draw(r, cand, agir_sample_keep(logits, V, c, cand), 1.0);
    // Plain temperature: no need to sort the vocabulary.
    double mx = logits[agir_argmax(logits, V)], total = 0;
    for (int32_t i = 0; i < V; i++) {
        cand[i] = (agir_cand){i, (float)exp(((double)logits[i] - mx) / c->temperature)};
        total += cand[i].p;
    }
    return draw(r, cand, V, total);
}
