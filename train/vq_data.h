// Training data of the VQ-VAE: a gait dataset as normalised motion-feature sequences, split by
// subject into training and held-out sets, and the random windows the training job draws.
//
// Features: agir_motion_from_seq (resampled to the model's frame rate), normalised by the mean and
// standard deviation of the TRAINING subjects' features (agir_motion_stats), so held-out subjects
// leave no trace in the model. Training sequences shorter than a window are left out, as T2M-GPT's
// dataset_VQ does.
//
// Windows (T2M-GPT's sampling, made reproducible): the training stream is a sequence of items;
// epoch e visits every training sequence once in an order shuffled by a Philox stream of (seed, e),
// and item c of epoch e is a window whose start is drawn uniformly from a Philox stream of
// (seed, e, c). A window is thus a pure function of its position (epoch, cursor): resume needs
// only the position, and data-parallel ranks can each fill a disjoint slice of a global batch.
//
// Held-out set: every non-overlapping window [k·W, (k+1)·W) of each held-out sequence, with the
// original joints it encodes, re-anchored by agir_motion_decode (start at the origin facing +z),
// which is how reconstructions come back from the model.
#ifndef AGIR_TRAIN_VQ_DATA_H
#define AGIR_TRAIN_VQ_DATA_H

#include <stdint.h>

#include "core/error.h"
#include "core/rng.h"
#include "datasets/gait.h"
#include "datasets/motion_rep.h"

// How the held-out subjects are chosen: a list of subject ids ("SYN003,SYN011"), or, when the
// list is empty, round(fraction · subjects) of them (at least one when fraction > 0, at most all
// but one) drawn from a Philox stream of `seed`. A list must leave at least one training subject.
typedef struct agir_vq_split {
    const char *subjects;  // comma-separated ids, or ""
    const char *where;     // origin of the list for messages ("vqvae.ini:12")
    double fraction;       // in [0, 1)
    uint64_t seed;
} agir_vq_split;

typedef struct agir_vq_pos {
    int64_t epoch, cursor;  // items of that epoch already consumed
} agir_vq_pos;

typedef struct agir_vq_data {
    agir_motion_layout layout;
    agir_motion_opts motion;
    int window, dim;        // W rows per window, D features per row
    float *mean, *std;      // (D,)
    int n_train;            // training sequences long enough for a window
    float **train;          // (n_train,) each (train_rows[i], D), normalised
    int64_t *train_rows;    // (n_train,)
    int n_short;            // training sequences left out for being shorter than a window
    int n_val_seq, n_val;   // held-out sequences, and windows cut from them
    float *val_x;           // (n_val, W, D) normalised features
    float *val_joints;      // (n_val, W, J, 3) original joints of each window, re-anchored, metres
    int n_subjects, n_val_subjects;
    char **val_subjects;    // (n_val_subjects,) sorted ids
    agir_rng root;          // the window stream's root (seed, stream)
    int64_t perm_epoch;     // epoch whose order `perm` holds (-1: none yet)
    int32_t *perm;          // (n_train,)
} agir_vq_data;

// How the training data is cut and normalised.
typedef struct agir_vq_data_opts {
    int window;        // W: rows per training window
    double std_floor;  // > 0: lower bound of each feature's standard deviation (features that barely
                       // vary, like the heading rate of straight walks, would otherwise be blown up)
    int pool;          // 1: standard deviations pooled by feature group (agir_motion_pool_std)
    double feat_bias;  // with pool: divisor of the root and contact groups' deviations
    int mirror;        // 1: add the mirror image of every training sequence (agir_skeleton_mirror)
                       // to the training set and its statistics
} agir_vq_data_opts;

// Builds the data from g. name: the dataset's path for messages; o: motion options (o->fps is the
// model's rate).
int agir_vq_data_load(agir_vq_data *d, const agir_gait *g, const char *name, const agir_motion_opts *o,
                      const agir_vq_data_opts *opt, const agir_vq_split *split, uint64_t seed, agir_err *e);
void agir_vq_data_free(agir_vq_data *d);  // safe on a zeroed value

// Fills x: (n, W, D) with the n items from position p onwards (p is not moved).
void agir_vq_data_windows(agir_vq_data *d, const agir_vq_pos *p, int n, float *x);
// Moves p past n items.
void agir_vq_pos_advance(const agir_vq_data *d, agir_vq_pos *p, int64_t n);

#endif
