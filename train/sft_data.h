// SFT conversations (datasets/sft_examples.h) as the model trains on them: rendered through the
// model's one chat template, tokenized, with the trained tokens marked from the template's
// response spans (never by searching the token string), and packed into (B, T) micro-batches.
//
// Packing. A micro-batch has B rows of T slots. Examples are placed in order, each whole and
// contiguous, first-fit: at the end of the first row with room for it, so a short example fills the
// gap an earlier row left; the batch is full when the next example fits in no row. With packing off
// each example gets a row of its own. Every example carries its own positions (0, 1, ...) and a segment id, so the
// block-diagonal causal mask keeps it from seeing its neighbours, and a packed batch has the loss of
// the same examples unpacked. Empty slots hold token 0, position 0, segment -1 and no label.
//
// Order. Epoch e visits every training example once in an order shuffled by a Philox stream of
// (seed, e); the stream of micro-batches runs on from one epoch into the next. The position
// (epoch, cursor = examples of that epoch consumed) is all that resume needs.
#ifndef AGIR_TRAIN_SFT_DATA_H
#define AGIR_TRAIN_SFT_DATA_H

#include <stdint.h>

#include "core/error.h"
#include "datasets/sft_examples.h"
#include "models/chat_template.h"
#include "models/tokenizer.h"

// One example, tokenized.
typedef struct agir_sft_seq {
    agir_sft_task task;
    int64_t conv;      // index of its conversation
    int len, n_train;  // tokens; of which trained (response tokens)
    int32_t *ids;      // (len,)
    uint8_t *train;    // (len,) 1 = the loss trains on predicting this token
} agir_sft_seq;

// Per task.
typedef struct agir_sft_counts {
    int64_t examples[AGIR_SFT_NTASK];  // kept
    int64_t tokens[AGIR_SFT_NTASK];    // tokens of the kept examples
    int64_t trained[AGIR_SFT_NTASK];   // of which trained
    int64_t dropped[AGIR_SFT_NTASK];   // longer than the length limit: left out, never truncated
    int longest[AGIR_SFT_NTASK];       // tokens of the longest example, dropped ones included
} agir_sft_counts;

typedef struct agir_sft_set {
    int64_t n;
    agir_sft_seq *s;  // (n,)
    agir_sft_counts counts;
} agir_sft_set;

// How conversations become text: the template, the tokenizer (extended with the motion tokens)
// and an optional system turn (NULL or "" for none).
typedef struct agir_sft_render {
    const agir_chat_template *tp;
    const agir_tok *tok;
    const char *system;
} agir_sft_render;

// The messages of c: [system], user, assistant. msgs: room for 3; returns their count.
int agir_sft_messages(const agir_sft_render *r, const agir_sft_conv *c, agir_chat_msg msgs[3]);

// Renders and encodes conversation c (index `conv`); trained tokens are those starting inside a
// response span of the rendered text (agir_chat_mask).
int agir_sft_encode(const agir_sft_render *r, const agir_sft_conv *c, int64_t conv, agir_sft_seq *out, agir_err *e);
void agir_sft_seq_free(agir_sft_seq *s);

// Every conversation of cv, encoded; those longer than max_len tokens are dropped and counted.
int agir_sft_set_build(const agir_sft_render *r, const agir_sft_convs *cv, int max_len, agir_sft_set *set,
                       agir_err *e);
void agir_sft_set_free(agir_sft_set *s);  // safe on a zeroed value

// Refuses (one line starting with `what`) a set in which a task that has examples trains on no
// token, or that holds no example at all.
int agir_sft_set_check(const agir_sft_set *s, const char *what, agir_err *e);

// ---- micro-batches ------------------------------------------------------------------------------

typedef struct agir_sft_batch {
    int B, T;
    int32_t *tokens, *pos, *seg, *labels;  // (B, T) each; labels: next token where trained, else -1
    int64_t n_examples, n_tokens, n_valid;  // placed examples, their tokens, valid labels
    int *fill;  // (B,) slots used in each row while filling
} agir_sft_batch;
int agir_sft_batch_alloc(agir_sft_batch *b, int B, int T, agir_err *e);
void agir_sft_batch_free(agir_sft_batch *b);

typedef struct agir_sft_pos {
    int64_t epoch, cursor;
} agir_sft_pos;

// The training stream over a set.
typedef struct agir_sft_stream {
    const agir_sft_set *set;
    uint64_t seed;
    int pack;
    int64_t perm_epoch;  // epoch whose order perm holds (-1: none)
    int32_t *perm;       // (set->n,)
} agir_sft_stream;
int agir_sft_stream_open(agir_sft_stream *st, const agir_sft_set *set, uint64_t seed, int pack, agir_err *e);
void agir_sft_stream_close(agir_sft_stream *st);

// Fills b with the next examples from position p (advanced past them). The set must not be empty
// and every example must fit in a row (agir_sft_set_build's max_len <= T).
void agir_sft_stream_fill(agir_sft_stream *st, agir_sft_pos *p, agir_sft_batch *b);

// Micro-batches needed to go through `epochs` epochs from the start (simulated with the real order);
// -1 when out of memory (e set).
int64_t agir_sft_stream_count(agir_sft_stream *st, int B, int T, int64_t epochs, agir_err *e);

// Fills b with examples idx[*next], idx[*next + 1], ... of set (in that order, no shuffle), advancing
// *next; for evaluation.
void agir_sft_batch_fill_list(agir_sft_batch *b, const agir_sft_set *set, const int64_t *idx, int64_t n, int pack,
                              int64_t *next);

#endif
