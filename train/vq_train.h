// The VQ-VAE training job (`agir train` with [run] job = vqvae): T2M-GPT's tokenizer training
// (Zhang et al., CVPR 2023, train_vq.py) on AGIR's gait data, resumable bit for bit.
//
// One step: draw B random windows (train/vq_data.h), encode, quantize against the codebook,
// decode, losses (smooth-L1 reconstruction + w_joint · joint positions + commit · commitment),
// backward with the straight-through estimator; then the REDUCE POINT, where data-parallel ranks
// will all-reduce what is summed over the batch (parameter gradients, the quantizer's per-code
// counts and sums, the loss sums and the finiteness flag; one rank: nothing to combine); then,
// when the loss and gradient norm are finite, the quantizer's EMA update with dead-code reset and
// an AdamW update with the scheduled learning rate and optional global-norm clipping. A
// non-finite step changes nothing but the data position; max_bad_steps of them in a row stop the
// run with an error and no checkpoint.
//
// Checkpoints (checkpoints/ckpt.h, models/vqvae_io.h): groups "model" and "ema" as
// agir_vq_views_make names them, "optim" with AdamW's "exp_avg" and "exp_avg_sq" (n_params,);
// state.json holds the step, data position (epoch, cursor), schedule position, skipped steps, the
// RNGs "data" and "quant", and extra = agir_vq_meta_to_json plus "val_subjects" (held-out ids) and
// "config" (every key that shapes the run, checked on resume). Every tensor is reached through the
// op context (uploads, downloads, ops), so the loop is the same on every device.
#ifndef AGIR_TRAIN_VQ_TRAIN_H
#define AGIR_TRAIN_VQ_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/run.h"
#include "datasets/motion_rep.h"
#include "models/vqvae.h"
#include "train/job.h"

// [data], [model], [optim] and [train] keys of the vqvae job (docs/training.md).
extern const agir_key agir_vqvae_keys[];

// The model a vqvae config describes, for the motion features of layout L.
agir_vqvae_config agir_vq_model_config(const agir_cfg *c, const agir_motion_layout *L);

// Called with each batch (B, W, D) of normalised features after it is drawn and before the model
// sees it; `iter` counts the batches drawn so far in the run (skipped ones included). Tests use it
// to inject non-finite values.
typedef void (*agir_vq_batch_hook)(void *arg, int64_t iter, float *x, size_t n);

typedef struct agir_vq_train_opts {
    int64_t max_steps;  // stop after this many more updates (with a checkpoint); 0: run to [train] steps
    agir_resume_mode resume;
    agir_vq_batch_hook hook;  // NULL: none
    void *hook_arg;
} agir_vq_train_opts;

typedef struct agir_vq_val {
    int windows;        // held-out windows evaluated (0: no held-out data)
    double rec;         // smooth-L1 reconstruction loss on normalised features
    double mpjpe_mm;    // mean per-joint position error of the decoded joints, each frame's root
                        // moved to the origin (MotionGPT's reconstruction MPJPE), millimetres
    double mpjpe_global_mm;  // the same without root alignment: adds the drift of the root path
    double usage;       // fraction of the codes used by the held-out windows
    double perplexity;  // of the held-out code assignments
} agir_vq_val;

typedef struct agir_vq_train_result {
    int64_t resumed_from;  // step of the checkpoint resumed from, -1 for a fresh start
    int64_t step, skipped; // updates done and non-finite steps skipped, at the end
    agir_vq_val val;       // the last validation
    double wall_s, cpu_s;  // of this invocation's training loop
} agir_vq_train_result;

// Trains in run->dir (configuration from run->cfg, schema agir_run_keys + agir_vqvae_keys). The run
// is started (agir_run_start: run folder, config.ini, metrics.jsonl) only once the data, the model
// and the checkpoint to resume from have been read and checked, so a failed start writes nothing.
// SIGINT or SIGTERM (with agir_signals_install) stop the loop after the current update with a
// checkpoint, and the call returns AGIR_EINTERRUPTED with a message saying how to resume.
int agir_vq_train(agir_run *run, const agir_vq_train_opts *opts, agir_vq_train_result *res, agir_err *e);

#endif
