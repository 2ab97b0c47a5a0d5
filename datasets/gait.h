// In-memory gait dataset and its HDF5 store (layout documented in docs/dataset_format.md).
//
// Columnar: all frames of all sequences in one (n_frames, J, 3) float32 array; each sequence is an
// (offset, length) slice plus metadata. Optional per-sequence ground-truth parameters (the synthetic
// walker's) are an (n_seq, n_gt) float32 table with named columns (NaN = unknown).
#ifndef AGIR_GAIT_H
#define AGIR_GAIT_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "datasets/skeleton.h"

enum { AGIR_MED_UNKNOWN = -1, AGIR_MED_OFF = 0, AGIR_MED_ON = 1 };

typedef struct agir_seq {
    char *id;       // unique, e.g. "SUB01_off_walk_1"
    char *subject;  // e.g. "SUB01"
    int medication;  // AGIR_MED_*
    int updrs_gait;  // 0..4, -1 unknown
    float fps;
    char *source;       // "synth", "bmclab", ...
    char *description;  // analytic description, NULL if none
    char *rationale;    // chain-of-thought rationale, NULL if none
    int64_t offset, length;  // frame slice
} agir_seq;

typedef struct agir_gait {
    const agir_skeleton *skel;
    int64_t n_frames, cap_frames;
    float *frames;  // (n_frames, J, 3) float32, metres, y up
    int64_t n_seq, cap_seq;
    agir_seq *seq;  // (n_seq,)
    int n_gt;
    char **gt_names;  // (n_gt,)
    float *gt;        // (n_seq, n_gt), NaN = unknown
} agir_gait;

// An empty dataset on `skel`, with optional ground-truth columns (names copied).
int agir_gait_init(agir_gait *g, const agir_skeleton *skel, int n_gt, const char *const *gt_names, agir_err *e);
void agir_gait_free(agir_gait *g);

// Appends a sequence: meta's strings are copied (offset/length ignored); frames: (n, J, 3);
// gt: (n_gt,) or NULL.
int agir_gait_append(agir_gait *g, const agir_seq *meta, const float *frames, int64_t n, const float *gt,
                     agir_err *e);

// frames of sequence s: (seq[s].length, J, 3)
static inline float *agir_gait_seq_frames(const agir_gait *g, int64_t s) {
    return g->frames + (size_t)g->seq[s].offset * (size_t)g->skel->n_joints * 3;
}

// Column index of a ground-truth parameter, or -1.
int agir_gait_gt_col(const agir_gait *g, const char *name);

// Index of a sequence by id, or -1.
int64_t agir_gait_find(const agir_gait *g, const char *id);

// Sets (copies) both texts of sequence s; NULL clears one. To change only one, pass the other's
// current pointer (it is copied before the old strings are freed).
int agir_gait_set_text(agir_gait *g, int64_t s, const char *description, const char *rationale, agir_err *e);

// HDF5 store. Writing is atomic. Reading validates everything and names the bad sequence.
int agir_gait_write(const agir_gait *g, const char *path, agir_err *e);
int agir_gait_read(agir_gait *g, const char *path, agir_err *e);
// Reads from an HDF5 file image in memory (`name` appears in messages); for fuzzing and tests.
int agir_gait_read_image(agir_gait *g, const void *buf, size_t len, const char *name, agir_err *e);

#endif
