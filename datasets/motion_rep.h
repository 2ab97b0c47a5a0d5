// Motion features for the VQ-VAE tokenizer: joints <-> heading-invariant feature rows.
//
// The representation of HumanML3D (Guo et al. 2022, "Generating diverse and natural 3D human
// motions from text", CVPR; section 3 and its motion_representation notebook), without joint
// rotations: every frame is expressed in the root's facing frame, so a walk looks the same
// whatever its start position and direction, and the global path is kept only as root
// velocities that the inverse integrates.
//
// Facing direction (as HumanML3D): across = (r_hip - l_hip) + (r_shoulder - l_shoulder),
// forward = up x across, projected on the floor, smoothed over time with a Gaussian of
// `facing_sigma` frames (edges: nearest), normalised. Heading theta_t = atan2(fwd_x, fwd_z);
// R_t rotates the world about y by -theta_t, which takes the forward direction to +z.
//
// Layout of one feature row t (0 <= t < T - 1) for J joints, D = 6 J + 3 (105 for H36M-17):
//   [0]                      root angular velocity about y, (theta_{t+1} - theta_t) * fps, rad/s
//   [1, 2]                   root linear velocity (x, z) in the facing frame R_t, m/s
//   [3]                      root height (y), m
//   [4, 4 + 3 (J-1))         joints 1..J-1: (x - root_x, y, z - root_z) rotated by R_t, m
//                            (height stays absolute, as in HumanML3D)
//   [3 J + 1, 6 J + 1)       joints 0..J-1: velocity (p_{t+1} - p_t) * fps rotated by R_t, m/s
//   [6 J + 1], [6 J + 2]     left, right foot contact: 1 when the foot joint moves slower than
//                            contact_speed and is lower than contact_height above the lowest
//                            foot position of the sequence, else 0
// Velocities are per second rather than per frame (HumanML3D's), so their meaning does not depend
// on the frame rate; the rate itself is the model's (agir_resample first).
//
// T frames give T - 1 rows (velocities need the next frame). The inverse integrates the angular
// and linear root velocities from heading 0 and root (0, 0) in the xz plane, places the joints
// from the root-relative positions, and returns one frame per row: frames 0..T-2 of the input,
// up to a rotation about y and a horizontal translation (the "re-anchored" start).
#ifndef AGIR_MOTION_REP_H
#define AGIR_MOTION_REP_H

#include <stdint.h>

#include "core/error.h"
#include "datasets/gait.h"
#include "datasets/skeleton.h"

// The joints the representation needs, found by name in the skeleton.
typedef struct agir_motion_layout {
    int n_joints, dim;  // J, D = 6 J + 3
    int root, l_hip, r_hip, l_shoulder, r_shoulder, l_foot, r_foot;
} agir_motion_layout;

// Offsets of the groups in a row (see the layout above).
enum { AGIR_MOTION_ROT_VEL = 0, AGIR_MOTION_ROOT_VEL = 1, AGIR_MOTION_ROOT_Y = 3, AGIR_MOTION_RIC = 4 };
static inline int agir_motion_vel_at(const agir_motion_layout *L) { return 3 * L->n_joints + 1; }
static inline int agir_motion_contact_at(const agir_motion_layout *L) { return 6 * L->n_joints + 1; }

typedef struct agir_motion_opts {
    double fps;             // frame rate of the joints handed to encode/decode (the model's)
    double facing_sigma;    // frames; 0 = no smoothing of the facing direction
    double contact_speed;   // m/s
    double contact_height;  // m above the sequence's lowest foot position
} agir_motion_opts;

// Defaults at `fps`: facing smoothed over 0.25 s, contact below 0.5 m/s and 0.05 m.
agir_motion_opts agir_motion_default_opts(double fps);

// Needs a root and joints named l_hip, r_hip, l_shoulder, r_shoulder, l_foot, r_foot.
int agir_motion_layout_init(agir_motion_layout *L, const agir_skeleton *sk, agir_err *e);

// joints: (T, J, 3) float32, metres, y up, T >= 2, finite -> feat: (T - 1, D) float32 (caller's).
int agir_motion_encode(const agir_motion_layout *L, const agir_motion_opts *o, const float *joints, int64_t T,
                       float *feat, agir_err *e);

// feat: (n, D) float32, finite -> joints: (n, J, 3) float32, starting at the origin facing +z.
// Contacts and joint velocities are not needed (they are there for the model).
int agir_motion_decode(const agir_motion_layout *L, const agir_motion_opts *o, const float *feat, int64_t n,
                       float *joints, agir_err *e);

// Sequence s of g resampled to o->fps and encoded: *feat (*n, D) malloc'ed, caller frees.
// A sequence too short to give a row is an input error naming it.
int agir_motion_from_seq(const agir_gait *g, int64_t s, const agir_motion_layout *L, const agir_motion_opts *o,
                         float **feat, int64_t *n, agir_err *e);

// Dataset statistics (datasets/motion_stats.c): per-dimension mean and standard deviation of the
// features of every sequence of g, over all rows, in sequence order (deterministic), std floored
// at std_floor > 0. mean, std: (D,) float32; *rows: rows counted. An empty dataset is an error.
int agir_motion_stats(const agir_gait *g, const agir_motion_layout *L, const agir_motion_opts *o, double std_floor,
                      float *mean, float *std, int64_t *rows, agir_err *e);

// HumanML3D's pooled normalisation (cal_mean_variance.ipynb of EricGuo5513/HumanML3D): every group
// of the row (root angular velocity, root linear velocity, root height, joint positions, joint
// velocities, foot contacts) gets one standard deviation, the mean of its members', and the root
// groups and the contacts are divided by feat_bias besides. Per-feature deviations would make the
// loss on normalised features weigh a millimetre at a stiff joint (a hip, the spine: small spread)
// like a centimetre at a wrist, so the decoder learns the distal joints, arm swing first, worst;
// pooled, a metre counts the same at every joint. std: (D,) in place, from agir_motion_stats;
// feat_bias > 0 (HumanML3D: 5).
void agir_motion_pool_std(const agir_motion_layout *L, double feat_bias, float *std);

// In place over feat (n, D): (x - mean) / std, and its inverse.
void agir_motion_normalize(float *feat, int64_t n, int D, const float *mean, const float *std);
void agir_motion_denormalize(float *feat, int64_t n, int D, const float *mean, const float *std);

#endif
