// Batched generation loop over the KV cache, stop tokens and stop strings (see generate.h).
#include "infer/generate.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/utf8.h"

enum { DEFAULT_PREFILL_CHUNK = 256 };

void agir_gen_seq_free(agir_gen_seq *q, int B) {
    for (int b = 0; b < B; b++) free(q[b].ids);
    memset(q, 0, sizeof *q * (size_t)B);
}

int agir_gen_stop_ids(const agir_tok *tok, int32_t eos, const agir_chat_template *tp, int32_t out[2]) {
    int n = 0;
    if (eos >= 0) out[n++] = eos;
    int32_t eot = tp && tp->eot && *tp->eot ? agir_tok_find(tok, tp->eot, strlen(tp->eot)) : -1;
    if (eot >= 0 && (n == 0 || out[0] != eot)) out[n++] = eot;
    return n;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int is_stop(const agir_gen_cfg *c, int32_t id) {
    for (int i = 0; i < c->n_stop; i++)
        if (c->stop[i] == id) return 1;
    return 0;
}

// Per-call state of the loop.
typedef struct gen {
    agir_infer *s;
    const agir_gen_cfg *c;
    agir_gen_seq *out;
    agir_rng *rng;     // (B)
    agir_cand *cand;   // (V)
    float *logits;     // (B, V)
    int32_t *next;     // (B) token to feed next
    int *n;            // (B) tokens fed per sequence this step
    int *done;         // (B)
    agir_gen_stats st;
} gen;

// Takes the token drawn for sequence b from its logits row: ends the sequence or queues it.
static void take_token(gen *g, int b) {
    const agir_gen_cfg *c = g->c;
    agir_gen_seq *q = &g->out[b];
    int V = g->s->m->cfg.vocab;
    int32_t id = agir_sample(g->logits + (size_t)b * V, V, &c->sample, &g->rng[b], g->cand);
    if (is_stop(c, id)) {
        q->stop = AGIR_GEN_STOP_TOKEN;
    } else {
        q->ids[q->n++] = id;
        if (c->on_token && c->on_token(c->ctx, b, q->ids, q->n)) q->stop = AGIR_GEN_STOP_TEST;
        else if (q->n >= c->max_new) q->stop = AGIR_GEN_MAX_TOKENS;
        else if (g->s->kv.len[b] >= g->s->kv.T_max) q->stop = AGIR_GEN_CONTEXT;
    }
    g->done[b] = q->stop != 0;
    g->next[b] = id;
}

// Length of the cached prefix of sequence b that the prompt repeats, leaving at least its last
// token to feed (its logits give the first new token).
static int reusable(const agir_infer *s, int b, const int32_t *p, int plen) {
    const int32_t *t = s->kv.tok + (size_t)b * s->kv.T_max;
    int k = 0;
    while (k < s->kv.len[b] && k < plen - 1 && t[k] == p[k]) k++;
    return k;
}

// Feeds every prompt (beyond its reusable prefix) in steps of at most `chunk` tokens, and draws
// each sequence's first token as soon as its prompt is complete.
static int prefill(gen *g, const int32_t *const *prompts, const int *plen, agir_err *e) {
    agir_infer *s = g->s;
    int B = s->kv.B, chunk = g->c->prefill_chunk > 0 ? g->c->prefill_chunk : DEFAULT_PREFILL_CHUNK;
    int *at = calloc((size_t)B, sizeof *at);
    int32_t *buf = malloc((size_t)chunk * sizeof *buf);
    int rc = !at || !buf ? AGIR_BUG(e, "out of memory") : 0;
    long long total = 0, fed = 0;
    for (int b = 0; !rc && b < B; b++) {
        at[b] = plen[b] ? reusable(s, b, prompts[b], plen[b]) : 0;
        agir_infer_truncate(s, b, at[b]);
        total += plen[b] - at[b];
    }
    for (int left = 1; !rc && left;) {
        int used = 0;
        left = 0;
        for (int b = 0; b < B; b++) {
            int k = plen[b] - at[b] < chunk - used ? plen[b] - at[b] : chunk - used;
            memcpy(buf + used, prompts[b] + at[b], sizeof(int32_t) * (size_t)k);
            g->n[b] = k;
            at[b] += k;
            used += k;
            left |= at[b] < plen[b];
        }
        rc = agir_infer_step(s, buf, g->n, g->logits, e);
        g->st.prefill_tokens += used;
        fed += used;
        if (!rc && g->c->on_prefill) g->c->on_prefill(g->c->prefill_ctx, fed, total);
        for (int b = 0; !rc && b < B; b++)
            if (g->n[b] && at[b] == plen[b]) take_token(g, b);
    }
    free(at);
    free(buf);
    return rc;
}

static int decode(gen *g, agir_err *e) {
    agir_infer *s = g->s;
    int B = s->kv.B;
    for (;;) {
        int k = 0;
        for (int b = 0; b < B; b++) {
            g->n[b] = !g->done[b];
            if (g->n[b]) g->next[k++] = g->next[b];  // packed in sequence order; k ≤ b
        }
        if (!k) return 0;
        AGIR_TRY(agir_infer_step(s, g->next, g->n, g->logits, e));
        g->st.decode_tokens += k;
        for (int b = 0; b < B; b++)
            if (g->n[b]) take_token(g, b);
    }
}

int agir_generate(agir_infer *s, const int32_t *const *prompts, const int *plen, const agir_gen_cfg *c,
                  agir_gen_seq *out, agir_err *e) {
    int B = s->kv.B, V = s->m->cfg.vocab;
    memset(out, 0, sizeof *out * (size_t)B);
    AGIR_TRY(agir_sample_check(&c->sample, e));
    if (c->max_new < 0) return AGIR_BAD(e, "--max-tokens: %d is negative", c->max_new);
    gen g = {.s = s, .c = c, .out = out};
    g.rng = calloc((size_t)B, sizeof *g.rng);
    g.cand = malloc((size_t)V * sizeof *g.cand);
    g.logits = malloc((size_t)B * V * sizeof *g.logits);
    g.next = calloc((size_t)B, sizeof *g.next);
    g.n = calloc((size_t)B, sizeof *g.n);
    g.done = calloc((size_t)B, sizeof *g.done);
    int rc = !g.rng || !g.cand || !g.logits || !g.next || !g.n || !g.done ? AGIR_BUG(e, "out of memory") : 0;
    for (int b = 0; !rc && b < B; b++) {
        agir_rng_init(&g.rng[b], c->seed ? c->seed[b] : 0, 0);
        g.done[b] = plen[b] == 0 || c->max_new == 0;
        if (plen[b] < 0) rc = AGIR_BUG(e, "prompt %d: negative length", b);
        if (!rc && !g.done[b] && !(out[b].ids = malloc((size_t)c->max_new * sizeof(int32_t))))
            rc = AGIR_BUG(e, "out of memory");
    }
    int *len = malloc((size_t)B * sizeof *len);
    if (!rc && !len) rc = AGIR_BUG(e, "out of memory");
    // Idle sequences and a zero token budget feed nothing.
    for (int b = 0; !rc && b < B; b++) len[b] = g.done[b] ? 0 : plen[b];
    double t0 = now();
    if (!rc) rc = prefill(&g, prompts, len, e);
    double t1 = now();
    if (!rc) rc = decode(&g, e);
    g.st.prefill_s = t1 - t0;
    g.st.decode_s = now() - t1;
    if (c->stats) *c->stats = g.st;
    if (rc) agir_gen_seq_free(out, B);
    free(len);
    free(g.rng);
    free(g.cand);
    free(g.logits);
    free(g.next);
    free(g.n);
    free(g.done);
    return rc;
}

typedef struct stop_test {
    const agir_tok *tok;
    const char *const *str;
    int n_str;
    char *text;  // the latest decoding, kept for the caller
    size_t len;
    size_t sent;  // bytes of text already passed to on_text
    void (*on_text)(void *ctx, const char *text, size_t n);
    void *text_ctx;
    int err;
} stop_test;

// Returns the offset of the first stop string in text, or len when none occurs.
static size_t first_stop(const stop_test *t) {
    size_t cut = t->len;
    for (int i = 0; i < t->n_str; i++) {
        const char *hit = *t->str[i] ? strstr(t->text, t->str[i]) : NULL;
        if (hit && (size_t)(hit - t->text) < cut) cut = (size_t)(hit - t->text);
    }
    return cut;
}

// Length of the longest end of text[0..n) that begins a stop string: it may still become one.
static size_t stop_prefix(const stop_test *t, size_t n) {
    size_t hold = 0;
    for (int i = 0; i < t->n_str; i++) {
        size_t m = strlen(t->str[i]);
        for (size_t k = m ? m - 1 : 0; k > hold; k--)
            if (k <= n && !memcmp(t->text + n - k, t->str[i], k)) {
                hold = k;
                break;
            }
    }
    return hold;
}

// Passes text[sent..end) to on_text, sanitised (see agir_utf8_sanitize).
static void emit(stop_test *t, size_t end) {
    if (!t->on_text || end <= t->sent) return;
    size_t n = end - t->sent;
    char stack[512], *buf = 3 * n <= sizeof stack ? stack : malloc(3 * n);
    if (!buf) return;
    size_t k = agir_utf8_sanitize(t->text + t->sent, n, buf);
    t->on_text(t->text_ctx, buf, k);
    if (buf != stack) free(buf);
    t->sent = end;
}

static int on_token(void *ctx, int b, const int32_t *ids, int n) {
    stop_test *t = ctx;
    (void)b;
    agir_err e = {0};
    free(t->text);
    t->text = NULL;
    if (agir_tok_decode(t->tok, ids, (size_t)n, 0, &t->text, &t->len, &e)) {
        t->err = 1;  // cannot happen for ids the model produced; stop rather than loop on
        return 1;
    }
    size_t cut = first_stop(t);
    if (cut < t->len) return 1;  // the caller emits up to the stop string
    size_t end = t->len - stop_prefix(t, t->len);
    emit(t, agir_utf8_complete(t->text, end));
    return 0;
}

// The final text: up to the first stop string, without an incomplete last character, sanitised.
static int finish_text(stop_test *t, char **out, agir_err *e) {
    size_t end = agir_utf8_complete(t->text, first_stop(t));
    if (end < t->sent) end = t->sent;  // a decoding that changed what was already streamed
    emit(t, end);
    char *clean = malloc(3 * end + 1);
    if (!clean) return AGIR_BUG(e, "out of memory");
    clean[agir_utf8_sanitize(t->text, end, clean)] = '\0';
    *out = clean;
    return AGIR_OK;
}

int agir_generate_text(agir_infer *s, const agir_tok *tok, const int32_t *prompt, int plen, const agir_gen_cfg *c,
                       const char *const *stop_str, int n_stop_str, char **out, agir_gen_seq *seq, agir_err *e) {
    int B = s->kv.B;
    *out = NULL;
    if (plen < 1 || plen > s->kv.T_max)
        return AGIR_BAD(e, "prompt: %d tokens, the context holds %d (hint: give a non-empty, shorter prompt)", plen,
                        s->kv.T_max);
    const int32_t **prompts = calloc((size_t)B, sizeof *prompts);
    int *lens = calloc((size_t)B, sizeof *lens);
    agir_gen_seq *all = calloc((size_t)B, sizeof *all);
    int rc = !prompts || !lens || !all ? AGIR_BUG(e, "out of memory") : 0;
    stop_test t = {.tok = tok, .str = stop_str, .n_str = n_stop_str, .on_text = c->on_text, .text_ctx = c->text_ctx};
    agir_gen_cfg cc = *c;
    cc.on_token = n_stop_str || c->on_text ? on_token : NULL;
    cc.ctx = &t;
    if (!rc) {
        prompts[0] = prompt;
        lens[0] = plen;
        rc = agir_generate(s, prompts, lens, &cc, all, e);
    }
    if (!rc && t.err) rc = AGIR_BUG(e, "generated ids do not decode");
    if (!rc) {
        free(t.text);
        t.text = NULL;
        rc = agir_tok_decode(tok, all[0].ids, (size_t)all[0].n, 0, &t.text, &t.len, e);
    }
    if (!rc) rc = finish_text(&t, out, e);
    if (!rc && seq) {
        *seq = all[0];
        all[0] = (agir_gen_seq){0};
    }
    free(t.text);
    if (all) agir_gen_seq_free(all, B);
    free(all);
    free(prompts);
    free(lens);
    return rc;
}
