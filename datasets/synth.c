// The synthetic Parkinsonian walker's dataset level: the [synth] keys, subjects (anthropometrics,
// severity OFF and ON medication), per-walk scores and gait parameters drawn from them, and the
// generation of all walks in parallel, each from its own random stream, assembled in a fixed order.
//
// Parameter anchors per MDS-UPDRS gait score (item 3.10: 0 normal, 1 slight, 2 mild, 3 moderate;
// Goetz et al. 2008, Mov Disord 23:2129-2170) come from published gait studies, in round numbers:
// - healthy adults walk at 1.2-1.4 m/s with 0.6-0.7 m steps at 105-120 steps/min (Hollman et al.
//   2011, "Normative spatiotemporal gait parameters in older adults", Gait Posture 34:111-118);
// - Parkinson's gait is slower mainly through shorter steps while cadence is kept or rises
//   (Morris et al. 1994, "The pathogenesis of gait hypokinesia in Parkinson's disease", Brain
//   117:1169-1181; the meta-analysis of Zanardi et al. 2021, Sci Rep 11:752);
// - step-to-step timing varies more: stride-time CV about 2% in controls, 3-5% in PD, more with
//   freezing (Hausdorff et al. 1998, Mov Disord 13:428-437), and left/right coordination is less
//   symmetric (Plotnik et al. 2007, Exp Brain Res 181:561-570);
// - arm swing is smaller and asymmetric already in early PD (Lewek et al. 2010, Gait Posture
//   31:256-260), and the trunk turns "en bloc" with less pelvis-thorax counter-rotation (Van
//   Emmerik et al. 1999, Arch Phys Med Rehabil 80:186-191);
// - posture stoops forward (Doherty et al. 2011, "Postural deformities in Parkinson's disease",
//   Lancet Neurol 10:538-549); feet clear the floor less (shuffling) and double support lengthens;
// - festination and freezing appear in advanced disease (Nutt et al. 2011, Lancet Neurol
//   10:734-744); most freezing episodes last a few seconds (Schaafsma et al. 2003, Eur J Neurol
//   10:391-398).
// Segment lengths are Winter's fractions of body height (D. A. Winter, "Biomechanics and Motor
// Control of Human Movement", 4th ed., Wiley 2009, Fig. 4.1).
#include "datasets/synth.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "datasets/synth_walk.h"

const agir_key agir_synth_keys[] = {
    {"synth", "subjects", AGIR_KEY_INT, "24", 1, 5000, NULL, "number of synthetic subjects, each walking OFF and ON medication"},
    {"synth", "walks_per_state", AGIR_KEY_INT, "4", 1, 50, NULL, "walks per subject and medication state"},
    {"synth", "fps", AGIR_KEY_FLOAT, "30", 10, 500, NULL, "frame rate of the generated motion, Hz"},
    {"synth", "seconds", AGIR_KEY_FLOAT, "10", 3, 120, NULL, "duration of each walk, s"},
    {"synth", "noise", AGIR_KEY_FLOAT, "0.001", 0, 0.05, NULL,
     "std of Gaussian measurement noise added to every coordinate, m (0 = exact kinematics)"},
    {"synth", "episodes", AGIR_KEY_BOOL, "true", 0, 0, NULL, "allow festination and freezing episodes in walks scored 2-3"},
    {"synth", "output", AGIR_KEY_STRING, "data/synth.h5", 0, 0, NULL,
     "HDF5 gait dataset written by 'agir synth' (relative to the working directory)"},
    AGIR_KEYS_END,
};

// Random stream of the synthetic walker under the run seed ("synth" in ASCII).
static const uint64_t SYNTH_STREAM = 0x73796e7468ull;
// Walks rendered per parallel batch: bounds the scratch memory, not the result.
enum { SYNTH_BATCH = 64 };
// Frames of the whole dataset are kept in memory; refuse configurations beyond this.
static const double SYNTH_MAX_BYTES = 8.0 * 1024 * 1024 * 1024;

// Anchor values at scores 0, 1, 2, 3; a walk's value interpolates at its continuous severity.
typedef struct anchors {
    double step_length;  // fraction of body height
    double cadence;      // steps/min
    double stance;       // fraction of the gait cycle
    double step_width;   // m
    double step_length_sd, step_time_cv, asym;
    double arm_range;    // m of forward wrist excursion for a 1.70 m walker
    double arm_asym;     // |L - R| / max
    double trunk_flex, head_flex, elbow_flex, knee_midstance, pelvis_yaw;  // deg
    double thorax_counter;
    double clearance;    // m of peak ankle rise for a 1.70 m walker
    double p_festination;  // probability of one festination episode in a walk
    double freezes_per_10s;
} anchors;

static const anchors ANCHOR[4] = {
    {0.38, 112, 0.56, 0.10, 0.025, 0.020, 0.02, 0.36, 0.08, 4, 5, 15, 30, 5, 0.8, 0.110, 0.00, 0.0},
    {0.33, 110, 0.575, 0.10, 0.035, 0.030, 0.04, 0.27, 0.25, 8, 8, 22, 32, 4, 0.6, 0.095, 0.00, 0.0},
    {0.275, 107, 0.60, 0.11, 0.045, 0.040, 0.06, 0.19, 0.35, 13, 12, 30, 34, 3, 0.4, 0.075, 0.15, 0.2},
    {0.21, 104, 0.63, 0.12, 0.060, 0.055, 0.08, 0.11, 0.45, 19, 16, 40, 37, 2, 0.2, 0.055, 0.50, 0.8},
};

// Linear interpolation of field `off` of ANCHOR at severity v in [0, 3].
static double at(size_t off, double v) {
    int i = v >= 3 ? 2 : (int)v;
    double f = v - i;
    double a = *(const double *)((const char *)&ANCHOR[i] + off), b = *(const double *)((const char *)&ANCHOR[i + 1] + off);
    return a + f * (b - a);
}
#define AT(field, v) at(offsetof(anchors, field), (v))

typedef struct subject {
    synth_body body;
    double severity[2];  // latent gait severity (score scale) OFF, ON
    int affected;        // more impaired side: 0 left, 1 right
    double len_f, cad_f, arm_f, trunk_off;  // personal style around the score's norms
} subject;

static void make_body(double H, synth_body *b) {
    *b = (synth_body){
        .height = H,
        .thigh = 0.245 * H,  // greater trochanter 0.530 H to knee 0.285 H
        .shank = 0.246 * H,  // knee to ankle 0.039 H
        .ankle_h = 0.039 * H,
        // Joint centres lie inside Winter's bitrochanteric (0.191 H) and biacromial (0.259 H)
        // breadths; these fractions match Human3.6M's skeleton offsets.
        .hip_half = 0.060 * H,
        .shoulder_half = 0.087 * H,
        .pelvis_spine = 0.138 * H,  // hip level 0.530 H to shoulder level 0.818 H, in two parts
        .spine_thorax = 0.150 * H,
        .thorax_neck = 0.052 * H,   // shoulder to chin (0.870 H)
        .neck_head = 0.066 * H,     // chin to eye level (0.936 H)
        .upper_arm = 0.186 * H,
        .forearm = 0.146 * H,
    };
}

static double clampd(double x, double lo, double hi) { return x < lo ? lo : x > hi ? hi : x; }

// OFF severities are stratified over subjects (a shuffled grid with jitter) so that even a small
// dataset spans every score; medication lowers severity by a per-subject response.
static int draw_subjects(uint64_t seed, int n, subject *sj, agir_err *e) {
    agir_rng root;
    agir_rng_init(&root, seed, SYNTH_STREAM);
    int *perm = malloc((size_t)n * sizeof *perm);
    if (!perm) return AGIR_BUG(e, "out of memory for %d subjects", n);
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)agir_rng_below(&root, (uint32_t)i + 1), t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
    for (int i = 0; i < n; i++) {
        agir_rng r;
        agir_rng_child(&root, (uint64_t)i + 1, &r);
        subject *s = &sj[i];
        make_body(clampd(1.70 + 0.08 * agir_rng_normal(&r), 1.50, 1.95), &s->body);
        s->severity[0] = 0.4 + 3.2 * (perm[i] + agir_rng_uniform(&r)) / n;
        s->severity[1] = fmax(0.0, s->severity[0] - agir_rng_range(&r, 0.5, 1.3));
        s->affected = (int)agir_rng_below(&r, 2);
        s->len_f = exp(0.05 * agir_rng_normal(&r));
        s->cad_f = exp(0.03 * agir_rng_normal(&r));
        s->arm_f = exp(0.08 * agir_rng_normal(&r));
        s->trunk_off = 2.0 * agir_rng_normal(&r);
    }
    free(perm);
    return AGIR_OK;
}

// Poisson count by inversion (small means only).
static int poisson(agir_rng *r, double mean) {
    double p = exp(-mean), c = p, u = agir_rng_uniform(r);
    int k = 0;
    while (u > c && k < 64) k++, p *= mean / k, c += p;
    return k;
}

// Festination and freezing episodes of one walk, starting at least half a second in. Their rates
// follow the integer score, so walks scored 0-1 never have any.
static void draw_episodes(int score, double seconds, agir_rng *r, synth_gait *g) {
    if (agir_rng_uniform(r) < ANCHOR[score].p_festination) {
        g->fest_start[0] = agir_rng_range(r, 0.5, fmax(0.6, seconds - 2.5));
        g->fest_steps[0] = 4 + (int)agir_rng_below(r, 4);
        g->n_fest = 1;
    }
    int n = poisson(r, ANCHOR[score].freezes_per_10s * seconds / 10.0);
    double prev_end = 0.0;
    for (int i = 0; i < n && g->n_freeze < SYNTH_MAX_EPISODES; i++) {
        double start = prev_end + agir_rng_range(r, 0.5, 4.0), dur = agir_rng_range(r, 1.0, 3.0);
        if (start + dur > seconds - 0.5) break;
        g->freeze_start[g->n_freeze] = start;
        g->freeze_dur[g->n_freeze++] = dur;
        prev_end = start + dur + 1.0;
    }
    g->tremor_hz = agir_rng_range(r, 4.0, 6.0);
}

// Gait parameters of one walk at continuous severity v (its score plus jitter).
static void draw_gait(const subject *sj, double v, agir_rng *r, synth_gait *g) {
    const double H = sj->body.height, scale = H / 1.70;
    memset(g, 0, sizeof *g);
    g->step_length = clampd(AT(step_length, v) * H * sj->len_f * exp(0.04 * agir_rng_normal(r)), 0.12 * H, 0.45 * H);
    g->step_time = 60.0 / clampd(AT(cadence, v) * sj->cad_f * exp(0.03 * agir_rng_normal(r)), 80, 140);
    g->step_length_sd = AT(step_length_sd, v);
    g->step_time_cv = AT(step_time_cv, v) * exp(0.2 * agir_rng_normal(r));
    g->step_length_asym = AT(asym, v) * exp(0.3 * agir_rng_normal(r));
    g->step_time_asym = AT(asym, v) * exp(0.3 * agir_rng_normal(r));
    g->stance = clampd(AT(stance, v) + 0.01 * agir_rng_normal(r), 0.55, 0.68);
    g->step_width = AT(step_width, v) * scale * exp(0.12 * agir_rng_normal(r));
    g->step_width_sd = 0.15;
    g->clearance = AT(clearance, v) * scale * exp(0.1 * agir_rng_normal(r));
    double arm = AT(arm_range, v) * scale * sj->arm_f * exp(0.08 * agir_rng_normal(r));
    double asym = clampd(AT(arm_asym, v) * exp(0.25 * agir_rng_normal(r)), 0.0, 0.8);
    double hi = 2.0 * arm / (2.0 - asym);  // mean of the two sides stays `arm`
    g->affected = sj->affected;
    g->arm_range[sj->affected] = hi * (1.0 - asym);
    g->arm_range[1 - sj->affected] = hi;
    g->elbow_flex = AT(elbow_flex, v) + 4.0 * agir_rng_normal(r);
    g->trunk_flex = fmax(0.0, AT(trunk_flex, v) + sj->trunk_off + 1.5 * agir_rng_normal(r));
    g->head_flex = AT(head_flex, v);
    g->knee_midstance = AT(knee_midstance, v);
    g->pelvis_yaw = AT(pelvis_yaw, v);
    g->thorax_counter = AT(thorax_counter, v);
    g->sway = 0.02 * scale;
    g->first_side = (int)agir_rng_below(r, 2);
    g->phase0 = agir_rng_uniform(r);
}

typedef struct walk_job {
    const subject *subj;
    int subject, state, walk;  // indices; state 0 OFF, 1 ON
    char id[64];
    int score;
    float *frames;    // (T, 17, 3)
    uint8_t *phase;   // (T, 2) or NULL
    float gt[SYNTH_N_GT];
    agir_err err;
    int rc;
} walk_job;

static void walk_id(walk_job *w) {
    snprintf(w->id, sizeof w->id, "SYN%03d_%s_walk_%d", w->subject + 1, w->state ? "on" : "off", w->walk + 1);
}

// One walk from its own stream: score, parameters, motion. Episodes and noise come from separate
// child streams so that switching them on or off leaves the rest of the walk as it was.
static void run_walk(walk_job *w, uint64_t seed, double fps, double seconds, int64_t T, double noise, int episodes) {
    agir_rng root, subj, rng, gait, nz, ep;
    agir_rng_init(&root, seed, SYNTH_STREAM);
    agir_rng_child(&root, (uint64_t)w->subject + 1, &subj);  // the stream draw_subjects used
    agir_rng_child(&subj, ((uint64_t)(w->state + 1) << 32) | (uint64_t)w->walk, &rng);
    agir_rng_child(&rng, 0, &gait);
    agir_rng_child(&rng, 1, &nz);
    agir_rng_child(&rng, 2, &ep);
    double sev = w->subj->severity[w->state];
    w->score = (int)lround(clampd(sev + 0.35 * agir_rng_normal(&gait), 0.0, 3.0));
    double v = clampd(w->score + agir_rng_range(&gait, -0.3, 0.3), 0.0, 3.0);
    synth_gait g;
    draw_gait(w->subj, v, &gait, &g);
    if (episodes) draw_episodes(w->score, seconds, &ep, &g);
    agir_err_clear(&w->err);
    w->rc = synth_walk_render(&w->subj->body, &g, fps, T, &gait, w->id, w->frames, w->phase, w->gt, &w->err);
    if (w->rc) return;
    w->gt[SYNTH_GT_SEVERITY] = (float)sev;
    w->gt[SYNTH_GT_HEIGHT] = (float)w->subj->body.height;
    if (noise > 0)
        for (int64_t i = 0; i < T * H36M_J * 3; i++) w->frames[i] += (float)(noise * agir_rng_normal(&nz));
}

typedef struct synth_opts {
    uint64_t seed;
    int subjects, walks;  // walks per state
    double fps, seconds, noise;
    int episodes;
    int64_t T;            // frames per walk
} synth_opts;

static int read_opts(const agir_cfg *cfg, synth_opts *o, agir_err *e) {
    o->seed = (uint64_t)agir_cfg_int(cfg, "run", "seed");
    o->subjects = (int)agir_cfg_int(cfg, "synth", "subjects");
    o->walks = (int)agir_cfg_int(cfg, "synth", "walks_per_state");
    o->fps = agir_cfg_float(cfg, "synth", "fps");
    o->seconds = agir_cfg_float(cfg, "synth", "seconds");
    o->noise = agir_cfg_float(cfg, "synth", "noise");
    o->episodes = agir_cfg_bool(cfg, "synth", "episodes");
    o->T = (int64_t)llround(o->fps * o->seconds);
    double bytes = (double)o->subjects * 2 * o->walks * (double)o->T * H36M_J * 3 * sizeof(float);
    if (bytes > SYNTH_MAX_BYTES)
        return AGIR_BAD(e, "synth.subjects x walks_per_state x seconds x fps: the dataset would hold %.1f GiB of "
                           "frames (hint: at most %.0f GiB; lower one of them)",
                        bytes / (1024.0 * 1024 * 1024), SYNTH_MAX_BYTES / (1024.0 * 1024 * 1024));
    return AGIR_OK;
}

// Renders walks [w0, w0 + n) of the dataset in parallel into jobs[0..n).
static void render_batch(const synth_opts *o, const subject *sj, int w0, int n, walk_job *jobs, agir_progress *pr) {
    const int per_subject = 2 * o->walks;
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < n; i++) {
        walk_job *w = &jobs[i];
        int k = w0 + i;
        w->subject = k / per_subject;
        w->state = (k % per_subject) / o->walks;
        w->walk = k % o->walks;
        w->subj = &sj[w->subject];
        walk_id(w);
        run_walk(w, o->seed, o->fps, o->seconds, o->T, o->noise, o->episodes);
#pragma omp critical(synth_progress)
        agir_progress_add(pr, 1);
    }
}

static int append_walk(agir_gait *out, const walk_job *w, const synth_opts *o, agir_err *e) {
    char subject[32];
    snprintf(subject, sizeof subject, "SYN%03d", w->subject + 1);
    agir_seq meta = {
        .id = (char *)w->id,
        .subject = subject,
        .medication = w->state ? AGIR_MED_ON : AGIR_MED_OFF,
        .updrs_gait = w->score,
        .fps = (float)o->fps,
        .source = "synth",
    };
    return agir_gait_append(out, &meta, w->frames, o->T, w->gt, e);
}

static int generate(const synth_opts *o, const subject *sj, agir_gait *out, uint8_t *phase, const agir_log *log,
                    agir_err *e) {
    const int total = o->subjects * 2 * o->walks;
    const size_t fsz = (size_t)o->T * H36M_J * 3;
    walk_job *jobs = calloc(SYNTH_BATCH, sizeof *jobs);
    float *buf = malloc((size_t)SYNTH_BATCH * fsz * sizeof(float));
    if (!jobs || !buf) {
        free(jobs), free(buf);
        return AGIR_BUG(e, "out of memory for a batch of %d walks", SYNTH_BATCH);
    }
    agir_info(log, "synth: %d subjects x 2 medication states x %d walks of %lld frames at %g fps", o->subjects,
              o->walks, (long long)o->T, o->fps);
    agir_progress pr;
    agir_progress_start(&pr, log, "synth", total);
    int rc = AGIR_OK;
    for (int w0 = 0; w0 < total && !rc; w0 += SYNTH_BATCH) {
        int n = total - w0 < SYNTH_BATCH ? total - w0 : SYNTH_BATCH;
        for (int i = 0; i < n; i++) {
            jobs[i].frames = buf + (size_t)i * fsz;
            jobs[i].phase = phase ? phase + (size_t)(w0 + i) * (size_t)o->T * 2 : NULL;
        }
        render_batch(o, sj, w0, n, jobs, &pr);
        for (int i = 0; i < n && !rc; i++) {
            if (jobs[i].rc) rc = agir_errf(e, jobs[i].err.code, "%s", jobs[i].err.msg);
            else rc = append_walk(out, &jobs[i], o, e);
        }
    }
    agir_progress_finish(&pr);
    free(jobs);
    free(buf);
    return rc;
}

int agir_synth_generate_phases(const agir_cfg *cfg, agir_gait *out, uint8_t **phase, const agir_log *log,
                               agir_err *e) {
    synth_opts o;
    memset(out, 0, sizeof *out);
    if (phase) *phase = NULL;
    AGIR_TRY(read_opts(cfg, &o, e));
    subject *sj = calloc((size_t)o.subjects, sizeof *sj);
    uint8_t *ph = phase ? malloc((size_t)o.subjects * 2 * (size_t)o.walks * (size_t)o.T * 2) : NULL;
    int rc = (!sj || (phase && !ph)) ? AGIR_BUG(e, "out of memory for %d subjects", o.subjects) : AGIR_OK;
    if (!rc) rc = draw_subjects(o.seed, o.subjects, sj, e);
    if (!rc) rc = agir_gait_init(out, &agir_skel_h36m17, agir_synth_n_gt, agir_synth_gt_names, e);
    if (!rc) rc = generate(&o, sj, out, ph, log, e);
    free(sj);
    if (rc) {
        free(ph);
        agir_gait_free(out);
        return rc;
    }
    if (phase) *phase = ph;
    return AGIR_OK;
}

int agir_synth_generate(const agir_cfg *cfg, agir_gait *out, const agir_log *log, agir_err *e) {
    return agir_synth_generate_phases(cfg, out, NULL, log, e);
}
