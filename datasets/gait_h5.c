// The HDF5 gait store: writing (atomic, byte-deterministic) and validated reading.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsio.h"
#include "datasets/gait.h"
#include "datasets/h5util.h"

#define FORMAT_NAME "agir-gait"
enum { FORMAT_VERSION = 1 };

// Longest strings accepted, in bytes: names and ids are short, texts are paragraphs.
enum { MAX_NAME = 256, MAX_TEXT = 64 * 1024 };

// ---- validation (shared by the reader and the writer) --------------------------------------

static int cmp_id(const void *a, const void *b) {
    return strcmp((*(const agir_seq *const *)a)->id, (*(const agir_seq *const *)b)->id);
}

static int cmp_offset(const void *a, const void *b) {
    int64_t x = (*(const agir_seq *const *)a)->offset, y = (*(const agir_seq *const *)b)->offset;
    return (x > y) - (x < y);
}

static int check_seq(const agir_gait *g, const agir_seq *q, const char *name, agir_err *e) {
    int64_t end;
    if (q->length < 1)
        return AGIR_BAD(e, "%s: sequence '%s': length %lld (hint: every sequence needs at least one frame)", name,
                        q->id, (long long)q->length);
    if (q->offset < 0 || __builtin_add_overflow(q->offset, q->length, &end) || end > g->n_frames)
        return AGIR_BAD(e, "%s: sequence '%s': offset %lld + length %lld runs past the %lld frames (hint: a "
                           "sequence's frames are /frames[offset:offset+length])",
                        name, q->id, (long long)q->offset, (long long)q->length, (long long)g->n_frames);
    if (!isfinite(q->fps) || q->fps <= 0)
        return AGIR_BAD(e, "%s: sequence '%s': fps %g is not a positive number (hint: store the frame rate, e.g. 20)",
                        name, q->id, (double)q->fps);
    if (q->updrs_gait < -1 || q->updrs_gait > 4)
        return AGIR_BAD(e, "%s: sequence '%s': updrs_gait %d outside -1..4 (hint: MDS-UPDRS gait scores are 0..4, "
                           "-1 = unknown)",
                        name, q->id, q->updrs_gait);
    if (q->medication < AGIR_MED_UNKNOWN || q->medication > AGIR_MED_ON)
        return AGIR_BAD(e, "%s: sequence '%s': medication %d outside -1..1 (hint: 0 = off, 1 = on, -1 = unknown)",
                        name, q->id, q->medication);
    return AGIR_OK;
}

// Ids non-empty and unique; slices pairwise disjoint. `by` is scratch for n_seq pointers.
static int check_ids_and_overlaps(const agir_gait *g, const agir_seq **by, const char *name, agir_err *e) {
    for (int64_t s = 0; s < g->n_seq; s++) {
        if (!g->seq[s].id[0])
            return AGIR_BAD(e, "%s: sequence %lld: empty id (hint: every sequence needs a unique id)", name,
                            (long long)s);
        by[s] = &g->seq[s];
    }
    size_t n = (size_t)g->n_seq;
    if (n) qsort(by, n, sizeof *by, cmp_id);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(by[i - 1]->id, by[i]->id))
            return AGIR_BAD(e, "%s: sequence '%s': id used by sequences %lld and %lld (hint: ids must be unique)",
                            name, by[i]->id, (long long)(by[i - 1] - g->seq), (long long)(by[i] - g->seq));
    if (n) qsort(by, n, sizeof *by, cmp_offset);
    for (size_t i = 1; i < n; i++) {
        const agir_seq *a = by[i - 1], *b = by[i];
        if (a->offset + a->length > b->offset)
            return AGIR_BAD(e, "%s: sequence '%s': frames %lld..%lld overlap sequence '%s' (frames %lld..%lld) (hint: "
                               "each sequence needs its own frames)",
                            name, b->id, (long long)b->offset, (long long)(b->offset + b->length - 1), a->id,
                            (long long)a->offset, (long long)(a->offset + a->length - 1));
    }
    return AGIR_OK;
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
static int validate(const agir_gait *g, const char *name, agir_err *e) {
    for (int64_t s = 0; s < g->n_seq; s++) AGIR_TRY(check_seq(g, &g->seq[s], name, e));
    const agir_seq **by = malloc(g->n_seq ? (size_t)g->n_seq * sizeof *by : 1);
    if (!by) return AGIR_BUG(e, "out of memory validating %lld sequences", (long long)g->n_seq);
    int rc = check_ids_and_overlaps(g, by, name, e);
    free(by);
    AGIR_TRY(rc);
    AGIR_TRY(check_frames(g, name, e));
    return check_gt(g, name, e);
}

// ---- writing --------------------------------------------------------------------------------

// The char* field at byte offset `field` of each sequence, as one array.
static int str_column(const agir_gait *g, size_t field, const char ***out, agir_err *e) {
    const char **c = malloc(g->n_seq ? (size_t)g->n_seq * sizeof *c : 1);
    if (!c) return AGIR_BUG(e, "out of memory writing %lld sequences", (long long)g->n_seq);
    for (int64_t s = 0; s < g->n_seq; s++) c[s] = *(char *const *)((const char *)&g->seq[s] + field);
    *out = c;
    return AGIR_OK;
}

static int write_skeleton(agir_h5w *w, const agir_skeleton *sk, agir_err *e) {
    int64_t j = sk->n_joints;
    AGIR_TRY(agir_h5w_group(w, "/skeleton", e));
    AGIR_TRY(agir_h5w_strings(w, "/skeleton/joint_names", j, sk->joint_names, e));
    return agir_h5w_write(w, "/skeleton/parents", AGIR_H5_I32, 1, &j, sk->parents, e);
}

static int write_sequences(agir_h5w *w, const agir_gait *g, agir_err *e) {
    static const struct {
        const char *path;
        size_t field;
    } strs[] = {
        {"/sequences/id", offsetof(agir_seq, id)},
        {"/sequences/subject", offsetof(agir_seq, subject)},
        {"/sequences/source", offsetof(agir_seq, source)},
        {"/sequences/description", offsetof(agir_seq, description)},
        {"/sequences/rationale", offsetof(agir_seq, rationale)},
    };
    int64_t n = g->n_seq;
    AGIR_TRY(agir_h5w_group(w, "/sequences", e));
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) {
        const char **col = NULL;
        AGIR_TRY(str_column(g, strs[i].field, &col, e));
        int rc = agir_h5w_strings(w, strs[i].path, n, col, e);
        free(col);
        AGIR_TRY(rc);
    }
    size_t cnt = n ? (size_t)n : 1;
    int64_t *offset = malloc(cnt * sizeof *offset), *length = malloc(cnt * sizeof *length);
    int8_t *med = malloc(cnt), *score = malloc(cnt);
    float *fps = malloc(cnt * sizeof *fps);
    int rc = AGIR_OK;
    if (!offset || !length || !med || !score || !fps) rc = AGIR_BUG(e, "out of memory writing %lld sequences", (long long)n);
    for (int64_t s = 0; !rc && s < n; s++) {
        offset[s] = g->seq[s].offset;
        length[s] = g->seq[s].length;
        med[s] = (int8_t)g->seq[s].medication;
        score[s] = (int8_t)g->seq[s].updrs_gait;
        fps[s] = g->seq[s].fps;
    }
    if (!rc) rc = agir_h5w_write(w, "/sequences/offset", AGIR_H5_I64, 1, &n, offset, e);
    if (!rc) rc = agir_h5w_write(w, "/sequences/length", AGIR_H5_I64, 1, &n, length, e);
    if (!rc) rc = agir_h5w_write(w, "/sequences/medication", AGIR_H5_I8, 1, &n, med, e);
    if (!rc) rc = agir_h5w_write(w, "/sequences/updrs_gait", AGIR_H5_I8, 1, &n, score, e);
    if (!rc) rc = agir_h5w_write(w, "/sequences/fps", AGIR_H5_F32, 1, &n, fps, e);
    free(offset), free(length), free(med), free(score), free(fps);
    return rc;
}

// Objects in a fixed order, so equal datasets give equal bytes.
static int write_all(agir_h5w *w, const agir_gait *g, agir_err *e) {
    AGIR_TRY(agir_h5w_attr_str(w, "/", "format", FORMAT_NAME, e));
    AGIR_TRY(agir_h5w_attr_i64(w, "/", "version", FORMAT_VERSION, e));
    AGIR_TRY(agir_h5w_attr_str(w, "/", "skeleton", g->skel->name, e));
    AGIR_TRY(write_skeleton(w, g->skel, e));
    int64_t fd[3] = {g->n_frames, g->skel->n_joints, 3};
    AGIR_TRY(agir_h5w_write(w, "/frames", AGIR_H5_F32, 3, fd, g->frames, e));
    AGIR_TRY(write_sequences(w, g, e));
    if (g->n_gt == 0) return AGIR_OK;
    int64_t n_gt = g->n_gt, gd[2] = {g->n_seq, g->n_gt};
    AGIR_TRY(agir_h5w_group(w, "/ground_truth", e));
    AGIR_TRY(agir_h5w_strings(w, "/ground_truth/names", n_gt, (const char *const *)g->gt_names, e));
    return agir_h5w_write(w, "/ground_truth/values", AGIR_H5_F32, 2, gd, g->gt, e);
}

int agir_gait_write(const agir_gait *g, const char *path, agir_err *e) {
    char label[4200], tmp[4096];
    snprintf(label, sizeof label, "%s (not written)", path);
    AGIR_TRY(validate(g, label, e));
    AGIR_TRY(agir_atomic_tmpname(path, tmp, sizeof tmp, e));
    agir_h5w w;
    int rc = agir_h5w_create(&w, tmp, path, e);
    if (!rc) rc = write_all(&w, g, e);
    int rc_close = agir_h5w_close(&w, e);
    if (!rc) rc = rc_close;
    if (rc) {
        agir_atomic_abort(tmp);
        return rc;
    }
    return agir_atomic_commit(tmp, path, e);
}

// ---- reading --------------------------------------------------------------------------------

// Root attributes and /skeleton: the skeleton must be a registered one, joint for joint.
static int read_header(agir_h5 *f, const agir_skeleton **skel, agir_err *e) {
    char fmt[64], sk[64];
    int64_t version;
    // libhdf5 trusts the sizes inside attribute messages (found again by tests/fuzz/fuzz_gait_h5.c).
    AGIR_TRY(agir_h5_check_root_attrs(f, e));
    AGIR_TRY(agir_h5_attr_str(f, "/", "format", fmt, sizeof fmt, e));
    if (strcmp(fmt, FORMAT_NAME))
        return AGIR_BAD(e, "%s: format attribute is '%s', not '" FORMAT_NAME "' (hint: this is not an AGIR gait file)",
                        f->name, fmt);
    AGIR_TRY(agir_h5_attr_i64(f, "/", "version", &version, e));
    if (version != FORMAT_VERSION)
        return AGIR_BAD(e, "%s: format version %lld is not supported (hint: this agir reads version %d; upgrade agir "
                           "or rewrite the file)",
                        f->name, (long long)version, FORMAT_VERSION);
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

// /sequences, column by column; every column has one entry per id.
typedef struct columns {
    int64_t n;
    char **str[5];  // id, subject, source, description, rationale
    int64_t *offset, *length;
    int8_t *medication, *updrs_gait;
    float *fps;
} columns;

static const struct {
    const char *path;
    size_t max_len;
} str_cols[5] = {
    {"/sequences/id", MAX_NAME},           {"/sequences/subject", MAX_NAME},     {"/sequences/source", MAX_NAME},
    {"/sequences/description", MAX_TEXT}, {"/sequences/rationale", MAX_TEXT},
};

static void free_columns(columns *c) {
    for (int i = 0; i < 5; i++) agir_h5_free_strings(c->str[i], c->n);
    free(c->offset), free(c->length), free(c->medication), free(c->updrs_gait), free(c->fps);
    memset(c, 0, sizeof *c);
}

static int read_columns(agir_h5 *f, columns *c, agir_err *e) {
    static const char *per_seq = "one entry per /sequences/id";
    memset(c, 0, sizeof *c);
    int64_t n = -1;
    AGIR_TRY(agir_h5_read_strings(f, str_cols[0].path, &n, NULL, str_cols[0].max_len, &c->str[0], e));
    c->n = n;
    for (int i = 1; i < 5; i++)
        AGIR_TRY(agir_h5_read_strings(f, str_cols[i].path, &n, per_seq, str_cols[i].max_len, &c->str[i], e));
    AGIR_TRY(agir_h5_read(f, "/sequences/offset", AGIR_H5_I64, 1, &n, per_seq, (void **)&c->offset, e));
    AGIR_TRY(agir_h5_read(f, "/sequences/length", AGIR_H5_I64, 1, &n, per_seq, (void **)&c->length, e));
    AGIR_TRY(agir_h5_read(f, "/sequences/medication", AGIR_H5_I8, 1, &n, per_seq, (void **)&c->medication, e));
    AGIR_TRY(agir_h5_read(f, "/sequences/updrs_gait", AGIR_H5_I8, 1, &n, per_seq, (void **)&c->updrs_gait, e));
    return agir_h5_read(f, "/sequences/fps", AGIR_H5_F32, 1, &n, per_seq, (void **)&c->fps, e);
}

// Moves the columns into g's sequences ("" texts become NULL).
static int take_columns(agir_gait *g, columns *c, agir_err *e) {
    g->seq = calloc(c->n ? (size_t)c->n : 1, sizeof *g->seq);
    if (!g->seq) return AGIR_BUG(e, "out of memory for %lld sequences", (long long)c->n);
    g->cap_seq = c->n;
    for (int64_t s = 0; s < c->n; s++) {
        agir_seq *q = &g->seq[s];
        char **dst[5] = {&q->id, &q->subject, &q->source, &q->description, &q->rationale};
        for (int i = 0; i < 5; i++) {
            *dst[i] = c->str[i][s];
            c->str[i][s] = NULL;
        }
        for (int i = 3; i < 5; i++)
            if (!(*dst[i])[0]) free(*dst[i]), *dst[i] = NULL;
        q->offset = c->offset[s];
        q->length = c->length[s];
        q->medication = c->medication[s];
        q->updrs_gait = c->updrs_gait[s];
        q->fps = c->fps[s];
        g->n_seq = s + 1;
    }
    return AGIR_OK;
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

static int load(agir_h5 *f, agir_gait *g, agir_err *e) {
    const agir_skeleton *skel = NULL;
    AGIR_TRY(read_header(f, &skel, e));
    g->skel = skel;
    int64_t fd[3] = {-1, skel->n_joints, 3};
    AGIR_TRY(agir_h5_read(f, "/frames", AGIR_H5_F32, 3, fd, "frames x joints x xyz", (void **)&g->frames, e));
    g->n_frames = g->cap_frames = fd[0];
    columns c;
    int rc = read_columns(f, &c, e);
    if (!rc) rc = take_columns(g, &c, e);
    free_columns(&c);
    AGIR_TRY(rc);
    AGIR_TRY(read_gt(f, g, e));
    return validate(g, f->name, e);
}

static int finish(agir_h5 *f, agir_gait *g, int rc, agir_err *e) {
    if (!rc) rc = load(f, g, e);
    agir_h5_close(f);
    if (rc) agir_gait_free(g);
    return rc;
}

int agir_gait_read(agir_gait *g, const char *path, agir_err *e) {
    memset(g, 0, sizeof *g);
    agir_h5 f;
    return finish(&f, g, agir_h5_open(&f, path, e), e);
}

int agir_gait_read_image(agir_gait *g, const void *buf, size_t len, const char *name, agir_err *e) {
    memset(g, 0, sizeof *g);
    agir_h5 f;
    return finish(&f, g, agir_h5_open_image(&f, buf, len, name, e), e);
}
