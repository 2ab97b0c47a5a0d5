// The LoRA fine-tuning job (`agir train` with [run] job = sft): the paper's two stages on a
// Llama-family model extended with motion tokens. Stage 1 trains motion <-> description (tasks m2t
// and t2m), stage 2 motion -> rationale -> score (task rationale, or score alone for the arm without
// chain of thought); which tasks, in what mix, is configuration ([sft] tasks), and so is where the
// adapter starts ([model] init: a stage-1 run, or '' for the base model, the ablation's switch).
//
// Inputs (agir_sft_inputs): a token store and a gait store with texts, matched by walk id, the
// token store checked against the motion tokenizer the config names; a subject-wise split
// (datasets/sft_text.h) whose held-out subjects give the validation examples; conversations built,
// rendered through the model's chat template, tokenized and masked (train/sft_data.h).
//
// One update: accum micro-batches of B rows × T tokens (B·T = train.batch_tokens, T = sft.max_len),
// packed from the shuffled example stream; the loss is normalised by the valid tokens of the whole
// update (train/llm_step.h); dropout masks come from a Philox stream of (seed, update, micro-batch),
// so an update is a pure function of the weights and the data position. A non-finite update is
// skipped and logged; max_bad_steps in a row stop the run.
//
// Checkpoints (checkpoints/ckpt.h, model type "llama-lora"):
//   adapter.safetensors  the adapter as models/adapter.h writes it (PEFT names, new rows, metadata):
//                        `agir generate --adapter RUN/ckpt-N/adapter.safetensors` reads it as is;
//   optim.safetensors    "moments" (2·n_trainable,): AdamW's m and v as train/llm_step.h lays them out;
//   state.json           step, data position, skipped steps, extra: the shaping configuration, the
//                        split, the tokenizer's identity, the start point and the example counts.
// The run folder also gets split.json: the split and which held-out subjects the motion tokenizer
// saw in its training.
#ifndef AGIR_TRAIN_SFT_JOB_H
#define AGIR_TRAIN_SFT_JOB_H

#include <stdint.h>

#include <cJSON.h>

#include "core/config.h"
#include "core/run.h"
#include "datasets/gait.h"
#include "datasets/sft_examples.h"
#include "datasets/tokens.h"
#include "models/llama_load.h"
#include "train/job.h"
#include "train/sft_data.h"

// [data], [model], [split], [sft], [lora], [rows], [optim] and [train] keys (docs/training.md).
extern const agir_key agir_sft_keys[];

#define AGIR_SFT_MODEL_TYPE "llama-lora"

// Everything the job trains and validates on, and what show-mask and sft-data print.
typedef struct agir_sft_inputs {
    agir_tokens tokens;
    agir_gait texts;
    agir_split split;
    uint8_t *use[2];          // (tokens.n_seq,) walks of [0] the training, [1] the held-out subjects
    int64_t walks[2];         // how many
    char tok_hash[AGIR_TOKENS_HASH_MAX + 1];  // the motion tokenizer's identity ("" when not checked)
    cJSON *tok_info;          // {"path", "hash", "held_out": [...], "test_seen": [...]}, or NULL
    const agir_chat_template *tp;
    agir_sft_convs conv[2];   // [0] training, [1] held-out
    agir_sft_set set[2];
} agir_sft_inputs;

// Reads the stores, checks them against the tokenizer and makes the split ([data], [split]); logs
// what it found. The motion-token count the model needs is tokens.codebook_size.
int agir_sft_inputs_open(agir_sft_inputs *in, const agir_cfg *cfg, const agir_log *log, agir_err *e);
// Builds and renders the examples ([sft], [model] template and system) for model l, whose
// vocabulary holds the motion tokens; logs the counts per task.
int agir_sft_inputs_build(agir_sft_inputs *in, const agir_cfg *cfg, const agir_llm *l, const agir_log *log,
                          agir_err *e);
// Refuses training examples that are empty or of which a task trains on no token (one line).
int agir_sft_inputs_check(const agir_sft_inputs *in, const agir_cfg *cfg, agir_err *e);
void agir_sft_inputs_close(agir_sft_inputs *in);  // safe on a zeroed value

// The model a config trains, for tools that only render examples (show-mask, sft-data): the base
// model of [model] path extended with the token store's motion tokens (rows from the mean).
int agir_sft_load_model(const agir_cfg *cfg, const agir_sft_inputs *in, agir_llm *l, agir_err *e);

// Called before each update (iter counts the updates tried in this invocation, skipped ones
// included) with the LoRA parameters the update reads: the fp32 masters, which are also what the
// passes read on the CPU with f32 weights. Tests use it to make updates non-finite.
typedef void (*agir_sft_update_hook)(void *arg, int64_t iter, float *lora, size_t n);

typedef struct agir_sft_train_opts {
    int64_t max_steps;  // stop after this many more updates (with a checkpoint); 0: run to the end
    agir_resume_mode resume;
    agir_sft_update_hook hook;  // NULL: none
    void *hook_arg;
} agir_sft_train_opts;

typedef struct agir_sft_val {
    int tasks;                          // bit set of the tasks validated
    double loss[AGIR_SFT_NTASK];        // mean cross-entropy per trained token, held-out subjects
    int64_t tokens[AGIR_SFT_NTASK];     // trained tokens it averages over
} agir_sft_val;

typedef struct agir_sft_train_result {
    int64_t resumed_from;  // step of the checkpoint resumed from, -1 for a fresh start
    int64_t step, total, skipped;
    agir_sft_val first, last;  // validation at step 0 (fresh runs only; tasks = 0 otherwise) and at the end
    double wall_s, cpu_s, tokens_per_s;
} agir_sft_train_result;

// Trains in run->dir (schema agir_run_keys + agir_sft_keys). The run folder is started only once
// the data, the model and the checkpoint to resume from have been read and checked. SIGINT or
// SIGTERM stop after the current update with a checkpoint (AGIR_EINTERRUPTED).
int agir_sft_train(agir_run *run, const agir_sft_train_opts *opts, agir_sft_train_result *res, agir_err *e);

#endif
