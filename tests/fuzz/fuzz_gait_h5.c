// Fuzz harness for the gait store's validation (agir_gait_read_image); modes and oracles are
// those of every HDF5 store harness (fuzz_h5.h).
//
// Structured mode (first byte < 0xF0): byte 0..2 = fault flags (below), then counts, lengths,
// values and string bytes, each read as needed; missing bytes read as 0, so every input
// describes some dataset. Sizes are bounded (<= 6 sequences, <= 8 frames each, <= 3 gt columns).
//
// Byte mode (first byte >= 0xF0): before the heap checks of datasets/h5verify.c existed, this
// mode crashed libhdf5 1.10.8 within a minute, always in H5HG_read (out-of-bounds read/copy on a
// bad heap object index or size) or looping in the heap collection parser (a zero-sized
// free-space object); with them, 300 s (38k raw inputs) found no crash, and later runs a leak
// inside libhdf5 (suppressed in fuzz_h5.h) and, after 10 minutes, an out-of-bounds copy in
// H5D__select_read from a chunk whose extent was mutated past the data it holds (fixed by the
// layout checks before every read, datasets/h5verify.c); the next 300 s a use-after-free in
// H5Aexists_by_name on a corrupt root attribute message (fixed by checking the root group's
// attribute messages before the first lookup). Structured inputs cannot set all of flags
// bits 4..7 at once (that first byte selects this mode).
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/gait.h"
#include "datasets/h5io.h"
#include "fuzz_h5.h"

enum {
    F_FORMAT = 1 << 0,     // wrong format attribute
    F_VERSION = 1 << 1,    // version from input bytes
    F_SKELETON = 1 << 2,   // unknown skeleton name
    F_JOINT = 1 << 3,      // one joint name changed
    F_PARENT = 1 << 4,     // one parent changed
    F_FRAMES_T = 1 << 5,   // frames stored as float64
    F_FRAMES_S = 1 << 6,   // frames with a wrong joint count
    F_NONFINITE = 1 << 7,  // a NaN/Inf coordinate
    F_IDS = 1 << 8,        // ids from input bytes (may be empty or collide)
    F_SLICES = 1 << 9,     // offsets/lengths from input bytes
    F_CODES = 1 << 10,     // medication/score from input bytes
    F_FPS = 1 << 11,       // fps from a table with bad values
    F_COUNT = 1 << 12,     // one column one entry short or long
    F_OFFSET_T = 1 << 13,  // offsets stored as int32
    F_TEXT = 1 << 14,      // texts from input bytes (may be invalid UTF-8)
    F_GT_SHAPE = 1 << 15,  // gt values with a wrong column count
    F_GT_INF = 1 << 16,    // an infinite gt value
    F_EXTLINK = 1 << 17,   // an object replaced by an external link
    F_SOFTLINK = 1 << 18,  // an object replaced by a soft link
    F_VIRTUAL = 1 << 19,   // frames as a virtual dataset
    F_MISSING = 1 << 20,   // an object deleted
    F_FIXED = 1 << 21,     // fixed-length strings (valid: not a fault)
    F_GT_DUP = 1 << 22,    // duplicate gt names
    F_NOATTRS = 1 << 23,   // no root attributes
};
#define FAULTS (0xffffff & ~F_FIXED)

enum { MAX_SEQ = 6, MAX_LEN = 8, MAX_GT = 3, MAX_STR = 12 };


// The dataset the harness means to write, before faults in the HDF5 objects themselves.
typedef struct plan {
    uint32_t flags;
    int n_seq, n_gt, n_frames;
    char id[MAX_SEQ][MAX_STR + 1], text[MAX_SEQ][MAX_STR + 1];
    int64_t offset[MAX_SEQ], length[MAX_SEQ];
    int8_t med[MAX_SEQ], score[MAX_SEQ];
    float fps[MAX_SEQ];
    float frames[MAX_SEQ * MAX_LEN * H36M_J * 3];
    float gt[MAX_SEQ * MAX_GT];
} plan;

static uint32_t decode(fuzz_src *s, plan *p) {
    memset(p, 0, sizeof *p);
    p->flags = (uint32_t)fuzz_u8(s) | (uint32_t)fuzz_u8(s) << 8 | (uint32_t)fuzz_u8(s) << 16;
    p->n_seq = fuzz_u8(s) % (MAX_SEQ + 1);
    p->n_gt = fuzz_u8(s) % (MAX_GT + 1);
    static const float fps_table[8] = {20, 150, 30, 0, -1, NAN, INFINITY, 1e-30f};
    for (int i = 0; i < p->n_seq; i++) {
        if (p->flags & F_IDS)
            fuzz_take_str(s, p->id[i], MAX_STR);
        else
            snprintf(p->id[i], sizeof p->id[i], "s%d", i);
        if (p->flags & F_TEXT) fuzz_take_str(s, p->text[i], MAX_STR);
        p->length[i] = 1 + fuzz_u8(s) % MAX_LEN;
        p->offset[i] = p->n_frames;
        p->n_frames += (int)p->length[i];
        if (p->flags & F_SLICES) {
            p->offset[i] = (int8_t)fuzz_u8(s);
            p->length[i] = (int8_t)fuzz_u8(s);
        }
        p->med[i] = (p->flags & F_CODES) ? (int8_t)fuzz_u8(s) : (int8_t)(fuzz_u8(s) % 3 - 1);
        p->score[i] = (p->flags & F_CODES) ? (int8_t)fuzz_u8(s) : (int8_t)(fuzz_u8(s) % 6 - 1);
        p->fps[i] = (p->flags & F_FPS) ? fps_table[fuzz_u8(s) % 8] : fps_table[fuzz_u8(s) % 3];
    }
    for (int i = 0; i < p->n_frames * H36M_J * 3; i += 7) p->frames[i] = (float)(int8_t)fuzz_u8(s) / 16.0f;
    if ((p->flags & F_NONFINITE) && p->n_frames) p->frames[fuzz_u8(s) % (p->n_frames * H36M_J * 3)] = (fuzz_u8(s) & 1) ? NAN : -INFINITY;
    for (int i = 0; i < p->n_seq * p->n_gt; i++) p->gt[i] = (fuzz_u8(s) & 3) == 3 ? NAN : (float)fuzz_u8(s);
    if ((p->flags & F_GT_INF) && p->n_seq && p->n_gt) p->gt[fuzz_u8(s) % (p->n_seq * p->n_gt)] = INFINITY;
    return p->flags & FAULTS;
}

// ---- writing the plan -----------------------------------------------------------------------

static int strings(agir_h5w *w, const plan *p, const char *path, int64_t n, const char *const *v, agir_err *e) {
    return fuzz_h5_strings(w, (p->flags & F_FIXED) != 0, path, n, v, e);
}

// Column length: n, or one off for the column picked by F_COUNT.
static int64_t count_for(const plan *p, int col, int pick) {
    if (!(p->flags & F_COUNT) || col != pick) return p->n_seq;
    return p->n_seq ? p->n_seq - 1 : 1;
}

static int write_header(agir_h5w *w, const plan *p, fuzz_src *s, agir_err *e) {
    if (!(p->flags & F_NOATTRS)) {
        AGIR_TRY(agir_h5w_attr_str(w, "/", "format", (p->flags & F_FORMAT) ? "agir-gaiT" : "agir-gait", e));
        AGIR_TRY(agir_h5w_attr_i64(w, "/", "version", (p->flags & F_VERSION) ? (int8_t)fuzz_u8(s) : 1, e));
        AGIR_TRY(agir_h5w_attr_str(w, "/", "skeleton", (p->flags & F_SKELETON) ? "h36m" : "h36m17", e));
    }
    const char *names[H36M_J];
    int32_t parents[H36M_J];
    for (int j = 0; j < H36M_J; j++) names[j] = agir_skel_h36m17.joint_names[j], parents[j] = agir_skel_h36m17.parents[j];
    if (p->flags & F_JOINT) names[fuzz_u8(s) % H36M_J] = "tail";
    if (p->flags & F_PARENT) parents[fuzz_u8(s) % H36M_J] = (int8_t)fuzz_u8(s);
    int64_t j = H36M_J;
    AGIR_TRY(agir_h5w_group(w, "/skeleton", e));
    AGIR_TRY(strings(w, p, "/skeleton/joint_names", j, names, e));
    return agir_h5w_write(w, "/skeleton/parents", AGIR_H5_I32, 1, &j, parents, e);
}

static int write_frames(agir_h5w *w, const plan *p, agir_err *e) {
    int64_t dims[3] = {p->n_frames, H36M_J, 3};
    if (p->flags & F_VIRTUAL) {
        hsize_t hd[3] = {(hsize_t)p->n_frames, H36M_J, 3};
        hid_t sp = H5Screate_simple(3, hd, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE), d = H5I_INVALID_HID;
        if (H5Pset_virtual(dcpl, sp, "src.h5", "/frames", sp) >= 0)
            d = H5Dcreate2(w->file, "/frames", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        int rc = d < 0 ? AGIR_BUG(e, "virtual dataset") : 0;
        agir_h5_close_id(d), agir_h5_close_id(dcpl), agir_h5_close_id(sp);
        return rc;
    }
    if (p->flags & F_FRAMES_S) {
        dims[1] = 1;
        dims[2] = H36M_J * 3;
    }
    if (!(p->flags & F_FRAMES_T)) return agir_h5w_write(w, "/frames", AGIR_H5_F32, 3, dims, p->frames, e);
    double *d = malloc((size_t)(p->n_frames ? p->n_frames : 1) * H36M_J * 3 * sizeof *d);
    for (int i = 0; i < p->n_frames * H36M_J * 3; i++) d[i] = p->frames[i];
    int rc = agir_h5w_write(w, "/frames", AGIR_H5_F64, 3, dims, d, e);
    free(d);
    return rc;
}

static int write_sequences(agir_h5w *w, const plan *p, fuzz_src *s, agir_err *e) {
    int pick = fuzz_u8(s) % 10;
    const char *ids[MAX_SEQ + 1], *subj[MAX_SEQ + 1], *texts[MAX_SEQ + 1];
    for (int i = 0; i <= MAX_SEQ; i++) {
        ids[i] = i < p->n_seq ? p->id[i] : "extra";
        subj[i] = "SUB01";
        texts[i] = i < p->n_seq ? p->text[i] : "";
    }
    int64_t n[10];
    for (int c = 0; c < 10; c++) n[c] = count_for(p, c, pick);
    AGIR_TRY(agir_h5w_group(w, "/sequences", e));
    AGIR_TRY(strings(w, p, "/sequences/id", n[0], ids, e));
    AGIR_TRY(strings(w, p, "/sequences/subject", n[1], subj, e));
    AGIR_TRY(strings(w, p, "/sequences/source", n[2], subj, e));
    AGIR_TRY(strings(w, p, "/sequences/description", n[3], texts, e));
    AGIR_TRY(strings(w, p, "/sequences/rationale", n[4], texts, e));
    // Buffers hold MAX_SEQ + 1 entries so a column one entry long still reads valid memory.
    int64_t off[MAX_SEQ + 1] = {0}, len[MAX_SEQ + 1] = {0};
    int32_t off32[MAX_SEQ + 1] = {0};
    int8_t med[MAX_SEQ + 1] = {0}, score[MAX_SEQ + 1] = {0};
    float fps[MAX_SEQ + 1] = {0};
    for (int i = 0; i < p->n_seq; i++) {
        off[i] = p->offset[i], off32[i] = (int32_t)p->offset[i], len[i] = p->length[i];
        med[i] = p->med[i], score[i] = p->score[i], fps[i] = p->fps[i];
    }
    if (p->flags & F_OFFSET_T)
        AGIR_TRY(agir_h5w_write(w, "/sequences/offset", AGIR_H5_I32, 1, &n[5], off32, e));
    else
        AGIR_TRY(agir_h5w_write(w, "/sequences/offset", AGIR_H5_I64, 1, &n[5], off, e));
    AGIR_TRY(agir_h5w_write(w, "/sequences/length", AGIR_H5_I64, 1, &n[6], len, e));
    AGIR_TRY(agir_h5w_write(w, "/sequences/medication", AGIR_H5_I8, 1, &n[7], med, e));
    AGIR_TRY(agir_h5w_write(w, "/sequences/updrs_gait", AGIR_H5_I8, 1, &n[8], score, e));
    return agir_h5w_write(w, "/sequences/fps", AGIR_H5_F32, 1, &n[9], fps, e);
}

static int write_gt(agir_h5w *w, const plan *p, agir_err *e) {
    if (!p->n_gt && !(p->flags & F_GT_SHAPE)) return AGIR_OK;
    static const char *const names[MAX_GT] = {"cadence", "speed", "step_width"};
    const char *v[MAX_GT] = {names[0], names[1], names[2]};
    if (p->flags & F_GT_DUP) v[p->n_gt > 1 ? 1 : 0] = names[0];
    int64_t ng = p->n_gt, dims[2] = {p->n_seq, (p->flags & F_GT_SHAPE) ? (p->n_gt + 1) % (MAX_GT + 1) : p->n_gt};
    float vals[MAX_SEQ * (MAX_GT + 1)] = {0};
    memcpy(vals, p->gt, sizeof p->gt);
    AGIR_TRY(agir_h5w_group(w, "/ground_truth", e));
    AGIR_TRY(strings(w, p, "/ground_truth/names", ng, v, e));
    return agir_h5w_write(w, "/ground_truth/values", AGIR_H5_F32, 2, dims, vals, e);
}

static const char *const objects[] = {"/frames", "/sequences", "/sequences/id", "/sequences/offset",
                                      "/sequences/fps", "/skeleton", "/skeleton/parents", "/ground_truth/values"};

static int build(agir_h5w *w, const plan *p, fuzz_src *s, agir_err *e) {
    AGIR_TRY(write_header(w, p, s, e));
    AGIR_TRY(write_frames(w, p, e));
    AGIR_TRY(write_sequences(w, p, s, e));
    AGIR_TRY(write_gt(w, p, e));
    fuzz_h5_spoil_link(w, objects, sizeof objects / sizeof *objects, s, p->flags & F_EXTLINK, p->flags & F_SOFTLINK,
                       p->flags & F_MISSING);
    return AGIR_OK;
}

// ---- oracles --------------------------------------------------------------------------------

// Every rule an accepted dataset must satisfy, checked without the reader's code.
static void check_accepted(const agir_gait *g) {
    if (g->skel != &agir_skel_h36m17) abort();
    for (int64_t s = 0; s < g->n_seq; s++) {
        const agir_seq *q = &g->seq[s];
        if (!q->id[0] || q->length < 1 || q->offset < 0 || q->offset + q->length > g->n_frames) abort();
        if (!(q->fps > 0) || isinf(q->fps) || q->updrs_gait < -1 || q->updrs_gait > 4) abort();
        if (q->medication < -1 || q->medication > 1) abort();
        for (int64_t t = 0; t < s; t++) {
            const agir_seq *r = &g->seq[t];
            if (!strcmp(q->id, r->id)) abort();
            if (q->offset < r->offset + r->length && r->offset < q->offset + q->length) abort();
        }
        const float *f = agir_gait_seq_frames(g, s);
        for (int64_t i = 0; i < q->length * H36M_J * 3; i++)
            if (!isfinite(f[i])) abort();
    }
    for (int64_t i = 0; i < g->n_seq * g->n_gt; i++)
        if (isinf(g->gt[i])) abort();
}

// A description without faults must come back as written.
static void check_round_trip(const plan *p, const agir_gait *g) {
    if (g->n_seq != p->n_seq || g->n_frames != p->n_frames || g->n_gt != p->n_gt) abort();
    for (int i = 0; i < p->n_seq; i++) {
        const agir_seq *q = &g->seq[i];
        if (strcmp(q->id, p->id[i]) || q->offset != p->offset[i] || q->length != p->length[i]) abort();
        if (q->medication != p->med[i] || q->updrs_gait != p->score[i] || q->fps != p->fps[i]) abort();
    }
    if (p->n_frames && memcmp(g->frames, p->frames, (size_t)p->n_frames * H36M_J * 3 * sizeof(float))) abort();
}

FUZZ_H5_MAIN(plan, decode, build,
             agir_gait, agir_gait_read_image, agir_gait_free, check_accepted, check_round_trip)
