// SFT examples rendered, tokenized, masked and packed (sft_data.h).
#include "train/sft_data.h"

#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

// Philox stream of the epoch orders ("sftorder").
#define ORDER_STREAM 0x7366746f72646572ull

int agir_sft_messages(const agir_sft_render *r, const agir_sft_conv *c, agir_chat_msg msgs[3]) {
    int n = 0;
    if (r->system && *r->system) msgs[n++] = (agir_chat_msg){"system", r->system};
    msgs[n++] = (agir_chat_msg){"user", c->user};
    msgs[n++] = (agir_chat_msg){"assistant", c->answer};
    return n;
}

void agir_sft_seq_free(agir_sft_seq *s) {
    free(s->ids), free(s->train);
    memset(s, 0, sizeof *s);
}

int agir_sft_encode(const agir_sft_render *r, const agir_sft_conv *c, int64_t conv, agir_sft_seq *out, agir_err *e) {
    memset(out, 0, sizeof *out);
    agir_chat_msg msgs[3];
    int n = agir_sft_messages(r, c, msgs);
    agir_chat_text ct = {0};
    agir_ids ids = {0};
    AGIR_TRY(agir_chat_render(r->tp, msgs, (size_t)n, 0, &ct, e));
    int rc = agir_tok_encode(r->tok, ct.text, ct.len, &ids, e);
    if (!rc && ids.n > (size_t)INT32_MAX / 2)
        rc = AGIR_BAD(e, "an SFT example of %zu tokens is too long to hold (hint: a text of the stores is corrupt; "
                      "agir show-mask shows the examples)", ids.n);
    if (!rc) {
        out->len = (int)ids.n;
        out->ids = malloc((ids.n ? ids.n : 1) * sizeof *out->ids);
        out->train = malloc(ids.n ? ids.n : 1);
        if (!out->ids || !out->train) rc = AGIR_BUG(e, "out of memory encoding SFT examples");
    }
    if (!rc) {
        memcpy(out->ids, ids.id, ids.n * sizeof *out->ids);
        agir_chat_mask(&ct, &ids, out->train);
        for (size_t i = 0; i < ids.n; i++) out->n_train += out->train[i];
        out->task = c->task, out->conv = conv;
    }
    agir_ids_free(&ids);
    agir_chat_text_free(&ct);
    if (rc) agir_sft_seq_free(out);
    return rc;
}

void agir_sft_set_free(agir_sft_set *s) {
    for (int64_t i = 0; i < s->n; i++) agir_sft_seq_free(&s->s[i]);
    free(s->s);
    memset(s, 0, sizeof *s);
}

int agir_sft_set_build(const agir_sft_render *r, const agir_sft_convs *cv, int max_len, agir_sft_set *set,
                       agir_err *e) {
    memset(set, 0, sizeof *set);
    set->s = calloc((size_t)(cv->n ? cv->n : 1), sizeof *set->s);
    if (!set->s) return AGIR_BUG(e, "out of memory encoding SFT examples");
    agir_sft_counts *k = &set->counts;
    for (int64_t i = 0; i < cv->n; i++) {
        agir_sft_seq q;
        int rc = agir_sft_encode(r, &cv->c[i], i, &q, e);
        if (rc) {
            agir_sft_set_free(set);
            return rc;
        }
        int t = q.task;
        if (q.len > k->longest[t]) k->longest[t] = q.len;
        if (q.len > max_len) {
            k->dropped[t]++;
            agir_sft_seq_free(&q);
            continue;
        }
        k->examples[t]++, k->tokens[t] += q.len, k->trained[t] += q.n_train;
        set->s[set->n++] = q;
    }
    return AGIR_OK;
}

int agir_sft_set_check(const agir_sft_set *s, const char *what, agir_err *e) {
    int64_t dropped = 0;
    for (int t = 0; t < AGIR_SFT_NTASK; t++) {
        dropped += s->counts.dropped[t];
        if (s->counts.examples[t] > 0 && s->counts.trained[t] == 0)
            return AGIR_BAD(e, "%s: the %lld examples of task %s train on no token: no response span survived "
                            "tokenization (hint: check the chat template with agir show-mask)", what,
                            (long long)s->counts.examples[t], agir_sft_task_name((agir_sft_task)t));
    }
    if (s->n == 0)
        return AGIR_BAD(e, "%s: no example to train on (%lld dropped as longer than the length limit) (hint: check "
                        "the texts, the tasks, or raise sft.max_len)", what, (long long)dropped);
    return AGIR_OK;
}

// ---- micro-batches ------------------------------------------------------------------------------

int agir_sft_batch_alloc(agir_sft_batch *b, int B, int T, agir_err *e) {
    memset(b, 0, sizeof *b);
    size_t n = (size_t)B * (size_t)T;
    b->B = B, b->T = T;
    b->tokens = malloc(n * sizeof(int32_t)), b->pos = malloc(n * sizeof(int32_t));
    b->seg = malloc(n * sizeof(int32_t)), b->labels = malloc(n * sizeof(int32_t));
    b->fill = calloc((size_t)B, sizeof(int));
    if (!b->tokens || !b->pos || !b->seg || !b->labels || !b->fill) {
        agir_sft_batch_free(b);
        return AGIR_BUG(e, "out of memory for a %d x %d batch", B, T);
    }
    return AGIR_OK;
}

void agir_sft_batch_free(agir_sft_batch *b) {
    free(b->tokens), free(b->pos), free(b->seg), free(b->labels), free(b->fill);
    memset(b, 0, sizeof *b);
}

// Where an example of len tokens goes: the first row with room for it (first-fit: a later short
// example fills a gap an earlier row left), at that row's end; 1 and the slot (the row's fill moved
// past it), or 0 when no row has room. Without packing a row takes one example.
static int place(int len, int B, int T, int pack, int *fill, int *at_row, int *at_col) {
    for (int r = 0; r < B; r++)
        if (fill[r] == 0 || (pack && fill[r] + len <= T)) {
            *at_row = r, *at_col = fill[r];
            fill[r] += len;
            return 1;
        }
    return 0;
}

static void batch_clear(agir_sft_batch *b) {
    size_t n = (size_t)b->B * b->T;
    memset(b->tokens, 0, n * sizeof(int32_t));
    memset(b->pos, 0, n * sizeof(int32_t));
    for (size_t i = 0; i < n; i++) b->seg[i] = -1, b->labels[i] = -1;
    memset(b->fill, 0, sizeof(int) * (size_t)b->B);
    b->n_examples = b->n_tokens = b->n_valid = 0;
}

static void batch_put(agir_sft_batch *b, const agir_sft_seq *q, int row, int col) {
    size_t at = (size_t)row * b->T + (size_t)col;
    for (int j = 0; j < q->len; j++) {
        b->tokens[at + j] = q->ids[j];
        b->pos[at + j] = j;
        // One segment per example: its index in the batch keeps neighbours apart.
        b->seg[at + j] = (int32_t)b->n_examples;
        int trained = j + 1 < q->len && q->train[j + 1];
        b->labels[at + j] = trained ? q->ids[j + 1] : -1;
        b->n_valid += trained;
    }
    b->n_examples++, b->n_tokens += q->len;
}

int agir_sft_stream_open(agir_sft_stream *st, const agir_sft_set *set, uint64_t seed, int pack, agir_err *e) {
    memset(st, 0, sizeof *st);
    st->set = set, st->seed = seed, st->pack = pack, st->perm_epoch = -1;
    st->perm = malloc((size_t)(set->n ? set->n : 1) * sizeof *st->perm);
    return st->perm ? AGIR_OK : AGIR_BUG(e, "out of memory for the example order");
}

void agir_sft_stream_close(agir_sft_stream *st) {
    free(st->perm);
    memset(st, 0, sizeof *st);
}

// The example at position p.
static const agir_sft_seq *at(agir_sft_stream *st, const agir_sft_pos *p) {
    if (st->perm_epoch != p->epoch) {
        int64_t n = st->set->n;
        agir_rng r;
        agir_rng_init(&r, st->seed, ORDER_STREAM);
        agir_rng_child(&r, (uint64_t)p->epoch, &r);
        for (int64_t i = 0; i < n; i++) st->perm[i] = (int32_t)i;
        for (int64_t i = n - 1; i > 0; i--) {  // Fisher-Yates
            int64_t j = (int64_t)agir_rng_below(&r, (uint32_t)(i + 1));
            int32_t t = st->perm[i];
            st->perm[i] = st->perm[j], st->perm[j] = t;
        }
        st->perm_epoch = p->epoch;
    }
    return &st->set->s[st->perm[p->cursor]];
}

static void advance(const agir_sft_stream *st, agir_sft_pos *p) {
    if (++p->cursor == st->set->n) p->epoch++, p->cursor = 0;
}

void agir_sft_stream_fill(agir_sft_stream *st, agir_sft_pos *p, agir_sft_batch *b) {
    batch_clear(b);
    int r, c;
    for (;;) {
        const agir_sft_seq *q = at(st, p);
        if (!place(q->len, b->B, b->T, st->pack, b->fill, &r, &c)) break;
        batch_put(b, q, r, c);
        advance(st, p);
    }
}

int64_t agir_sft_stream_count(agir_sft_stream *st, int B, int T, int64_t epochs, agir_err *e) {
    int *fill = malloc(sizeof(int) * (size_t)B);
    if (!fill) return AGIR_BUG(e, "out of memory"), -1;
    agir_sft_pos p = {0, 0};
    int64_t batches = 0;
    while (p.epoch < epochs) {
        int r, c;
        memset(fill, 0, sizeof(int) * (size_t)B);
        while (place(at(st, &p)->len, B, T, st->pack, fill, &r, &c)) advance(st, &p);
        batches++;
    }
    free(fill);
    return batches;
}

void agir_sft_batch_fill_list(agir_sft_batch *b, const agir_sft_set *set, const int64_t *idx, int64_t n, int pack,
                              int64_t *next) {
    batch_clear(b);
    int r, c;
    while (*next < n && place(set->s[idx[*next]].len, b->B, b->T, pack, b->fill, &r, &c))
        batch_put(b, &set->s[idx[(*next)++]], r, c);
}
