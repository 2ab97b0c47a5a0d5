// SFT conversations built from a token store (the motion codes of every walk, `agir tokenize`) and
// a gait store holding the walks' texts (`agir describe`, or imported annotations), matched by
// sequence id: one conversation per walk, task and copy (datasets/sft_text.h), as strings. The
// chat template and the tokenizer turn them into training rows one layer up (train/sft_data.h).
#ifndef AGIR_DATASETS_SFT_EXAMPLES_H
#define AGIR_DATASETS_SFT_EXAMPLES_H

#include <stdint.h>

#include "core/error.h"
#include "datasets/gait.h"
#include "datasets/sft_text.h"
#include "datasets/tokens.h"

typedef struct agir_sft_conv {
    agir_sft_task task;
    int64_t walk;   // index in the token store
    int copy;       // 0, 1, ... among the walk's examples of this task
    int phrasing;   // index in agir_sft_phrasings(task)
    char *user;     // instruction with its payload
    char *answer;   // the assistant's response
} agir_sft_conv;

// What was left out, per task: walks without the text a task needs (a description for m2t and t2m,
// a rationale for rationale) or without a known score (rationale, score).
typedef struct agir_sft_skips {
    int64_t no_text[AGIR_SFT_NTASK], no_score[AGIR_SFT_NTASK];
} agir_sft_skips;

typedef struct agir_sft_convs {
    int64_t n, cap;
    agir_sft_conv *c;
    agir_sft_skips skips;
} agir_sft_convs;

typedef struct agir_sft_build {
    const agir_tokens *tokens;  // motion codes, one sequence per walk
    const agir_gait *texts;     // the same walks (by id) with description and rationale
    const char *tokens_name, *texts_name;  // paths, for messages
    agir_sft_mix mix;
    int phrasing;           // -1: drawn per example from the seed; k: phrasing k for every example
    uint64_t seed;
    const uint8_t *use;     // (tokens->n_seq,) 1 = build this walk's examples; NULL = every walk
} agir_sft_build;

// Refuses (AGIR_EINPUT, one line naming both files and the first id concerned) stores whose ids
// differ, or a walk whose subject or score differ between them. Then builds, in walk order, every
// example of the walks selected by b->use: per task the copies agir_sft_copies gives, phrasing
// drawn from a Philox stream of (seed, walk, task, copy) unless fixed. A rationale without a score
// line gets one (agir_text_append_score); one whose score line contradicts the walk's score is
// refused.
int agir_sft_convs_build(const agir_sft_build *b, agir_sft_convs *out, agir_err *e);
void agir_sft_convs_free(agir_sft_convs *c);  // safe on a zeroed value

#endif
