// Faithfulness of text about a walk: the statements a text (a generated description or rationale,
// or any model's answer) makes about each gait feature, checked against the bands measured on the
// same walk (agir_text_findings).
//
// Reading: the text is split into clauses at . ; , : and line ends, and further at " and " and at
// clause words (with, while, but, although, though, despite, yet, whereas). Phrases of the text
// generator's own banks (agir_text_template) are recognised first, with their bank's direction; the
// rest is read with keywords per feature ("speed", "cadence", "step length", "arm swing", "trunk",
// ...) and direction words in the same clause ("reduced", "increased", "normal", "slow", "narrow",
// "irregular", "asymmetric", "stooped", ...). Negation ("no", "not", "without") turns a finding
// into its absence. A clause that only names features ("the walking speed, cadence and step
// length are normal") takes the direction of the clause it is listed with.
#ifndef AGIR_GAIT_FAITH_H
#define AGIR_GAIT_FAITH_H

#include <stddef.h>

#include "core/error.h"
#include "datasets/features.h"
#include "datasets/gait_text.h"

#define AGIR_FAITH_MAX_CLAIMS 64

typedef struct agir_claim {
    int feature;     // AGIR_TF_*
    int direction;   // -1 low / reduced, 0 normal, +1 high / increased
    int consistent;  // 1 agrees with the measured band's direction, 0 not, -1 band UNKNOWN: not scored
    size_t start, end;  // byte span of the statement in the text
} agir_claim;

typedef struct agir_faith {
    int n_claims, n_scored, n_consistent;
    int scored[AGIR_TF_COUNT], consistent[AGIR_TF_COUNT];  // per feature
    agir_claim claims[AGIR_FAITH_MAX_CLAIMS];              // in text order; claims past the cap are dropped
} agir_faith;

// Finds the claims of text about the features and checks them against the findings measured on the
// walk (agir_text_findings(f)). Direction agreement: low with LOW / MARKED_LOW, high with HIGH /
// MARKED_HIGH, normal with NORMAL; intensity (slight, marked) is not checked. A low claim about a
// feature that has no low band (variability: "little variability") counts as normal, and likewise
// for high. Empty text: no claims. Errors only on NULL arguments.
int agir_faith_check(const char *text, const agir_features *f, agir_faith *out, agir_err *e);

// Finds the claims against already computed findings (fx: (AGIR_TF_COUNT,)).
int agir_faith_check_findings(const char *text, const agir_finding *fx, agir_faith *out, agir_err *e);

#endif
