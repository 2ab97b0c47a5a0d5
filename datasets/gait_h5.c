// The HDF5 gait store: writing (atomic, byte-deterministic) and validated reading. What it does
// like the token store (root identity, atomic write, the read, the /sequences columns) is in
// datasets/seq_h5.c; this file holds the gait layout and its rules.
//
// Layout (docs/dataset_format.md is the full schema):
//   / attrs format="agir-gait", version=1, skeleton=<name>
//   /skeleton/joint_names (J,) str, /skeleton/parents (J,) int32
//   /frames (N, J, 3) float32
//   /sequences/{id,subject,source,description,rationale} (S,) str ("" = none)
//   /sequences/{offset,length} (S,) int64, medication, updrs_gait (S,) int8, fps (S,) float32
//   /ground_truth/names (G,) str, /ground_truth/values (S, G) float32   (only when G > 0)
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/gait.h"
#include "datasets/h5io.h"
#include "datasets/seq_checks.h"
#include "datasets/seq_h5.h"

// Longest strings accepted, in bytes: names and ids are short, texts are paragraphs.
enum { MAX_NAME = AGIR_SEQ_H5_MAX_NAME, MAX_TEXT = 64 * 1024 };

// ---- validation (shared by the reader and the writer) --------------------------------------

// The per-sequence rules that the shared slice checks (agir_seq_check_slices) leave out.
static int check_seq(const agir_seq *q, const char *name, agir_err *e) {
    if (!isfinite(q->fps) || q->fps <= 0)
        return AGIR_BAD(e, "%s: sequence '%s': fps %g is not a positive number (hint: store the frame rate, e.g. 20)",
                        name, q->id, (double)q->fps);
    return agir_seq_check_labels(name, q->id, q->medication, q->updrs_gait, e);
}

static int check_frames(const agir_gait *g, const char *name, agir_err *e) {
    size_t per = (size_t)g->skel->n_joints * 3, n = (size_t)g->n_frames * per;
    for (size_t i = 0; i < n; i++) {
        if (isfinite(g->frames[i])) continue;
        int64_t row = (int64_t)(i / per);
        int joint = (int)(i % per / 3);
        for (int64_t s = 0; s < g->n_seq; s++) {
            const agir_seq *q = &g->seq[s];
            if (row >= q->offset && row < q->offset + q->length)
                return AGIR_BAD(e, "%s: sequence '%s': frame %lld, joint %d (%s): coordinate is %g (hint: drop or "
                                   "interpolate missing frames before storing)",
                                name, q->id, (long long)(row - q->offset), joint, g->skel->joint_names[joint],
                                (double)g->frames[i]);
        }
        return AGIR_BAD(e, "%s: /frames row %lld, joint %d (%s): coordinate is %g (hint: store finite coordinates)",
                        name, (long long)row, joint, g->skel->joint_names[joint], (double)g->frames[i]);
    }
    return AGIR_OK;
}

static int check_gt(const agir_gait *g, const char *name, agir_err *e) {
    for (int i = 0; i < g->n_gt; i++) {
        if (!g->gt_names[i][0])
            return AGIR_BAD(e, "%s: ground-truth column %d: empty name (hint: name every column)", name, i);
        for (int j = 0; j < i; j++)
            if (!strcmp(g->gt_names[i], g->gt_names[j]))
                return AGIR_BAD(e, "%s: ground-truth column '%s' appears twice (hint: names must be unique)", name,
                                g->gt_names[i]);
    }
    for (int64_t s = 0; s < g->n_seq; s++)
        for (int i = 0; i < g->n_gt; i++)
            if (isinf(g->gt[s * g->n_gt + i]))
                return AGIR_BAD(e, "%s: sequence '%s': ground-truth '%s' is infinite (hint: use NaN for unknown)",
                                name, g->seq[s].id, g->gt_names[i]);
    return AGIR_OK;
}

// Every rule of docs/dataset_format.md that concerns values; `name` prefixes messages.
static int validate(const void *store, const char *name, agir_err *e) {
    const agir_gait *g = store;
    agir_seq_slice *sl = malloc(g->n_seq ? (size_t)g->n_seq * sizeof *sl : 1);
    if (!sl) return AGIR_BUG(e, "out of memory validating %lld sequences", (long long)g->n_seq);
    for (int64_t s = 0; s < g->n_seq; s++) sl[s] = (agir_seq_slice){g->seq[s].id, g->seq[s].offset, g->seq[s].length};
    int rc = agir_seq_check_slices(name, sl, g->n_seq, g->n_frames, "frames", e);
    free(sl);
    for (int64_t s = 0; !rc && s < g->n_seq; s++) rc = check_seq(&g->seq[s], name, e);
    AGIR_TRY(rc);
    AGIR_TRY(check_frames(g, name, e));
    return check_gt(g, name, e);
}

// ---- the /sequences table --------------------------------------------------------------------

// In file order: reading and writing both follow it.
static const agir_seq_h5_col seq_cols[] = {
    AGIR_SEQ_H5_NAMES(agir_seq),
    {"/sequences/source", AGIR_SEQ_STR, offsetof(agir_seq, source), MAX_NAME},
    {"/sequences/description", AGIR_SEQ_TEXT, offsetof(agir_seq, description), MAX_TEXT},
    {"/sequences/rationale", AGIR_SEQ_TEXT, offsetof(agir_seq, rationale), MAX_TEXT},
    AGIR_SEQ_H5_SLICE_LABELS(agir_seq),
    {"/sequences/fps", AGIR_SEQ_F32, offsetof(agir_seq, fps), 0},
};
enum { N_SEQ_COLS = sizeof seq_cols / sizeof *seq_cols };

// ---- writing --------------------------------------------------------------------------------

static int write_skeleton(agir_h5w *w, const agir_skeleton *sk, agir_err *e) {
    int64_t j = sk->n_joints;
    AGIR_TRY(agir_h5w_group(w, "/skeleton", e));
    AGIR_TRY(agir_h5w_strings(w, "/skeleton/joint_names", j, sk->joint_names, e));
    return agir_h5w_write(w, "/skeleton/parents", AGIR_H5_I32, 1, &j, sk->parents, e);
}

// Everything after the root format and version, in a fixed order.
static int write_rest(agir_h5w *w, const void *store, agir_err *e) {
    const agir_gait *g = store;
    AGIR_TRY(agir_h5w_attr_str(w, "/", "skeleton", g->skel->name, e));
    AGIR_TRY(write_skeleton(w, g->skel, e));
    int64_t fd[3] = {g->n_frames, g->skel->n_joints, 3};
    AGIR_TRY(agir_h5w_write(w, "/frames", AGIR_H5_F32, 3, fd, g->frames, e));
    AGIR_TRY(agir_seq_h5_write_cols(w, seq_cols, N_SEQ_COLS, g->seq, sizeof *g->seq, g->n_seq, e));
    if (g->n_gt == 0) return AGIR_OK;
    int64_t n_gt = g->n_gt, gd[2] = {g->n_seq, g->n_gt};
    AGIR_TRY(agir_h5w_group(w, "/ground_truth", e));
    AGIR_TRY(agir_h5w_strings(w, "/ground_truth/names", n_gt, (const char *const *)g->gt_names, e));
    return agir_h5w_write(w, "/ground_truth/values", AGIR_H5_F32, 2, gd, g->gt, e);
}

// ---- reading --------------------------------------------------------------------------------

// The skeleton attribute and /skeleton: a registered skeleton, joint for joint.
static int read_skeleton(agir_h5 *f, const agir_skeleton **skel, agir_err *e) {
    char sk[64];
    AGIR_TRY(agir_h5_attr_str(f, "/", "skeleton", sk, sizeof sk, e));
    const agir_skeleton *s = agir_skeleton_find(sk);
    if (!s)
        return AGIR_BAD(e, "%s: unknown skeleton '%s' (hint: known skeletons: %s)", f->name, sk,
                        agir_skel_h36m17.name);
    int64_t j = s->n_joints;
    char **names = NULL;
    int32_t *parents = NULL;
    int rc = agir_h5_read_strings(f, "/skeleton/joint_names", &j, "one per joint of the skeleton", MAX_NAME, &names, e);
    for (int64_t i = 0; !rc && i < j; i++)
        if (strcmp(names[i], s->joint_names[i]))
            rc = AGIR_BAD(e, "%s: /skeleton/joint_names: joint %lld is '%s', skeleton '%s' has '%s' there (hint: "
                             "store joints in the skeleton's order)",
                          f->name, (long long)i, names[i], s->name, s->joint_names[i]);
    if (!rc) rc = agir_h5_read(f, "/skeleton/parents", AGIR_H5_I32, 1, &j, "one per joint", (void **)&parents, e);
    for (int64_t i = 0; !rc && i < j; i++)
        if (parents[i] != s->parents[i])
            rc = AGIR_BAD(e, "%s: /skeleton/parents: joint %lld ('%s') has parent %d, skeleton '%s' says %d (hint: "
                             "store the skeleton's own parents)",
                          f->name, (long long)i, s->joint_names[i], parents[i], s->name, s->parents[i]);
    agir_h5_free_strings(names, j);
    free(parents);
    *skel = s;
    return rc;
}

// /ground_truth (optional): names (G,), values (S, G).
static int read_gt(agir_h5 *f, agir_gait *g, agir_err *e) {
    int ex;
    AGIR_TRY(agir_h5_exists(f, "/ground_truth", &ex, e));
    if (!ex) return AGIR_OK;
    int64_t n_gt = -1, dims[2] = {g->n_seq, -1};
    char **names = NULL;
    AGIR_TRY(agir_h5_read_strings(f, "/ground_truth/names", &n_gt, NULL, MAX_NAME, &names, e));
    int rc = AGIR_OK;
    if (n_gt > 4096)
        rc = AGIR_BAD(e, "%s: /ground_truth/names: %lld columns, more than the 4096 allowed (hint: the file is corrupt)",
                      f->name, (long long)n_gt);
    dims[1] = n_gt;
    float *values = NULL;
    if (!rc)
        rc = agir_h5_read(f, "/ground_truth/values", AGIR_H5_F32, 2, dims, "sequences x ground-truth names",
                          (void **)&values, e);
    if (!rc && n_gt > 0) {
        g->gt_names = names;
        g->n_gt = (int)n_gt;
        g->gt = values;
        return AGIR_OK;
    }
    agir_h5_free_strings(names, n_gt);
    free(values);
    return rc;
}

// Everything after the root format and version; the caller validates.
static int load(agir_h5 *f, void *store, agir_err *e) {
    agir_gait *g = store;
    const agir_skeleton *skel = NULL;
    AGIR_TRY(read_skeleton(f, &skel, e));
    g->skel = skel;
    int64_t fd[3] = {-1, skel->n_joints, 3};
    AGIR_TRY(agir_h5_read(f, "/frames", AGIR_H5_F32, 3, fd, "frames x joints x xyz", (void **)&g->frames, e));
    g->n_frames = g->cap_frames = fd[0];
    void *seq = NULL;
    AGIR_TRY(agir_seq_h5_read_cols(f, seq_cols, N_SEQ_COLS, sizeof *g->seq, &seq, &g->n_seq, e));
    g->seq = seq;
    g->cap_seq = g->n_seq;
    return read_gt(f, g, e);
}

// ---- the store ------------------------------------------------------------------------------

static void clear(void *store) { agir_gait_free(store); }

static const agir_seq_h5_format gait_format = {
    .format = "agir-gait", .version = 1, .size = sizeof(agir_gait),
    .format_hint = "this is not an AGIR gait file", .version_fix = "rewrite the file",
    .write = write_rest, .load = load, .validate = validate, .clear = clear,
};

int agir_gait_read(agir_gait *g, const char *path, agir_err *e) { return agir_seq_h5_read(&gait_format, g, path, e); }

int agir_gait_read_image(agir_gait *g, const void *buf, size_t len, const char *name, agir_err *e) {
    return agir_seq_h5_read_image(&gait_format, g, buf, len, name, e);
}

int agir_gait_write(const agir_gait *g, const char *path, agir_err *e) {
    return agir_seq_h5_write(&gait_format, g, path, e);
}
