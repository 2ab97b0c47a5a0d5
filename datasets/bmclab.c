// BMCLab markers to H36M-17 joints: the marker-name table, frame dropping, axis conversion,
// resampling and the whole import (discovery, metadata sheet, mapping) into a gait dataset.
#include "datasets/bmclab.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

// Accepted names per role, normalised (see agir_bmclab_norm_label): the data set's own style
// ("L.ASIS", "R.Knee", "L.EL"), Vicon Plug-in Gait (LASI, LKNE, LANK, LELB, LWRA = radial/lateral
// and LWRB = ulnar/medial wrist marker), ISB anatomical landmark abbreviations (FLE femoral lateral
// epicondyle, FAL lateral malleolus, HLE/HME humeral epicondyles, RSP/USP styloid processes) and
// spelled-out variants. Extend a line to accept a new marker set; docs/importing.md mirrors it.
const agir_bmclab_role agir_bmclab_roles[BMC_NROLES] = {
    [BMC_LASIS] = {"L.ASIS", "LASIS LASI", 0},
    [BMC_RASIS] = {"R.ASIS", "RASIS RASI", 0},
    [BMC_LPSIS] = {"L.PSIS", "LPSIS LPSI", 0},
    [BMC_RPSIS] = {"R.PSIS", "RPSIS RPSI", 0},
    [BMC_LKNEE] = {"L.KNEE", "LKNEE LKNE LKNEELAT LFLE", 0},
    [BMC_RKNEE] = {"R.KNEE", "RKNEE RKNE RKNEELAT RFLE", 0},
    [BMC_LANKLE] = {"L.ANKLE", "LANKLE LANK LANKLELAT LFAL", 0},
    [BMC_RANKLE] = {"R.ANKLE", "RANKLE RANK RANKLELAT RFAL", 0},
    [BMC_C7] = {"C7", "C7", 0},
    [BMC_CLAV] = {"CLAV", "CLAV IJ", 0},
    [BMC_STRN] = {"STRN", "STRN STERNUM PX", 0},
    [BMC_T10] = {"T10", "T10", 0},
    [BMC_LSHO] = {"L.SHO", "LSHO LSHOULDER", 0},
    [BMC_RSHO] = {"R.SHO", "RSHO RSHOULDER", 0},
    [BMC_LEL] = {"L.EL", "LEL LELB LELBOW LELBOWLAT LHLE", 0},
    [BMC_REL] = {"R.EL", "REL RELB RELBOW RELBOWLAT RHLE", 0},
    [BMC_LEM] = {"L.EM", "LEM LELBOWMED LHME", 1},
    [BMC_REM] = {"R.EM", "REM RELBOWMED RHME", 1},
    [BMC_LWL] = {"L.WL", "LWL LWRA LWRIST LWRISTLAT LRSP", 0},
    [BMC_RWL] = {"R.WL", "RWL RWRA RWRIST RWRISTLAT RRSP", 0},
    [BMC_LWM] = {"L.WM", "LWM LWRB LWRISTMED LUSP", 1},
    [BMC_RWM] = {"R.WM", "RWM RWRB RWRISTMED RUSP", 1},
};

// Each joint is the mean of its markers (neck and head are offsets from the thorax).
typedef struct joint_def {
    int joint, n;
    int roles[4];
} joint_def;

static const joint_def joint_defs[] = {
    {H36M_PELVIS, 4, {BMC_LASIS, BMC_RASIS, BMC_LPSIS, BMC_RPSIS}},
    {H36M_RHIP, 2, {BMC_RASIS, BMC_RPSIS}},
    {H36M_RKNEE, 1, {BMC_RKNEE}},
    {H36M_RFOOT, 1, {BMC_RANKLE}},
    {H36M_LHIP, 2, {BMC_LASIS, BMC_LPSIS}},
    {H36M_LKNEE, 1, {BMC_LKNEE}},
    {H36M_LFOOT, 1, {BMC_LANKLE}},
    {H36M_SPINE, 2, {BMC_STRN, BMC_T10}},
    {H36M_THORAX, 2, {BMC_C7, BMC_CLAV}},
    {H36M_LSHOULDER, 1, {BMC_LSHO}},
    {H36M_LELBOW, 2, {BMC_LEL, BMC_LEM}},
    {H36M_LWRIST, 2, {BMC_LWL, BMC_LWM}},
    {H36M_RSHOULDER, 1, {BMC_RSHO}},
    {H36M_RELBOW, 2, {BMC_REL, BMC_REM}},
    {H36M_RWRIST, 2, {BMC_RWL, BMC_RWM}},
};
#define N_JOINT_DEFS (int)(sizeof joint_defs / sizeof *joint_defs)

const float agir_bmclab_neck_mm[3] = {0.27f, 57.48f, 11.44f};
const float agir_bmclab_head_mm[3] = {-2.07f, 165.23f, 34.02f};

void agir_bmclab_norm_label(const char *label, char *out, size_t outsz) {
    const char *colon = strrchr(label, ':');
    const char *p = colon ? colon + 1 : label;
    size_t k = 0;
    for (; *p && k + 1 < outsz; p++)
        if (isalnum((unsigned char)*p)) out[k++] = (char)toupper((unsigned char)*p);
    if (outsz) out[k] = '\0';
}

static int alias_has(const char *aliases, const char *name) {
    size_t n = strlen(name);
    for (const char *p = aliases; *p;) {
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && n > 0 && !strncmp(p, name, n)) return 1;
        if (!end) break;
        p = end + 1;
    }
    return 0;
}

int agir_bmclab_match(const agir_c3d *c, const char *name, int idx[BMC_NROLES], agir_err *e) {
    for (int r = 0; r < BMC_NROLES; r++) idx[r] = -1;
    for (int p = 0; p < c->n_points; p++) {
        char norm[64];
        agir_bmclab_norm_label(c->labels[p], norm, sizeof norm);
        for (int r = 0; r < BMC_NROLES; r++) {
            if (!alias_has(agir_bmclab_roles[r].aliases, norm)) continue;
            if (idx[r] >= 0)
                return AGIR_BAD(e, "%s: labels '%s' and '%s' both name marker %s (hint: rename or delete one in the "
                                "file)", name, c->labels[idx[r]], c->labels[p], agir_bmclab_roles[r].name);
            idx[r] = p;
        }
    }
    for (int r = 0; r < BMC_NROLES; r++)
        if (idx[r] < 0 && !agir_bmclab_roles[r].optional)
            return AGIR_BAD(e, "%s: no marker for %s (looked for labels %s; hint: add the file's name for it to "
                            "agir_bmclab_roles in datasets/bmclab.c)", name, agir_bmclab_roles[r].name,
                            agir_bmclab_roles[r].aliases);
    return AGIR_OK;
}

static int units_to_m(const agir_c3d *c, const char *name, double *to_m, agir_err *e) {
    char u[16];
    size_t k = 0;
    for (const char *p = c->units; *p && k + 1 < sizeof u; p++) u[k++] = (char)tolower((unsigned char)*p);
    u[k] = '\0';
    if (!*u || !strcmp(u, "mm")) *to_m = 1e-3;
    else if (!strcmp(u, "cm")) *to_m = 1e-2;
    else if (!strcmp(u, "m")) *to_m = 1;
    else
        return AGIR_BAD(e, "%s: POINT:UNITS is '%s', not mm, cm or m (hint: re-export the file in mm)", name,
                        c->units);
    return AGIR_OK;
}

// A sample counts when present and not exactly at the origin (some exporters write gaps as zeros).
static int sample_ok(const agir_c3d *c, int64_t f, int p) {
    size_t i = (size_t)f * (size_t)c->n_points + (size_t)p;
    const float *v = c->xyz + 3 * i;
    return c->valid[i] && !(v[0] == 0 && v[1] == 0 && v[2] == 0);
}

static int frame_ok(const agir_c3d *c, int64_t f, const int idx[BMC_NROLES]) {
    for (int r = 0; r < BMC_NROLES; r++)
        if (idx[r] >= 0 && !sample_ok(c, f, idx[r])) return 0;
    return 1;
}

// Joints of frame f in lab axes and metres, neck and head left for later.
static void lab_joints(const agir_c3d *c, int64_t f, const int idx[BMC_NROLES], double to_m, double j[H36M_J][3]) {
    for (int d = 0; d < N_JOINT_DEFS; d++) {
        double s[3] = {0, 0, 0};
        int used = 0;
        for (int k = 0; k < joint_defs[d].n; k++) {
            int p = idx[joint_defs[d].roles[k]];
            if (p < 0) continue;
            const float *v = c->xyz + 3 * ((size_t)f * (size_t)c->n_points + (size_t)p);
            for (int a = 0; a < 3; a++) s[a] += v[a];
            used++;
        }
        for (int a = 0; a < 3; a++) j[joint_defs[d].joint][a] = s[a] / used * to_m;
    }
}

// The lab axis along which the thorax stands above the feet, on average over kept frames.
static int find_up(const double sum[3], const char *name, agir_err *e) {
    int a = 0;
    for (int k = 1; k < 3; k++)
        if (fabs(sum[k]) > fabs(sum[a])) a = k;
    if (a == 1 && sum[1] > 0) return AGIR_UP_Y;
    if (a == 2 && sum[2] > 0) return AGIR_UP_Z;
    static const char axes[3] = {'x', 'y', 'z'};
    AGIR_BAD(e, "%s: cannot tell the vertical axis: the thorax is above the feet along %c%c (hint: pass --up y or "
             "--up z)", name, sum[a] < 0 ? '-' : '+', axes[a]);
    return 0;
}

int agir_bmclab_map(const agir_c3d *c, const char *name, int up, agir_bmclab_trial *t, agir_err *e) {
    memset(t, 0, sizeof *t);
    int idx[BMC_NROLES];
    double to_m = 0;
    AGIR_TRY(agir_bmclab_match(c, name, idx, e));
    AGIR_TRY(units_to_m(c, name, &to_m, e));
    for (int d = 0; d < N_JOINT_DEFS; d++)
        for (int k = 0; k < joint_defs[d].n; k++)
            if (idx[joint_defs[d].roles[k]] < 0) t->partial_joints |= 1 << joint_defs[d].joint;
    size_t F = (size_t)c->n_frames, nj;
    if (agir_mul_ok(F, H36M_J * 3 * sizeof(float), &nj)) return AGIR_BUG(e, "%s: too many frames", name);
    t->joints = malloc(nj ? nj : 1);
    t->t = malloc(F ? F * sizeof(double) : 1);
    if (!t->joints || !t->t) {
        agir_bmclab_trial_free(t);
        return AGIR_BUG(e, "out of memory for %zu frames", F);
    }
    double up_sum[3] = {0, 0, 0};
    for (int64_t f = 0; f < c->n_frames; f++) {
        if (!frame_ok(c, f, idx)) {
            t->dropped++;
            continue;
        }
        double j[H36M_J][3];
        lab_joints(c, f, idx, to_m, j);
        for (int a = 0; a < 3; a++) up_sum[a] += j[H36M_THORAX][a] - 0.5 * (j[H36M_LFOOT][a] + j[H36M_RFOOT][a]);
        float *out = t->joints + (size_t)t->n * H36M_J * 3;
        for (int k = 0; k < H36M_J; k++)
            for (int a = 0; a < 3; a++) out[3 * k + a] = (float)j[k][a];
        t->t[t->n++] = (double)f / c->rate;
    }
    t->up = up;
    if (t->n > 0 && up == AGIR_UP_AUTO && !(t->up = find_up(up_sum, name, e))) {
        agir_bmclab_trial_free(t);
        return AGIR_EINPUT;
    }
    // To AGIR's y-up frame, then neck and head from the thorax.
    for (int64_t f = 0; f < t->n; f++) {
        float *j = t->joints + (size_t)f * H36M_J * 3;
        if (t->up == AGIR_UP_Z)
            for (int k = 0; k < H36M_J; k++) {
                float y = j[3 * k + 1];
                j[3 * k + 1] = j[3 * k + 2];
                j[3 * k + 2] = -y;
            }
        for (int a = 0; a < 3; a++) {
            j[3 * H36M_NECK + a] = j[3 * H36M_THORAX + a] + agir_bmclab_neck_mm[a] * 1e-3f;
            j[3 * H36M_HEAD + a] = j[3 * H36M_THORAX + a] + agir_bmclab_head_mm[a] * 1e-3f;
        }
    }
    return AGIR_OK;
}

void agir_bmclab_trial_free(agir_bmclab_trial *t) {
    free(t->joints);
    free(t->t);
    memset(t, 0, sizeof *t);
}

int agir_bmclab_resample(const agir_bmclab_trial *t, double fps, float **out, int64_t *n_out, agir_err *e) {
    *out = NULL;
    *n_out = 0;
    if (!(fps > 0 && fps <= 10000)) return AGIR_BAD(e, "resampling rate %g is not in (0, 10000] fps", fps);
    if (t->n == 0) return AGIR_OK;
    double span = t->t[t->n - 1] - t->t[0];
    if (span * fps > 1e8) return AGIR_BAD(e, "resampling %g s at %g fps gives too many frames", span, fps);
    int64_t n = (int64_t)floor(span * fps + 1e-6) + 1;
    float *o = malloc((size_t)n * H36M_J * 3 * sizeof(float));
    if (!o) return AGIR_BUG(e, "out of memory resampling %lld frames", (long long)n);
    int64_t i = 0;
    for (int64_t k = 0; k < n; k++) {
        double tk = t->t[0] + (double)k / fps;
        while (i + 1 < t->n - 1 && t->t[i + 1] <= tk) i++;
        const float *a = t->joints + (size_t)i * H36M_J * 3;
        float *dst = o + (size_t)k * H36M_J * 3;
        if (t->n == 1) {
            memcpy(dst, a, H36M_J * 3 * sizeof(float));
            continue;
        }
        const float *b = a + H36M_J * 3;
        double w = (tk - t->t[i]) / (t->t[i + 1] - t->t[i]);
        if (w > 1) w = 1;
        for (int q = 0; q < H36M_J * 3; q++) dst[q] = (float)((1 - w) * a[q] + w * b[q]);
    }
    *out = o;
    *n_out = n;
    return AGIR_OK;
}

// ---- the whole import ----

static int add_trial(const agir_bmclab_opts *o, const agir_bmclab_file *f, const agir_bmclab_subject *s,
                     agir_gait *g, agir_bmclab_summary *sum, const agir_log *log, agir_err *e) {
    agir_c3d c;
    AGIR_TRY(agir_c3d_read(f->path, &c, e));
    agir_bmclab_trial t;
    int rc = agir_bmclab_map(&c, f->path, o->up, &t, e);
    float rate = c.rate;
    agir_c3d_free(&c);
    if (rc) return rc;
    sum->files++;
    sum->frames += t.n;
    sum->dropped += t.dropped;
    if (t.n == 0) {
        sum->empty++;
        agir_warn(log, "%s: no frame has all the needed markers; skipped", f->path);
        agir_bmclab_trial_free(&t);
        return AGIR_OK;
    }
    sum->up_y += t.up == AGIR_UP_Y;
    sum->up_z += t.up == AGIR_UP_Z;
    sum->partial += t.partial_joints != 0;
    float *frames = t.joints;
    int64_t n = t.n;
    float *res = NULL;
    if (o->fps > 0) {
        rc = agir_bmclab_resample(&t, o->fps, &res, &n, e);
        frames = res;
    }
    int score = f->id.medication == AGIR_MED_ON ? s->on : s->off;
    sum->unscored += score < 0;
    agir_seq meta = {
        .id = (char *)f->id.id,
        .subject = (char *)f->id.subject,
        .medication = f->id.medication,
        .updrs_gait = score,
        .fps = o->fps > 0 ? (float)o->fps : rate,
        .source = "bmclab",
    };
    if (!rc) rc = agir_gait_append(g, &meta, frames, n, NULL, e);
    free(res);
    agir_bmclab_trial_free(&t);
    return rc;
}

static int import_files(const agir_bmclab_opts *o, const agir_bmclab_meta *m, const agir_bmclab_file *files, int n,
                        agir_gait *g, agir_bmclab_summary *sum, const agir_log *log, agir_err *e) {
    for (int i = 0; i < n; i++)
        if (!agir_bmclab_meta_find(m, files[i].id.subject))
            return AGIR_BAD(e, "%s: no row for subject %s, needed by %s (hint: add the subject to the sheet)", o->meta,
                            files[i].id.subject, files[i].path);
    agir_progress bar;
    agir_progress_start(&bar, log, "import", n);
    int rc = AGIR_OK;
    for (int i = 0; i < n && !rc; i++) {
        rc = add_trial(o, &files[i], agir_bmclab_meta_find(m, files[i].id.subject), g, sum, log, e);
        agir_progress_add(&bar, 1);
    }
    agir_progress_finish(&bar);
    return rc;
}

int agir_bmclab_import(const agir_bmclab_opts *o, agir_gait *g, agir_bmclab_summary *sum, const agir_log *log,
                       agir_err *e) {
    memset(sum, 0, sizeof *sum);
    if (o->fps < 0 || o->fps > 10000) return AGIR_BAD(e, "--fps %g is not in (0, 10000]", o->fps);
    AGIR_TRY(agir_gait_init(g, &agir_skel_h36m17, 0, NULL, e));
    agir_bmclab_meta m = {0};
    agir_bmclab_file *files = NULL;
    int n = 0;
    int rc = agir_bmclab_meta_read(o->meta, &m, e);
    if (!rc) rc = agir_bmclab_discover(o->root, &files, &n, e);
    if (!rc) rc = import_files(o, &m, files, n, g, sum, log, e);
    if (!rc && g->n_seq == 0)
        rc = AGIR_BAD(e, "%s: none of the %d walk files has a usable frame (hint: check the marker names)", o->root, n);
    agir_bmclab_files_free(files, n);
    agir_bmclab_meta_free(&m);
    if (rc) agir_gait_free(g);
    return rc;
}
