// Text about a walk, written from its measured gait features.
//
// Two kinds of text, in the style of the rationales released with the AGIR paper:
//   description (stage 1):  "Foot: ... Arm: ..."                      findings only
//   rationale   (stage 2):  "Foot: ... Arm: ... Overall: ...\nScore: N"
// Each feature is first put in a band against normative ranges of healthy older adults
// (gait_norms.c, with sources); the text then only states what the bands say, with phrasing drawn
// from a seeded generator. docs/text_generation.md explains bands, phrase banks and the vocabulary.
#ifndef AGIR_GAIT_TEXT_H
#define AGIR_GAIT_TEXT_H

#include <stddef.h>

#include "core/error.h"
#include "core/rng.h"
#include "datasets/features.h"

// What the text talks about: the measured features, some merged (both arms' swing) or renamed
// (step-time CV is "variability").
enum {
    AGIR_TF_SPEED,
    AGIR_TF_CADENCE,
    AGIR_TF_STEP_LENGTH,
    AGIR_TF_STEP_WIDTH,
    AGIR_TF_VARIABILITY,  // step_time_cv
    AGIR_TF_STEP_ASYM,    // step_time_asym
    AGIR_TF_CLEARANCE,    // foot_clearance
    AGIR_TF_FREEZING,     // freezing_index
    AGIR_TF_ARM_SWING,    // mean of arm_swing_l and arm_swing_r
    AGIR_TF_ARM_ASYM,     // arm_swing_asym
    AGIR_TF_TRUNK,        // trunk_flexion
    AGIR_TF_COUNT
};

// Bands: signed distance from the normal range. Features that can only be abnormal in one
// direction (variability is never "too low") use only one side.
enum {
    AGIR_BAND_MARKED_LOW = -2,
    AGIR_BAND_LOW = -1,
    AGIR_BAND_NORMAL = 0,
    AGIR_BAND_HIGH = 1,
    AGIR_BAND_MARKED_HIGH = 2,
    AGIR_BAND_UNKNOWN = 9,  // not measured, not finite, or physically impossible
};

enum { AGIR_SIDE_NONE = 0, AGIR_SIDE_LEFT = 1, AGIR_SIDE_RIGHT = 2 };

// Normative range of one feature: value < lo2 is MARKED_LOW, < lo1 LOW, > hi1 HIGH, > hi2
// MARKED_HIGH; -INFINITY / INFINITY where that band does not exist. Values outside [vmin, vmax]
// cannot come from a real walk and are UNKNOWN.
typedef struct agir_norm {
    const char *name;  // "speed", "arm_swing", ...
    const char *unit;
    float lo2, lo1, hi1, hi2;
    float vmin, vmax;
} agir_norm;

extern const agir_norm agir_norms[AGIR_TF_COUNT];

// Band of `value` for feature tf (AGIR_TF_*).
int agir_norm_band(int tf, float value);

// What the text may claim about one feature.
typedef struct agir_finding {
    int band;  // AGIR_BAND_*
    int side;  // arm features: the side that swings less when the swing is asymmetric, else NONE
} agir_finding;

// Steps below which variability and step-time asymmetry are too noisy to judge (UNKNOWN).
#define AGIR_TEXT_MIN_STEPS 6

// One finding per feature: out: (AGIR_TF_COUNT,), indexed by AGIR_TF_*.
void agir_text_findings(const agir_features *f, agir_finding out[AGIR_TF_COUNT]);

// The phrase-bank templates with which the generator states direction dir of feature tf (AGIR_TF_*;
// dir -1 low / reduced, 0 normal, +1 high / increased, marked bands included): the i-th, or NULL
// past the last (and for any tf or dir out of range). Read-only, for readers of generated text
// (gait_faith.c). A template is a tag character ('L' / 'H' / 'N': a generic low / high / normal word;
// '-': none; '!': negated, "no signs of freezing") then text in which %a stands for an intensity
// adverb, %j an intensity adjective (either may be empty), %s the arm that swings less, %o the
// other. Texts also hold sentences not in these banks (arm swing, trunk, shared statements).
const char *agir_text_template(int tf, int dir, int i);

// Texts are at most this long (bytes, NUL included); smaller output buffers are a caller bug.
#define AGIR_TEXT_MAX 1024

// Analytic description "Foot: ... Arm: ...": the findings, most salient first, no verdict.
int agir_text_describe(const agir_features *f, agir_rng *rng, char *out, size_t outsz, agir_err *e);

// Rationale "Foot: ... Arm: ... Overall: ..." followed by "\nScore: N" (score 0..4, the
// MDS-UPDRS 3.10 gait item). The Overall sentence follows the score and the findings.
int agir_text_rationale(const agir_features *f, int score, agir_rng *rng, char *out, size_t outsz, agir_err *e);

// The score line format: "Score: N" alone on the last non-empty line, N in 0..4.
// Writes it (with a leading newline) after `text`, e.g. for imported rationales without one.
int agir_text_append_score(char *text, size_t textsz, int score, agir_err *e);

// Reads the score of a rationale (or of a model's answer): the last line starting with "Score:",
// then optional blanks and one digit 0..4 ending the line (trailing blanks and a final '.' allowed).
// Returns 0 and sets *score, or -1 when there is no such line (score untouched).
int agir_text_parse_score(const char *text, int *score);

#endif
