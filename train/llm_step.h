// The optimizer step of a LoRA fine-tune of a Llama-family model (models/llama.h) on the context its
// weights were placed on (CPU or CUDA; gradients, moments and masters all live there):
// gradient accumulation over micro-batches, the data-parallel reduce point, global gradient-norm
// clipping and AdamW (kernels/ops.h) over two parameter groups, each with its own learning rate and
// weight decay:
//   - "lora": every LoRA A and B (agir_lora.mem, contiguous);
//   - "rows": the new vocabulary rows, new_embed and, when the output matrix is untied, new_head.
// Base weights are never touched: they get no gradients and no update.
//
// One optimizer step over a global batch of k micro-batches:
//   agir_llm_step_begin(t, valid labels of this rank's k micro-batches)  zeroes the gradients, sums
//       the valid count over ranks (reduce point 1) and keeps it as the loss normaliser;
//   agir_llm_step_micro(t, ...) × k                  forward + loss / n_valid_global + backward;
//   agir_llm_step_apply(t, ...)                     sums gradients over ranks (reduce point 2),
//       measures the global norm, clips, updates.
// Because every micro-batch's loss is divided by the valid count of the whole global batch, the
// summed gradients of k micro-batches of b rows are those of one batch of k·b rows (the SFT loss:
// docs/architecture.md, "Models, jobs and run folders"), and so is the update.
#ifndef AGIR_TRAIN_LLM_STEP_H
#define AGIR_TRAIN_LLM_STEP_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/rng.h"
#include "kernels/ops.h"
#include "models/llama.h"
#include "models/lora.h"
#include "train/grad.h"

typedef struct agir_llm_opt_cfg {
    float lr_lora, wd_lora;  // LoRA group
    // New token rows. Weight decay defaults to 0 here: it would pull the new embeddings towards 0,
    // away from the norm of the frozen rows they were initialised from and must keep matching.
    float lr_rows, wd_rows;
    float beta1, beta2, eps;
    float clip;  // largest global L2 norm of the gradient (both groups together); 0 = no clipping
} agir_llm_opt_cfg;

// lr 2e-4 for both groups, weight decay 0, betas (0.9, 0.999), eps 1e-8, clip 1 (HF Trainer's
// defaults, with PEFT's usual LoRA learning rate).
agir_llm_opt_cfg agir_llm_opt_defaults(void);

// Sums a buffer over all data-parallel ranks in place (MPI_Allreduce / NCCL). The counts and the
// gradients go through it; NULL functions mean one rank.
typedef struct agir_llm_reduce {
    void *ctx;
    int (*sum_f32)(void *ctx, float *buf, size_t n, agir_err *e);
    int (*sum_i64)(void *ctx, int64_t *buf, size_t n, agir_err *e);
} agir_llm_reduce;

typedef struct agir_llm_step_stats {
    double loss;       // Σ of the micro-batch losses = mean over the global batch's valid tokens
    double grad_norm;  // global L2 norm before clipping
    float clip_scale;  // factor applied to the gradients (1 when not clipped)
    int skipped;       // 1 when the loss or the norm was not finite: nothing was updated
} agir_llm_step_stats;

typedef struct agir_llm_trainer {
    agir_llm_opt_cfg cfg;
    agir_llama_weights *w;  // the model and adapter being trained; only their trainable tensors change
    agir_llama_grads g;     // gradients [lora | new_embed | new_head] on w's context
    float *mom;             // AdamW moments on w's context: m then v of the LoRA group, then of the rows group
    long long step;         // updates done
    int64_t n_valid;        // valid labels of the current global batch (after step_begin)
    double loss;            // running Σ of this step's micro-batch losses
    agir_llm_reduce reduce;
    agir_gradnorm gn;
} agir_llm_trainer;

// w (placed with an adapter) must outlive t; t must stay where it is. reduce may be NULL (one rank).
// cfg is checked (AGIR_EINPUT naming the key: lr, weight decay >= 0 and finite, betas in [0, 1),
// eps > 0, clip >= 0).
int agir_llm_trainer_init(agir_llm_trainer *t, agir_llama_weights *w, const agir_llm_opt_cfg *cfg,
                          const agir_llm_reduce *reduce, agir_err *e);
void agir_llm_trainer_free(agir_llm_trainer *t);

// Starts a global batch. n_valid_local: valid labels (agir_llama_count_valid) of all micro-batches
// this rank will run. Refuses a global batch without any trained token.
int agir_llm_step_begin(agir_llm_trainer *t, int64_t n_valid_local, agir_err *e);
// One micro-batch: forward, masked cross-entropy normalised by the global count, backward; the
// gradients accumulate. Shapes as agir_llama_forward / agir_llama_loss, sized by a.
int agir_llm_step_micro(agir_llm_trainer *t, agir_llama_acts *a, const int32_t *tokens, const int32_t *pos,
                        const int32_t *seg, const int32_t *labels, const agir_rng *dropout, double *loss, agir_err *e);
// Ends the global batch: reduce, clip, AdamW on both groups. A non-finite loss or gradient norm
// skips the update (st->skipped = 1, parameters and moments untouched) without an error: the
// caller logs it and decides when too many in a row stop the run.
int agir_llm_step_apply(agir_llm_trainer *t, agir_llm_step_stats *st, agir_err *e);

#endif
