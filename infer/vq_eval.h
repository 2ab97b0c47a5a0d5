// Evaluation of a trained motion tokenizer on a set of walks (normally the subjects held out from its
// training): how far reconstructed joints lie from the originals, how much of the codebook the codes
// use, and how well clinical gait features survive the round trip.
//
// Every sequence is resampled to the model's frame rate and encoded (n feature rows from n + 1
// frames); its codes are decoded and the first n rows kept. Original and reconstruction are both
// turned into joints by agir_motion_decode, so both start at the origin facing +z and are compared
// frame by frame:
//   MPJPE        mean over frames and joints of the distance between the joints after moving each
//                frame's root (pelvis) to the origin: the pose error, as MotionGPT's reconstruction
//                metric with aligned roots (Jiang et al. 2023, "MotionGPT: Human motion as a foreign
//                language", NeurIPS; its M2M metrics)
//   global MPJPE the same without root alignment: includes the drift of the integrated root path
// Codebook: usage = fraction of the K codes used at least once, perplexity = exp(entropy) of the
// code frequencies (T2M-GPT's formula, agir_vq_perplexity) over all codes of the evaluated walks.
// Gait features (datasets/features.h) of reconstruction and original at the model's rate: relative
// error |rec - orig| / |orig| per feature and walk (walks whose original has no features, and
// features whose original value is 0, are left out), summarised by medians.
#ifndef AGIR_INFER_VQ_EVAL_H
#define AGIR_INFER_VQ_EVAL_H

#include <stdint.h>

#include <cJSON.h>

#include "datasets/features.h"
#include "infer/vq_tokenize.h"

typedef struct agir_vq_seq_eval {
    int64_t seq;     // index in the dataset
    int64_t frames;  // frames compared
    int64_t codes;
    double mpjpe_mm, mpjpe_global_mm;
    int has_features;  // 0: the original walk gives no features; 1: both do; -1: only the original
    agir_features orig, rec;
} agir_vq_seq_eval;

typedef struct agir_vq_eval {
    int quantized;  // 0: the decoder read z_e (agir_vq_reconstruct without quantize)
    int64_t n_seq, n_frames, n_codes;
    double mpjpe_mm, mpjpe_global_mm;  // means over every frame and joint of the evaluated walks
    int codebook_size;
    int64_t codes_used;
    double usage, perplexity;
    int64_t n_features;       // walks whose original and reconstruction both give features
    int64_t n_features_lost;  // walks whose reconstruction lost them (too few steps found)
    double *rel_median;       // (agir_n_features,): median relative error of each feature, NaN if none
    int64_t *rel_count;       // (agir_n_features,): walks counted for it
    double rel_median_all;    // median over every (walk, feature) relative error, NaN if none
    agir_vq_seq_eval *per_seq;  // (n_seq,)
} agir_vq_eval;

// sel: (g->n_seq,) out: 1 for the sequences of the given subjects. A subject that has no sequence in
// g is one AGIR_EINPUT line naming it (`data` is g's path, for the message).
int agir_vq_select_subjects(const agir_gait *g, const char *data, const char *const *subjects, int n, uint8_t *sel,
                            agir_err *e);

// Evaluates the sequences with sel[s] (all when sel is NULL). Needs at least one. quantize: as in
// agir_vq_reconstruct (1 for the tokenizer's real round trip); the codebook figures count the codes
// of z_e either way.
int agir_vq_evaluate(agir_vq_coder *c, const agir_gait *g, const uint8_t *sel, int quantize, const agir_log *log,
                     agir_vq_eval *r, agir_err *e);
void agir_vq_eval_free(agir_vq_eval *r);

// {"quantized", "sequences", "frames", "codes", "mpjpe_mm", "mpjpe_global_mm", "codebook": {...}, "features":
// {"walks", "lost", "median_relative_error", "per_feature": {name: {"median_relative_error", "walks"}}},
// "per_sequence": [{"id", "subject", "frames", "codes", "mpjpe_mm", "mpjpe_global_mm"}, ...]}; NULL when
// out of memory.
cJSON *agir_vq_eval_json(const agir_vq_eval *r, const agir_gait *g);

#endif
