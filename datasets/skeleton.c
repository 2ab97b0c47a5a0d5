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

int agir_skeleton_mirror_map(const agir_skeleton *sk, int *map) {
    for (int j = 0; j < sk->n_joints; j++) {
        const char *n = sk->joint_names[j];
        map[j] = j;
        if ((n[0] != 'l' && n[0] != 'r') || n[1] != '_') continue;
        map[j] = -1;
        for (int k = 0; k < sk->n_joints; k++) {
            const char *m = sk->joint_names[k];
            if (m[0] == (n[0] == 'l' ? 'r' : 'l') && !strcmp(m + 1, n + 1)) map[j] = k;
        }
        if (map[j] < 0) return 1;
    }
    return 0;
}

void agir_skeleton_mirror(const int *map, int J, const float *in, int64_t T, float *out) {
    for (int64_t t = 0; t < T; t++)
        for (int j = 0; j < J; j++) {
            const float *a = in + ((size_t)t * J + (size_t)map[j]) * 3;
            float *b = out + ((size_t)t * J + (size_t)j) * 3;
            b[0] = -a[0], b[1] = a[1], b[2] = a[2];
        }
}
