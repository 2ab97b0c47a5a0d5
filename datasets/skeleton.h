// Skeleton definitions: joint names and parents. Coordinates are metres, y up.
//
// H36M-17 is the default (the order used by Human3.6M-based 3D pose lifters). Stores record the
// skeleton name, joint names and parents, and readers refuse skeletons that do not match a known
// definition, so every consumer can rely on the joint indices below.
#ifndef AGIR_SKELETON_H
#define AGIR_SKELETON_H

#include <stdint.h>

enum {
    H36M_PELVIS = 0,
    H36M_RHIP = 1,
    H36M_RKNEE = 2,
    H36M_RFOOT = 3,
    H36M_LHIP = 4,
    H36M_LKNEE = 5,
    H36M_LFOOT = 6,
    H36M_SPINE = 7,
    H36M_THORAX = 8,
    H36M_NECK = 9,
    H36M_HEAD = 10,
    H36M_LSHOULDER = 11,
    H36M_LELBOW = 12,
    H36M_LWRIST = 13,
    H36M_RSHOULDER = 14,
    H36M_RELBOW = 15,
    H36M_RWRIST = 16,
    H36M_J = 17,
};

typedef struct agir_skeleton {
    const char *name;
    int n_joints;
    const char *const *joint_names;
    const int *parents;  // -1 for the root; parents[j] < j
} agir_skeleton;

extern const agir_skeleton agir_skel_h36m17;

// Known skeleton by name ("h36m17"), or NULL.
const agir_skeleton *agir_skeleton_find(const char *name);

// The mirror image of a motion (reflection in the vertical y-z plane, x -> -x, with left and right
// joints exchanged): still a valid motion of the same skeleton, with the sides' roles swapped.
// map: (n_joints,) out: each joint's counterpart ("l_*" <-> "r_*" by name, other joints
// themselves); 1 when a side joint has no counterpart, else 0.
int agir_skeleton_mirror_map(const agir_skeleton *sk, int *map);
// in, out: (T, J, 3) float32, distinct buffers.
void agir_skeleton_mirror(const int *map, int J, const float *in, int64_t T, float *out);

#endif
