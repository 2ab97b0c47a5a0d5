// Building SFT conversations from a token store and a gait store with texts (sft_examples.h).
#include "datasets/sft_examples.h"

#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "datasets/gait_text.h"

// Philox stream of the phrasing draws ("phrases").
#define PHRASING_STREAM 0x7068726173657368ull

void agir_sft_convs_free(agir_sft_convs *c) {
    for (int64_t i = 0; i < c->n; i++) free(c->c[i].user), free(c->c[i].answer);
    free(c->c);
    memset(c, 0, sizeof *c);
}

// Both stores hold the same walks: every id of one in the other, with the same subject and score.
static int match_stores(const agir_sft_build *b, int64_t *gait_of, agir_err *e) {
    const agir_tokens *t = b->tokens;
    const agir_gait *g = b->texts;
    for (int64_t s = 0; s < t->n_seq; s++) {
        const agir_token_seq *q = &t->seq[s];
        int64_t i = agir_gait_find(g, q->id);
        if (i < 0)
            return AGIR_BAD(e, "%s: walk '%s' is not in %s (hint: tokenize the same dataset the texts were written "
                            "for: agir tokenize ... %s)", b->tokens_name, q->id, b->texts_name, b->texts_name);
        if (strcmp(g->seq[i].subject, q->subject) || g->seq[i].updrs_gait != q->updrs_gait)
            return AGIR_BAD(e, "%s: walk '%s' has subject %s and score %d, but %s says %s and %d (hint: the two "
                            "files come from different datasets)", b->tokens_name, q->id, q->subject, q->updrs_gait,
                            b->texts_name, g->seq[i].subject, g->seq[i].updrs_gait);
        gait_of[s] = i;
    }
    if (g->n_seq != t->n_seq) {
        for (int64_t i = 0; i < g->n_seq; i++)
            if (agir_tokens_find(t, g->seq[i].id) < 0)
                return AGIR_BAD(e, "%s: walk '%s' has no motion codes in %s (hint: tokenize this dataset: agir "
                                "tokenize --model RUN %s --out TOKENS.h5)", b->texts_name, g->seq[i].id,
                                b->tokens_name, b->texts_name);
        return AGIR_BAD(e, "%s: holds %lld walks, %s %lld (hint: an id appears twice in one of them)", b->texts_name,
                        (long long)g->n_seq, b->tokens_name, (long long)t->n_seq);
    }
    return AGIR_OK;
}

static int push(agir_sft_convs *out, const agir_sft_conv *c, agir_err *e) {
    if (out->n == out->cap) {
        int64_t cap = out->cap ? 2 * out->cap : 256;
        agir_sft_conv *p = realloc(out->c, (size_t)cap * sizeof *p);
        if (!p) return AGIR_BUG(e, "out of memory building SFT examples");
        out->c = p, out->cap = cap;
    }
    out->c[out->n++] = *c;
    return AGIR_OK;
}

// The rationale of walk s with a score line that agrees with its score.
static int rationale(const agir_sft_build *b, const agir_seq *q, char *out, size_t outsz, agir_err *e) {
    size_t n = strlen(q->rationale);
    if (n >= outsz - 16)
        return AGIR_BAD(e, "%s: the rationale of walk '%s' is %zu bytes, longer than %zu (hint: shorten it)",
                        b->texts_name, q->id, n, outsz - 16);
    memcpy(out, q->rationale, n + 1);
    int said;
    if (agir_text_parse_score(out, &said) < 0) return agir_text_append_score(out, outsz, q->updrs_gait, e);
    if (said != q->updrs_gait)
        return AGIR_BAD(e, "%s: the rationale of walk '%s' ends with 'Score: %d' but the walk's score is %d (hint: "
                        "fix the text or the label)", b->texts_name, q->id, said, q->updrs_gait);
    return AGIR_OK;
}

// The payload and answer of task t for walk (s in the token store, q in the gait store); *skip set
// when the walk lacks what the task needs.
static int texts_of(const agir_sft_build *b, agir_sft_task t, int64_t s, const agir_seq *q, char **payload,
                    char **answer, int *skip, agir_err *e) {
    const agir_token_seq *ts = &b->tokens->seq[s];
    *payload = *answer = NULL, *skip = 0;
    int needs_score = t == AGIR_SFT_RATIONALE || t == AGIR_SFT_SCORE;
    const char *text = t == AGIR_SFT_RATIONALE ? q->rationale : t == AGIR_SFT_SCORE ? "" : q->description;
    if (!text || (t != AGIR_SFT_SCORE && !*text)) return *skip = 1, AGIR_OK;
    if (needs_score && (q->updrs_gait < 0 || q->updrs_gait > 4)) return *skip = 2, AGIR_OK;
    char *motion = NULL, buf[AGIR_TEXT_MAX + 64];
    AGIR_TRY(agir_sft_spell_motion(agir_tokens_seq_codes(b->tokens, s), ts->length, &motion, e));
    int rc = AGIR_OK;
    if (t == AGIR_SFT_RATIONALE) rc = rationale(b, q, buf, sizeof buf, e);
    else if (t == AGIR_SFT_SCORE) snprintf(buf, sizeof buf, "Score: %d", q->updrs_gait);
    if (rc) {
        free(motion);
        return rc;
    }
    if (t == AGIR_SFT_T2M) {
        *payload = strdup(text), *answer = motion;
    } else {
        *payload = motion, *answer = strdup(t == AGIR_SFT_M2T ? text : buf);
    }
    if (!*payload || !*answer) {
        free(*payload), free(*answer);
        return AGIR_BUG(e, "out of memory building SFT examples");
    }
    return AGIR_OK;
}

static int walk_examples(const agir_sft_build *b, int64_t s, const agir_seq *q, agir_sft_convs *out, agir_err *e) {
    for (int t = 0; t < AGIR_SFT_NTASK; t++) {
        int copies = agir_sft_copies(&b->mix, (agir_sft_task)t, b->seed, s), n_phr, skip;
        if (copies == 0) continue;
        agir_sft_phrasings((agir_sft_task)t, &n_phr);
        if (b->phrasing >= n_phr)
            return AGIR_BAD(e, "phrasing %d does not exist: task %s has %d (hint: use 0..%d, or -1 to draw one per "
                            "example)", b->phrasing, agir_sft_task_name((agir_sft_task)t), n_phr, n_phr - 1);
        char *payload, *answer;
        AGIR_TRY(texts_of(b, (agir_sft_task)t, s, q, &payload, &answer, &skip, e));
        if (skip) {
            (skip == 1 ? out->skips.no_text : out->skips.no_score)[t]++;
            continue;
        }
        int rc = AGIR_OK;
        for (int k = 0; !rc && k < copies; k++) {
            agir_rng r;
            agir_rng_init(&r, b->seed, PHRASING_STREAM);
            agir_rng_child(&r, ((uint64_t)s * AGIR_SFT_NTASK + (uint64_t)t) * 64 + (uint64_t)k, &r);
            agir_sft_conv c = {.task = (agir_sft_task)t, .walk = s, .copy = k,
                               .phrasing = b->phrasing >= 0 ? b->phrasing : (int)agir_rng_below(&r, (uint32_t)n_phr)};
            rc = agir_sft_instruction(c.task, c.phrasing, payload, &c.user, e);
            if (!rc && !(c.answer = strdup(answer))) rc = AGIR_BUG(e, "out of memory building SFT examples");
            if (!rc) rc = push(out, &c, e);
            if (rc) free(c.user), free(c.answer);
        }
        free(payload), free(answer);
        AGIR_TRY(rc);
    }
    return AGIR_OK;
}

int agir_sft_convs_build(const agir_sft_build *b, agir_sft_convs *out, agir_err *e) {
    memset(out, 0, sizeof *out);
    int64_t n = b->tokens->n_seq;
    int64_t *gait_of = malloc((size_t)(n ? n : 1) * sizeof *gait_of);
    if (!gait_of) return AGIR_BUG(e, "out of memory building SFT examples");
    int rc = match_stores(b, gait_of, e);
    for (int64_t s = 0; !rc && s < n; s++)
        if (!b->use || b->use[s]) rc = walk_examples(b, s, &b->texts->seq[gait_of[s]], out, e);
    free(gait_of);
    if (rc) agir_sft_convs_free(out);
    return rc;
}
