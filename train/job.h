// What every resumable training job shares (the VQ-VAE job, the SFT job): the record of the keys
// that shape a run, checked on resume; opening the run folder's newest checkpoint under a resume
// mode; starting the run folder; the one line of an interrupted run; CPU time.
#ifndef AGIR_TRAIN_JOB_H
#define AGIR_TRAIN_JOB_H

#include <stdint.h>

#include <cJSON.h>

#include "checkpoints/ckpt.h"
#include "core/config.h"
#include "core/run.h"

typedef enum {
    AGIR_RESUME_AUTO = 0,  // resume when the run folder holds a checkpoint, else start
    AGIR_RESUME_NEVER,     // start; refuse a run folder that already holds checkpoints
    AGIR_RESUME_REQUIRE,   // resume; refuse a run folder without checkpoints
} agir_resume_mode;

// Whether a key shapes the run's trajectory (a resumed run must have the same value).
typedef int (*agir_shapes_run)(const agir_key *k);

// {"section.key": "value", ...} of the keys of cfg that shape the run (NULL when out of memory).
cJSON *agir_job_config_record(const agir_cfg *cfg, agir_shapes_run shapes);
// Refuses (one line naming the key's origin, both values and a hint) a configuration whose shaping
// keys differ from the record a checkpoint holds. where: the checkpoint's state, for messages;
// job: the job's name ("vqvae").
int agir_job_config_check(const agir_cfg *cfg, agir_shapes_run shapes, const cJSON *rec, const char *where,
                          const char *job, agir_err *e);

// The run folder's newest intact checkpoint of model_type under `mode` (c->found = 0: start
// afresh). Fallback warnings are held back until a checkpoint loads, so a run folder without any
// intact checkpoint is one error line. Starting afresh is said on the log ("<job>: starting a new
// run in DIR", noting an earlier run there that stopped before its first checkpoint).
int agir_job_ckpt_open(const agir_run *run, const char *job, const char *model_type, agir_resume_mode mode,
                       agir_ckpt *c, agir_err *e);

// Starts the run folder (agir_run_start) and records the start or the resume in metrics.jsonl.
// resumed_from: the step resumed from, or -1.
int agir_job_start(agir_run *run, int64_t resumed_from, agir_err *e);

// The error of a run stopped by SIGINT or SIGTERM at step `step` of `total`, having started at
// `first`: AGIR_EINTERRUPTED with where it stopped and how to go on. saved: a checkpoint of `step`
// was written (the caller writes it before when step > first).
int agir_job_interrupted(const agir_run *run, int64_t first, int64_t step, int64_t total, agir_err *e);

// What a job's loop does at its cadences: an update's log line, a validation, a checkpoint.
typedef struct agir_job_hooks {
    void *self;
    void (*log)(void *self);                  // log the interval since the last one (may do nothing)
    int (*validate)(void *self, agir_err *e);
    int (*save)(void *self, agir_err *e);      // a checkpoint of the current step
} agir_job_hooks;

typedef struct agir_job_cadence {
    int64_t log_every, val_every, ckpt_every;  // val_every 0: only at the end
    int saved, validated;                      // what the last update did
} agir_job_cadence;

// After the update that reached `step`: the log line, validation and checkpoint that fall due.
int agir_job_after_update(agir_job_cadence *c, const agir_job_hooks *h, int64_t step, agir_err *e);
// After the loop ended at `step` (started at `first`, run length `total`): the last log line; then,
// when stopped by a signal, a checkpoint unless there is one and the error of agir_job_interrupted;
// otherwise the final validation and checkpoint unless the last update made them.
int agir_job_finish(agir_job_cadence *c, const agir_job_hooks *h, const agir_run *run, int stopped, int64_t first,
                    int64_t step, int64_t total, agir_err *e);

// A non-finite update skipped before step + 1 (bad in a row; the run stops at max_bad): the warning
// and the metrics record. Returns the error that stops the run when bad reaches max_bad, else 0.
int agir_job_skip(const agir_run *run, int64_t step, double loss, double grad_norm, int bad, int max_bad,
                  int64_t skipped, agir_err *e);

// The part of a checkpoint's state every job fills the same way: model type, step (also the
// schedule's position), skipped updates, data position, one rank, and the SHA-256 of the run's
// config.ini. RNGs and extra are the job's.
int agir_job_ckpt_state(const agir_run *run, const char *model_type, int64_t step, int64_t skipped, int64_t epoch,
                        int64_t cursor, agir_ckpt_state *s, agir_err *e);

// After a checkpoint of `step` was saved in run->dir: the debug line and the metrics record.
void agir_job_saved(const agir_log *log, const char *dir, int64_t step);

// CPU seconds (user + system) of the process so far.
double agir_job_cpu_seconds(void);

#endif
