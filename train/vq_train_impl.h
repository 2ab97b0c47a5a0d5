// Internals of the VQ-VAE training job shared by its files: vq_train.c (set-up and the step loop),
// vq_train_ckpt.c (checkpoints and resume), vq_train_val.c (validation on held-out subjects).
#ifndef AGIR_TRAIN_VQ_TRAIN_IMPL_H
#define AGIR_TRAIN_VQ_TRAIN_IMPL_H

#include <stdint.h>

#include "core/rng.h"
#include "kernels/ops.h"
#include "models/vqvae.h"
#include "models/vqvae_io.h"
#include "train/grad.h"
#include "train/schedule.h"
#include "train/vq_data.h"
#include "train/vq_train.h"

typedef struct vq_trainer {
    const agir_run *run;
    const agir_log *log;
    agir_ctx ctx;
    agir_vq_data data;
    agir_vq_meta meta;
    agir_vqvae m;  // tensors on ctx's device
    agir_schedule sched;
    agir_gradnorm gn;
    agir_adamw_hp hp;  // lr and step set per update
    double clip;
    int B, T;
    int64_t total, log_every, val_every, ckpt_every;
    int keep, max_bad;
    // Device buffers.
    float *x, *adam_m, *adam_v;  // (B, T, D), (n_params,) × 2
    uint8_t *mask;               // (B·T,) frames that count in a validation chunk
    // Host buffers.
    float *hx, *hout;            // (B, T, D): the batch, a decoded batch
    float *hjoints;              // (T, J, 3)
    int32_t *hidx;               // (B·Tq,)
    uint8_t *hmask;              // (B·T,)
    // Host mirrors of everything a checkpoint holds, and views over them in checkpoint order.
    float *h_params, *h_codebook, *h_count, *h_sum, *h_m, *h_v, *h_mean, *h_std;
    agir_vq_views views;
    agir_tensor_view optim[2];
    // Position of the run.
    agir_rng quant;  // dead-code reset rows and the codebook's first rows
    agir_vq_pos pos;
    int64_t step, skipped;
} vq_trainer;

// vq_train_ckpt.c
int agir_vqt_save(vq_trainer *t, agir_err *e);
// Resumes from the run folder's newest intact checkpoint when there is one (per mode);
// *resumed_from: its step, or -1.
int agir_vqt_resume(vq_trainer *t, agir_resume_mode mode, int64_t *resumed_from, agir_err *e);

// vq_train_val.c
int agir_vqt_validate(vq_trainer *t, agir_vq_val *v, agir_err *e);

#endif
