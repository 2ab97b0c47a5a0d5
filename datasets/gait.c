// In-memory gait dataset: construction, appending sequences, lookups (the HDF5 store is gait_h5.c).
#include "datasets/gait.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// strdup that treats NULL as "none" and reports allocation failure.
static int dup_opt(const char *s, char **out, agir_err *e) {
    *out = NULL;
    if (!s) return AGIR_OK;
    *out = strdup(s);
    if (!*out) return AGIR_BUG(e, "out of memory copying a %zu-byte string", strlen(s));
    return AGIR_OK;
}

static void free_seq(agir_seq *s) {
    free(s->id);
    free(s->subject);
    free(s->source);
    free(s->description);
    free(s->rationale);
    memset(s, 0, sizeof *s);
}

int agir_gait_init(agir_gait *g, const agir_skeleton *skel, int n_gt, const char *const *gt_names, agir_err *e) {
    memset(g, 0, sizeof *g);
    if (!skel || skel->n_joints <= 0) return AGIR_BUG(e, "agir_gait_init: no skeleton");
    if (n_gt < 0 || (n_gt > 0 && !gt_names)) return AGIR_BUG(e, "agir_gait_init: bad ground-truth columns (%d)", n_gt);
    g->skel = skel;
    if (n_gt == 0) return AGIR_OK;
    g->gt_names = calloc((size_t)n_gt, sizeof *g->gt_names);
    if (!g->gt_names) return AGIR_BUG(e, "out of memory for %d ground-truth names", n_gt);
    g->n_gt = n_gt;
    for (int i = 0; i < n_gt; i++) {
        int rc = dup_opt(gt_names[i] ? gt_names[i] : "", &g->gt_names[i], e);
        if (rc) {
            agir_gait_free(g);
            return rc;
        }
    }
    return AGIR_OK;
}

void agir_gait_free(agir_gait *g) {
    if (!g) return;
    for (int64_t s = 0; s < g->n_seq; s++) free_seq(&g->seq[s]);
    free(g->seq);
    free(g->frames);
    for (int i = 0; i < g->n_gt; i++) free(g->gt_names[i]);
    free(g->gt_names);
    free(g->gt);
    memset(g, 0, sizeof *g);
}

// Next capacity >= need, doubling so that n appends cost O(n) copies in total.
static int next_cap(int64_t cap, int64_t need, int64_t *out, agir_err *e) {
    int64_t ncap = cap > 0 ? cap : 16;
    while (ncap < need) {
        if (ncap > INT64_MAX / 2) return AGIR_BUG(e, "dataset too large (%lld items)", (long long)need);
        ncap *= 2;
    }
    *out = ncap;
    return AGIR_OK;
}

// Reallocates *buf to `n` items of `item` bytes.
static int resize(void **buf, int64_t n, size_t item, agir_err *e) {
    size_t bytes;
    if (agir_mul_ok((size_t)n, item, &bytes)) return AGIR_BUG(e, "dataset too large (%lld items)", (long long)n);
    void *p = realloc(*buf, bytes);
    if (!p) return AGIR_BUG(e, "out of memory growing the dataset to %zu bytes", bytes);
    *buf = p;
    return AGIR_OK;
}

static int reserve_frames(agir_gait *g, int64_t need, agir_err *e) {
    if (need <= g->cap_frames) return AGIR_OK;
    int64_t ncap = 0;
    AGIR_TRY(next_cap(g->cap_frames, need, &ncap, e));
    AGIR_TRY(resize((void **)&g->frames, ncap, (size_t)g->skel->n_joints * 3 * sizeof(float), e));
    g->cap_frames = ncap;
    return AGIR_OK;
}

// The gt table has one row per sequence slot; cap_seq only moves once both arrays have grown.
static int reserve_seq(agir_gait *g, int64_t need, agir_err *e) {
    if (need <= g->cap_seq) return AGIR_OK;
    int64_t ncap = 0;
    AGIR_TRY(next_cap(g->cap_seq, need, &ncap, e));
    if (g->n_gt > 0) AGIR_TRY(resize((void **)&g->gt, ncap, (size_t)g->n_gt * sizeof(float), e));
    AGIR_TRY(resize((void **)&g->seq, ncap, sizeof(agir_seq), e));
    g->cap_seq = ncap;
    return AGIR_OK;
}

// Copies meta's strings into dst (offset/length are set by the caller).
static int copy_meta(agir_seq *dst, const agir_seq *meta, agir_err *e) {
    memset(dst, 0, sizeof *dst);
    dst->medication = meta->medication;
    dst->updrs_gait = meta->updrs_gait;
    dst->fps = meta->fps;
    int rc = dup_opt(meta->id ? meta->id : "", &dst->id, e);
    if (!rc) rc = dup_opt(meta->subject ? meta->subject : "", &dst->subject, e);
    if (!rc) rc = dup_opt(meta->source ? meta->source : "", &dst->source, e);
    if (!rc) rc = dup_opt(meta->description, &dst->description, e);
    if (!rc) rc = dup_opt(meta->rationale, &dst->rationale, e);
    if (rc) free_seq(dst);
    return rc;
}

int agir_gait_append(agir_gait *g, const agir_seq *meta, const float *frames, int64_t n, const float *gt,
                     agir_err *e) {
    if (!g->skel || !meta || n < 0 || (n > 0 && !frames)) return AGIR_BUG(e, "agir_gait_append: bad arguments");
    size_t per_frame = (size_t)g->skel->n_joints * 3, floats, bytes;
    if (n > INT64_MAX - g->n_frames || agir_mul_ok((size_t)n, per_frame, &floats) ||
        agir_mul_ok(floats, sizeof(float), &bytes))
        return AGIR_BUG(e, "agir_gait_append: %lld frames overflow the dataset", (long long)n);
    AGIR_TRY(reserve_frames(g, g->n_frames + n, e));
    AGIR_TRY(reserve_seq(g, g->n_seq + 1, e));
    agir_seq *dst = &g->seq[g->n_seq];
    AGIR_TRY(copy_meta(dst, meta, e));
    dst->offset = g->n_frames;
    dst->length = n;
    if (bytes) memcpy(g->frames + (size_t)g->n_frames * per_frame, frames, bytes);
    if (g->n_gt > 0) {
        float *row = g->gt + (size_t)g->n_seq * (size_t)g->n_gt;
        for (int i = 0; i < g->n_gt; i++) row[i] = gt ? gt[i] : NAN;
    }
    g->n_frames += n;
    g->n_seq++;
    return AGIR_OK;
}

int agir_gait_gt_col(const agir_gait *g, const char *name) {
    for (int i = 0; i < g->n_gt; i++)
        if (!strcmp(g->gt_names[i], name)) return i;
    return -1;
}

int64_t agir_gait_find(const agir_gait *g, const char *id) {
    for (int64_t s = 0; s < g->n_seq; s++)
        if (!strcmp(g->seq[s].id, id)) return s;
    return -1;
}

int agir_gait_set_text(agir_gait *g, int64_t s, const char *description, const char *rationale, agir_err *e) {
    if (s < 0 || s >= g->n_seq) return AGIR_BUG(e, "agir_gait_set_text: sequence %lld out of range", (long long)s);
    char *d, *r;
    AGIR_TRY(dup_opt(description, &d, e));
    int rc = dup_opt(rationale, &r, e);
    if (rc) {
        free(d);
        return rc;
    }
    free(g->seq[s].description);
    free(g->seq[s].rationale);
    g->seq[s].description = d;
    g->seq[s].rationale = r;
    return AGIR_OK;
}
