// KV-cached forward pass for generation (see kv_cache.h): the training forward's layer halves
// (agir_llama_layer_qkv_fwd, agir_llama_layer_out_fwd) applied to the new tokens only, with their
// keys and values stored in the cache and attention reading it in between, all through the ops of
// the weights' context.
#include "infer/kv_cache.h"

#include <stdlib.h>
#include <string.h>

#include "core/arena.h"

// At most this many cached positions per sequence, sequences per cache and new tokens per step:
// keeps every size product far from overflow (totals are still checked where they are formed).
// Attention takes a sequence's new rows ATT_ROWS at a time, so its saved rows need scratch for
// (ATT_ROWS, H, T_max) at most, however long the prompt.
enum { MAX_T = 1 << 20, MAX_B = 1 << 12, MAX_STEP = 1 << 24, ATT_ROWS = 128 };

size_t agir_kv_cache_bytes(const agir_llama_config *c, int B, int T_max) {
    size_t n = 2;
    size_t f[] = {(size_t)c->n_layer, (size_t)B, (size_t)c->n_kv_head, (size_t)T_max, (size_t)c->head_dim,
                  sizeof(float)};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (agir_mul_ok(n, f[i], &n)) return SIZE_MAX;
    return n;
}

static const agir_ctx *ctx_of(const agir_infer *s) { return s->w->ctx; }
static size_t act_size(const agir_infer *s) { return agir_ftype_size(agir_act_ftype(ctx_of(s))); }
static void *at(const void *p, size_t n, size_t es) { return (char *)p + n * es; }

// The cache and its bookkeeping over w; on failure s is freed (its own placement included).
static int open_on(agir_infer *s, const agir_llama_weights *w, int B, int T_max, agir_err *e) {
    const agir_llama_config *c = &w->m->cfg;
    s->m = w->m;
    s->w = w;
    agir_kv_cache *kv = &s->kv;
    *kv = (agir_kv_cache){.L = c->n_layer, .B = B, .KVH = c->n_kv_head, .T_max = T_max, .D = c->head_dim};
    size_t f32_bytes = agir_kv_cache_bytes(c, B, T_max);
    size_t bytes = f32_bytes == SIZE_MAX ? SIZE_MAX : f32_bytes / sizeof(float) * act_size(s);
    kv->len = calloc((size_t)B, sizeof *kv->len);
    kv->tok = malloc((size_t)B * T_max * sizeof *kv->tok);
    int rc = !kv->len || !kv->tok || bytes == SIZE_MAX;
    if (!rc) rc = agir_dev_alloc(ctx_of(s), bytes, &kv->k, e);
    if (!rc) rc = agir_dev_alloc(ctx_of(s), (size_t)T_max * sizeof *kv->seg, (void **)&kv->seg, e);
    if (!rc) rc = agir_dev_zero(ctx_of(s), kv->seg, (size_t)T_max * sizeof *kv->seg, e);
    if (rc) {
        agir_infer_free(s);
        return AGIR_BAD(e, "generation: a KV cache of %d x %d positions needs %zu MB, which is not available "
                        "(hint: lower the batch, --max-tokens or --context)", B, T_max,
                        bytes == SIZE_MAX ? SIZE_MAX >> 20 : bytes >> 20);
    }
    kv->v = at(kv->k, bytes / act_size(s) / 2, act_size(s));
    return 0;
}

static int check_sizes(int B, int T_max, agir_err *e) {
    if (B < 1 || B > MAX_B) return AGIR_BAD(e, "generation: batch of %d sequences (hint: 1 to %d)", B, MAX_B);
    if (T_max < 1 || T_max > MAX_T)
        return AGIR_BAD(e, "generation: context of %d positions (hint: 1 to %d)", T_max, MAX_T);
    return 0;
}

int agir_infer_open(agir_infer *s, const agir_llama_weights *w, int B, int T_max, agir_err *e) {
    memset(s, 0, sizeof *s);
    AGIR_TRY(check_sizes(B, T_max, e));
    return open_on(s, w, B, T_max, e);
}

int agir_infer_init(agir_infer *s, const agir_llama *m, const agir_lora *lora, int B, int T_max, agir_err *e) {
    memset(s, 0, sizeof *s);
    AGIR_TRY(check_sizes(B, T_max, e));
    AGIR_TRY(agir_ctx_open(&s->own_ctx, AGIR_DEV_CPU, e));
    // fp32 on the CPU aliases m and lora: no copy
    int rc = agir_llama_weights_open(&s->own_w, &s->own_ctx, AGIR_F32, m, lora, e);
    if (rc) {
        agir_infer_free(s);
        return rc;
    }
    return open_on(s, &s->own_w, B, T_max, e);
}

void agir_infer_free(agir_infer *s) {
    if (s->w) {
        agir_dev_free(ctx_of(s), s->kv.k);
        agir_dev_free(ctx_of(s), s->kv.seg);
        agir_dev_free(ctx_of(s), s->mem);
    }
    free(s->kv.len);
    free(s->kv.tok);
    free(s->pos);
    free(s->tab);
    agir_llama_weights_close(&s->own_w);  // a no-op unless agir_infer_init placed it
    agir_ctx_close(&s->own_ctx);
    memset(s, 0, sizeof *s);
}

void agir_infer_truncate(agir_infer *s, int b, int len) {
    if (len < s->kv.len[b]) s->kv.len[b] = len < 0 ? 0 : len;
}

// Scratch ranges aligned for any vector load or cuBLAS operand.
enum { BLOCK_ALIGN = 256 };

static void layout_scratch(agir_infer *s, int N, agir_arena *b) {
    const agir_llama_config *c = &s->m->cfg;
    size_t n = (size_t)N, C = c->dim, HD = (size_t)c->n_head * c->head_dim, KD = (size_t)c->n_kv_head * c->head_dim;
    size_t r = s->w->lora ? (size_t)s->w->lora->cfg.rank : 0, B = (size_t)s->kv.B, es = act_size(s), f4 = sizeof(float);
    int att_rows = N < ATT_ROWS ? N : ATT_ROWS;
    s->ids = agir_arena_take(b, n, sizeof(int32_t));
    s->x = agir_arena_take(b, n * C, es);
    s->ln = agir_arena_take(b, n * C, es);
    s->q = agir_arena_take(b, n * HD, es);
    s->ao = agir_arena_take(b, n * HD, es);
    s->k = agir_arena_take(b, n * KD, es);
    s->v = agir_arena_take(b, n * KD, es);
    s->gate = agir_arena_take(b, n * c->ffn, es);
    s->up = agir_arena_take(b, n * c->ffn, es);
    s->rstd = agir_arena_take(b, n, f4);
    s->cos_t = agir_arena_take(b, n * (c->head_dim / 2), f4);
    s->sin_t = agir_arena_take(b, n * (c->head_dim / 2), f4);
    s->lora_h = r ? agir_arena_take(b, n * r, es) : NULL;
    s->att = agir_arena_take(b, agir_attention_saved_floats(ctx_of(s), 1, att_rows, s->kv.T_max, c->n_head), f4);
    s->last = agir_arena_take(b, B * C, es);
    s->last_ln = agir_arena_take(b, B * C, es);
    s->logits = agir_arena_take(b, B * c->vocab, es);
}

// Scratch for N ≤ MAX_STEP new rows; the total size is checked.
static int ensure_cap(agir_infer *s, int N, agir_err *e) {
    if (N <= s->cap) return 0;
    size_t half = (size_t)s->m->cfg.head_dim / 2;
    agir_arena b = {.align = BLOCK_ALIGN};
    layout_scratch(s, N, &b);
    if (b.overflow) return AGIR_BAD(e, "generation: %d new tokens in one step overflow the scratch size", N);
    agir_dev_free(ctx_of(s), s->mem);
    free(s->pos);
    free(s->tab);
    s->mem = NULL;
    s->cap = 0;
    s->pos = malloc((size_t)N * (sizeof *s->pos + sizeof *s->row_seq));
    s->tab = malloc(2 * (size_t)N * half * sizeof *s->tab);
    if (!s->pos || !s->tab || agir_dev_alloc(ctx_of(s), b.used, &s->mem, e))
        return AGIR_BAD(e, "generation: no memory for %d new tokens (hint: shorter prompts)", N);
    s->row_seq = (int *)(s->pos + N);
    b = (agir_arena){.base = s->mem, .align = BLOCK_ALIGN};
    layout_scratch(s, N, &b);
    s->cap = N;
    return 0;
}

// Layer l's keys (or values) of sequence b at position p in the cache.
static void *cache_at(const agir_infer *s, void *base, int l, int b, int p) {
    const agir_kv_cache *kv = &s->kv;
    return at(base, (((size_t)l * kv->B + b) * kv->T_max + p) * kv->KVH * kv->D, act_size(s));
}

// Copies this step's keys and values of layer l into the cache: each sequence's new rows are
// consecutive positions, so one copy per sequence.
static int cache_store(agir_infer *s, int l, const int *n, agir_err *e) {
    agir_kv_cache *kv = &s->kv;
    size_t KD = (size_t)kv->KVH * kv->D, es = act_size(s);
    for (int b = 0, r = 0; b < kv->B; r += n[b], b++) {
        if (!n[b]) continue;
        size_t bytes = (size_t)n[b] * KD * es;
        AGIR_TRY(agir_dev_copy(ctx_of(s), cache_at(s, kv->k, l, b, s->pos[r]), at(s->k, r * KD, es), bytes, e));
        AGIR_TRY(agir_dev_copy(ctx_of(s), cache_at(s, kv->v, l, b, s->pos[r]), at(s->v, r * KD, es), bytes, e));
    }
    return 0;
}

// Each sequence's new rows (n[b] of them, after the rows of the sequences before it) attend to its
// cached positions 0 .. pos through the training forward's attention, with the rows' first position
// as query offset.
static int cached_attention(agir_infer *s, int l, const int *n, agir_err *e) {
    const agir_kv_cache *kv = &s->kv;
    int H = s->m->cfg.n_head;
    size_t HD = (size_t)H * kv->D, es = act_size(s);
    for (int b = 0, r = 0; b < kv->B; r += n[b], b++)
        for (int i = 0; i < n[b]; i += ATT_ROWS) {
            int rows = n[b] - i < ATT_ROWS ? n[b] - i : ATT_ROWS;
            size_t o = (size_t)(r + i) * HD;
            AGIR_TRY(agir_op_attention_fwd(ctx_of(s), at(s->ao, o, es), s->att, at(s->q, o, es),
                                           cache_at(s, kv->k, l, b, 0), cache_at(s, kv->v, l, b, 0), kv->seg, 1, rows,
                                           s->pos[r + i], H, kv->KVH, kv->D, e));
        }
    return 0;
}

// Layer l over the N new rows: the residual s->x is updated in place, the other buffers are
// scratch shared by all layers.
static int layer_fwd(agir_infer *s, int l, int N, const int *n, agir_err *e) {
    agir_lora_act act[AGIR_LORA_NTARGET];
    for (int t = 0; t < AGIR_LORA_NTARGET; t++) act[t] = (agir_lora_act){.h = s->lora_h};  // no dropout: no u
    const agir_llama_layer_bufs b = {
        .N = N, .x = s->x, .mid = s->x, .out = s->x, .ln1 = s->ln, .ln2 = s->ln, .rstd1 = s->rstd, .rstd2 = s->rstd,
        .q = s->q, .ao = s->ao, .k = s->k, .v = s->v, .gate = s->gate, .up = s->up, .act = s->gate,
        .cos_t = s->cos_t, .sin_t = s->sin_t, .lora = act, .dropout = NULL,
    };
    AGIR_TRY(agir_llama_layer_qkv_fwd(s->w, l, &b, e));
    AGIR_TRY(cache_store(s, l, n, e));
    AGIR_TRY(cached_attention(s, l, n, e));
    return agir_llama_layer_out_fwd(s->w, l, &b, e);
}

static int check_step(const agir_infer *s, const int32_t *tokens, const int *n, int *N, agir_err *e) {
    long long total = 0;
    for (int b = 0; b < s->kv.B; b++) {
        if (n[b] < 0) return AGIR_BUG(e, "sequence %d: negative token count %d", b, n[b]);
        if ((long long)s->kv.len[b] + n[b] > s->kv.T_max)
            return AGIR_BAD(e, "sequence %d: %d + %d tokens exceed the context of %d positions (hint: raise "
                            "--context or lower --max-tokens)", b, s->kv.len[b], n[b], s->kv.T_max);
        total += n[b];
    }
    if (total > MAX_STEP)
        return AGIR_BAD(e, "generation: %lld new tokens in one step (hint: at most %d; feed prompts in chunks)", total,
                        MAX_STEP);
    for (long long i = 0; i < total; i++)
        if (tokens[i] < 0 || tokens[i] >= s->m->cfg.vocab)
            return AGIR_BAD(e, "token %lld: id %d outside the vocabulary [0, %d) (hint: tokenizer and model differ?)",
                            i, tokens[i], s->m->cfg.vocab);
    *N = (int)total;
    return 0;
}

// The new rows' ids, positions and RoPE tables onto the device.
static int upload_rows(agir_infer *s, const int32_t *tokens, int N, agir_err *e) {
    const agir_llama *m = s->m;
    size_t nt = (size_t)N * (m->cfg.head_dim / 2);
    agir_rope_table(s->tab, s->tab + nt, s->pos, m->inv_freq, N, m->cfg.head_dim);
    AGIR_TRY(agir_dev_upload(ctx_of(s), s->ids, tokens, (size_t)N * sizeof *tokens, e));
    AGIR_TRY(agir_dev_upload(ctx_of(s), s->cos_t, s->tab, nt * sizeof *s->tab, e));
    return agir_dev_upload(ctx_of(s), s->sin_t, s->tab + nt, nt * sizeof *s->tab, e);
}

int agir_infer_step(agir_infer *s, const int32_t *tokens, const int *n, float *logits, agir_err *e) {
    const agir_llama_weights *w = s->w;
    const agir_llama *m = s->m;
    const agir_llama_config *c = &m->cfg;
    int N = 0, C = c->dim, V = c->vocab;
    size_t es = act_size(s);
    AGIR_TRY(check_step(s, tokens, n, &N, e));
    if (N == 0) return 0;
    AGIR_TRY(ensure_cap(s, N, e));
    for (int b = 0, r = 0; b < s->kv.B; b++)
        for (int i = 0; i < n[b]; i++, r++) {
            s->row_seq[r] = b;
            s->pos[r] = s->kv.len[b] + i;
            s->kv.tok[(size_t)b * s->kv.T_max + s->pos[r]] = tokens[r];
        }
    AGIR_TRY(upload_rows(s, tokens, N, e));
    // x = embed(tokens): (N, C)
    int n_new = V - m->v0;
    AGIR_TRY(agir_op_embedding_fwd(ctx_of(s), s->x, s->ids, w->embed,
                                   n_new ? at(w->embed, (size_t)m->v0 * C, agir_ftype_size(w->wdt)) : NULL, w->wdt,
                                   m->v0, n_new, N, C, e));
    for (int l = 0; l < c->n_layer; l++) AGIR_TRY(layer_fwd(s, l, N, n, e));
    // Only each sequence's last new row needs logits: one product over those rows.
    int nb = 0;
    for (int b = 0, r = 0; b < s->kv.B; b++) {
        r += n[b];
        s->kv.len[b] += n[b];
        if (!n[b]) continue;
        AGIR_TRY(agir_dev_copy(ctx_of(s), at(s->last, (size_t)nb++ * C, es), at(s->x, (size_t)(r - 1) * C, es), C * es,
                               e));
    }
    AGIR_TRY(agir_llama_head_fwd(w, s->logits, s->last_ln, s->rstd, s->last, nb, e));  // logits: (nb, V)
    AGIR_TRY(agir_dev_download_f32(ctx_of(s), logits, s->logits, agir_act_ftype(ctx_of(s)), (size_t)nb * V, e));
    // The rows landed at the top of logits in order; move them to their sequence's row (backwards,
    // so no row is overwritten before it moves).
    for (int b = s->kv.B - 1; b >= 0 && nb > 0; b--) {
        if (!n[b]) continue;
        nb--;
        if (nb != b) memcpy(logits + (size_t)b * V, logits + (size_t)nb * V, sizeof(float) * V);
    }
    return 0;
}
