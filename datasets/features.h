// Clinical gait parameters measured from 3D joint positions.
//
// Events: heel strike (foot contact begins) and toe off per side, found from foot height and
// foot velocity. From them: speed, cadence, step length/width/time, variability and asymmetry, arm
// swing, trunk flexion, foot clearance and a freezing index. The same parameter names are used for
// the synthetic walker's ground truth, the CSV/JSONL outputs and the text generator.
#ifndef AGIR_FEATURES_H
#define AGIR_FEATURES_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "datasets/skeleton.h"

typedef struct agir_features {
    float speed;           // m/s, forward progression of the pelvis
    float cadence;         // steps/min
    float step_length;     // m, forward distance between the feet at heel strike
    float step_width;      // m, lateral distance between the feet at heel strike
    float step_time;       // s, mean time between consecutive heel strikes (either side)
    float step_time_cv;    // coefficient of variation of step time (stride-time variability)
    float step_time_asym;  // |L - R| / mean of side-wise step times
    float arm_swing_l;     // m, forward range of the left wrist relative to the pelvis
    float arm_swing_r;     // m
    float arm_swing_asym;  // |L - R| / max(L, R)
    float trunk_flexion;   // degrees, forward lean of pelvis->thorax from vertical
    float foot_clearance;  // m, mean peak foot height above its stance height during swing
    float freezing_index;  // power ratio freeze band (3-8 Hz) / locomotor band (0.5-3 Hz)
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

// frames: (T, J, 3) float32 on `skel`, metres, y up. ev may be NULL.
// Walks too short to contain two steps are an input error naming `id`.
int agir_features_compute(const float *frames, int64_t T, float fps, const agir_skeleton *skel, const char *id,
                          agir_features *out, agir_gait_events *ev, agir_err *e);

#endif
