// KV-cached forward pass for generation (see kv_cache.h): the training forward's layer halves
// (agir_llama_layer_qkv_fwd, agir_llama_layer_out_fwd) applied to the new tokens only, with their
// keys and values stored in the cache and attention reading it in between.
#include "infer/kv_cache.h"

#include <stdlib.h>
#include <string.h>

// At most this many cached positions per sequence, sequences per cache and new tokens per step:
// keeps every size product far from overflow (totals are still checked where they are formed).
// Attention takes a sequence's new rows ATT_ROWS at a time, so its probabilities need
// (ATT_ROWS, H, T_max) floats of scratch however long the prompt.
enum { MAX_T = 1 << 20, MAX_B = 1 << 12, MAX_STEP = 1 << 24, ATT_ROWS = 128 };

size_t agir_kv_cache_bytes(const agir_llama_config *c, int B, int T_max) {
    size_t n = 2;
    size_t f[] = {(size_t)c->n_layer, (size_t)B, (size_t)c->n_kv_head, (size_t)T_max, (size_t)c->head_dim,
                  sizeof(float)};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (agir_mul_ok(n, f[i], &n)) return SIZE_MAX;
    return n;
}

int agir_infer_init(agir_infer *s, const agir_llama *m, const agir_lora *lora, int B, int T_max, agir_err *e) {
    memset(s, 0, sizeof *s);
    const agir_llama_config *c = &m->cfg;
    if (B < 1 || B > MAX_B) return AGIR_BAD(e, "generation: batch of %d sequences (hint: 1 to %d)", B, MAX_B);
    if (T_max < 1 || T_max > MAX_T)
        return AGIR_BAD(e, "generation: context of %d positions (hint: 1 to %d)", T_max, MAX_T);
    if (lora && lora->n_layer != c->n_layer)
        return AGIR_BAD(e, "adapter has %d layers, the model %d (hint: the adapter belongs to another model)",
                        lora->n_layer, c->n_layer);
    size_t bytes = agir_kv_cache_bytes(c, B, T_max);
    s->m = m;
    if (lora) {
        s->lora = *lora;
        s->lora.cfg.dropout = 0;  // inference: the adapter's expected output, no masks
        s->has_lora = 1;
    }
    agir_kv_cache *kv = &s->kv;
    *kv = (agir_kv_cache){.L = c->n_layer, .B = B, .KVH = c->n_kv_head, .T_max = T_max, .D = c->head_dim};
    kv->len = calloc((size_t)B, sizeof *kv->len);
    kv->tok = malloc((size_t)B * T_max * sizeof *kv->tok);
    kv->seg = calloc((size_t)T_max, sizeof *kv->seg);
    kv->k = bytes == SIZE_MAX ? NULL : malloc(bytes);
    if (!kv->len || !kv->tok || !kv->seg || !kv->k) {
        agir_infer_free(s);
        return AGIR_BAD(e, "generation: a KV cache of %d x %d positions needs %zu MB, which is not available "
                        "(hint: lower the batch, --max-tokens or --context)", B, T_max, bytes >> 20);
    }
    kv->v = kv->k + bytes / sizeof(float) / 2;
    return 0;
}

void agir_infer_free(agir_infer *s) {
    free(s->kv.len);
    free(s->kv.tok);
    free(s->kv.seg);
    free(s->kv.k);
    free(s->pos);
    free(s->mem);
    memset(s, 0, sizeof *s);
}

void agir_infer_truncate(agir_infer *s, int b, int len) {
    if (len < s->kv.len[b]) s->kv.len[b] = len < 0 ? 0 : len;
}

static float *take(float **p, size_t n) {
    float *r = *p;
    *p += n;
    return r;
}

// Scratch for N ≤ MAX_STEP new rows; the total size is checked.
static int ensure_cap(agir_infer *s, int N, agir_err *e) {
    if (N <= s->cap) return 0;
    const agir_llama_config *c = &s->m->cfg;
    size_t n = (size_t)N, C = c->dim, HD = (size_t)c->n_head * c->head_dim, KD = (size_t)c->n_kv_head * c->head_dim;
    size_t r = s->has_lora ? (size_t)s->lora.cfg.rank : 0, B = (size_t)s->kv.B;
    size_t per_row = 2 * C + 2 * HD + 2 * KD + 2 * (size_t)c->ffn + 1 + (size_t)c->head_dim + r;
    size_t att_rows = n < ATT_ROWS ? n : ATT_ROWS, att = att_rows * c->n_head * s->kv.T_max, total;
    if (agir_mul_ok(n, per_row, &total) || agir_add_ok(total, att, &total) || agir_add_ok(total, 2 * B * C, &total))
        return AGIR_BAD(e, "generation: %d new tokens in one step overflow the scratch size", N);
    free(s->mem);
    free(s->pos);
    s->cap = 0;
    s->mem = malloc(total * sizeof(float));
    s->pos = malloc(n * (sizeof *s->pos + sizeof *s->row_seq));
    if (!s->mem || !s->pos) return AGIR_BAD(e, "generation: no memory for %d new tokens (hint: shorter prompts)", N);
    s->row_seq = (int *)(s->pos + n);
    float *p = s->mem;
    s->x = take(&p, n * C);
    s->ln = take(&p, n * C);
    s->q = take(&p, n * HD);
    s->ao = take(&p, n * HD);
    s->k = take(&p, n * KD);
    s->v = take(&p, n * KD);
    s->gate = take(&p, n * c->ffn);
    s->up = take(&p, n * c->ffn);
    s->rstd = take(&p, n);
    s->cos_t = take(&p, n * (c->head_dim / 2));
    s->sin_t = take(&p, n * (c->head_dim / 2));
    s->lora_h = take(&p, n * r);
    s->att = take(&p, att);
    s->last = take(&p, B * C);
    s->last_ln = take(&p, B * C);
    s->cap = N;
    return 0;
}

// Copies this step's keys and values of layer l into the cache at their positions.
static void cache_store(agir_infer *s, int l, int N) {
    agir_kv_cache *kv = &s->kv;
    size_t KD = (size_t)kv->KVH * kv->D;
    for (int r = 0; r < N; r++) {
        size_t at = (((size_t)l * kv->B + s->row_seq[r]) * kv->T_max + s->pos[r]) * KD;
        memcpy(kv->k + at, s->k + r * KD, KD * sizeof(float));
        memcpy(kv->v + at, s->v + r * KD, KD * sizeof(float));
    }
}

// Each sequence's new rows (n[b] of them, after the rows of the sequences before it) attend to its
// cached positions 0 .. pos through the training forward's attention, with the rows' first position
// as query offset.
static void cached_attention(agir_infer *s, int l, const int *n) {
    const agir_kv_cache *kv = &s->kv;
    int H = s->m->cfg.n_head;
    size_t HD = (size_t)H * kv->D, KD = (size_t)kv->KVH * kv->D;
    for (int b = 0, r = 0; b < kv->B; r += n[b], b++) {
        size_t cache = ((size_t)l * kv->B + b) * kv->T_max * KD;
        for (int i = 0; i < n[b]; i += ATT_ROWS) {
            int rows = n[b] - i < ATT_ROWS ? n[b] - i : ATT_ROWS;
            size_t at = (size_t)(r + i) * HD;
            agir_attention_fwd(s->ao + at, s->att, s->q + at, kv->k + cache, kv->v + cache, kv->seg, 1, rows,
                               s->pos[r + i], H, kv->KVH, kv->D);
        }
    }
}

// Layer l over the N new rows: the residual s->x is updated in place, the other buffers are
// scratch shared by all layers.
static void layer_fwd(agir_infer *s, int l, int N, const int *n) {
    agir_lora_act act[AGIR_LORA_NTARGET];
    for (int t = 0; t < AGIR_LORA_NTARGET; t++) act[t] = (agir_lora_act){.h = s->lora_h};  // dropout 0: no u
    const agir_llama_layer_bufs b = {
        .N = N, .x = s->x, .mid = s->x, .out = s->x, .ln1 = s->ln, .ln2 = s->ln, .rstd1 = s->rstd, .rstd2 = s->rstd,
        .q = s->q, .ao = s->ao, .k = s->k, .v = s->v, .gate = s->gate, .up = s->up, .act = s->gate,
        .cos_t = s->cos_t, .sin_t = s->sin_t, .lora = act, .dropout = NULL,
    };
    const agir_lora *lora = s->has_lora ? &s->lora : NULL;
    agir_llama_layer_qkv_fwd(s->m, lora, l, &b);
    cache_store(s, l, N);
    cached_attention(s, l, n);
    agir_llama_layer_out_fwd(s->m, lora, l, &b);
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

int agir_infer_step(agir_infer *s, const int32_t *tokens, const int *n, float *logits, agir_err *e) {
    const agir_llama *m = s->m;
    const agir_llama_config *c = &m->cfg;
    int N = 0, C = c->dim, V = c->vocab;
    AGIR_TRY(check_step(s, tokens, n, &N, e));
    if (N == 0) return 0;
    AGIR_TRY(ensure_cap(s, N, e));
    for (int b = 0, r = 0; b < s->kv.B; b++)
        for (int i = 0; i < n[b]; i++, r++) {
            s->row_seq[r] = b;
            s->pos[r] = s->kv.len[b] + i;
            s->kv.tok[(size_t)b * s->kv.T_max + s->pos[r]] = tokens[r];
        }
    agir_rope_table(s->cos_t, s->sin_t, s->pos, m->inv_freq, N, c->head_dim);
    agir_embedding_fwd(s->x, tokens, m->embed, m->new_embed, m->v0, N, C);
    for (int l = 0; l < c->n_layer; l++) layer_fwd(s, l, N, n);
    // Only each sequence's last new row needs logits: one product over those rows.
    int nb = 0;
    for (int b = 0, r = 0; b < s->kv.B; b++) {
        r += n[b];
        s->kv.len[b] += n[b];
        if (n[b]) memcpy(s->last + (size_t)nb++ * C, s->x + (size_t)(r - 1) * C, sizeof(float) * C);
    }
    agir_rmsnorm_fwd(s->last_ln, s->rstd, s->last, m->norm, nb, C, c->eps);
    // The rows land at the top of logits in order, then move to their sequence's row (backwards,
    // so no row is overwritten before it moves).
    agir_linear_fwd(logits, V, s->last_ln, m->head, NULL, nb, C, V, 0);
    for (int b = s->kv.B - 1; b >= 0 && nb > 0; b--) {
        if (!n[b]) continue;
        nb--;
        if (nb != b) memcpy(logits + (size_t)b * V, logits + (size_t)nb * V, sizeof(float) * V);
    }
    return 0;
}
