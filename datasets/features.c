// Clinical gait parameters from heel strikes and toe offs (features.h has the definitions).
//
// Spatial parameters use foot placements: a foot in stance stays put, so its position at heel
// strike is taken as its median over that stance phase (heel strike to its next toe off). That is
// the clinical heel-to-heel step length, insensitive to the exact event frame and to joint jitter.
#include "datasets/features.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/features_dsp.h"
#include "datasets/features_walk.h"

#define FEATURE(name, unit) {#name, unit, offsetof(agir_features, name)}
const agir_feature_info agir_feature_table[] = {
    FEATURE(speed, "m/s"),
    FEATURE(cadence, "steps/min"),
    FEATURE(step_length, "m"),
    FEATURE(step_width, "m"),
    FEATURE(step_time, "s"),
    FEATURE(step_time_cv, "1"),
    FEATURE(step_time_asym, "1"),
    FEATURE(arm_swing_l, "m"),
    FEATURE(arm_swing_r, "m"),
    FEATURE(arm_swing_asym, "1"),
    FEATURE(trunk_flexion, "deg"),
    FEATURE(foot_clearance, "m"),
    FEATURE(freezing_index, "1"),
};
#undef FEATURE
const int agir_n_features = (int)(sizeof agir_feature_table / sizeof agir_feature_table[0]);

// Low-pass (Hz) of the wrist-pelvis signal; costs under 1% of a 1.1 Hz swing's range.
#define ARM_LOWPASS_HZ 4.0
// Freezing-index windows (s), as Baechlin et al. 2010 used (see freezing_index()).
#define FI_WINDOW_S 4.0
#define FI_HOP_S 0.5

static const int foot_joint[2] = {W_LFOOT, W_RFOOT};

typedef struct strike {
    double time;  // frames
    int side;
} strike;

static int cmp_strike(const void *a, const void *b) {
    const strike *x = a, *y = b;
    if (x->time != y->time) return (x->time > y->time) - (x->time < y->time);
    return x->side - y->side;
}

// First element of the sorted list v (n,) greater than x, or `none`.
static double next_after(const double *v, int n, double x, double none) {
    for (int i = 0; i < n; i++)
        if (v[i] > x) return v[i];
    return none;
}

// Nearest frame of an event time.
static int64_t frame_of(double t) {
    return (int64_t)lround(t);
}

// Linear interpolation of x (T,) at fractional frame t in [0, T - 1].
static double at(const double *x, double t) {
    int64_t i = (int64_t)floor(t);
    double f = t - (double)i;
    return f > 0 ? x[i] + f * (x[i + 1] - x[i]) : x[i];
}

static int median(const double *x, int64_t a, int64_t b, double *out, agir_err *e) {
    return agir_quantile(x + a, b > a ? b - a : 1, 0.5, out, e);
}

// Forward and lateral placement of foot `side` for the stance starting at heel strike time hs.
static int placement(const agir_walk *w, const agir_walk_events *ev, int side, double hs, double pl[2], agir_err *e) {
    int64_t a = frame_of(hs), b = frame_of(next_after(ev->to[side], ev->n_to[side], hs, (double)w->T));
    AGIR_TRY(median(agir_walk_sig(w->pos, w, foot_joint[side], AX_FWD), a, b, &pl[0], e));
    return median(agir_walk_sig(w->pos, w, foot_joint[side], AX_LAT), a, b, &pl[1], e);
}

// Temporal and spatial step parameters over consecutive heel strikes of opposite feet; a pair of
// strikes of the same foot means a missed contralateral event and is not a step.
static int steps(const agir_walk *w, const agir_walk_events *ev, const strike *s, int n, agir_features *out,
                 agir_err *e) {
    double sum = 0, sum2 = 0, side_sum[2] = {0, 0}, len = 0, width = 0;
    int count = 0, side_n[2] = {0, 0};
    for (int k = 1; k < n; k++) {
        if (s[k].side == s[k - 1].side) continue;
        double dt = (s[k].time - s[k - 1].time) / w->fps, a[2], b[2];
        AGIR_TRY(placement(w, ev, s[k].side, s[k].time, a, e));
        AGIR_TRY(placement(w, ev, s[k - 1].side, s[k - 1].time, b, e));
        sum += dt, sum2 += dt * dt, count++;
        side_sum[s[k].side] += dt, side_n[s[k].side]++;
        len += a[0] - b[0];
        width += fabs(a[1] - b[1]);
    }
    if (!side_n[0] || !side_n[1])
        return AGIR_BAD(e,
                        "%s: %d heel strikes give %d left and %d right steps; a walk needs at least one of each "
                        "(hint: the sequence is too short or the feet do not step)",
                        w->id, n, side_n[0], side_n[1]);
    if (!(sum > 0)) return AGIR_BAD(e, "%s: heel strikes of both feet coincide (hint: check the foot joints)", w->id);
    double mean = sum / count, var = count > 1 ? (sum2 - count * mean * mean) / (count - 1) : 0;
    double ml = side_sum[0] / side_n[0], mr = side_sum[1] / side_n[1];
    out->step_time = (float)mean;
    out->cadence = (float)(60.0 / mean);
    out->step_time_cv = (float)(sqrt(fmax(var, 0)) / mean);
    out->step_time_asym = (float)(fabs(ml - mr) / (0.5 * (ml + mr)));
    out->step_length = (float)(len / count);
    out->step_width = (float)(width / count);
    return AGIR_OK;
}

// Forward range of each wrist relative to the pelvis per stride (consecutive heel strikes of one
// foot, either foot), averaged over strides. The relative signal is smoothed further: arms swing
// at the stride frequency (about 1 Hz) and a range (max - min) grows with any noise left.
static int arm_swing(const agir_walk *w, const agir_walk_events *ev, agir_features *out, agir_err *e) {
    const double *p = agir_walk_sig(w->pos, w, W_PELVIS, AX_FWD);
    double *rel = malloc((size_t)w->T * sizeof *rel), sum[2] = {0, 0};
    if (!rel) return AGIR_BUG(e, "out of memory for arm swing");
    int strides = 0, rc = AGIR_OK;
    for (int a = 0; a < 2 && !rc; a++) {
        const double *wr = agir_walk_sig(w->pos, w, a == 0 ? W_LWRIST : W_RWRIST, AX_FWD);
        for (int64_t t = 0; t < w->T; t++) rel[t] = wr[t] - p[t];
        rc = agir_lowpass(rel, w->T, w->fps, fmin(ARM_LOWPASS_HZ, 0.3 * w->fps), e);
        strides = 0;
        for (int side = 0; side < 2 && !rc; side++)
            for (int i = 1; i < ev->n_hs[side]; i++, strides++) {
                double lo = INFINITY, hi = -INFINITY;
                for (int64_t t = frame_of(ev->hs[side][i - 1]); t <= frame_of(ev->hs[side][i]); t++)
                    lo = fmin(lo, rel[t]), hi = fmax(hi, rel[t]);
                sum[a] += hi - lo;
            }
    }
    free(rel);
    double l = strides ? sum[0] / strides : 0, r = strides ? sum[1] / strides : 0, m = fmax(l, r);
    out->arm_swing_l = (float)l;
    out->arm_swing_r = (float)r;
    out->arm_swing_asym = (float)(m > 0 ? fabs(l - r) / m : 0);
    return rc;
}

// Mean sagittal angle of pelvis->thorax from vertical, positive leaning forward, over [a, b].
static double trunk_flexion(const agir_walk *w, int64_t a, int64_t b) {
    const double *pf = agir_walk_sig(w->pos, w, W_PELVIS, AX_FWD), *pu = agir_walk_sig(w->pos, w, W_PELVIS, AX_UP);
    const double *tf = agir_walk_sig(w->pos, w, W_THORAX, AX_FWD), *tu = agir_walk_sig(w->pos, w, W_THORAX, AX_UP);
    double sum = 0;
    for (int64_t t = a; t <= b; t++) sum += atan2(tf[t] - pf[t], tu[t] - pu[t]);
    return sum / (double)(b - a + 1) * (180.0 / M_PI);
}

// Mean over complete swings (toe off to the next heel strike of that foot) of the peak ankle height
// above the median ankle height of the stance just before.
static int foot_clearance(const agir_walk *w, const agir_walk_events *ev, agir_features *out, agir_err *e) {
    double sum = 0;
    int n = 0;
    for (int side = 0; side < 2; side++) {
        const double *h = agir_walk_sig(w->pos, w, foot_joint[side], AX_UP);
        for (int i = 0; i < ev->n_to[side]; i++) {
            double to_t = ev->to[side][i], hs_t = next_after(ev->hs[side], ev->n_hs[side], to_t, -1), start_t = 0;
            for (int j = 0; j < ev->n_hs[side] && ev->hs[side][j] < to_t; j++) start_t = ev->hs[side][j];
            int64_t to = frame_of(to_t), hs = frame_of(hs_t), start = frame_of(start_t);
            if (hs_t < 0 || to <= start) continue;
            double stance, peak = -INFINITY;
            AGIR_TRY(median(h, start, to, &stance, e));
            for (int64_t t = to; t <= hs; t++) peak = fmax(peak, h[t]);
            sum += peak - stance, n++;
        }
    }
    if (!n)
        return AGIR_BAD(e,
                        "%s: no complete swing (toe off then heel strike of one foot) was found "
                        "(hint: the sequence is too short or the feet do not lift)",
                        w->id);
    out->foot_clearance = (float)(sum / n);
    return AGIR_OK;
}

// Freezing index after Moore, MacDougall & Ondo 2008 (J Neurosci Methods 167:340-348): the ratio
// of spectral power of vertical leg acceleration in a "freeze" band (3-8 Hz) to that in a
// "locomotor" band (they used 0-3 Hz; 0.5-3 Hz, as Baechlin et al. 2010, IEEE Trans Inf Technol
// Biomed 14:436-446, did, keeps posture drift out), computed over sliding windows.
// Here, precisely: a(t) = second central difference of the raw (unfiltered: the freeze band lies
// above the kinematic low-pass) ankle height times fps^2, i.e. vertical ankle acceleration in
// m/s^2, per foot. Windows of FI_WINDOW_S (the whole walk if shorter) every FI_HOP_S; in each, the
// Hann-windowed periodogram of each foot is summed over the DFT bins in [0.5, 3) Hz (loco) and in
// [3, 8) Hz (freeze, capped at fps / 2), and FI_w = (freeze_L + freeze_R) / (loco_L + loco_R).
// The walk's index is the largest FI_w (windows without locomotor power are skipped; 0 if none),
// so that a freezing episode of a few seconds shows in an otherwise regular walk. Steady walking
// stays around 1 or below; trembling in place drives it far above Moore's threshold of about 2.
// Acceleration from positions amplifies joint jitter with the square of frequency: noisy pose
// estimates raise the index, so compare it between data of similar noise.
static int freezing_index(const agir_walk *w, agir_features *out, agir_err *e) {
    static const double edges[3] = {0.5, 3.0, 8.0};
    int64_t n = w->T - 2;
    int64_t win = (int64_t)lround(FI_WINDOW_S * w->fps), hop = (int64_t)lround(FI_HOP_S * w->fps);
    if (win > n) win = n;
    double *a = malloc((size_t)n * 2 * sizeof *a), best = 0;
    if (!a) return AGIR_BUG(e, "out of memory for the freezing index");
    int rc = AGIR_OK;
    for (int side = 0; side < 2; side++) {
        const double *h = agir_walk_sig(w->raw, w, foot_joint[side], AX_UP);
        for (int64_t t = 0; t < n; t++) a[side * n + t] = (h[t + 2] - 2.0 * h[t + 1] + h[t]) * w->fps * w->fps;
    }
    for (int64_t s0 = 0; !rc; s0 += hop) {
        if (s0 + win > n) s0 = n - win;
        double loco = 0, freeze = 0, pw[2];
        for (int side = 0; side < 2 && !rc; side++) {
            rc = agir_band_powers(a + side * n + s0, win, w->fps, edges, 2, pw, e);
            loco += pw[0], freeze += pw[1];
        }
        if (loco > 0) best = fmax(best, freeze / loco);
        if (s0 + win >= n) break;
    }
    free(a);
    out->freezing_index = (float)best;
    return rc;
}

static int measure(const agir_walk *w, const agir_walk_events *ev, agir_features *out, agir_err *e) {
    int n = ev->n_hs[0] + ev->n_hs[1];
    strike *s = malloc((size_t)(n ? n : 1) * sizeof *s);
    if (!s) return AGIR_BUG(e, "out of memory for heel strikes");
    for (int side = 0, k = 0; side < 2; side++)
        for (int i = 0; i < ev->n_hs[side]; i++) s[k++] = (strike){ev->hs[side][i], side};
    qsort(s, (size_t)n, sizeof *s, cmp_strike);
    int rc = steps(w, ev, s, n, out, e);
    if (!rc) {
        double a = s[0].time, b = s[n - 1].time;
        const double *p = agir_walk_sig(w->pos, w, W_PELVIS, AX_FWD);
        out->speed = (float)((at(p, b) - at(p, a)) / ((b - a) / w->fps));
        out->trunk_flexion = (float)trunk_flexion(w, frame_of(a), frame_of(b));
        out->n_steps = n;
        rc = arm_swing(w, ev, out, e);
        if (!rc) rc = foot_clearance(w, ev, out, e);
    }
    if (!rc) rc = freezing_index(w, out, e);
    free(s);
    return rc;
}

// Whole-frame copies of the events for callers (nearest frame).
static int export_events(const agir_walk_events *we, agir_gait_events *ev, agir_err *e) {
    for (int s = 0; s < 2; s++) {
        ev->n_hs[s] = we->n_hs[s], ev->n_to[s] = we->n_to[s];
        ev->hs[s] = malloc((size_t)(we->n_hs[s] + 1) * sizeof *ev->hs[s]);
        ev->to[s] = malloc((size_t)(we->n_to[s] + 1) * sizeof *ev->to[s]);
        if (!ev->hs[s] || !ev->to[s]) {
            agir_gait_events_free(ev);
            return AGIR_BUG(e, "out of memory for gait events");
        }
        for (int i = 0; i < we->n_hs[s]; i++) ev->hs[s][i] = (int)frame_of(we->hs[s][i]);
        for (int i = 0; i < we->n_to[s]; i++) ev->to[s][i] = (int)frame_of(we->to[s][i]);
    }
    return AGIR_OK;
}

int agir_features_compute(const float *frames, int64_t T, float fps, const agir_skeleton *skel, const char *id,
                          agir_features *out, agir_gait_events *ev, agir_err *e) {
    memset(out, 0, sizeof *out);
    if (ev) memset(ev, 0, sizeof *ev);
    agir_walk w;
    AGIR_TRY(agir_walk_build(&w, frames, T, fps, skel, id ? id : "(walk)", e));
    agir_walk_events we;
    int rc = agir_walk_events_find(&w, &we, e);
    if (!rc) rc = measure(&w, &we, out, e);
    if (!rc && ev) rc = export_events(&we, ev, e);
    agir_walk_events_free(&we);
    agir_walk_free(&w);
    return rc;
}

void agir_gait_events_free(agir_gait_events *ev) {
    if (!ev) return;
    for (int s = 0; s < 2; s++) {
        free(ev->hs[s]);
        free(ev->to[s]);
        ev->hs[s] = ev->to[s] = NULL;
        ev->n_hs[s] = ev->n_to[s] = 0;
    }
}
