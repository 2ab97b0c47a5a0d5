// Motion features (HumanML3D-like, without rotations): encoding joints, decoding them back, and
// preparing a stored sequence for the tokenizer. Layout and conventions: motion_rep.h.
#include "datasets/motion_rep.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/resample.h"

// A facing direction shorter than this (hips and shoulders on top of each other) carries no
// heading; the previous frame's is kept.
static const double FACING_MIN = 1e-9;

agir_motion_opts agir_motion_default_opts(double fps) {
    agir_motion_opts o = {.fps = fps, .facing_sigma = 0.25 * fps, .contact_speed = 0.5, .contact_height = 0.05};
    return o;
}

static int find_joint(const agir_skeleton *sk, const char *name, int *out, agir_err *e) {
    for (int j = 0; j < sk->n_joints; j++)
        if (!strcmp(sk->joint_names[j], name)) {
            *out = j;
            return AGIR_OK;
        }
    return AGIR_BAD(e, "skeleton '%s': no joint named '%s' (hint: motion features need hips, shoulders and feet)",
                    sk->name, name);
}

int agir_motion_layout_init(agir_motion_layout *L, const agir_skeleton *sk, agir_err *e) {
    memset(L, 0, sizeof *L);
    L->n_joints = sk->n_joints;
    L->dim = 6 * sk->n_joints + 3;
    L->root = -1;
    for (int j = 0; j < sk->n_joints; j++)
        if (sk->parents[j] < 0) L->root = j;
    if (L->root < 0) return AGIR_BAD(e, "skeleton '%s': no root joint (hint: one joint needs parent -1)", sk->name);
    AGIR_TRY(find_joint(sk, "l_hip", &L->l_hip, e));
    AGIR_TRY(find_joint(sk, "r_hip", &L->r_hip, e));
    AGIR_TRY(find_joint(sk, "l_shoulder", &L->l_shoulder, e));
    AGIR_TRY(find_joint(sk, "r_shoulder", &L->r_shoulder, e));
    AGIR_TRY(find_joint(sk, "l_foot", &L->l_foot, e));
    return find_joint(sk, "r_foot", &L->r_foot, e);
}

// Rotation about y by angle a: (x cos a + z sin a, y, -x sin a + z cos a). With a = -heading it
// takes the facing direction (sin h, 0, cos h) to +z.
static void rot_y(const double v[3], double c, double s, double out[3]) {
    out[0] = v[0] * c + v[2] * s;
    out[1] = v[1];
    out[2] = -v[0] * s + v[2] * c;
}

static void joint_d(const float *frame, int j, double out[3]) {
    for (int c = 0; c < 3; c++) out[c] = frame[j * 3 + c];
}

static int check_finite(const float *x, size_t n, const char *what, agir_err *e) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return AGIR_BUG(e, "%s: value %zu is %g (callers pass finite data)", what, i, (double)x[i]);
    return AGIR_OK;
}

// Unit facing direction (x, z) of each frame, before smoothing; (0, 0) when undefined.
static void raw_facing(const agir_motion_layout *L, const float *joints, int64_t T, double *fx, double *fz) {
    size_t stride = (size_t)L->n_joints * 3;
    for (int64_t t = 0; t < T; t++) {
        const float *f = joints + (size_t)t * stride;
        double rh[3], lh[3], rs[3], ls[3];
        joint_d(f, L->r_hip, rh), joint_d(f, L->l_hip, lh), joint_d(f, L->r_shoulder, rs), joint_d(f, L->l_shoulder, ls);
        double ax = (rh[0] - lh[0]) + (rs[0] - ls[0]), az = (rh[2] - lh[2]) + (rs[2] - ls[2]);
        double x = az, z = -ax;  // up x across
        double len = sqrt(x * x + z * z);
        fx[t] = len > FACING_MIN ? x / len : 0;
        fz[t] = len > FACING_MIN ? z / len : 0;
    }
}

// Gaussian smoothing over time (radius 4 sigma, edges repeat the end frames, as scipy's
// gaussian_filter1d with mode='nearest' that HumanML3D uses). out may not alias in.
static void smooth(const double *in, int64_t T, double sigma, double *out) {
    if (!(sigma > 0)) {
        memcpy(out, in, (size_t)T * sizeof *out);
        return;
    }
    int64_t r = (int64_t)ceil(4 * sigma);
    for (int64_t t = 0; t < T; t++) {
        double acc = 0, wsum = 0;
        for (int64_t k = -r; k <= r; k++) {
            int64_t i = t + k < 0 ? 0 : t + k >= T ? T - 1 : t + k;
            double w = exp(-0.5 * (double)(k * k) / (sigma * sigma));
            acc += w * in[i];
            wsum += w;
        }
        out[t] = acc / wsum;
    }
}

// Heading (rad) of every frame: the smoothed facing direction's angle from +z towards +x.
static int headings(const agir_motion_layout *L, const agir_motion_opts *o, const float *joints, int64_t T,
                    double *theta, agir_err *e) {
    double *buf = malloc((size_t)T * 4 * sizeof *buf);
    if (!buf) return AGIR_BUG(e, "out of memory for the headings of %lld frames", (long long)T);
    double *fx = buf, *fz = buf + T, *sx = buf + 2 * T, *sz = buf + 3 * T;
    raw_facing(L, joints, T, fx, fz);
    smooth(fx, T, o->facing_sigma, sx);
    smooth(fz, T, o->facing_sigma, sz);
    double prev = 0;
    for (int64_t t = 0; t < T; t++) {
        if (hypot(sx[t], sz[t]) > FACING_MIN) prev = atan2(sx[t], sz[t]);
        theta[t] = prev;
    }
    free(buf);
    return AGIR_OK;
}

static double wrap_angle(double a) { return a - 2 * M_PI * floor((a + M_PI) / (2 * M_PI)); }

static void contacts(const agir_motion_layout *L, const agir_motion_opts *o, const float *joints, int64_t T,
                     float *feat) {
    size_t stride = (size_t)L->n_joints * 3;
    const int feet[2] = {L->l_foot, L->r_foot};
    double floor_y = INFINITY;
    for (int64_t t = 0; t < T; t++)
        for (int k = 0; k < 2; k++) floor_y = fmin(floor_y, joints[(size_t)t * stride + (size_t)feet[k] * 3 + 1]);
    int at = agir_motion_contact_at(L);
    for (int64_t t = 0; t + 1 < T; t++)
        for (int k = 0; k < 2; k++) {
            double a[3], b[3];
            joint_d(joints + (size_t)t * stride, feet[k], a);
            joint_d(joints + (size_t)(t + 1) * stride, feet[k], b);
            double speed = sqrt((b[0] - a[0]) * (b[0] - a[0]) + (b[1] - a[1]) * (b[1] - a[1]) +
                                (b[2] - a[2]) * (b[2] - a[2])) * o->fps;
            feat[(size_t)t * (size_t)L->dim + (size_t)(at + k)] =
                speed < o->contact_speed && a[1] - floor_y < o->contact_height ? 1.0f : 0.0f;
        }
}

// Row t from frames t and t + 1 (contacts are filled separately).
static void encode_row(const agir_motion_layout *L, const agir_motion_opts *o, const float *f0, const float *f1,
                       double th0, double th1, float *row) {
    double c = cos(-th0), s = sin(-th0), r0[3], r1[3], d[3], v[3];
    joint_d(f0, L->root, r0);
    joint_d(f1, L->root, r1);
    row[AGIR_MOTION_ROT_VEL] = (float)(wrap_angle(th1 - th0) * o->fps);
    for (int k = 0; k < 3; k++) d[k] = r1[k] - r0[k];
    rot_y(d, c, s, v);
    row[AGIR_MOTION_ROOT_VEL] = (float)(v[0] * o->fps);
    row[AGIR_MOTION_ROOT_VEL + 1] = (float)(v[2] * o->fps);
    row[AGIR_MOTION_ROOT_Y] = (float)r0[1];
    float *ric = row + AGIR_MOTION_RIC, *vel = row + agir_motion_vel_at(L);
    for (int j = 0; j < L->n_joints; j++) {
        double p0[3], p1[3];
        joint_d(f0, j, p0);
        joint_d(f1, j, p1);
        for (int k = 0; k < 3; k++) d[k] = (p1[k] - p0[k]) * o->fps;
        rot_y(d, c, s, v);
        for (int k = 0; k < 3; k++) vel[j * 3 + k] = (float)v[k];
        if (j == L->root) continue;
        double rel[3] = {p0[0] - r0[0], p0[1], p0[2] - r0[2]};
        rot_y(rel, c, s, v);
        for (int k = 0; k < 3; k++) *ric++ = (float)v[k];
    }
}

int agir_motion_encode(const agir_motion_layout *L, const agir_motion_opts *o, const float *joints, int64_t T,
                       float *feat, agir_err *e) {
    if (T < 2 || !(o->fps > 0)) return AGIR_BUG(e, "agir_motion_encode: %lld frames at %g fps", (long long)T, o->fps);
    size_t stride = (size_t)L->n_joints * 3;
    AGIR_TRY(check_finite(joints, (size_t)T * stride, "agir_motion_encode: joints", e));
    double *theta = malloc((size_t)T * sizeof *theta);
    if (!theta) return AGIR_BUG(e, "out of memory for the headings of %lld frames", (long long)T);
    int rc = headings(L, o, joints, T, theta, e);
    for (int64_t t = 0; !rc && t + 1 < T; t++)
        encode_row(L, o, joints + (size_t)t * stride, joints + (size_t)(t + 1) * stride, theta[t], theta[t + 1],
                   feat + (size_t)t * (size_t)L->dim);
    if (!rc) contacts(L, o, joints, T, feat);
    free(theta);
    return rc;
}

int agir_motion_decode(const agir_motion_layout *L, const agir_motion_opts *o, const float *feat, int64_t n,
                       float *joints, agir_err *e) {
    if (n < 0 || !(o->fps > 0)) return AGIR_BUG(e, "agir_motion_decode: %lld rows at %g fps", (long long)n, o->fps);
    AGIR_TRY(check_finite(feat, (size_t)n * (size_t)L->dim, "agir_motion_decode: features", e));
    double theta = 0, rx = 0, rz = 0;
    for (int64_t t = 0; t < n; t++) {
        const float *row = feat + (size_t)t * (size_t)L->dim, *ric = row + AGIR_MOTION_RIC;
        float *out = joints + (size_t)t * (size_t)L->n_joints * 3;
        double c = cos(theta), s = sin(theta), v[3], w[3];
        for (int j = 0; j < L->n_joints; j++) {
            if (j == L->root) {
                out[j * 3] = (float)rx, out[j * 3 + 1] = row[AGIR_MOTION_ROOT_Y], out[j * 3 + 2] = (float)rz;
                continue;
            }
            for (int k = 0; k < 3; k++) v[k] = *ric++;
            rot_y(v, c, s, w);
            out[j * 3] = (float)(w[0] + rx), out[j * 3 + 1] = (float)w[1], out[j * 3 + 2] = (float)(w[2] + rz);
        }
        double d[3] = {row[AGIR_MOTION_ROOT_VEL] / o->fps, 0, row[AGIR_MOTION_ROOT_VEL + 1] / o->fps};
        rot_y(d, c, s, w);
        rx += w[0], rz += w[2];
        theta += row[AGIR_MOTION_ROT_VEL] / o->fps;
    }
    return AGIR_OK;
}

int agir_motion_from_seq(const agir_gait *g, int64_t s, const agir_motion_layout *L, const agir_motion_opts *o,
                         float **feat, int64_t *n, agir_err *e) {
    *feat = NULL;
    *n = 0;
    const agir_seq *q = &g->seq[s];
    if (g->skel->n_joints != L->n_joints)
        return AGIR_BUG(e, "agir_motion_from_seq: %d joints in the data, %d in the layout", g->skel->n_joints,
                        L->n_joints);
    int64_t T = agir_resample_len(q->length, q->fps, o->fps);
    if (T < 2)
        return AGIR_BAD(e, "sequence '%s': %lld frames at %g fps give %lld at the model's %g fps, fewer than the 2 "
                           "needed (hint: drop very short sequences)",
                        q->id, (long long)q->length, (double)q->fps, (long long)T, o->fps);
    size_t per = (size_t)L->n_joints * 3;
    float *frames = malloc((size_t)T * per * sizeof *frames), *f = malloc((size_t)(T - 1) * (size_t)L->dim * sizeof *f);
    int rc = !frames || !f ? AGIR_BUG(e, "out of memory for sequence '%s' (%lld frames)", q->id, (long long)T) : AGIR_OK;
    if (!rc) rc = agir_resample(agir_gait_seq_frames(g, s), q->length, (int64_t)per, q->fps, o->fps, frames, e);
    if (!rc) rc = agir_motion_encode(L, o, frames, T, f, e);
    free(frames);
    if (rc) {
        free(f);
        return rc;
    }
    *feat = f;
    *n = T - 1;
    return AGIR_OK;
}
