// Heel strikes and toe offs from ankle kinematics in the walking frame.
//
// Two stages per foot:
// 1. Anchors, after Zeni, Richards & Higginson 2008 (Gait & Posture 27:710-714, coordinate-based
//    method): the foot's forward position relative to the pelvis peaks once per stride near heel
//    strike and bottoms out near toe off. That signal swings by about half a step length either
//    side of its midline, far above joint noise, so each stride gives one anchor of each kind even
//    for jittery or shuffling walks. Extrema are taken per excursion with hysteresis, which needs no
//    assumption about cadence or frame rate. Zeni's instant is where the foot's forward velocity
//    equals the pelvis's, a little before the foot stops (heel strike) or after it starts (toe off).
// 2. Contact timing from foot velocity and height, after the foot-velocity method of O'Connor et
//    al. 2007 (Gait & Posture 25:469-474): the foot is in contact when its horizontal speed is
//    small and it is near its stance height. Heel strike is where contact starts after the swing's
//    speed peak, toe off where it ends before the next one. Each anchor is then moved by the
//    median, over the walk, of its kind's anchor-to-contact delays (see refine()).
// Event times are interpolated between frames: threshold crossings linearly, extrema by a parabola.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/features_dsp.h"
#include "datasets/features_walk.h"

// Hysteresis: an excursion starts this fraction of the half-range away from the midline (see
// anchors()) and ends when the signal crosses the midline again.
#define EXCURSION_ENTER 0.3
// Extra smoothing of the foot-pelvis signal (Hz): it is close to a sinusoid at the stride
// frequency (about 1 Hz), so its extrema are located best with the noise above a few Hz removed.
#define ANCHOR_LOWPASS_HZ 3.0
// A plateau: the signal stays within PLATEAU_TOL of its half-range from its extremum for longer
// than PLATEAU_S seconds (a sinusoidal peak at 1 Hz stays there for about 0.06 s; see emit()).
#define PLATEAU_TOL 0.02
#define PLATEAU_S 0.3
// Below this half-range (m) of the foot-pelvis signal, the foot is not stepping.
#define MIN_STEP_SWING 0.01
// Contact: horizontal speed under this fraction of the foot's peak (95th percentile) speed ...
#define CONTACT_SPEED 0.25
// ... and height under stance height plus this fraction of the foot's lift.
#define CONTACT_HEIGHT 0.5

typedef struct dlist {
    int n, cap;
    double *v;
} dlist;

static int push(dlist *l, double x, agir_err *e) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        double *v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return AGIR_BUG(e, "out of memory for gait events");
        l->v = v, l->cap = cap;
    }
    l->v[l->n++] = x;
    return AGIR_OK;
}

// Where between samples i and i + 1 the signal s crosses `level`, as a fraction in [0, 1].
static double level_cross(const double *s, int64_t i, double level) {
    double d = s[i + 1] - s[i];
    return d != 0 ? fmax(0, fmin(1, (level - s[i]) / d)) : 0;
}

// The event of one excursion [a, b) of the foot-pelvis signal s (sign +1 high, -1 low), at
// sub-frame precision. Normally its extremum (parabolic interpolation). On a plateau, where the
// signal stays within PLATEAU_TOL of the half-range from its extremum for over PLATEAU_S, as a
// freeze makes it (both feet planted, the pelvis still), the heel strike is where the plateau is
// first reached (the landing before the standstill) and the toe off where it is last left (the
// push-off after it), not an arbitrary frame of the standstill. Events cut by the sequence's ends
// are dropped.
static int emit(const double *s, int64_t T, double fps, int sign, int64_t a, int64_t b, double half, dlist *hi,
                dlist *lo, agir_err *e) {
    int64_t ext = a;
    for (int64_t t = a + 1; t < b; t++)
        if (sign * s[t] > sign * s[ext]) ext = t;
    if (ext == 0 || ext == T - 1) return AGIR_OK;
    double level = s[ext] - sign * PLATEAU_TOL * half;
    int64_t i = a, j = b - 1;
    while (sign * (s[i] - level) < 0) i++;
    while (sign * (s[j] - level) < 0) j--;
    if ((double)(j - i) > PLATEAU_S * fps) {
        if (sign > 0) return i > 0 ? push(hi, (double)(i - 1) + level_cross(s, i - 1, level), e) : AGIR_OK;
        return j < T - 1 ? push(lo, (double)j + level_cross(s, j, level), e) : AGIR_OK;
    }
    double p = s[ext - 1], q = s[ext], r = s[ext + 1], curv = p - 2 * q + r;
    double off = curv != 0 ? fmax(-0.5, fmin(0.5, 0.5 * (p - r) / curv)) : 0;
    return push(sign > 0 ? hi : lo, (double)ext + off, e);
}

// Excursions with hysteresis: one starts EXCURSION_ENTER of the half-range away from the midline
// and ends when the signal crosses the midline again. Midline and half-range come from the 5th and
// 95th percentiles, not the median, which long freezes drag towards one side.
static int anchors(const double *s, int64_t T, double fps, dlist *hs, dlist *to, agir_err *e) {
    double q05, q95;
    AGIR_TRY(agir_quantile(s, T, 0.05, &q05, e));
    AGIR_TRY(agir_quantile(s, T, 0.95, &q95, e));
    double mid = 0.5 * (q05 + q95), half = 0.5 * (q95 - q05), enter = EXCURSION_ENTER * half;
    if (half < MIN_STEP_SWING) return AGIR_OK;
    int state = 0;
    int64_t start = 0;
    for (int64_t t = 0; t < T; t++) {
        int side = s[t] > mid + enter ? 1 : s[t] < mid - enter ? -1 : 0;
        if (side && side != state) {
            if (state) AGIR_TRY(emit(s, T, fps, state, start, t, half, hs, to, e));
            state = side, start = t;
        } else if (state && state * (s[t] - mid) < 0) {
            AGIR_TRY(emit(s, T, fps, state, start, t, half, hs, to, e));
            state = 0;
        }
    }
    if (state) AGIR_TRY(emit(s, T, fps, state, start, T, half, hs, to, e));
    return AGIR_OK;
}

typedef struct foot_sig {
    const double *h;  // (T,) height
    double *speed;    // (T,) horizontal speed
    double v_contact, h_contact;
} foot_sig;

static int contact(const foot_sig *f, int64_t t) {
    return f->speed[t] < f->v_contact && f->h[t] < f->h_contact;
}

// Fraction of the way from sample t - 1 to t at which x crosses level c.
static double cross(const double *x, int64_t t, double c) {
    return (c - x[t - 1]) / (x[t] - x[t - 1]);
}

// Contact starts between frames t - 1 (no contact) and t (contact): when the last of the two
// conditions becomes true.
static double onset(const foot_sig *f, int64_t t) {
    double frac = 0;
    if (f->speed[t - 1] >= f->v_contact) frac = fmax(frac, cross(f->speed, t, f->v_contact));
    if (f->h[t - 1] >= f->h_contact) frac = fmax(frac, cross(f->h, t, f->h_contact));
    return (double)(t - 1) + frac;
}

// Contact ends between frames t - 1 (contact) and t (none): when the first condition fails.
static double offset(const foot_sig *f, int64_t t) {
    double frac = 1;
    if (f->speed[t] >= f->v_contact) frac = fmin(frac, cross(f->speed, t, f->v_contact));
    if (f->h[t] >= f->h_contact) frac = fmin(frac, cross(f->h, t, f->h_contact));
    return (double)(t - 1) + frac;
}

static int64_t argmax(const double *x, int64_t a, int64_t b) {
    int64_t best = a;
    for (int64_t t = a + 1; t <= b; t++)
        if (x[t] > x[best]) best = t;
    return best;
}

static int foot_signals(const agir_walk *w, int joint, foot_sig *f, agir_err *e) {
    int64_t T = w->T;
    const double *x = agir_walk_sig(w->pos, w, joint, AX_FWD), *y = agir_walk_sig(w->pos, w, joint, AX_LAT);
    f->h = agir_walk_sig(w->pos, w, joint, AX_UP);
    f->speed = malloc((size_t)T * sizeof *f->speed);
    if (!f->speed) return AGIR_BUG(e, "out of memory for foot speed");
    for (int64_t t = 0; t < T; t++) {
        int64_t a = t > 0 ? t - 1 : t, b = t < T - 1 ? t + 1 : t;
        double dt = (double)(b - a) / w->fps;
        f->speed[t] = hypot(x[b] - x[a], y[b] - y[a]) / dt;
    }
    double vpk, h0, hpk;
    AGIR_TRY(agir_quantile(f->speed, T, 0.95, &vpk, e));
    AGIR_TRY(agir_quantile(f->h, T, 0.05, &h0, e));
    AGIR_TRY(agir_quantile(f->h, T, 0.95, &hpk, e));
    f->v_contact = CONTACT_SPEED * vpk;
    f->h_contact = h0 + CONTACT_HEIGHT * (hpk - h0);
    return AGIR_OK;
}

typedef struct anchor {
    double time;
    int strike;  // 1 heel strike, 0 toe off
} anchor;

static int cmp_anchor(const void *a, const void *b) {
    double x = ((const anchor *)a)->time, y = ((const anchor *)b)->time;
    return (x > y) - (x < y);
}

// Contact time for one anchor: searched between its neighbouring anchors (see the top of the
// file); NAN when no frame there passes the contact test.
static double contact_time(const foot_sig *f, int64_t T, const anchor *an, int n, int i) {
    int64_t lo = i > 0 ? lround(an[i - 1].time) : 0, hi = i + 1 < n ? lround(an[i + 1].time) : T - 1;
    int64_t a = lround(an[i].time);
    if (an[i].strike) {
        int64_t p = argmax(f->speed, lo, a);
        for (int64_t t = p; t <= hi; t++)
            if (contact(f, t)) return t > p ? onset(f, t) : (double)t;
    } else {
        int64_t p = argmax(f->speed, a, hi);
        for (int64_t t = p; t > lo; t--)
            if (contact(f, t - 1)) return t < p || !contact(f, t) ? offset(f, t) : (double)t;
    }
    return NAN;
}

// Shifts each kind of anchor by the median delay between anchors and contact events of this foot.
// Using the median rather than each stride's own contact time keeps the timing of the anchors,
// whose signal is large, instead of that of thresholded speed and height, which joint noise moves
// by several frames; step-time variability would otherwise measure the noise.
static int refine(const foot_sig *f, int64_t T, const dlist *hs, const dlist *to, dlist *out_hs, dlist *out_to,
                  agir_err *e) {
    int n = hs->n + to->n;
    anchor *an = malloc((size_t)(n ? n : 1) * sizeof *an);
    double *d = malloc((size_t)(n ? n : 1) * sizeof *d);
    int rc = an && d ? AGIR_OK : AGIR_BUG(e, "out of memory for gait events");
    if (!rc) {
        for (int i = 0; i < hs->n; i++) an[i] = (anchor){hs->v[i], 1};
        for (int i = 0; i < to->n; i++) an[hs->n + i] = (anchor){to->v[i], 0};
        qsort(an, (size_t)n, sizeof *an, cmp_anchor);
    }
    for (int kind = 0; !rc && kind < 2; kind++) {
        int m = 0;
        for (int i = 0; i < n; i++) {
            double c = an[i].strike == kind ? contact_time(f, T, an, n, i) : NAN;
            if (!isnan(c)) d[m++] = c - an[i].time;
        }
        double shift = 0;
        if (m) rc = agir_quantile(d, m, 0.5, &shift, e);
        for (int i = 0; !rc && i < n; i++)
            if (an[i].strike == kind)
                rc = push(kind ? out_hs : out_to, fmax(0, fmin((double)(T - 1), an[i].time + shift)), e);
    }
    free(an);
    free(d);
    return rc;
}

static int foot_events(const agir_walk *w, int side, agir_walk_events *ev, agir_err *e) {
    int joint = side == 0 ? W_LFOOT : W_RFOOT;
    int64_t T = w->T;
    double *rel = malloc((size_t)T * sizeof *rel);
    foot_sig f = {0};
    dlist ahs = {0}, ato = {0}, hs = {0}, to = {0};
    int rc = rel ? AGIR_OK : AGIR_BUG(e, "out of memory for gait events");
    if (!rc) {
        const double *x = agir_walk_sig(w->pos, w, joint, AX_FWD), *p = agir_walk_sig(w->pos, w, W_PELVIS, AX_FWD);
        for (int64_t t = 0; t < T; t++) rel[t] = x[t] - p[t];
        rc = agir_lowpass(rel, T, w->fps, fmin(ANCHOR_LOWPASS_HZ, 0.3 * w->fps), e);
        if (!rc) rc = anchors(rel, T, w->fps, &ahs, &ato, e);
    }
    if (!rc) rc = foot_signals(w, joint, &f, e);
    if (!rc) rc = refine(&f, T, &ahs, &ato, &hs, &to, e);
    if (!rc) {
        ev->hs[side] = hs.v, ev->n_hs[side] = hs.n;
        ev->to[side] = to.v, ev->n_to[side] = to.n;
    } else {
        free(hs.v);
        free(to.v);
    }
    free(rel);
    free(f.speed);
    free(ahs.v);
    free(ato.v);
    return rc;
}

int agir_walk_events_find(const agir_walk *w, agir_walk_events *ev, agir_err *e) {
    memset(ev, 0, sizeof *ev);
    for (int side = 0; side < 2; side++) {
        int rc = foot_events(w, side, ev, e);
        if (rc) {
            agir_walk_events_free(ev);
            return rc;
        }
    }
    return AGIR_OK;
}

void agir_walk_events_free(agir_walk_events *ev) {
    for (int s = 0; s < 2; s++) {
        free(ev->hs[s]);
        free(ev->to[s]);
        ev->hs[s] = ev->to[s] = NULL;
        ev->n_hs[s] = ev->n_to[s] = 0;
    }
}
