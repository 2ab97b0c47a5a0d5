// Clinical gait parameters measured from 3D joint positions.
//
// Events: heel strike (foot contact begins) and toe off per side, found from the ankle's path
// relative to the pelvis, its height and its horizontal velocity, in the walking frame (forward,
// lateral, up) estimated from the pelvis path, so any walking direction gives the same numbers.
// A foot's position at heel strike is its median over the stance that follows (features.c).
// From them: speed, cadence, step length/width/time, variability and asymmetry, arm swing, trunk
// flexion, foot clearance and a freezing index. The same parameter names are used for
// the synthetic walker's ground truth, the CSV/JSONL outputs and the text generator.
#ifndef AGIR_FEATURES_H
#define AGIR_FEATURES_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/log.h"
#include "datasets/gait.h"
#include "datasets/skeleton.h"

typedef struct agir_features {
    float speed;           // m/s, forward progression of the pelvis from the first to the last heel strike
    float cadence;         // steps/min
    float step_length;     // m, forward distance between the feet at heel strike
    float step_width;      // m, lateral distance between the feet at heel strike
    float step_time;       // s, mean time between consecutive heel strikes (either side)
    float step_time_cv;    // coefficient of variation of step time (stride-time variability)
    float step_time_asym;  // |L - R| / mean of side-wise step times
    float arm_swing_l;     // m, forward range of the left wrist relative to the pelvis, per stride, averaged
    float arm_swing_r;     // m
    float arm_swing_asym;  // |L - R| / max(L, R)
    float trunk_flexion;   // degrees, forward lean of pelvis->thorax from vertical, mean over the steps
    float foot_clearance;  // m, mean peak foot height above its stance height during swing
    float freezing_index;  // power ratio freeze band (3-8 Hz) / locomotor band (0.5-3 Hz) of vertical
                           // ankle acceleration, the highest over 4 s windows (features.c)
    int n_steps;           // heel strikes used
} agir_features;

// Name, unit and offset of each float field, for generic output and comparisons.
typedef struct agir_feature_info {
    const char *name;
    const char *unit;
    size_t offset;
} agir_feature_info;

extern const agir_feature_info agir_feature_table[];
extern const int agir_n_features;

static inline float agir_feature_get(const agir_features *f, int i) {
    return *(const float *)((const char *)f + agir_feature_table[i].offset);
}

// Gait events of one walk: frame indices, per side (0 = left, 1 = right).
typedef struct agir_gait_events {
    int n_hs[2], n_to[2];
    int *hs[2];  // heel strikes
    int *to[2];  // toe offs
} agir_gait_events;

void agir_gait_events_free(agir_gait_events *ev);

// frames: (T, J, 3) float32 on `skel` (H36M-17), metres, y up; fps in [10, 1000]. ev may be NULL;
// its event frames are the nearest frames of sub-frame event times. Walks too short to contain two
// steps (a left and a right one) are an input error naming `id`.
int agir_features_compute(const float *frames, int64_t T, float fps, const agir_skeleton *skel, const char *id,
                          agir_features *out, agir_gait_events *ev, agir_err *e);

// Features of every sequence of g, in parallel over sequences (OpenMP) with results in sequence
// order, and a progress bar on `log`. out: (n_seq,); ok: (n_seq,), 1 where the walk gave features.
// A walk without features is an input error naming it (the first in sequence order), unless
// skip_invalid: then it is logged as a warning and its ok is 0. Internal errors always stop.
int agir_features_dataset(const agir_gait *g, int skip_invalid, const agir_log *log, agir_features *out, uint8_t *ok,
                          agir_err *e);

// Tables of the sequences with ok[s], one row each: id, subject, medication (off|on|unknown),
// updrs_gait (-1 unknown), fps, every feature of agir_feature_table in order, n_steps.
// CSV: RFC 4180 with a header line. JSONL: one object per line. Both written atomically.
int agir_features_write_csv(const char *path, const agir_gait *g, const agir_features *f, const uint8_t *ok,
                            agir_err *e);
int agir_features_write_jsonl(const char *path, const agir_gait *g, const agir_features *f, const uint8_t *ok,
                              agir_err *e);

#endif
