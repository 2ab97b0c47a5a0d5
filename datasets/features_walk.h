// A walk in its own frame: the joints gait features use, projected on the walking direction.
//
// Internal to the feature extractor (features*.c). The progression direction is estimated from the
// pelvis path, so walks in any horizontal direction give the same numbers.
#ifndef AGIR_FEATURES_WALK_H
#define AGIR_FEATURES_WALK_H

#include <stdint.h>

#include "core/error.h"
#include "datasets/features.h"

// Tracked joints (indices into agir_walk.pos) and walking-frame axes.
enum { W_PELVIS, W_LFOOT, W_RFOOT, W_THORAX, W_LWRIST, W_RWRIST, W_N };
enum { AX_FWD, AX_LAT, AX_UP };  // forward, lateral (to the walker's left), up

// Low-pass cutoff for kinematics (Hz); capped at 0.3 fps for low frame rates.
#define AGIR_FEAT_LOWPASS_HZ 6.0

typedef struct agir_walk {
    const char *id;
    int64_t T;
    double fps;
    double dir[2];  // unit progression direction in the world (x, z) plane
    double *raw;    // (W_N, 3, T) float64: walking-frame coordinates, metres
    double *pos;    // (W_N, 3, T) float64: the same, low-passed
} agir_walk;

static inline const double *agir_walk_sig(const double *a, const agir_walk *w, int joint, int axis) {
    return a + ((int64_t)joint * 3 + axis) * w->T;
}

// Validates frames (T, J, 3) on skel and fps (errors name `id`), estimates the progression
// direction from the pelvis path and fills raw and pos.
int agir_walk_build(agir_walk *w, const float *frames, int64_t T, float fps, const agir_skeleton *skel,
                    const char *id, agir_err *e);
void agir_walk_free(agir_walk *w);

// Gait events at sub-frame precision: times in frames (fractional), sorted, per side (0 = left).
// At 20 fps a step of 0.65 s is 13 frames, so whole frames alone would add a few percent of
// spurious step-time variability.
typedef struct agir_walk_events {
    int n_hs[2], n_to[2];
    double *hs[2];  // heel strikes
    double *to[2];  // toe offs
} agir_walk_events;

// Heel strikes and toe offs of both feet (ev zeroed first; free with agir_walk_events_free).
int agir_walk_events_find(const agir_walk *w, agir_walk_events *ev, agir_err *e);
void agir_walk_events_free(agir_walk_events *ev);

#endif
