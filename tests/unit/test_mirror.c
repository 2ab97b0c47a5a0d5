// The mirror image of a motion (datasets/skeleton.h), used to augment VQ-VAE training data: the
// left/right map of H36M-17, an involution that keeps bone lengths, and gait features whose sides
// are exchanged (left arm swing of the mirror = right arm swing of the original).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/features.h"
#include "datasets/gait.h"
#include "datasets/skeleton.h"
#include "testutil.h"

static void h36m_map(void **state) {
    (void)state;
    int map[H36M_J];
    assert_int_equal(agir_skeleton_mirror_map(&agir_skel_h36m17, map), 0);
    assert_int_equal(map[H36M_RHIP], H36M_LHIP);
    assert_int_equal(map[H36M_LFOOT], H36M_RFOOT);
    assert_int_equal(map[H36M_LWRIST], H36M_RWRIST);
    assert_int_equal(map[H36M_RSHOULDER], H36M_LSHOULDER);
    assert_int_equal(map[H36M_PELVIS], H36M_PELVIS);
    assert_int_equal(map[H36M_HEAD], H36M_HEAD);
    for (int j = 0; j < H36M_J; j++) assert_int_equal(map[map[j]], j);

    static const char *const names[] = {"pelvis", "l_hip", "r_knee"};
    static const int parents[] = {-1, 0, 0};
    agir_skeleton odd = {"odd", 3, names, parents};
    assert_int_equal(agir_skeleton_mirror_map(&odd, map), 1);
}

static void mirrored_walk(void **state) {
    (void)state;
    static const char *const base[] = {"synth.subjects=2", "synth.walks_per_state=1", "synth.seconds=6", NULL};
    agir_gait g;
    uint8_t *phase;
    agir_test_synth(&g, &phase, base, NULL);
    int map[H36M_J];
    assert_int_equal(agir_skeleton_mirror_map(g.skel, map), 0);
    for (int64_t s = 0; s < g.n_seq; s++) {
        int64_t T = g.seq[s].length;
        const float *f = agir_gait_seq_frames(&g, s);
        size_t n = (size_t)T * H36M_J * 3;
        float *m = malloc(n * sizeof *m), *mm = malloc(n * sizeof *mm);
        assert_non_null(m);
        assert_non_null(mm);
        agir_skeleton_mirror(map, H36M_J, f, T, m);
        agir_skeleton_mirror(map, H36M_J, m, T, mm);
        assert_memory_equal(mm, f, n * sizeof *f);  // an involution, exactly (sign flips only)
        for (int64_t t = 0; t < T; t += 7)
            for (int j = 1; j < H36M_J; j++) {
                int p = agir_skel_h36m17.parents[j];
                const float *a = f + ((size_t)t * H36M_J + j) * 3, *b = f + ((size_t)t * H36M_J + p) * 3;
                const float *c = m + ((size_t)t * H36M_J + map[j]) * 3, *d = m + ((size_t)t * H36M_J + map[p]) * 3;
                double la = hypot(hypot(a[0] - b[0], a[1] - b[1]), a[2] - b[2]);
                double lc = hypot(hypot(c[0] - d[0], c[1] - d[1]), c[2] - d[2]);
                assert_true(fabs(la - lc) < 1e-6);
            }
        agir_features fo, fm;
        agir_err e = {0};
        assert_int_equal(agir_features_compute(f, T, g.seq[s].fps, g.skel, g.seq[s].id, &fo, NULL, &e), 0);
        assert_int_equal(agir_features_compute(m, T, g.seq[s].fps, g.skel, g.seq[s].id, &fm, NULL, &e), 0);
        // The walker's arms differ (asymmetry), so the exchange is visible.
        assert_true(fabsf(fo.arm_swing_l - fo.arm_swing_r) > 1e-3);
        assert_true(fabsf(fm.arm_swing_l - fo.arm_swing_r) < 1e-4 * fo.arm_swing_r + 1e-6);
        assert_true(fabsf(fm.arm_swing_r - fo.arm_swing_l) < 1e-4 * fo.arm_swing_l + 1e-6);
        assert_true(fabsf(fm.speed - fo.speed) < 1e-4 * fo.speed);
        free(m), free(mm);
    }
    agir_gait_free(&g);
    free(phase);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(h36m_map), cmocka_unit_test(mirrored_walk)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
