// Internal interface between the synthetic walker's dataset level (synth.c: subjects, scores,
// parameters, threads) and its motion level (synth_walk.c: one walk's steps, kinematics and
// realised ground truth). Not part of the public API; see datasets/synth.h.
#ifndef AGIR_SYNTH_WALK_H
#define AGIR_SYNTH_WALK_H

#include <stdint.h>

#include "core/error.h"
#include "core/rng.h"

// Fixed segment lengths of one subject, metres (Winter's proportions of body height, see synth.c).
typedef struct synth_body {
    double height;
    double thigh, shank;    // hip-knee, knee-ankle
    double ankle_h;         // ankle joint above the floor when the foot is flat
    double hip_half;        // pelvis centre to each hip joint centre
    double pelvis_spine, spine_thorax, thorax_neck, neck_head;
    double shoulder_half;   // thorax to each shoulder joint centre
    double upper_arm, forearm;
} synth_body;

enum { SYNTH_MAX_EPISODES = 4 };

// Target parameters of one walk, drawn from its score (synth.c). Lengths in metres, times in
// seconds, angles in degrees. Side 0 is left, 1 right; `affected` is the more impaired side.
typedef struct synth_gait {
    double step_length, step_time;  // mean over both sides
    double step_length_sd, step_time_cv;  // step-to-step variability (relative)
    double step_length_asym, step_time_asym;  // relative L/R differences; the affected side is worse
    double stance;          // stance fraction of the gait cycle (> 0.5: double support)
    double step_width, step_width_sd;
    double clearance;       // peak ankle rise during swing
    double arm_range[2];    // target forward wrist range relative to the pelvis, per side
    double elbow_flex;      // elbow flexion at the back of the swing
    double trunk_flex, head_flex;  // spine lean from vertical; extra forward lean of neck and head
    double knee_midstance;  // knee flexion that caps pelvis height at mid-stance
    double pelvis_yaw;      // amplitude of pelvic rotation about the vertical
    double thorax_counter;  // thorax counter-rotation as a fraction of the pelvic rotation
    double sway;            // lateral pelvis excursion towards the stance foot, m
    int affected;           // 0 left, 1 right
    int first_side;         // side of the first generated step
    double phase0;          // fraction of a step already walked at t = 0, in [0, 1)
    int n_fest;             // festination episodes: start times, step counts
    double fest_start[SYNTH_MAX_EPISODES];
    int fest_steps[SYNTH_MAX_EPISODES];
    int n_freeze;           // freezing episodes: start times, durations, trembling frequency
    double freeze_start[SYNTH_MAX_EPISODES], freeze_dur[SYNTH_MAX_EPISODES];
    double tremor_hz;
} synth_gait;

// Realised ground-truth columns, in the order of agir_synth_gt_names (synth_walk.c).
enum {
    SYNTH_GT_SPEED,
    SYNTH_GT_CADENCE,
    SYNTH_GT_STEP_LENGTH,
    SYNTH_GT_STEP_WIDTH,
    SYNTH_GT_STEP_TIME,
    SYNTH_GT_STEP_TIME_CV,
    SYNTH_GT_STEP_TIME_ASYM,
    SYNTH_GT_ARM_SWING_L,
    SYNTH_GT_ARM_SWING_R,
    SYNTH_GT_ARM_SWING_ASYM,
    SYNTH_GT_TRUNK_FLEXION,
    SYNTH_GT_FOOT_CLEARANCE,
    SYNTH_GT_N_STEPS,
    SYNTH_GT_STEP_LENGTH_ASYM,
    SYNTH_GT_FREEZING_EPISODES,
    SYNTH_GT_FREEZING_TIME,
    SYNTH_GT_FESTINATION,
    SYNTH_GT_SEVERITY,
    SYNTH_GT_HEIGHT,
    SYNTH_GT_LEG_LENGTH,
    SYNTH_N_GT,
};

// Renders one noiseless walk of T frames at fps into frames (T, 17, 3) on H36M-17, foot phases
// into phase (T, 2) (AGIR_SYNTH_*; may be NULL) and the realised parameters into gt (SYNTH_N_GT,),
// except severity and height, which the caller knows. rng draws the step-to-step variability.
// `id` names the walk in errors (an infeasible pose is a bug of the parameter ranges).
int synth_walk_render(const synth_body *b, const synth_gait *g, double fps, int64_t T, agir_rng *rng,
                      const char *id, float *frames, uint8_t *phase, float *gt, agir_err *e);

#endif
