// One synthetic walk: the step schedule (footprints, heel-strike and toe-off times, festination and
// freezing), smooth trajectories of pelvis and feet, forward kinematics from fixed segment lengths
// with a two-link knee solution, and the ground truth measured on what was actually generated.
//
// Frame: metres, y up, walking along +z, +x is the walker's left. Side 0 is left, side 1 right.
// The ankle (H36M "foot" joint) is the contact point: during stance it does not move at all, so
// double support keeps both ankles planted; swing moves it on a smooth path with a lift.
#include "datasets/synth_walk.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/skeleton.h"
#include "datasets/synth.h"

const char *const agir_synth_gt_names[SYNTH_N_GT] = {
    "speed", "cadence", "step_length", "step_width", "step_time", "step_time_cv", "step_time_asym",
    "arm_swing_l", "arm_swing_r", "arm_swing_asym", "trunk_flexion", "foot_clearance", "n_steps",
    "step_length_asym", "freezing_episodes", "freezing_time", "festination", "severity", "height",
    "leg_length",
};
const int agir_synth_n_gt = SYNTH_N_GT;

static const double DEG = 3.14159265358979323846 / 180.0;
static const double PI = 3.14159265358979323846;

// Legs never stretch past this fraction of thigh + shank, so the knee stays slightly bent and the
// two-link solution is well conditioned.
static const double REACH = 0.995;
// Temperature (m) of the soft minimum that sets pelvis height: smaller is closer to the hard
// minimum, larger is smoother.
static const double SOFTMIN_K = 0.008;
static const double ARM_ABDUCTION = 6.0;  // deg, keeps the hanging arms clear of the hips
static const double LIFT_WARP = 0.6601;  // log(0.5) / log(0.35): puts the lift peak at 35% of swing
static const double TREMOR_FOOT = 0.008, TREMOR_PELVIS = 0.008;  // m, trembling in place

// Joints of the left (0) and right (1) limbs.
static const int HIP_J[2] = {H36M_LHIP, H36M_RHIP}, KNEE_J[2] = {H36M_LKNEE, H36M_RKNEE},
                 FOOT_J[2] = {H36M_LFOOT, H36M_RFOOT}, WRIST_J[2] = {H36M_LWRIST, H36M_RWRIST};


typedef struct step {
    int side;         // the foot that strikes
    double x, z;      // its footprint (ankle position on the floor plan)
    double t_hs;      // heel strike
    double t_to;      // toe off of the same foot's previous footprint: the swing is [t_to, t_hs]
    double clearance; // peak ankle rise of that swing
    double freeze;    // duration of a freezing episode starting at this heel strike, 0 if none
    int fest_start;   // a festination episode starts with this step
} step;

typedef struct steps {
    step *s;
    int n, cap;
} steps;

static double side_sign(int side) { return side == 0 ? 1.0 : -1.0; }

static double clip3(double x) { return x < -3 ? -3 : x > 3 ? 3 : x; }

static int push_step(steps *st, const step *s, agir_err *e) {
    if (st->n == st->cap) {
        int cap = st->cap ? 2 * st->cap : 64;
        step *p = realloc(st->s, (size_t)cap * sizeof *p);
        if (!p) return AGIR_BUG(e, "out of memory for %d steps", cap);
        st->s = p, st->cap = cap;
    }
    st->s[st->n++] = *s;
    return AGIR_OK;
}

// Festination: steps get shorter and quicker, then recover (Giladi et al. 2001, "Freezing of gait
// in patients with advanced Parkinson's disease", J Neural Transm 108:53-61, describe the hurried,
// shortening steps). j counts the episode's steps from 1 to n.
static void festination_factors(int j, int n, double *len, double *time) {
    double s = sin(PI * j / (n + 1));
    *len = 1.0 - 0.5 * s;
    *time = 1.0 - 0.3 * s;
}

// Footprints and event times from shortly before t = 0 until past t_end. The walk is already in
// steady state at t = 0 (like a segment cut from a longer pass), at a random point of the step.
static int build_steps(const synth_gait *g, double t_end, agir_rng *rng, steps *st, agir_err *e) {
    double T[2], S[2];
    for (int s = 0; s < 2; s++) {
        double sg = s == g->affected ? 1.0 : -1.0;  // the affected side steps slower and shorter
        T[s] = g->step_time * (1.0 + 0.5 * sg * g->step_time_asym);
        S[s] = g->step_length * (1.0 - 0.5 * sg * g->step_length_asym);
    }
    step prev = {.side = g->first_side,
                 .x = side_sign(g->first_side) * 0.5 * g->step_width,
                 .z = 0,
                 .t_hs = -(2.0 + g->phase0) * g->step_time,
                 .clearance = g->clearance};
    prev.t_to = prev.t_hs;
    AGIR_TRY(push_step(st, &prev, e));
    int next_freeze = 0, next_fest = 0, fest_j = 0, fest_n = 0;
    while (prev.t_hs <= t_end + 2.0 * g->step_time) {
        step s = {.side = 1 - prev.side};
        double flen = 1.0, ftime = 1.0;
        if (fest_j > 0) {
            festination_factors(fest_j, fest_n, &flen, &ftime);
            fest_j = fest_j < fest_n ? fest_j + 1 : 0;
        }
        double Tk = T[s.side] * (1.0 + g->step_time_cv * clip3(agir_rng_normal(rng))) * ftime;
        double Sk = S[s.side] * (1.0 + g->step_length_sd * clip3(agir_rng_normal(rng))) * flen;
        double w = g->step_width * (1.0 + g->step_width_sd * clip3(agir_rng_normal(rng)));
        s.clearance = g->clearance * (1.0 + 0.08 * clip3(agir_rng_normal(rng)));
        double ds = (2.0 * g->stance - 1.0) * Tk;  // double support after the previous strike
        s.t_to = prev.t_hs + prev.freeze + ds;
        s.t_hs = prev.t_hs + prev.freeze + Tk;
        s.z = prev.z + Sk;
        s.x = side_sign(s.side) * 0.5 * fmax(w, 0.02);
        if (s.t_hs >= 0 && next_freeze < g->n_freeze && s.t_hs >= g->freeze_start[next_freeze])
            s.freeze = g->freeze_dur[next_freeze++];
        if (s.t_hs >= 0 && next_fest < g->n_fest && fest_j == 0 && s.t_hs >= g->fest_start[next_fest]) {
            s.fest_start = 1;
            fest_n = g->fest_steps[next_fest++];
            fest_j = 1;
        }
        AGIR_TRY(push_step(st, &s, e));
        prev = s;
    }
    return AGIR_OK;
}

// Monotone piecewise cubic Hermite interpolation (Fritsch & Carlson 1980, SIAM J. Numer. Anal.
// 17:238-246, with the Fritsch-Butland slope weights): no overshoot, so the pelvis never walks
// backwards and stays still across a freeze's plateau.
typedef struct pchip {
    const double *t;
    double *y, *d;
    int n, cur;
} pchip;

static void pchip_slopes(pchip *p) {
    int n = p->n;
    const double *t = p->t;
    double *y = p->y, *d = p->d;
    for (int i = 1; i + 1 < n; i++) {
        double h0 = t[i] - t[i - 1], h1 = t[i + 1] - t[i];
        double s0 = (y[i] - y[i - 1]) / h0, s1 = (y[i + 1] - y[i]) / h1;
        if (s0 * s1 <= 0) {
            d[i] = 0;
        } else {
            double w1 = 2 * h1 + h0, w2 = h1 + 2 * h0;
            d[i] = (w1 + w2) / (w1 / s0 + w2 / s1);
        }
    }
    d[0] = (y[1] - y[0]) / (t[1] - t[0]);
    d[n - 1] = (y[n - 1] - y[n - 2]) / (t[n - 1] - t[n - 2]);
}

// Queries must not decrease between calls (frames are rendered in time order).
static double pchip_eval(pchip *p, double tq) {
    while (p->cur + 2 < p->n && tq >= p->t[p->cur + 1]) p->cur++;
    int i = p->cur;
    double h = p->t[i + 1] - p->t[i], u = (tq - p->t[i]) / h;
    double u2 = u * u, u3 = u2 * u;
    return (2 * u3 - 3 * u2 + 1) * p->y[i] + (u3 - 2 * u2 + u) * h * p->d[i] + (-2 * u3 + 3 * u2) * p->y[i + 1] +
           (u3 - u2) * h * p->d[i + 1];
}

// Knots of the pelvis: at each heel strike, plus the end of each freeze (same values: a plateau).
typedef struct knots {
    double *t;
    pchip z, phase, xc;
    double *buf;
} knots;

static int build_knots(const synth_gait *g, const steps *st, knots *kn, agir_err *e) {
    int n = 0;
    for (int k = 0; k < st->n; k++) n += 1 + (st->s[k].freeze > 0);
    kn->buf = malloc((size_t)n * 7 * sizeof(double));
    if (!kn->buf) return AGIR_BUG(e, "out of memory for %d knots", n);
    kn->t = kn->buf;
    pchip *ser[3] = {&kn->z, &kn->phase, &kn->xc};
    for (int s = 0; s < 3; s++) {
        ser[s]->t = kn->t;
        ser[s]->y = kn->buf + (size_t)n * (1 + 2 * s);
        ser[s]->d = kn->buf + (size_t)n * (2 + 2 * s);
        ser[s]->n = n;
        ser[s]->cur = 0;
    }
    int i = 0;
    for (int k = 0; k < st->n; k++) {
        const step *s = &st->s[k];
        double len = k ? s->z - st->s[k - 1].z : g->step_length;
        double xprev = k ? st->s[k - 1].x : -s->x;
        // The striking foot lands ahead of the pelvis by the stance fraction of a step, which
        // centres each foot's stance excursion under the hip (the shortest reach in double support).
        double z = s->z - g->stance * len;
        double ph = (double)(g->first_side + k) * PI;  // left strikes at even multiples of pi
        for (int rep = 0; rep < 1 + (s->freeze > 0); rep++, i++) {
            kn->t[i] = s->t_hs + (rep ? s->freeze : 0);
            kn->z.y[i] = z;
            kn->phase.y[i] = ph;
            kn->xc.y[i] = 0.5 * (s->x + xprev);
        }
    }
    for (int s = 0; s < 3; s++) pchip_slopes(ser[s]);
    return AGIR_OK;
}

// Horizontal progress of the swinging foot: zero velocity at lift-off and touch-down (no sliding
// into or out of stance) with a quick start, so the foot lags little behind the advancing pelvis
// and the leg keeps its reach.
static double swing_progress(double u) { return u * u * (3.0 - 2.0 * u); }

// Lift profile of the ankle in swing: flat at both ends, peak 1 early (at u = 0.35), since the ankle
// rises fast after toe off and lowers slowly towards heel strike.
static double lift(double u) {
    double s = sin(PI * pow(u, LIFT_WARP));
    return s * s;
}

typedef struct foot_state {
    double p[3];
    int phase;  // AGIR_SYNTH_*
    int swing;  // index of the step being swung towards, -1 while planted
} foot_state;

// Where one foot is at time t. *cur indexes the step that owns the foot now (every other step
// belongs to the same foot): from the toe off that starts its swing until the next one.
static void foot_at(const synth_body *b, const steps *st, double t, int *cur, foot_state *f) {
    const step *s = st->s;
    while (*cur + 2 < st->n && t >= s[*cur + 2].t_to) *cur += 2;
    int k = *cur;
    if (k >= 2 && t < s[k].t_hs) {
        double u = (t - s[k].t_to) / (s[k].t_hs - s[k].t_to), m = swing_progress(u);
        f->p[0] = s[k - 2].x + m * (s[k].x - s[k - 2].x);
        f->p[1] = b->ankle_h + s[k].clearance * lift(u);
        f->p[2] = s[k - 2].z + m * (s[k].z - s[k - 2].z);
        f->phase = AGIR_SYNTH_SWING;
        f->swing = k;
        return;
    }
    f->p[0] = s[k].x, f->p[1] = b->ankle_h, f->p[2] = s[k].z;
    f->phase = AGIR_SYNTH_STANCE;
    f->swing = -1;
}

// Soft minimum, never above the smallest argument: the pelvis is as high as the mid-stance cap
// allows but low enough for every leg to reach its ankle, with smooth hand-overs between the two.
static double softmin3(double a, double b, double c) {
    double m = fmin(a, fmin(b, c));
    return m - SOFTMIN_K * log(exp((m - a) / SOFTMIN_K) + exp((m - b) / SOFTMIN_K) + exp((m - c) / SOFTMIN_K));
}

// Knee of a two-link leg: |knee - hip| = l1 and |ankle - knee| = l2 exactly (law of cosines),
// bending towards +z (forward). Returns 1 when the ankle is out of reach.
static int knee_ik(const double hip[3], const double ank[3], double l1, double l2, double knee[3]) {
    double u[3] = {ank[0] - hip[0], ank[1] - hip[1], ank[2] - hip[2]};
    double d = sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2]);
    if (d >= l1 + l2 || d <= fabs(l1 - l2)) return 1;
    for (int c = 0; c < 3; c++) u[c] /= d;
    double ca = (l1 * l1 + d * d - l2 * l2) / (2.0 * l1 * d), sa = sqrt(fmax(0.0, 1.0 - ca * ca));
    double w[3] = {-u[2] * u[0], -u[2] * u[1], 1.0 - u[2] * u[2]};  // +z minus its part along u
    double wn = sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2]);
    if (wn < 1e-9) return 1;
    for (int c = 0; c < 3; c++) knee[c] = hip[c] + l1 * (ca * u[c] + sa * w[c] / wn);
    return 0;
}

// Elbow flexion grows as the arm swings forward: `elbow0` at the back of the swing, +amp at the front.
static double elbow_at(double alpha, double amp, double elbow0) { return elbow0 + 0.5 * (alpha + amp); }

// Forward wrist offset from the shoulder for shoulder flexion alpha (rad).
static double wrist_forward(const synth_body *b, double alpha, double amp, double elbow0) {
    double cd = cos(ARM_ABDUCTION * DEG);
    return cd * (b->upper_arm * sin(alpha) + b->forearm * sin(alpha + elbow_at(alpha, amp, elbow0)));
}

// Shoulder swing amplitude (rad) whose wrist excursion is `range` metres (bisection; the range
// grows with the amplitude over the bracket).
static double arm_amplitude(const synth_body *b, double range, double elbow0) {
    double lo = 0.0, hi = 1.2;
    for (int it = 0; it < 50; it++) {
        double mid = 0.5 * (lo + hi);
        double r = wrist_forward(b, mid, mid, elbow0) - wrist_forward(b, -mid, mid, elbow0);
        if (r < range) lo = mid;
        else hi = mid;
    }
    return 0.5 * (lo + hi);
}

static void put(float *f, int j, const double p[3], double dz) {
    f[3 * j + 0] = (float)p[0];
    f[3 * j + 1] = (float)p[1];
    f[3 * j + 2] = (float)(p[2] - dz);
}

static void add_dir(double out[3], const double from[3], double len, const double dir[3]) {
    for (int c = 0; c < 3; c++) out[c] = from[c] + len * dir[c];
}

// Upper body on the pelvis: spine flexed by `lean`, neck and head leaning further, shoulders on the
// counter-rotated thorax, arms swinging in the sagittal plane with fixed segment lengths.
typedef struct upper_pose {
    double lean, head_lean;  // rad from vertical, forward positive
    double thorax_yaw;       // rad, positive turns the left shoulder forward
    double alpha[2], amp[2];  // shoulder flexion and its amplitude, per side
    double elbow0;
} upper_pose;

static void upper_body(const synth_body *b, const double pel[3], const upper_pose *u, double P[H36M_J][3]) {
    double trunk[3] = {0, cos(u->lean), sin(u->lean)};
    double neck[3] = {0, cos(u->head_lean), sin(u->head_lean)};
    double head[3] = {0, cos(0.5 * (u->lean + u->head_lean)), sin(0.5 * (u->lean + u->head_lean))};
    add_dir(P[H36M_SPINE], pel, b->pelvis_spine, trunk);
    add_dir(P[H36M_THORAX], P[H36M_SPINE], b->spine_thorax, trunk);
    add_dir(P[H36M_NECK], P[H36M_THORAX], b->thorax_neck, neck);
    add_dir(P[H36M_HEAD], P[H36M_NECK], b->neck_head, head);
    static const int sh[2] = {H36M_LSHOULDER, H36M_RSHOULDER}, el[2] = {H36M_LELBOW, H36M_RELBOW};
    double sa = sin(ARM_ABDUCTION * DEG), ca = cos(ARM_ABDUCTION * DEG);
    for (int s = 0; s < 2; s++) {
        double sg = side_sign(s), a = u->alpha[s], f = a + elbow_at(a, u->amp[s], u->elbow0);
        double lat[3] = {sg * cos(u->thorax_yaw), 0, sg * sin(u->thorax_yaw)};
        double upper[3] = {sg * sa, -ca * cos(a), ca * sin(a)}, fore[3] = {sg * sa, -ca * cos(f), ca * sin(f)};
        add_dir(P[sh[s]], P[H36M_THORAX], b->shoulder_half, lat);
        add_dir(P[el[s]], P[sh[s]], b->upper_arm, upper);
        add_dir(P[WRIST_J[s]], P[el[s]], b->forearm, fore);
    }
}

// Sums of what is measured frame by frame for the ground truth.
typedef struct frame_stats {
    double arm_lo[2], arm_hi[2];
    double lean_sum;
    double *swing_peak;  // (n_steps,) highest ankle rise seen in each swing, -1 if none
} frame_stats;

// A freezing episode covering time t: trembling in place at tremor_hz (Moore et al. 2008, J Neurosci
// Methods 167:340-348: the 3-8 Hz "freeze band"), the feet lifting alternately a few millimetres.
// Returns 0 outside episodes; *cur is a cursor over heel strikes.
static int freeze_at(const steps *st, double t, int *cur, double *tau, double *dur) {
    while (*cur + 1 < st->n && t >= st->s[*cur + 1].t_hs) (*cur)++;
    const step *s = &st->s[*cur];
    if (s->freeze <= 0 || t < s->t_hs || t >= s->t_hs + s->freeze) return 0;
    *tau = t - s->t_hs, *dur = s->freeze;
    return 1;
}

// What stays fixed while one walk is rendered, plus the cursors that advance with time.
typedef struct walker {
    const synth_body *b;
    const synth_gait *g;
    const steps *st;
    knots *kn;
    const char *id;
    double reach, cap;  // longest hip-ankle distance; pelvis height cap at mid-stance
    double amp[2];      // shoulder swing amplitudes, rad
    int cur[2], fcur;   // foot and freeze cursors
} walker;

// Pelvis, hips, knees and ankles at time t (gait phase ph). phase_out: (2,) foot phases.
static int lower_body(walker *w, double t, double ph, double P[H36M_J][3], uint8_t phase_out[2], frame_stats *fs,
                      agir_err *e) {
    const synth_body *b = w->b;
    const synth_gait *g = w->g;
    double yaw = g->pelvis_yaw * DEG * cos(ph), tau, dur, drop = 0, env = 0, allow[2];
    P[H36M_PELVIS][0] = pchip_eval(&w->kn->xc, t) + g->sway * sin(ph);
    P[H36M_PELVIS][2] = pchip_eval(&w->kn->z, t);
    int frozen = freeze_at(w->st, t, &w->fcur, &tau, &dur);
    if (frozen) {
        env = sin(PI * tau / dur) * sin(PI * tau / dur);
        drop = TREMOR_PELVIS * env * 0.5 * (1.0 - cos(2 * PI * g->tremor_hz * tau));
    }
    for (int s = 0; s < 2; s++) {
        foot_state f;
        foot_at(b, w->st, t, &w->cur[s], &f);
        if (frozen) {
            double lift_s = fmax(0.0, sin(2 * PI * g->tremor_hz * tau + s * PI));
            f.p[1] += TREMOR_FOOT * env * lift_s * lift_s;
            f.phase = AGIR_SYNTH_FREEZE;
        }
        memcpy(P[FOOT_J[s]], f.p, sizeof f.p);
        P[HIP_J[s]][0] = P[H36M_PELVIS][0] + side_sign(s) * b->hip_half * cos(yaw);
        P[HIP_J[s]][2] = P[H36M_PELVIS][2] + side_sign(s) * b->hip_half * sin(yaw);
        double hx = P[HIP_J[s]][0] - f.p[0], hz = P[HIP_J[s]][2] - f.p[2], h2 = hx * hx + hz * hz;
        if (h2 >= w->reach * w->reach)
            return AGIR_BUG(e, "%s: t=%.3f s: the %s leg cannot reach its foot (%.3f m away)", w->id, t,
                            s ? "right" : "left", sqrt(h2));
        allow[s] = f.p[1] + sqrt(w->reach * w->reach - h2);
        phase_out[s] = (uint8_t)f.phase;
        if (f.swing >= 0) fs->swing_peak[f.swing] = fmax(fs->swing_peak[f.swing], f.p[1] - b->ankle_h);
    }
    P[H36M_PELVIS][1] = softmin3(w->cap, allow[0], allow[1]) - drop;
    for (int s = 0; s < 2; s++) {
        P[HIP_J[s]][1] = P[H36M_PELVIS][1];
        if (knee_ik(P[HIP_J[s]], P[FOOT_J[s]], b->thigh, b->shank, P[KNEE_J[s]]))
            return AGIR_BUG(e, "%s: t=%.3f s: no knee position for the %s leg", w->id, t, s ? "right" : "left");
    }
    return AGIR_OK;
}

static void accumulate(frame_stats *fs, int64_t i, const double P[H36M_J][3]) {
    for (int s = 0; s < 2; s++) {
        double rel = P[WRIST_J[s]][2] - P[H36M_PELVIS][2];
        fs->arm_lo[s] = i ? fmin(fs->arm_lo[s], rel) : rel;
        fs->arm_hi[s] = i ? fmax(fs->arm_hi[s], rel) : rel;
    }
    double tz = P[H36M_THORAX][2] - P[H36M_PELVIS][2], ty = P[H36M_THORAX][1] - P[H36M_PELVIS][1];
    fs->lean_sum += atan2(tz, ty) / DEG;
}

static int render(walker *w, double fps, int64_t T, float *frames, uint8_t *phase, frame_stats *fs, agir_err *e) {
    const synth_gait *g = w->g;
    double dz = pchip_eval(&w->kn->z, 0.0);  // walks start with the pelvis at z = 0
    for (int64_t i = 0; i < T; i++) {
        double t = (double)i / fps, P[H36M_J][3], ph = pchip_eval(&w->kn->phase, t);
        uint8_t fp[2];
        AGIR_TRY(lower_body(w, t, ph, P, fp, fs, e));
        if (phase) phase[2 * i] = fp[0], phase[2 * i + 1] = fp[1];
        upper_pose u = {.lean = (g->trunk_flex + 0.8 * cos(2 * ph)) * DEG,
                        .thorax_yaw = -g->thorax_counter * g->pelvis_yaw * DEG * cos(ph),
                        .alpha = {-w->amp[0] * cos(ph), w->amp[1] * cos(ph)},  // each arm swings with the other leg
                        .amp = {w->amp[0], w->amp[1]},
                        .elbow0 = g->elbow_flex * DEG};
        u.head_lean = u.lean + g->head_flex * DEG;
        upper_body(w->b, P[H36M_PELVIS], &u, P);
        float *f = frames + (size_t)i * H36M_J * 3;
        for (int j = 0; j < H36M_J; j++) put(f, j, P[j], dz);
        accumulate(fs, i, (const double(*)[3])P);
    }
    return AGIR_OK;
}

static double mean_or_nan(double sum, int n) { return n ? sum / n : NAN; }

// Ground truth from the events that fall inside the recording [0, t_end]: heel strikes, the step
// intervals between consecutive ones (those interrupted by a freeze are left out of the timing
// statistics) and the swings seen whole.
static void measure_steps(const steps *st, const frame_stats *fs, const pchip *pelvis_z, double t_end, float *gt) {
    double len[2] = {0, 0}, dt[2] = {0, 0}, width = 0, dts = 0, dts2 = 0, peak = 0, frz_t = 0;
    double t_first = NAN, t_last = NAN;
    int nlen[2] = {0, 0}, ndt[2] = {0, 0}, nhs = 0, npeak = 0, nfrz = 0, nfest = 0;
    for (int k = 1; k < st->n; k++) {
        const step *s = &st->s[k], *p = &st->s[k - 1];
        if (s->t_to >= 0 && s->t_hs <= t_end && fs->swing_peak[k] >= 0) peak += fs->swing_peak[k], npeak++;
        if (s->t_hs < 0 || s->t_hs > t_end) continue;
        if (!nhs++) t_first = s->t_hs;
        t_last = s->t_hs;
        len[s->side] += s->z - p->z, nlen[s->side]++;
        width += fabs(s->x - p->x);
        nfest += s->fest_start;
        if (s->freeze > 0) nfrz++, frz_t += fmin(s->t_hs + s->freeze, t_end) - s->t_hs;
        if (p->t_hs < 0 || p->freeze > 0) continue;
        double d = s->t_hs - p->t_hs;
        dt[s->side] += d, ndt[s->side]++;
        dts += d, dts2 += d * d;
    }
    int nd = ndt[0] + ndt[1];
    double step_time = mean_or_nan(dts, nd);
    double sd = nd > 1 ? sqrt(fmax(0.0, (dts2 - dts * dts / nd) / (nd - 1))) : NAN;
    double tl = mean_or_nan(dt[0], ndt[0]), tr = mean_or_nan(dt[1], ndt[1]);
    double ll = mean_or_nan(len[0], nlen[0]), lr = mean_or_nan(len[1], nlen[1]);
    pchip z = *pelvis_z;  // a fresh cursor
    z.cur = 0;
    double z0 = nhs > 1 ? pchip_eval(&z, t_first) : NAN, z1 = nhs > 1 ? pchip_eval(&z, t_last) : NAN;
    gt[SYNTH_GT_SPEED] = (float)((z1 - z0) / (t_last - t_first));
    gt[SYNTH_GT_STEP_TIME] = (float)step_time;
    gt[SYNTH_GT_CADENCE] = (float)(60.0 / step_time);
    gt[SYNTH_GT_STEP_TIME_CV] = (float)(sd / step_time);
    gt[SYNTH_GT_STEP_TIME_ASYM] = (float)(fabs(tl - tr) / (0.5 * (tl + tr)));
    gt[SYNTH_GT_STEP_LENGTH] = (float)mean_or_nan(len[0] + len[1], nhs);
    gt[SYNTH_GT_STEP_LENGTH_ASYM] = (float)(fabs(ll - lr) / (0.5 * (ll + lr)));
    gt[SYNTH_GT_STEP_WIDTH] = (float)mean_or_nan(width, nhs);
    gt[SYNTH_GT_FOOT_CLEARANCE] = (float)mean_or_nan(peak, npeak);
    gt[SYNTH_GT_N_STEPS] = (float)nhs;
    gt[SYNTH_GT_FREEZING_EPISODES] = (float)nfrz;
    gt[SYNTH_GT_FREEZING_TIME] = (float)frz_t;
    gt[SYNTH_GT_FESTINATION] = (float)nfest;
}

int synth_walk_render(const synth_body *b, const synth_gait *g, double fps, int64_t T, agir_rng *rng,
                      const char *id, float *frames, uint8_t *phase, float *gt, agir_err *e) {
    const double t_end = (double)(T - 1) / fps;
    steps st = {0};
    knots kn = {0};
    frame_stats fs = {0};
    int rc = build_steps(g, t_end, rng, &st, e);
    if (!rc && st.s[1].t_hs > 0) rc = AGIR_BUG(e, "%s: the walk does not start in steady state", id);
    if (!rc) rc = build_knots(g, &st, &kn, e);
    if (!rc && !(fs.swing_peak = malloc((size_t)st.n * sizeof(double))))
        rc = AGIR_BUG(e, "out of memory for %d steps", st.n);
    if (!rc) {
        for (int k = 0; k < st.n; k++) fs.swing_peak[k] = -1;
        walker w = {.b = b, .g = g, .st = &st, .kn = &kn, .id = id, .reach = REACH * (b->thigh + b->shank)};
        w.cap = b->ankle_h + (b->thigh + b->shank) * cos(0.5 * g->knee_midstance * DEG);
        for (int s = 0; s < 2; s++) w.amp[s] = arm_amplitude(b, g->arm_range[s], g->elbow_flex * DEG);
        w.cur[0] = st.s[0].side == 0 ? 0 : 1, w.cur[1] = 1 - w.cur[0];
        rc = render(&w, fps, T, frames, phase, &fs, e);
    }
    if (!rc) {
        measure_steps(&st, &fs, &kn.z, t_end, gt);
        for (int s = 0; s < 2; s++) gt[SYNTH_GT_ARM_SWING_L + s] = (float)(fs.arm_hi[s] - fs.arm_lo[s]);
        double al = fs.arm_hi[0] - fs.arm_lo[0], ar = fs.arm_hi[1] - fs.arm_lo[1];
        gt[SYNTH_GT_ARM_SWING_ASYM] = (float)(fabs(al - ar) / fmax(al, ar));
        gt[SYNTH_GT_TRUNK_FLEXION] = (float)(fs.lean_sum / (double)T);
        gt[SYNTH_GT_LEG_LENGTH] = (float)(b->thigh + b->shank);
    }
    free(fs.swing_peak);
    free(kn.buf);
    free(st.s);
    return rc;
}
