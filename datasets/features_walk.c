// Validation of a walk and its projection on the walking frame (forward, lateral, up).
#include "datasets/features_walk.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/features_dsp.h"

static const int tracked[W_N] = {H36M_PELVIS, H36M_LFOOT, H36M_RFOOT, H36M_THORAX, H36M_LWRIST, H36M_RWRIST};

// Below these a sequence cannot hold two steps: 1 s at >= 10 fps.
#define MIN_FPS 10.0
#define MAX_FPS 1000.0
#define MIN_SECONDS 1.0
#define MAX_FRAMES 10000000
// Coordinates are metres: anything farther is not a human walk, and bounding it keeps every
// derived quantity finite.
#define MAX_COORD 1e4
// The pelvis must travel this far (m) for a walking direction to exist.
#define MIN_TRAVEL 0.1

static int check_input(const float *frames, int64_t T, float fps, const agir_skeleton *skel, const char *id,
                       agir_err *e) {
    if (!skel || skel->n_joints != H36M_J || strcmp(skel->name, agir_skel_h36m17.name))
        return AGIR_BAD(e, "%s: gait features need the h36m17 skeleton, not '%s' (hint: convert the joints to H36M-17)",
                        id, skel ? skel->name : "(none)");
    if (!(fps >= MIN_FPS && fps <= MAX_FPS))
        return AGIR_BAD(e, "%s: fps %g is outside [%g, %g] (hint: resample the sequence)", id, (double)fps, MIN_FPS,
                        MAX_FPS);
    if (T < (int64_t)ceil(MIN_SECONDS * fps) || T < 16)
        return AGIR_BAD(e, "%s: walk too short: %lld frames (%.2f s) (hint: gait features need at least %g s and two steps)",
                        id, (long long)T, (double)T / fps, MIN_SECONDS);
    if (T > MAX_FRAMES)
        return AGIR_BAD(e, "%s: %lld frames is more than the %d a walk may have (hint: split the sequence)", id,
                        (long long)T, MAX_FRAMES);
    for (int64_t t = 0; t < T; t++)
        for (int k = 0; k < W_N; k++)
            for (int c = 0; c < 3; c++) {
                float v = frames[((size_t)t * H36M_J + (size_t)tracked[k]) * 3 + (size_t)c];
                if (!isfinite(v))
                    return AGIR_BAD(e, "%s: frame %lld: joint '%s' is not finite (hint: fill or drop missing frames)", id,
                                    (long long)t, skel->joint_names[tracked[k]]);
                if (fabsf(v) > MAX_COORD)
                    return AGIR_BAD(e, "%s: frame %lld: joint '%s' is %g m from the origin (hint: coordinates must be metres)",
                                    id, (long long)t, skel->joint_names[tracked[k]], (double)v);
            }
    return AGIR_OK;
}

// Principal axis of the pelvis path on the ground plane, pointing from its start to its end:
// unlike the start-to-end chord it is not tilted by lateral sway at the two ends.
static int progression(const float *frames, int64_t T, const char *id, double dir[2], agir_err *e) {
    double mx = 0, mz = 0;
    for (int64_t t = 0; t < T; t++) {
        mx += frames[(size_t)t * H36M_J * 3 + 0];
        mz += frames[(size_t)t * H36M_J * 3 + 2];
    }
    mx /= (double)T, mz /= (double)T;
    double sxx = 0, sxz = 0, szz = 0;
    for (int64_t t = 0; t < T; t++) {
        double x = frames[(size_t)t * H36M_J * 3 + 0] - mx, z = frames[(size_t)t * H36M_J * 3 + 2] - mz;
        sxx += x * x, sxz += x * z, szz += z * z;
    }
    double ang = 0.5 * atan2(2.0 * sxz, sxx - szz);
    dir[0] = cos(ang), dir[1] = sin(ang);
    const float *a = frames, *b = frames + (size_t)(T - 1) * H36M_J * 3;
    double net = (b[0] - a[0]) * dir[0] + (b[2] - a[2]) * dir[1];
    if (fabs(net) < MIN_TRAVEL)
        return AGIR_BAD(e,
                        "%s: the pelvis travels only %.3f m, so there is no walking direction "
                        "(hint: features need a walk, not standing)",
                        id, fabs(net));
    if (net < 0) dir[0] = -dir[0], dir[1] = -dir[1];
    return AGIR_OK;
}

int agir_walk_build(agir_walk *w, const float *frames, int64_t T, float fps, const agir_skeleton *skel,
                    const char *id, agir_err *e) {
    memset(w, 0, sizeof *w);
    AGIR_TRY(check_input(frames, T, fps, skel, id, e));
    w->id = id, w->T = T, w->fps = fps;
    AGIR_TRY(progression(frames, T, id, w->dir, e));
    size_t n = (size_t)W_N * 3 * (size_t)T;
    w->raw = malloc(n * sizeof *w->raw);
    w->pos = malloc(n * sizeof *w->pos);
    if (!w->raw || !w->pos) {
        agir_walk_free(w);
        return AGIR_BUG(e, "%s: out of memory for %lld frames", id, (long long)T);
    }
    // lateral = up x forward, i.e. towards the walker's left in a right-handed y-up world.
    double fx = w->dir[0], fz = w->dir[1];
    for (int k = 0; k < W_N; k++) {
        double *f = w->raw + ((size_t)k * 3 + AX_FWD) * (size_t)T, *l = f + T, *u = l + T;
        for (int64_t t = 0; t < T; t++) {
            const float *p = frames + ((size_t)t * H36M_J + (size_t)tracked[k]) * 3;
            f[t] = p[0] * fx + p[2] * fz;
            l[t] = p[0] * fz - p[2] * fx;
            u[t] = p[1];
        }
    }
    memcpy(w->pos, w->raw, n * sizeof *w->pos);
    double fc = fmin(AGIR_FEAT_LOWPASS_HZ, 0.3 * fps);
    for (int s = 0; s < W_N * 3; s++) {
        int rc = agir_lowpass(w->pos + (size_t)s * (size_t)T, T, fps, fc, e);
        if (rc) {
            agir_walk_free(w);
            return rc;
        }
    }
    return AGIR_OK;
}

void agir_walk_free(agir_walk *w) {
    free(w->raw);
    free(w->pos);
    w->raw = w->pos = NULL;
}
