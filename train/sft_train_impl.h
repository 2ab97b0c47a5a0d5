// Internals of the SFT job shared by its files: sft_train.c (set-up, validation and the update
// loop) and sft_ckpt.c (checkpoints and resume).
#ifndef AGIR_TRAIN_SFT_TRAIN_IMPL_H
#define AGIR_TRAIN_SFT_TRAIN_IMPL_H

#include "kernels/ops.h"
#include "models/llama.h"
#include "models/lora.h"
#include "train/llm_step.h"
#include "train/schedule.h"
#include "train/sft_job.h"

typedef struct sft_trainer {
    agir_run *run;
    const agir_log *log;
    agir_ctx ctx;
    agir_sft_inputs in;
    agir_llm llm;  // base model extended with the motion tokens; new rows trained
    agir_lora lora;
    int have_llm, have_lora;
    char init_from[4200];  // the stage-1 checkpoint the run's adapter started from ("" = fresh)
    agir_llama_weights w;
    agir_llama_acts a;
    agir_llm_trainer tr;
    agir_schedule sched;
    float lr_lora, lr_rows;  // peaks; the schedule scales both
    agir_sft_stream stream;
    agir_sft_batch *mb;  // (accum,) the micro-batches of one update
    agir_sft_pos pos;
    int B, T, accum, pack, max_bad;
    int64_t total, log_every, val_every, val_max, ckpt_every, keep;
    int64_t step, skipped;
    uint64_t seed;
    float *h_mom;  // host mirror of the AdamW moments (2 · g.n)
} sft_trainer;

// sft_ckpt.c
int agir_sftt_save(sft_trainer *t, agir_err *e);
// Checks a checkpoint of this run against the configuration and inputs; fills the position.
int agir_sftt_restore(sft_trainer *t, const agir_ckpt *c, agir_err *e);
// Opens the checkpoint model.init names: one ckpt-N folder, or an SFT run folder's newest intact
// one (falling back with warnings on log). One AGIR_EINPUT line when there is none; the caller
// closes c.
int agir_sftt_open_init(const char *path, const agir_log *log, agir_ckpt *c, agir_err *e);
// Writes split.json into the run folder (the split and the tokenizer's record).
int agir_sftt_write_split(sft_trainer *t, agir_err *e);

#endif
