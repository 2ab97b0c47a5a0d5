// Choosing the next token from logits: greedy, or sampling after temperature, top-k and top-p
// (nucleus, Holtzman et al. 2019, "The Curious Case of Neural Text Degeneration") with the
// semantics of HF transformers' logits warpers, applied in that order:
//  - temperature T > 0 divides the logits (T = 0 means greedy: the argmax, lowest id on ties);
//  - top-k keeps the k largest logits, and every token tied with the k-th (TopKLogitsWarper keeps
//    scores ≥ the k-th value);
//  - top-p keeps, over the probabilities of what is left, the smallest most-probable set whose
//    total is ≥ p (TopPLogitsWarper: a token stays when the mass ranked above it is < p), at least one.
// The draw renormalises over the kept set. Randomness comes from the caller's stream (one Philox
// stream per sequence), one uniform per token, so a sequence's draws do not depend on the batch.
#ifndef AGIR_INFER_SAMPLE_H
#define AGIR_INFER_SAMPLE_H

#include <stdint.h>

#include "core/error.h"
#include "core/rng.h"

typedef struct agir_sample_cfg {
    float temperature;  // 0: greedy
    int top_k;          // 0: off
    float top_p;        // 0 or 1: off; in [0, 1]
} agir_sample_cfg;

// One kept token and its probability after renormalisation.
typedef struct agir_cand {
    int32_t id;
    float p;
} agir_cand;

// Checks the ranges: temperature finite and ≥ 0, top_k ≥ 0, top_p in [0, 1].
int agir_sample_check(const agir_sample_cfg *c, agir_err *e);

// Index of the largest logit, lowest id among equals. logits: (V)
int32_t agir_argmax(const float *logits, int V);

// The kept set for sampling (c->temperature > 0): fills cand[0..n) in decreasing probability (ids
// increasing among equal logits), probabilities summing to 1, and returns n. cand: (V) scratch.
int agir_sample_keep(const float *logits, int V, const agir_sample_cfg *c, agir_cand *cand);

// The next token: argmax when c->temperature is 0, else one draw from r over the kept set.
int32_t agir_sample(const float *logits, int V, const agir_sample_cfg *c, agir_rng *r, agir_cand *cand);

#endif
