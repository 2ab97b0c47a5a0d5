// Synthetic Parkinsonian walker on the H36M-17 skeleton.
//
// Per subject: anthropometrics, a baseline severity, ON/OFF medication states that shift it.
// Per walk: an MDS-UPDRS gait score (0-3) and gait parameters drawn from it. The realised
// parameters of each walk are stored as ground truth (columns named like agir_features fields).
//
// Coordinates: metres, y up, the floor at y = 0; every walk goes straight along +z and +x is the
// walker's left. A walk starts in steady gait (a segment of a longer pass) with the pelvis at
// z = 0. Bones have constant lengths (forward kinematics from fixed segments, knees by exact
// two-link IK). The H36M "foot" joint is the ankle: it does not move at all while its foot is in
// stance (both are planted in double support) and moves on a smooth lifted path in swing.
//
// Sequences: id "SYN007_off_walk_3", subject "SYN007", medication OFF/ON, updrs_gait = the score,
// fps, source "synth". Order: subject, then OFF before ON, then walk.
//
// Ground truth (gait gt table, one row per walk, float32) measured on what was generated, before
// noise. Events inside the recording [0, (T-1)/fps] count; times are the exact event times, not
// frame indices:
//   speed             m/s, pelvis forward (z) displacement from the first to the last heel strike
//                     / the time between them (freezing time included)
//   step_length       m, mean forward distance between the striking foot and the other (planted)
//                     foot at each heel strike
//   step_width        m, mean lateral distance between the two feet at each heel strike
//   step_time         s, mean interval between consecutive heel strikes (either side), leaving out
//                     intervals that contain a freezing episode
//   cadence           steps/min, 60 / step_time
//   step_time_cv      sample standard deviation / mean of those intervals
//   step_time_asym    |L - R| / ((L + R) / 2) of side-wise mean intervals (a left step ends with
//                     a left heel strike)
//   arm_swing_l, arm_swing_r  m, max - min over all frames of wrist z minus pelvis z
//   arm_swing_asym    |L - R| / max(L, R)
//   trunk_flexion     deg, mean over frames of atan2(forward, up) of thorax - pelvis
//   foot_clearance    m, mean over swings wholly inside the recording of the highest sampled ankle
//                     height above its stance height
//   n_steps           heel strikes inside the recording
//   step_length_asym  |L - R| / ((L + R) / 2) of side-wise mean step lengths
//   freezing_episodes episodes starting inside the recording; freezing_time: their seconds
//   festination       festination episodes starting inside the recording
//   severity          latent gait severity of the subject in this medication state (score scale)
//   height, leg_length  m, body height and thigh + shank
// Unknown values (e.g. a timing statistic of a walk with too few steps) are NaN.
#ifndef AGIR_SYNTH_H
#define AGIR_SYNTH_H

#include <stdint.h>

#include "core/config.h"
#include "core/log.h"
#include "datasets/gait.h"

// [synth] keys; includes at least: subjects, walks_per_state, fps, seconds, output.
extern const agir_key agir_synth_keys[];

// Names of the ground-truth columns, in table order (see above).
extern const char *const agir_synth_gt_names[];
extern const int agir_synth_n_gt;

// Generates the dataset described by cfg (schema: agir_run_keys + agir_synth_keys) into *out
// (initialised here). Deterministic in [run] seed, independent of the thread count.
int agir_synth_generate(const agir_cfg *cfg, agir_gait *out, const agir_log *log, agir_err *e);

// Foot phase labels, for tests of the kinematics and of gait-event detection.
enum { AGIR_SYNTH_STANCE = 0, AGIR_SYNTH_SWING = 1, AGIR_SYNTH_FREEZE = 2 };

// As agir_synth_generate, also returning *phase: (out->n_frames, 2) uint8, per frame the phase of
// the left (0) and right (1) foot; caller frees. During FREEZE the feet only tremble vertically.
int agir_synth_generate_phases(const agir_cfg *cfg, agir_gait *out, uint8_t **phase, const agir_log *log,
                               agir_err *e);

#endif
