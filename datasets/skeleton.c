// The skeletons AGIR knows.
#include "datasets/skeleton.h"

#include <string.h>

static const char *const h36m_names[H36M_J] = {
    "pelvis", "r_hip", "r_knee", "r_foot", "l_hip", "l_knee", "l_foot", "spine", "thorax",
    "neck", "head", "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist",
};
static const int h36m_parents[H36M_J] = {-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15};

const agir_skeleton agir_skel_h36m17 = {"h36m17", H36M_J, h36m_names, h36m_parents};

const agir_skeleton *agir_skeleton_find(const char *name) {
    if (!strcmp(name, agir_skel_h36m17.name)) return &agir_skel_h36m17;
    return NULL;
}
