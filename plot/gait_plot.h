// Gait pictures drawn with plot/plot.h: a skeleton contact sheet of one walk (sagittal and frontal
// views of evenly spaced frames, plus foot-height and forward-position trajectories with heel
// strikes) and per-score distributions of gait features over a dataset. Both write one PNG.
#ifndef AGIR_GAIT_PLOT_H
#define AGIR_GAIT_PLOT_H

#include <stdint.h>

#include "core/error.h"
#include "datasets/gait.h"
#include "plot/plot.h"

#define AGIR_SHEET_MAX_FRAMES 24

// Where the contact sheet put things, for tests and for callers that annotate the picture.
// The axes' fig pointers are cleared on return (the figure is gone); their boxes and limits stay
// valid for agir_axes_px_x/y.
typedef struct agir_sheet_layout {
    // The walker's frame, in world coordinates (y up): unit forward (walking direction, from the
    // pelvis path, or the hip axis when the pelvis hardly moves) and unit right = forward x up.
    // Sagittal x = forward . (p - origin), frontal x = right . (p - origin), both views' y = p.y.
    double forward[3], right[3], origin[3];
    double ground;  // y of the ground line
    int n_cells;
    int64_t frame[AGIR_SHEET_MAX_FRAMES];  // frame shown in each column
    agir_axes sagittal[AGIR_SHEET_MAX_FRAMES], frontal[AGIR_SHEET_MAX_FRAMES];
    agir_axes foot_height, forward_pos, relative_pos;  // x: time (s)
    int n_heel_strikes;  // marked on the trajectories (0 when events were not detected)
} agir_sheet_layout;

// Contact sheet of sequence `id` of g (`name`: the data file, for messages) with n_frames
// (1..AGIR_SHEET_MAX_FRAMES, fewer if the walk is shorter) columns, written to png.
// An unknown id is an input error with a "did you mean" suggestion. layout may be NULL.
int agir_plot_gait_sheet(const agir_gait *g, const char *name, const char *id, int n_frames, const char *png,
                         agir_sheet_layout *layout, agir_err *e);

#define AGIR_FEATURE_PANELS 8
#define AGIR_SCORES 5  // MDS-UPDRS gait item 0..4

typedef struct agir_features_layout {
    agir_axes panel[AGIR_FEATURE_PANELS];  // x: score 0..4; fig pointers cleared on return
    const char *panel_name[AGIR_FEATURE_PANELS];  // "speed", "cadence", ..., "arm_swing" (mean L/R)
    int n_per_score[AGIR_SCORES];  // walks drawn per score
    int n_unscored;                // walks without a score (not drawn)
    int n_failed;                  // walks whose features could not be computed (too short)
} agir_features_layout;

// Per-score strip + box plots of speed, cadence, step length, step width, arm swing (mean of L/R),
// arm-swing asymmetry, step-time CV and trunk flexion over all walks of g. Input error when no walk
// has both a score and features. layout may be NULL.
int agir_plot_gait_features(const agir_gait *g, const char *name, const char *png, agir_features_layout *layout,
                            agir_err *e);

#endif
