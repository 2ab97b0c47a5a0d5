// Run-folder checkpoints: what every training job saves and resumes from.
//
// Layout of a run folder:
//   run_dir/ckpt-<step>/<group>.safetensors   one file per tensor group ("model", "optim", "ema")
//   run_dir/ckpt-<step>/state.json            step, data cursor, schedule, RNGs, config hash, ...
//   run_dir/ckpt-<step>/manifest.json         size and SHA-256 of each file above
//   run_dir/LATEST                            "ckpt-<step>\n", the newest complete checkpoint
//
// Save protocol (docs/architecture.md, "Robustness"): refuse non-finite float values before
// writing anything; write every file into a temporary folder (.ckpt-<step>.tmp.<pid>), each
// fsynced; write the manifest last; rename the folder into place and fsync run_dir; replace
// LATEST atomically; only then prune older checkpoints. A kill at any moment leaves LATEST naming
// a complete checkpoint.
//
// Load: the checkpoint LATEST names, verified against its manifest; when it is missing or corrupt
// (or LATEST itself is), the newest older checkpoint that verifies, with a warning for each one
// passed over. A checkpoint of another model type, or whose tensors do not match what the caller
// expects, is refused with one AGIR_EINPUT line: that is the wrong run, not a damaged one.
#ifndef AGIR_CKPT_H
#define AGIR_CKPT_H

#include <stdint.h>

#include <cJSON.h>

#include "checkpoints/safetensors.h"
#include "core/error.h"
#include "core/log.h"
#include "core/rng.h"

enum {
    AGIR_CKPT_MAX_GROUPS = 8,
    AGIR_CKPT_MAX_RNG = 16,
    AGIR_CKPT_NAME_MAX = 48,  // group, RNG and model type names: [A-Za-z0-9_.-]
};

// One tensor group, saved as <name>.safetensors with the views in this order. meta: extra string
// metadata written after the checkpoint's own (agir.step, agir.model_type), so that a group can be a
// file other tools read as is (an adapter); n_meta = 0 for none.
typedef struct agir_ckpt_group {
    const char *name;
    const agir_tensor_view *t;
    int64_t n;
    const agir_st_kv *meta;
    int64_t n_meta;
} agir_ckpt_group;

typedef struct agir_ckpt_rng {
    char name[AGIR_CKPT_NAME_MAX];  // "init", "data", "dropout", ...
    agir_rng r;                     // saved whole (key, counter and buffered words), so draws continue exactly
} agir_ckpt_rng;

// Everything besides tensors that resume needs.
typedef struct agir_ckpt_state {
    char model_type[AGIR_CKPT_NAME_MAX];  // "vqvae", "llama-lora", ...: a mismatch is refused at load
    int64_t step;                         // optimizer steps done
    int64_t epoch;                        // data epoch in progress
    int64_t cursor;                       // examples of that epoch already consumed (all ranks together)
    int64_t sched_step;                   // position in the learning-rate schedule
    int64_t skipped;                      // non-finite steps skipped so far
    int world_size;                       // ranks the run was saved with
    char config_hash[65];                 // SHA-256 hex of the effective config (agir_sha256_file)
    int n_rng;
    agir_ckpt_rng rng[AGIR_CKPT_MAX_RNG];
    cJSON *extra;  // free-form job fields (an object) or NULL; owned by the caller when saving, by
                   // the loaded checkpoint after a load
} agir_ckpt_state;

typedef struct agir_ckpt_opts {
    int keep_last;         // checkpoints kept after a save (the new one included); 0 keeps all
    const agir_log *log;   // warnings about leftovers and pruning; NULL for silence
} agir_ckpt_opts;

// Saves a checkpoint for state->step. Refuses (AGIR_EINPUT, nothing written) a tensor of a float
// type holding NaN or Inf.
int agir_ckpt_save(const char *run_dir, const agir_ckpt_state *state, const agir_ckpt_group *groups, int n_groups,
                   const agir_ckpt_opts *opts, agir_err *e);

// A loaded checkpoint: views point into the mapped files, valid until agir_ckpt_close.
typedef struct agir_ckpt {
    int found;  // 0: the run folder holds no checkpoint (a fresh run), nothing else is set
    char dir[4096];
    agir_ckpt_state state;
    int n_groups;
    char group[AGIR_CKPT_MAX_GROUPS][AGIR_CKPT_NAME_MAX];
    char group_sha256[AGIR_CKPT_MAX_GROUPS][65];  // of each group's file, as the verified manifest records
    agir_st_file file[AGIR_CKPT_MAX_GROUPS];
} agir_ckpt;

// Loads the newest intact checkpoint of run_dir, falling back with agir_warn on `log` (may be
// NULL for silence). model_type: refused when the checkpoint records another. A run folder with
// checkpoints none of which verify is an error; one with none at all gives found = 0.
int agir_ckpt_load_latest(const char *run_dir, const char *model_type, const agir_log *log, agir_ckpt *c,
                          agir_err *e);

// Loads one checkpoint folder (dir: ".../ckpt-<step>"), verified against its manifest like each
// candidate of agir_ckpt_load_latest but without fallback: the user named this checkpoint. A
// folder name of another shape, a damaged checkpoint or another model type is one AGIR_EINPUT line.
int agir_ckpt_load_dir(const char *dir, const char *model_type, agir_ckpt *c, agir_err *e);

// The tensors of group `name`, or NULL.
const agir_st_file *agir_ckpt_group_file(const agir_ckpt *c, const char *name);

// Checks that group `name` holds exactly the tensors `want` describes (names, dtypes, shapes; the
// data of want is ignored), so a checkpoint of another configuration is refused in one line.
int agir_ckpt_expect(const agir_ckpt *c, const char *name, const agir_tensor_view *want, int64_t n, agir_err *e);

// The RNG called `name` from c's state, or NULL.
const agir_rng *agir_ckpt_rng_get(const agir_ckpt *c, const char *name);

void agir_ckpt_close(agir_ckpt *c);

#endif
