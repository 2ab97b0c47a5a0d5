// The trained motion tokenizer as checkpoints hold it and inference uses it: the VQ-VAE, the motion
// representation it reads (frame rate, feature options, window) and the feature normalisation.
//
// A VQ-VAE checkpoint (checkpoints/ckpt.h, model type "vqvae") holds
//   model.safetensors  every conv weight and bias by layer ("enc.<i>.weight", "enc.<i>.bias", ...,
//                      "dec.<i>...", in layer order), "codebook" (K, D), "norm.mean" and
//                      "norm.std" (in_dim,): all that inference needs;
//   ema.safetensors    "ema_count" (K,), "ema_sum" (K, D): the quantizer's running statistics;
//   optim.safetensors  the optimizer's moments (written by the training job, train/);
//   state.json         extra = agir_vq_meta_to_json: the model and motion configuration.
// The tokenizer's identity recorded in token stores is "sha256:" + the SHA-256 of model.safetensors
// (from the manifest), so codes are tied to the exact weights that made them.
#ifndef AGIR_MODELS_VQVAE_IO_H
#define AGIR_MODELS_VQVAE_IO_H

#include <stdint.h>

#include <cJSON.h>

#include "checkpoints/ckpt.h"
#include "checkpoints/tensor_view.h"
#include "core/log.h"
#include "datasets/motion_rep.h"
#include "datasets/tokens.h"
#include "models/vqvae.h"

typedef struct agir_vq_meta {
    agir_vqvae_config cfg;
    agir_motion_opts motion;  // motion.fps is the model's frame rate
    int window;               // training window in frames at motion.fps (64)
} agir_vq_meta;

// state.json "extra" of a VQ-VAE checkpoint: {"vqvae": {...every cfg field...}, "motion": {...},
// "window": N} (the training job adds "val_subjects": [ids...] to the object). from_json validates every field as agir_vqvae_init would (one AGIR_EINPUT line
// naming `where` and the key), so a hand-edited state is refused before any allocation.
cJSON *agir_vq_meta_to_json(const agir_vq_meta *m);
int agir_vq_meta_from_json(const cJSON *j, const char *where, agir_vq_meta *m, agir_err *e);

// Tensor views of a model, in the checkpoint's order. Names point into `names`, which the caller
// keeps alive as long as the views. mean, std: (cfg.in_dim,) float32.
enum { AGIR_VQ_VIEW_NAME = 32 };
typedef struct agir_vq_views {
    int64_t n_model, n_ema;
    agir_tensor_view *model;  // (n_model,)
    agir_tensor_view ema[2];
    char (*names)[AGIR_VQ_VIEW_NAME];
} agir_vq_views;
int agir_vq_views_make(agir_vq_views *v, const agir_vqvae *m, const float *mean, const float *std, agir_err *e);
void agir_vq_views_free(agir_vq_views *v);

// A tokenizer ready for inference on the CPU: model sized for batches (B, window), its meta, the
// normalisation and identity.
typedef struct agir_vq_tokenizer {
    agir_vq_meta meta;
    agir_vqvae model;
    float *mean, *std;                          // (cfg.in_dim,)
    char hash[AGIR_TOKENS_HASH_MAX + 1];        // "sha256:<hex of model.safetensors>"
    int64_t step;                               // training step of the checkpoint
    char ckpt_dir[4096];
    char **val_subjects;  // (n_val_subjects,) held-out subject ids the training job recorded in
    int n_val_subjects;   // state.json extra "val_subjects" (an array of strings); 0 when none
} agir_vq_tokenizer;

// path: a training run folder (its newest intact checkpoint, with agir_ckpt_load_latest's fallback
// and warnings on log) or one checkpoint folder (ckpt-<step>). A checkpoint of another model type,
// with tensors of other shapes, or non-finite weights is refused with one AGIR_EINPUT line.
// B: batch the model is sized for (>= 1); T: its window length, 0 = the trained window.
int agir_vq_tokenizer_load(const char *path, int B, int T, const agir_log *log, agir_vq_tokenizer *t, agir_err *e);
void agir_vq_tokenizer_free(agir_vq_tokenizer *t);

#endif
