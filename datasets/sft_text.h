// The text side of supervised fine-tuning examples: the tasks of the two stages, their instruction
// phrasings, motions spelled with motion tokens, and subject-wise splits.
//
// Tasks (one conversation each: a user turn with the instruction and its payload, an assistant
// turn with the response):
//   m2t        stage 1: motion -> analytic description ("Foot: ... Arm: ...")
//   t2m        stage 1: analytic description -> motion tokens
//   rationale  stage 2: motion -> rationale ("Foot: ... Arm: ... Overall: ...") ending in "Score: N"
//   score      stage 2 without chain of thought: motion -> the line "Score: N" alone
// A motion is spelled with the tokens the LLM's vocabulary was extended with:
// "<som><motion_id_12><motion_id_7>...<eom>".
//
// Tokenizing and rendering through a model's chat template happen above this layer
// (train/sft_data.h); this file only deals in strings.
#ifndef AGIR_DATASETS_SFT_TEXT_H
#define AGIR_DATASETS_SFT_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/rng.h"

typedef enum agir_sft_task {
    AGIR_SFT_M2T,
    AGIR_SFT_T2M,
    AGIR_SFT_RATIONALE,
    AGIR_SFT_SCORE,
    AGIR_SFT_NTASK,
} agir_sft_task;

// "m2t", "t2m", "rationale", "score".
const char *agir_sft_task_name(agir_sft_task t);
// The task called name, or -1.
int agir_sft_task_find(const char *name);

// How much of each task a stage trains on: weight[t] examples per walk and epoch (0 = task off).
// A weight w gives floor(w) examples of every walk plus one more for a fraction frac(w) of the
// walks, chosen from the seed (agir_sft_copies).
typedef struct agir_sft_mix {
    double weight[AGIR_SFT_NTASK];
} agir_sft_mix;

// Parses "m2t:1, t2m:0.5" (a task name alone means weight 1). Unknown tasks, weights outside
// [0, 16], a task named twice or no task with weight > 0 are one AGIR_EINPUT line starting with
// `where` (the config origin, e.g. "sft_stage1.ini:40") that lists the task names.
int agir_sft_mix_parse(const char *text, const char *where, agir_sft_mix *mix, agir_err *e);

// Examples of walk `walk` for task t: floor(w) plus one with probability frac(w), decided by a
// Philox stream of (seed, task, walk), so the set does not depend on the order of the walks.
int agir_sft_copies(const agir_sft_mix *mix, agir_sft_task t, uint64_t seed, int64_t walk);

// Instruction phrasings of task t: *n (at least 20) NUL-terminated strings, each containing "{}"
// exactly once where the payload goes (the motion, or the description for t2m).
const char *const *agir_sft_phrasings(agir_sft_task t, int *n);

// The user turn: phrasing k of task t with "{}" replaced by payload (malloc'ed, caller frees).
// k outside [0, n) is a caller bug (AGIR_EINTERNAL via AGIR_BUG).
int agir_sft_instruction(agir_sft_task t, int k, const char *payload, char **out, agir_err *e);

// "<som><motion_id_c0>...<eom>" for codes (n,) (malloc'ed, caller frees). Negative codes are a
// caller bug (AGIR_EINTERNAL via AGIR_BUG).
int agir_sft_spell_motion(const int32_t *codes, int64_t n, char **out, agir_err *e);

// ---- subject-wise splits ------------------------------------------------------------------------

typedef enum agir_split_mode {
    AGIR_SPLIT_LOSO,   // leave one subject out: fold = index of the held-out subject in sorted order
    AGIR_SPLIT_KFOLD,  // k folds of the subjects shuffled by the seed; fold = the held-out one
    AGIR_SPLIT_LIST,   // an explicit comma-separated list of held-out subject ids
} agir_split_mode;

typedef struct agir_split_spec {
    agir_split_mode mode;
    int k, fold;       // kfold: 2 <= k <= subjects, 0 <= fold < k; loso: 0 <= fold < subjects
    const char *list;  // list mode: "SYN003,SYN011"
    uint64_t seed;     // kfold's shuffle
    const char *where; // origin for messages ("sft_stage1.ini:[split]")
} agir_split_spec;

// Parses "loso", "kfold" or "list" into *mode; anything else is one AGIR_EINPUT line.
int agir_split_mode_parse(const char *text, const char *where, agir_split_mode *mode, agir_err *e);

typedef struct agir_split {
    int n;             // distinct subjects
    char **subjects;   // (n,) sorted (strcmp)
    uint8_t *test;     // (n,) 1 = held out
    int n_test;
} agir_split;

// Splits the distinct subjects among subjects (n, duplicates allowed) per spec. Refused with one
// AGIR_EINPUT line (starting with spec->where): a fold or k out of range, a listed subject that is
// not in the data (named), an empty list, or a split that leaves no training or no test subject.
// kfold: the sorted subjects are shuffled (Fisher-Yates, Philox stream of seed) and cut into k
// contiguous groups of sizes differing by at most one; fold f is the f-th group.
int agir_split_make(const char *const *subjects, int64_t n, const agir_split_spec *spec, agir_split *out,
                    agir_err *e);
void agir_split_free(agir_split *s);  // safe on a zeroed value
// 1 when subject is held out, 0 when it trains, -1 when the split does not know it.
int agir_split_is_test(const agir_split *s, const char *subject);

#endif
