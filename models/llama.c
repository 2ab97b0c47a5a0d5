// Llama-family model (see llama.h): the host weights and their tables, the model placed on a context,
// the activation arena, forward, fused loss and backward, written once over kernels/llm_ops.h.
// Loading checkpoints lives in llama_load.c.
#include "models/llama.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/bf16.h"

// Limits well above any model AGIR trains on the CPU; they keep every size product far from
// overflow before the checked totals are formed.
enum { MAX_DIM = 1 << 16, MAX_FFN = 1 << 18, MAX_LAYERS = 1024, MAX_HEADS = 1024, MAX_HEAD_DIM = 1024,
       MAX_VOCAB = 1 << 24 };

// Host weights are consecutive floats of one block (alignment of a float).
static float *carve(agir_arena *ar, size_t a, size_t b) { return agir_arena_take(ar, a, b * sizeof(float)); }

static int check_range(const char *what, long long v, long long lo, long long hi, agir_err *e) {
    if (v < lo || v > hi) return AGIR_BAD(e, "%s: %lld out of range (hint: %lld to %lld)", what, v, lo, hi);
    return 0;
}

static int check_config(const agir_llama_config *c, int n_new, agir_err *e) {
    AGIR_TRY(check_range("vocab_size", c->vocab, 1, MAX_VOCAB, e));
    AGIR_TRY(check_range("hidden_size", c->dim, 1, MAX_DIM, e));
    AGIR_TRY(check_range("intermediate_size", c->ffn, 1, MAX_FFN, e));
    AGIR_TRY(check_range("num_hidden_layers", c->n_layer, 1, MAX_LAYERS, e));
    AGIR_TRY(check_range("num_attention_heads", c->n_head, 1, MAX_HEADS, e));
    AGIR_TRY(check_range("num_key_value_heads", c->n_kv_head, 1, c->n_head, e));
    AGIR_TRY(check_range("head_dim", c->head_dim, 2, MAX_HEAD_DIM, e));
    AGIR_TRY(check_range("new token rows", n_new, 0, c->vocab - 1, e));
    if (c->n_head % c->n_kv_head)
        return AGIR_BAD(e, "num_attention_heads: %d is not a multiple of num_key_value_heads %d (hint: GQA groups "
                        "must be equal)", c->n_head, c->n_kv_head);
    if (c->head_dim % 2) return AGIR_BAD(e, "head_dim: %d is odd (hint: RoPE rotates pairs)", c->head_dim);
    if (!(c->eps > 0)) return AGIR_BAD(e, "rms_norm_eps: %g must be positive", c->eps);
    if (!(c->rope.theta > 1)) return AGIR_BAD(e, "rope_theta: %g must be greater than 1", c->rope.theta);
    return 0;
}

static void layout_weights(agir_llama *m, agir_arena *ar) {
    const agir_llama_config *c = &m->cfg;
    size_t C = c->dim, n[AGIR_LLAMA_NTENSOR];
    agir_llama_layer_sizes(c, n);
    m->embed = carve(ar, c->vocab, C);
    m->head = c->tied ? m->embed : carve(ar, c->vocab, C);
    m->norm = carve(ar, C, 1);
    m->inv_freq = carve(ar, c->head_dim / 2, 1);
    for (int l = 0; l < c->n_layer; l++) {
        float **slot[AGIR_LLAMA_NTENSOR];
        agir_llama_layer_slots(&m->layers[l], slot);
        for (int i = 0; i < AGIR_LLAMA_NTENSOR; i++) *slot[i] = n[i] ? carve(ar, n[i], 1) : NULL;
    }
}

void agir_llama_lora_dims(const agir_llama_config *c, int dims[AGIR_LORA_NTARGET][2]) {
    int C = c->dim, HD = c->n_head * c->head_dim, KD = c->n_kv_head * c->head_dim, F = c->ffn;
    const int d[AGIR_LORA_NTARGET][2] = {{C, HD}, {C, KD}, {C, KD}, {HD, C}, {C, F}, {C, F}, {F, C}};
    memcpy(dims, d, sizeof d);
}

void agir_llama_layer_shapes(const agir_llama_config *c, size_t shape[AGIR_LLAMA_NTENSOR][2]) {
    int dims[AGIR_LORA_NTARGET][2];
    agir_llama_lora_dims(c, dims);
    size_t bias = c->qkv_bias ? 1 : 0;
    memset(shape, 0, sizeof(size_t[AGIR_LLAMA_NTENSOR][2]));
    shape[AGIR_LLAMA_ATTN_NORM][0] = shape[AGIR_LLAMA_MLP_NORM][0] = (size_t)c->dim;
    for (int t = 0; t < AGIR_LORA_NTARGET; t++) {
        shape[AGIR_LLAMA_W + t][0] = (size_t)dims[t][1];
        shape[AGIR_LLAMA_W + t][1] = (size_t)dims[t][0];
    }
    shape[AGIR_LLAMA_BQ][0] = bias * dims[AGIR_LORA_Q][1];
    shape[AGIR_LLAMA_BK][0] = shape[AGIR_LLAMA_BV][0] = bias * dims[AGIR_LORA_K][1];
}

void agir_llama_layer_sizes(const agir_llama_config *c, size_t n[AGIR_LLAMA_NTENSOR]) {
    size_t shape[AGIR_LLAMA_NTENSOR][2];
    agir_llama_layer_shapes(c, shape);
    for (int i = 0; i < AGIR_LLAMA_NTENSOR; i++) n[i] = shape[i][0] * (shape[i][1] ? shape[i][1] : 1);
}

void agir_llama_layer_slots(agir_llama_layer *L, float **slot[AGIR_LLAMA_NTENSOR]) {
    slot[AGIR_LLAMA_ATTN_NORM] = &L->attn_norm;
    slot[AGIR_LLAMA_MLP_NORM] = &L->mlp_norm;
    for (int t = 0; t < AGIR_LORA_NTARGET; t++) slot[AGIR_LLAMA_W + t] = &L->w[t];
    slot[AGIR_LLAMA_BQ] = &L->bq;
    slot[AGIR_LLAMA_BK] = &L->bk;
    slot[AGIR_LLAMA_BV] = &L->bv;
}

int agir_llama_alloc(agir_llama *m, const agir_llama_config *cfg, int n_new, agir_err *e) {
    memset(m, 0, sizeof *m);
    AGIR_TRY(check_config(cfg, n_new, e));
    m->cfg = *cfg;
    m->v0 = cfg->vocab - n_new;
    m->layers = calloc((size_t)cfg->n_layer, sizeof *m->layers);
    if (!m->layers) return AGIR_BUG(e, "out of memory for %d layers", cfg->n_layer);
    agir_arena ar = {.align = sizeof(float)};
    layout_weights(m, &ar);
    if (ar.overflow) {
        agir_llama_free(m);
        return AGIR_BAD(e, "model size overflows (hint: check config.json)");
    }
    m->n_floats = ar.used / sizeof(float);
    m->mem = calloc(m->n_floats, sizeof(float));
    if (!m->mem) {
        agir_llama_free(m);
        return AGIR_BUG(e, "out of memory for %zu model weights", m->n_floats);
    }
    ar = (agir_arena){.base = (char *)m->mem, .align = sizeof(float)};
    layout_weights(m, &ar);
    m->new_embed = m->embed + (size_t)m->v0 * cfg->dim;
    m->new_head = m->head + (size_t)m->v0 * cfg->dim;
    agir_rope_inv_freq(m->inv_freq, cfg->head_dim, &cfg->rope);
    return 0;
}

void agir_llama_free(agir_llama *m) {
    free(m->layers);
    free(m->mem);
    memset(m, 0, sizeof *m);
}

void agir_llama_act_widths(const agir_llama_config *c, size_t w[AGIR_LLAMA_NACT]) {
    size_t L = c->n_layer, C = c->dim, F = c->ffn, V = c->vocab;
    size_t HD = (size_t)c->n_head * c->head_dim, KD = (size_t)c->n_kv_head * c->head_dim;
    const size_t per[AGIR_LLAMA_NACT] = {
        [AGIR_LLAMA_ACT_RES] = (L + 1) * C, [AGIR_LLAMA_ACT_MID] = L * C,  [AGIR_LLAMA_ACT_LN1] = L * C,
        [AGIR_LLAMA_ACT_LN2] = L * C,       [AGIR_LLAMA_ACT_Q] = L * HD,   [AGIR_LLAMA_ACT_K] = L * KD,
        [AGIR_LLAMA_ACT_V] = L * KD,        [AGIR_LLAMA_ACT_AO] = L * HD,  [AGIR_LLAMA_ACT_GATE] = L * F,
        [AGIR_LLAMA_ACT_UP] = L * F,        [AGIR_LLAMA_ACT_ACT] = L * F,  [AGIR_LLAMA_ACT_LNF] = C,
        [AGIR_LLAMA_ACT_LOGITS] = V,        [AGIR_LLAMA_ACT_DRES] = C,     [AGIR_LLAMA_ACT_DTMP] = C,
        [AGIR_LLAMA_ACT_DQ] = HD,           [AGIR_LLAMA_ACT_DK] = KD,      [AGIR_LLAMA_ACT_DV] = KD,
        [AGIR_LLAMA_ACT_DAO] = HD,          [AGIR_LLAMA_ACT_DGATE] = F,    [AGIR_LLAMA_ACT_DUP] = F,
        [AGIR_LLAMA_ACT_DACT] = F,
    };
    memcpy(w, per, sizeof per);
}


// ---- placing the model on a context --------------------------------------------------------------

// Device blocks: ranges aligned for any vector load or cuBLAS operand.
enum { BLOCK_ALIGN = 256 };

// Runs layout twice, counting then carving one block of the context's memory into *mem.
static int carve_block(const agir_ctx *c, void (*layout)(void *, agir_arena *), void *obj, void **mem,
                       size_t *bytes, const char *what, agir_err *e) {
    agir_arena b = {.align = BLOCK_ALIGN};
    layout(obj, &b);
    if (b.overflow) return AGIR_BAD(e, "%s: sizes overflow (hint: lower the batch or sequence length)", what);
    AGIR_TRY(agir_dev_alloc(c, b.used, mem, e));
    b = (agir_arena){.base = *mem, .align = BLOCK_ALIGN};
    layout(obj, &b);
    if (bytes) *bytes = b.used;
    return 0;
}

int agir_llama_weights_aliased(const agir_llama_weights *w) {
    return w->ctx->dev == AGIR_DEV_CPU && w->wdt == AGIR_F32;
}

static size_t n_new_values(const agir_llama *m) { return (size_t)(m->cfg.vocab - m->v0) * m->cfg.dim; }

// The copies a placement owns: frozen weights in wdt, the LoRA compute copy, and on CUDA the masters.
static void layout_weights_on(void *obj, agir_arena *b) {
    agir_llama_weights *w = obj;
    const agir_llama_config *c = &w->m->cfg;
    size_t es = agir_ftype_size(w->wdt), V = c->vocab, C = c->dim, n[AGIR_LLAMA_NTENSOR];
    agir_llama_layer_sizes(c, n);
    w->embed = agir_arena_take(b, V * C, es);
    w->head = c->tied ? w->embed : agir_arena_take(b, V * C, es);
    w->norm = agir_arena_take(b, C, es);
    for (int l = 0; l < c->n_layer; l++)
        for (int i = 0; i < AGIR_LLAMA_NTENSOR; i++)
            w->layer[l * AGIR_LLAMA_NTENSOR + i] = n[i] ? agir_arena_take(b, n[i], es) : NULL;
    if (w->lora) w->lora_w = agir_arena_take(b, w->lora->n_params, es);
    if (w->ctx->dev == AGIR_DEV_CPU) return;
    if (w->lora) w->lora_master = agir_arena_take(b, w->lora->n_params, sizeof(float));
    w->embed_master = agir_arena_take(b, n_new_values(w->m), sizeof(float));
    w->head_master = c->tied ? NULL : agir_arena_take(b, n_new_values(w->m), sizeof(float));
}

// The host arrays that hold the trainable values: lora->mem, new_embed, new_head (NULL when tied).
static void host_trainables(const agir_lora *lora, const agir_llama *m, float *host[3]) {
    host[0] = lora ? lora->mem : NULL;
    host[1] = m->new_embed;
    host[2] = m->cfg.tied ? NULL : m->new_head;
}

void agir_llama_trainables(const agir_llama_weights *w, agir_llama_trainable t[3]) {
    size_t es = agir_ftype_size(w->wdt), off = (size_t)w->m->v0 * w->m->cfg.dim * es, rows = n_new_values(w->m);
    int tied = w->m->cfg.tied;
    t[0] = (agir_llama_trainable){w->lora_master, w->lora_w, w->lora ? w->lora->n_params : 0};
    t[1] = (agir_llama_trainable){w->embed_master, (char *)w->embed + off, rows};
    t[2] = (agir_llama_trainable){w->head_master, tied ? NULL : (char *)w->head + off, tied ? 0 : rows};
}

int agir_llama_weights_upload_trainable(agir_llama_weights *w, agir_err *e) {
    if (agir_llama_weights_aliased(w)) return 0;
    float *host[3];
    agir_llama_trainable t[3];
    host_trainables(w->lora, w->m, host);
    agir_llama_trainables(w, t);
    for (int i = 0; i < 3; i++) {
        if (!t[i].n) continue;
        if (t[i].master != host[i])
            AGIR_TRY(agir_dev_upload(w->ctx, t[i].master, host[i], t[i].n * sizeof(float), e));
        AGIR_TRY(agir_dev_upload_as(w->ctx, t[i].copy, w->wdt, host[i], t[i].n, e));
    }
    return 0;
}

int agir_llama_weights_download_trainable(const agir_llama_weights *w, agir_lora *lora, agir_llama *m, agir_err *e) {
    if ((lora ? lora->n_params : 0) != (w->lora ? w->lora->n_params : 0) || m->cfg.vocab != w->m->cfg.vocab ||
        m->v0 != w->m->v0 || m->cfg.dim != w->m->cfg.dim || m->cfg.tied != w->m->cfg.tied)
        return AGIR_BUG(e, "llama: download into a model or adapter of other shapes");
    float *host[3];
    agir_llama_trainable t[3];
    host_trainables(lora, m, host);
    agir_llama_trainables(w, t);
    for (int i = 0; i < 3; i++)
        if (t[i].n && t[i].master != host[i])
            AGIR_TRY(agir_dev_download(w->ctx, host[i], t[i].master, t[i].n * sizeof(float), e));
    return 0;
}

// Aliases of the host model, for fp32 weights on the CPU.
static void alias_host(agir_llama_weights *w) {
    const agir_llama *m = w->m;
    w->embed = m->embed, w->head = m->head, w->norm = m->norm;
    for (int l = 0; l < m->cfg.n_layer; l++) {
        float **slot[AGIR_LLAMA_NTENSOR];
        agir_llama_layer_slots(&m->layers[l], slot);
        for (int i = 0; i < AGIR_LLAMA_NTENSOR; i++) w->layer[l * AGIR_LLAMA_NTENSOR + i] = *slot[i];
    }
    w->lora_w = w->lora ? w->lora->mem : NULL;
}

static int upload_frozen(agir_llama_weights *w, agir_err *e) {
    const agir_llama *m = w->m;
    const agir_llama_config *c = &m->cfg;
    size_t C = c->dim, V0 = m->v0, n[AGIR_LLAMA_NTENSOR];
    agir_llama_layer_sizes(c, n);
    AGIR_TRY(agir_dev_upload_as(w->ctx, w->embed, w->wdt, m->embed, V0 * C, e));  // new rows: trainable
    if (!c->tied) AGIR_TRY(agir_dev_upload_as(w->ctx, w->head, w->wdt, m->head, V0 * C, e));
    AGIR_TRY(agir_dev_upload_as(w->ctx, w->norm, w->wdt, m->norm, C, e));
    for (int l = 0; l < c->n_layer; l++) {
        float **host[AGIR_LLAMA_NTENSOR];
        agir_llama_layer_slots(&m->layers[l], host);
        void **dst = &w->layer[(size_t)l * AGIR_LLAMA_NTENSOR];
        for (int i = 0; i < AGIR_LLAMA_NTENSOR; i++)  // absent biases: n = 0
            if (n[i]) AGIR_TRY(agir_dev_upload_as(w->ctx, dst[i], w->wdt, *host[i], n[i], e));
    }
    return 0;
}

int agir_llama_drop_frozen(agir_llama *m, agir_err *e) {
    if (!m->embed) return 0;
    size_t half = (size_t)m->cfg.head_dim / 2, rows = n_new_values(m), tied = m->cfg.tied;
    size_t n = half + rows * (tied ? 1 : 2);
    float *keep = malloc(n * sizeof *keep);
    if (!keep) return AGIR_BUG(e, "out of memory keeping %zu values of the model", n);
    memcpy(keep, m->inv_freq, half * sizeof *keep);
    memcpy(keep + half, m->new_embed, rows * sizeof *keep);
    if (!tied) memcpy(keep + half + rows, m->new_head, rows * sizeof *keep);
    free(m->mem);
    memset(m->layers, 0, (size_t)m->cfg.n_layer * sizeof *m->layers);
    m->mem = keep;
    m->n_floats = n;
    m->inv_freq = keep;
    m->new_embed = keep + half;
    m->new_head = tied ? m->new_embed : m->new_embed + rows;
    m->embed = m->head = m->norm = NULL;
    return 0;
}

int agir_llama_weights_open(agir_llama_weights *w, const agir_ctx *c, agir_ftype wdt, const agir_llama *m,
                            const agir_lora *lora, agir_err *e) {
    memset(w, 0, sizeof *w);
    if (!m->embed) return AGIR_BUG(e, "llama: placing a model whose frozen weights were dropped");
    if (c->dev == AGIR_DEV_CUDA && wdt != AGIR_BF16)
        return AGIR_BAD(e, "weights = %s on CUDA (hint: the CUDA kernels read bf16 weights; use bf16)",
                        agir_ftype_name(wdt));
    int D = m->cfg.head_dim;
    if (c->dev == AGIR_DEV_CUDA && D != 32 && D != 64 && D != 128)
        return AGIR_BAD(e, "head_dim %d: the CUDA attention kernels take 32, 64 or 128 (hint: run this model with "
                        "device = cpu)", D);
    if (lora && lora->n_layer != m->cfg.n_layer)
        return AGIR_BAD(e, "adapter has %d layers, the model %d (hint: the adapter belongs to another model)",
                        lora->n_layer, m->cfg.n_layer);
    *w = (agir_llama_weights){.ctx = c, .wdt = wdt, .m = m, .lora = lora};
    w->layer = calloc((size_t)m->cfg.n_layer * AGIR_LLAMA_NTENSOR, sizeof *w->layer);
    if (!w->layer) return AGIR_BUG(e, "out of memory for %d layers", m->cfg.n_layer);
    if (c->dev == AGIR_DEV_CPU) {  // the host arrays are the masters
        w->lora_master = lora ? lora->mem : NULL;
        w->embed_master = m->new_embed;
        w->head_master = m->cfg.tied ? NULL : m->new_head;
    }
    if (agir_llama_weights_aliased(w)) {
        alias_host(w);
        return 0;
    }
    int rc = carve_block(c, layout_weights_on, w, &w->mem, NULL, "model weights", e);
    if (!rc) rc = upload_frozen(w, e);
    if (!rc) rc = agir_llama_weights_upload_trainable(w, e);
    if (rc) agir_llama_weights_close(w);
    return rc;
}

void agir_llama_weights_close(agir_llama_weights *w) {
    if (w->ctx) agir_dev_free(w->ctx, w->mem);
    free(w->layer);
    memset(w, 0, sizeof *w);
}

int agir_llama_grads_alloc(agir_llama_grads *g, const agir_llama_weights *w, agir_err *e) {
    memset(g, 0, sizeof *g);
    size_t rows = n_new_values(w->m);
    g->ctx = w->ctx;
    g->n_lora = w->lora ? w->lora->n_params : 0;
    g->n_rows = rows * (w->m->cfg.tied ? 1 : 2);
    g->n = g->n_lora + g->n_rows;
    AGIR_TRY(agir_dev_alloc(w->ctx, (g->n ? g->n : 1) * sizeof(float), (void **)&g->mem, e));
    g->lora = w->lora ? g->mem : NULL;
    g->new_embed = g->mem + g->n_lora;
    g->new_head = w->m->cfg.tied ? NULL : g->new_embed + rows;
    int rc = agir_llama_grads_zero(g, e);
    if (rc) agir_llama_grads_free(g);
    return rc;
}

int agir_llama_grads_zero(agir_llama_grads *g, agir_err *e) {
    return agir_dev_zero(g->ctx, g->mem, g->n * sizeof(float), e);
}

void agir_llama_grads_free(agir_llama_grads *g) {
    if (g->ctx) agir_dev_free(g->ctx, g->mem);
    memset(g, 0, sizeof *g);
}

// ---- activations ------------------------------------------------------------------------------------

typedef struct acts_layout {
    agir_llama_acts *a;
    const agir_llama_weights *w;
} acts_layout;

static void layout_acts(void *obj, agir_arena *b) {
    const acts_layout *al = obj;
    agir_llama_acts *a = al->a;
    const agir_llama_config *c = &al->w->m->cfg;
    const agir_lora *lora = al->w->lora;
    const agir_ctx *cx = al->w->ctx;
    size_t L = c->n_layer, N = (size_t)a->B * a->T, C = c->dim, F = c->ffn, f4 = sizeof(float);
    size_t HD = (size_t)c->n_head * c->head_dim, es = agir_ftype_size(agir_act_ftype(cx)), w[AGIR_LLAMA_NACT];
    agir_llama_act_widths(c, w);
    void **slot[AGIR_LLAMA_NACT] = {&a->res, &a->mid, &a->ln1, &a->ln2, &a->q, &a->k, &a->v, &a->ao, &a->gate,
                                    &a->up, &a->act, &a->lnf, &a->logits, &a->dres, &a->dtmp, &a->dq, &a->dk,
                                    &a->dv, &a->dao, &a->dgate, &a->dup, &a->dact};
    for (int i = 0; i < AGIR_LLAMA_NACT; i++) *slot[i] = agir_arena_take(b, N * w[i], es);
    int32_t **ids[5] = {&a->tokens, &a->pos, &a->seg, &a->labels, &a->rows};
    for (int i = 0; i < 5; i++) *ids[i] = agir_arena_take(b, N, sizeof(int32_t));
    a->xrows = agir_arena_take(b, N * C, es);
    a->dxrows = agir_arena_take(b, N * C, es);
    a->cos_t = agir_arena_take(b, N * (c->head_dim / 2), f4);
    a->sin_t = agir_arena_take(b, N * (c->head_dim / 2), f4);
    a->rstd1 = agir_arena_take(b, L * N, f4);
    a->rstd2 = agir_arena_take(b, L * N, f4);
    a->rstdf = agir_arena_take(b, N, f4);
    a->att = agir_arena_take(b, L * agir_attention_saved_floats(cx, a->B, a->T, a->T, c->n_head), f4);
    a->datt = agir_arena_take(b, agir_attention_scratch_floats(cx, a->B, a->T, c->n_head), f4);
    a->xent = agir_arena_take(b, agir_xent_ws_floats(cx, (int)N), f4);
    if (!lora) return;
    size_t r = lora->cfg.rank, widest = C > HD ? C : HD;
    widest = widest > F ? widest : F;
    a->dh = agir_arena_take(b, N * r, es);
    a->du = lora->cfg.dropout > 0 ? agir_arena_take(b, N * widest, es) : NULL;
    for (size_t l = 0; l < L; l++)
        for (int t = 0; t < AGIR_LORA_NTARGET; t++) {
            const agir_lora_mat *lm = agir_lora_at(lora, (int)l, (agir_lora_target)t);
            agir_lora_act *la = &a->lora[l * AGIR_LORA_NTARGET + t];
            if (!lm->A) continue;
            la->h = agir_arena_take(b, N * r, es);
            la->u = a->du;  // scratch shared by every matrix: the backward makes u again
        }
}

int agir_llama_acts_alloc(agir_llama_acts *a, const agir_llama_weights *w, int B, int T, agir_err *e) {
    memset(a, 0, sizeof *a);
    if (B < 1 || T < 1 || (long long)B * T > (1 << 24))
        return AGIR_BAD(e, "batch %d x sequence %d: out of range (hint: at most 2^24 tokens)", B, T);
    a->ctx = w->ctx;
    a->B = B;
    a->T = T;
    a->n_rows = -1;
    a->lora = calloc((size_t)w->m->cfg.n_layer * AGIR_LORA_NTARGET, sizeof *a->lora);
    a->host_rows = malloc(2 * (size_t)B * T * sizeof *a->host_rows);
    if (!a->lora || !a->host_rows) {
        free(a->lora), free(a->host_rows);
        return AGIR_BUG(e, "out of memory for %d layers", w->m->cfg.n_layer);
    }
    acts_layout al = {a, w};
    int rc = carve_block(w->ctx, layout_acts, &al, &a->mem, &a->bytes, "activations", e);
    if (rc) {
        free(a->lora), free(a->host_rows);
        a->lora = NULL, a->host_rows = NULL;
        return rc == AGIR_EINPUT ? rc
                                 : AGIR_BAD(e, "activations for batch %d x sequence %d do not fit in memory (hint: "
                                            "lower them)", B, T);
    }
    return 0;
}

void agir_llama_acts_free(agir_llama_acts *a) {
    if (a->ctx) agir_dev_free(a->ctx, a->mem);
    free(a->lora), free(a->host_rows);
    memset(a, 0, sizeof *a);
}

int agir_llama_logits_f32(const agir_llama_weights *w, const agir_llama_acts *a, float *out, agir_err *e) {
    size_t n = (a->n_rows < 0 ? (size_t)a->B * a->T : (size_t)a->n_rows) * w->m->cfg.vocab;
    return agir_dev_download_f32(a->ctx, out, a->logits, agir_act_ftype(a->ctx), n, e);
}

// ---- forward ----------------------------------------------------------------------------------------

// p advanced by n elements of size es.
static void *at(const void *p, size_t n, size_t es) { return (char *)p + n * es; }

static size_t act_size(const agir_llama_weights *w) { return agir_ftype_size(agir_act_ftype(w->ctx)); }

static const void *layer_tensor(const agir_llama_weights *w, int l, int i) {
    return w->layer[(size_t)l * AGIR_LLAMA_NTENSOR + i];
}

// Layer l's adapter on target t as the ops see it (compute copies and, with g, gradients), or 0 when
// t is not adapted.
static int lora_view(const agir_llama_weights *w, const agir_llama_grads *g, int l, agir_lora_target t,
                     agir_lora_view *v) {
    if (!w->lora) return 0;
    const agir_lora_mat *lm = agir_lora_at(w->lora, l, t);
    if (!lm->A) return 0;
    size_t oa = (size_t)(lm->A - w->lora->mem), ob = (size_t)(lm->B - w->lora->mem), es = agir_ftype_size(w->wdt);
    *v = (agir_lora_view){.A = at(w->lora_w, oa, es), .B = at(w->lora_w, ob, es), .gA = g ? g->lora + oa : NULL,
                          .gB = g ? g->lora + ob : NULL, .wdt = w->wdt, .in = lm->in, .out = lm->out};
    return 1;
}

// y (beta 0: =, 1: +=) W_t x + bias over b's N rows, plus the LoRA term of target t when the adapter
// has it, saving its values in b->lora[t]. x: (N, in)  y: (N, out), {in, out} of agir_llama_lora_dims.
static int proj_fwd(const agir_llama_weights *w, int l, const agir_llama_layer_bufs *b, agir_lora_target t, void *y,
                    const void *x, const void *bias, float beta, agir_err *e) {
    int dims[AGIR_LORA_NTARGET][2];
    agir_llama_lora_dims(&w->m->cfg, dims);
    int in = dims[t][0], out = dims[t][1];
    AGIR_TRY(agir_op_linear_fwd(w->ctx, y, out, x, layer_tensor(w, l, AGIR_LLAMA_W + t), bias, w->wdt, b->N, in, out,
                                1, beta, e));
    agir_lora_view v;
    if (!lora_view(w, NULL, l, t, &v)) return 0;
    agir_rng r;
    if (b->dropout) agir_rng_child(b->dropout, (uint64_t)l * AGIR_LORA_NTARGET + t, &r);
    return agir_lora_fwd(w->ctx, w->lora, &v, &b->lora[t], y, x, b->N, b->dropout ? &r : NULL, e);
}

int agir_llama_layer_qkv_fwd(const agir_llama_weights *w, int l, const agir_llama_layer_bufs *b, agir_err *e) {
    const agir_llama_config *c = &w->m->cfg;
    const agir_ctx *cx = w->ctx;
    AGIR_TRY(agir_op_rmsnorm_fwd(cx, b->ln1, b->rstd1, b->x, layer_tensor(w, l, AGIR_LLAMA_ATTN_NORM), w->wdt, b->N,
                                 c->dim, c->eps, e));
    AGIR_TRY(proj_fwd(w, l, b, AGIR_LORA_Q, b->q, b->ln1, layer_tensor(w, l, AGIR_LLAMA_BQ), 0, e));
    AGIR_TRY(proj_fwd(w, l, b, AGIR_LORA_K, b->k, b->ln1, layer_tensor(w, l, AGIR_LLAMA_BK), 0, e));
    AGIR_TRY(proj_fwd(w, l, b, AGIR_LORA_V, b->v, b->ln1, layer_tensor(w, l, AGIR_LLAMA_BV), 0, e));
    AGIR_TRY(agir_op_rope(cx, b->q, b->cos_t, b->sin_t, b->N, c->n_head, c->head_dim, 0, e));
    return agir_op_rope(cx, b->k, b->cos_t, b->sin_t, b->N, c->n_kv_head, c->head_dim, 0, e);
}

int agir_llama_layer_out_fwd(const agir_llama_weights *w, int l, const agir_llama_layer_bufs *b, agir_err *e) {
    const agir_llama_config *c = &w->m->cfg;
    const agir_ctx *cx = w->ctx;
    size_t NC = (size_t)b->N * c->dim, es = act_size(w);
    // residual adds: the product accumulates into a copy of the stream (beta = 1)
    if (b->mid != b->x) AGIR_TRY(agir_dev_copy(cx, b->mid, b->x, NC * es, e));
    AGIR_TRY(proj_fwd(w, l, b, AGIR_LORA_O, b->mid, b->ao, NULL, 1, e));
    AGIR_TRY(agir_op_rmsnorm_fwd(cx, b->ln2, b->rstd2, b->mid, layer_tensor(w, l, AGIR_LLAMA_MLP_NORM), w->wdt, b->N,
                                 c->dim, c->eps, e));
    AGIR_TRY(proj_fwd(w, l, b, AGIR_LORA_GATE, b->gate, b->ln2, NULL, 0, e));
    AGIR_TRY(proj_fwd(w, l, b, AGIR_LORA_UP, b->up, b->ln2, NULL, 0, e));
    AGIR_TRY(agir_op_swiglu_fwd(cx, b->act, b->gate, b->up, (size_t)b->N * c->ffn, e));
    if (b->out != b->mid) AGIR_TRY(agir_dev_copy(cx, b->out, b->mid, NC * es, e));
    return proj_fwd(w, l, b, AGIR_LORA_DOWN, b->out, b->act, NULL, 1, e);
}

int agir_llama_head_fwd(const agir_llama_weights *w, void *logits, void *ln, float *rstd, const void *x, int N,
                        agir_err *e) {
    const agir_llama_config *c = &w->m->cfg;
    AGIR_TRY(agir_op_rmsnorm_fwd(w->ctx, ln, rstd, x, w->norm, w->wdt, N, c->dim, c->eps, e));
    return agir_op_linear_fwd(w->ctx, logits, c->vocab, ln, w->head, NULL, w->wdt, N, c->dim, c->vocab, 1, 0, e);
}

// Layer l's slices of the training activations.
static agir_llama_layer_bufs layer_bufs(const agir_llama_weights *w, agir_llama_acts *a, int l) {
    const agir_llama_config *c = &w->m->cfg;
    size_t N = (size_t)a->B * a->T, NC = N * c->dim, NF = N * c->ffn, es = act_size(w);
    size_t NHD = N * c->n_head * c->head_dim, NKD = N * c->n_kv_head * c->head_dim;
    return (agir_llama_layer_bufs){
        .N = (int)N,
        .x = at(a->res, l * NC, es), .mid = at(a->mid, l * NC, es), .out = at(a->res, (l + 1) * NC, es),
        .ln1 = at(a->ln1, l * NC, es), .ln2 = at(a->ln2, l * NC, es), .rstd1 = a->rstd1 + l * N,
        .rstd2 = a->rstd2 + l * N, .q = at(a->q, l * NHD, es), .ao = at(a->ao, l * NHD, es),
        .k = at(a->k, l * NKD, es), .v = at(a->v, l * NKD, es), .gate = at(a->gate, l * NF, es),
        .up = at(a->up, l * NF, es), .act = at(a->act, l * NF, es), .cos_t = a->cos_t, .sin_t = a->sin_t,
        .lora = &a->lora[(size_t)l * AGIR_LORA_NTARGET], .dropout = a->dropout_on ? &a->dropout_rng : NULL,
    };
}

// What layer l's attention saved for the backward pass.
static float *att_saved(const agir_llama_weights *w, const agir_llama_acts *a, int l) {
    return a->att + (size_t)l * agir_attention_saved_floats(w->ctx, a->B, a->T, a->T, w->m->cfg.n_head);
}

static int upload_inputs(const agir_llama_weights *w, agir_llama_acts *a, const int32_t *tokens, const int32_t *pos,
                         const int32_t *seg, agir_err *e) {
    const agir_ctx *cx = w->ctx;
    int N = a->B * a->T, half = w->m->cfg.head_dim / 2;
    size_t ni = (size_t)N * sizeof(int32_t), nt = (size_t)N * half;
    AGIR_TRY(agir_dev_upload(cx, a->tokens, tokens, ni, e));
    AGIR_TRY(agir_dev_upload(cx, a->pos, pos, ni, e));
    AGIR_TRY(agir_dev_upload(cx, a->seg, seg, ni, e));
    if (cx->dev == AGIR_DEV_CPU) {  // the tables go straight where the ops read them
        agir_rope_table(a->cos_t, a->sin_t, pos, w->m->inv_freq, N, w->m->cfg.head_dim);
        return 0;
    }
    float *tab = malloc(2 * nt * sizeof *tab);
    if (!tab) return AGIR_BUG(e, "out of memory for RoPE tables of %d tokens", N);
    agir_rope_table(tab, tab + nt, pos, w->m->inv_freq, N, w->m->cfg.head_dim);
    int rc = agir_dev_upload(cx, a->cos_t, tab, nt * sizeof *tab, e);
    if (!rc) rc = agir_dev_upload(cx, a->sin_t, tab + nt, nt * sizeof *tab, e);
    free(tab);
    return rc;
}

// Everything but the head: res[L] (N, C) holds the final residual stream.
static int forward_body(const agir_llama_weights *w, agir_llama_acts *a, const int32_t *tokens, const int32_t *pos,
                       const int32_t *seg, const agir_rng *rng, agir_err *e) {
    const agir_llama *m = w->m;
    const agir_llama_config *c = &m->cfg;
    int B = a->B, T = a->T, N = B * T, C = c->dim, V = c->vocab;
    for (int n = 0; n < N; n++) {
        if (tokens[n] < 0 || tokens[n] >= V)
            return AGIR_BAD(e, "tokens[%d]: id %d outside the vocabulary [0, %d) (hint: tokenizer and model differ?)",
                            n, tokens[n], V);
        if (pos[n] < 0) return AGIR_BAD(e, "positions[%d]: %d is negative", n, pos[n]);
    }
    // Without a stream the pass evaluates: no dropout, and no backward may follow.
    a->dropout_on = rng != NULL;
    if (rng) a->dropout_rng = *rng;
    AGIR_TRY(upload_inputs(w, a, tokens, pos, seg, e));
    // res[0] = embed(tokens): (N, C)
    int n_new = V - m->v0;
    AGIR_TRY(agir_op_embedding_fwd(w->ctx, a->res, a->tokens, w->embed,
                                   n_new ? at(w->embed, (size_t)m->v0 * C, agir_ftype_size(w->wdt)) : NULL, w->wdt,
                                   m->v0, n_new, N, C, e));
    for (int l = 0; l < c->n_layer; l++) {
        agir_llama_layer_bufs b = layer_bufs(w, a, l);
        AGIR_TRY(agir_llama_layer_qkv_fwd(w, l, &b, e));
        // ao = attention(q, k, v): (N, H·D)
        AGIR_TRY(agir_op_attention_fwd(w->ctx, b.ao, att_saved(w, a, l), b.q, b.k, b.v, a->seg, B, T, 0, c->n_head,
                                       c->n_kv_head, c->head_dim, e));
        AGIR_TRY(agir_llama_layer_out_fwd(w, l, &b, e));
    }
    return AGIR_OK;
}

int agir_llama_forward(const agir_llama_weights *w, agir_llama_acts *a, const int32_t *tokens, const int32_t *pos,
                       const int32_t *seg, const agir_rng *rng, agir_err *e) {
    AGIR_TRY(forward_body(w, a, tokens, pos, seg, rng, e));
    const agir_llama_config *c = &w->m->cfg;
    int N = a->B * a->T;
    a->n_rows = -1;
    // logits = head(rmsnorm(res[L])): (N, V)
    return agir_llama_head_fwd(w, a->logits, a->lnf, a->rstdf, at(a->res, (size_t)c->n_layer * N * c->dim, act_size(w)),
                               N, e);
}

int agir_llama_forward_train(const agir_llama_weights *w, agir_llama_acts *a, const int32_t *tokens,
                             const int32_t *pos, const int32_t *seg, const int32_t *labels, const agir_rng *rng,
                             agir_err *e) {
    const agir_llama_config *c = &w->m->cfg;
    int N = a->B * a->T, n = 0;
    for (int i = 0; i < N; i++)
        if (labels[i] != -1) a->host_rows[n++] = i;
    AGIR_TRY(forward_body(w, a, tokens, pos, seg, rng, e));
    a->n_rows = n;
    if (!n) return AGIR_OK;
    AGIR_TRY(agir_dev_upload(w->ctx, a->rows, a->host_rows, (size_t)n * sizeof *a->rows, e));
    // xrows = res[L][rows]: (n, C); logits = head(rmsnorm(xrows)): (n, V)
    AGIR_TRY(agir_op_rows_gather(w->ctx, a->xrows, at(a->res, (size_t)c->n_layer * N * c->dim, act_size(w)), a->rows,
                                 n, N, c->dim, e));
    return agir_llama_head_fwd(w, a->logits, a->lnf, a->rstdf, a->xrows, n, e);
}

int64_t agir_llama_count_valid(const int32_t *labels, size_t n) {
    int64_t k = 0;
    for (size_t i = 0; i < n; i++) k += labels[i] != -1;
    return k;
}

int agir_llama_loss(const agir_llama_weights *w, agir_llama_acts *a, const int32_t *labels, int64_t n_valid_global,
                    int want_grad, double *loss, agir_err *e) {
    int N = a->B * a->T, V = w->m->cfg.vocab, n = a->n_rows < 0 ? N : a->n_rows;
    for (int i = 0; i < N; i++)
        if (labels[i] < -1 || labels[i] >= V)
            return AGIR_BAD(e, "labels[%d]: %d is neither -1 (ignored) nor a token id below %d", i, labels[i], V);
    if (n_valid_global < 1) return AGIR_BAD(e, "loss: no trained token in the batch (hint: check the loss masks)");
    const int32_t *lab = labels;
    if (a->n_rows >= 0) {  // the rows the training forward kept, in order
        int32_t *packed = a->host_rows + N;
        if (agir_llama_count_valid(labels, (size_t)N) != n)
            return AGIR_BUG(e, "loss: labels other than those of agir_llama_forward_train");
        for (int i = 0; i < n; i++) packed[i] = labels[a->host_rows[i]];
        lab = packed;
    }
    *loss = 0;
    if (!n) return AGIR_OK;
    AGIR_TRY(agir_dev_upload(w->ctx, a->labels, lab, (size_t)n * sizeof *lab, e));
    return agir_op_softmax_xent(w->ctx, want_grad ? a->logits : NULL, a->logits, a->labels, n, V,
                                (float)(1.0 / n_valid_global), a->xent, loss, e);
}

// ---- backward ---------------------------------------------------------------------------------------

// dx += d(proj)/dx · dy; LoRA gradients of (l, t) accumulate into g. The frozen W gets none.
static int proj_bwd(const agir_llama_weights *w, agir_llama_grads *g, agir_llama_acts *a, int l, agir_lora_target t,
                    void *dx, const void *dy, const void *x, agir_err *e) {
    int dims[AGIR_LORA_NTARGET][2];
    agir_llama_lora_dims(&w->m->cfg, dims);
    int N = a->B * a->T, in = dims[t][0], out = dims[t][1];
    AGIR_TRY(agir_op_linear_bwd(w->ctx, dx, NULL, NULL, dy, out, x, layer_tensor(w, l, AGIR_LLAMA_W + t), w->wdt, N,
                                in, out, 1, e));
    agir_lora_view v;
    if (!lora_view(w, g, l, t, &v)) return 0;
    agir_rng r;
    agir_rng_child(&a->dropout_rng, (uint64_t)l * AGIR_LORA_NTARGET + t, &r);
    return agir_lora_bwd(w->ctx, w->lora, &v, &a->lora[l * AGIR_LORA_NTARGET + t], dx, dy, x, N, &r, a->dh, a->du,
                         e);
}

static int zero(const agir_llama_weights *w, void *p, size_t n, agir_err *e) {
    return agir_dev_zero(w->ctx, p, n * act_size(w), e);
}

static int backward_layer(const agir_llama_weights *w, agir_llama_grads *g, agir_llama_acts *a, int l, agir_err *e) {
    const agir_llama_config *c = &w->m->cfg;
    const agir_ctx *cx = w->ctx;
    int B = a->B, T = a->T, N = B * T, C = c->dim, D = c->head_dim, H = c->n_head, KVH = c->n_kv_head;
    size_t NC = (size_t)N * C, NHD = (size_t)N * H * D, NKD = (size_t)N * KVH * D, NF = (size_t)N * c->ffn;
    const agir_llama_layer_bufs b = layer_bufs(w, a, l);
    // MLP block: res[l+1] = mid + down(swiglu(gate(ln2), up(ln2)))
    AGIR_TRY(zero(w, a->dact, NF, e));
    AGIR_TRY(proj_bwd(w, g, a, l, AGIR_LORA_DOWN, a->dact, a->dres, b.act, e));  // dact: (N, F)
    AGIR_TRY(zero(w, a->dgate, NF, e));
    AGIR_TRY(zero(w, a->dup, NF, e));
    AGIR_TRY(agir_op_swiglu_bwd(cx, a->dgate, a->dup, a->dact, b.gate, b.up, NF, e));  // dgate, dup: (N, F)
    AGIR_TRY(zero(w, a->dtmp, NC, e));
    AGIR_TRY(proj_bwd(w, g, a, l, AGIR_LORA_GATE, a->dtmp, a->dgate, b.ln2, e));  // dtmp = d ln2: (N, C)
    AGIR_TRY(proj_bwd(w, g, a, l, AGIR_LORA_UP, a->dtmp, a->dup, b.ln2, e));
    AGIR_TRY(agir_op_rmsnorm_bwd(cx, a->dres, NULL, a->dtmp, b.mid, layer_tensor(w, l, AGIR_LLAMA_MLP_NORM), w->wdt,
                                 b.rstd2, N, C, e));  // dres = d mid: (N, C)
    // attention block: mid = res[l] + o(attention(rope(q(ln1)), rope(k(ln1)), v(ln1)))
    AGIR_TRY(zero(w, a->dao, NHD, e));
    AGIR_TRY(proj_bwd(w, g, a, l, AGIR_LORA_O, a->dao, a->dres, b.ao, e));  // dao: (N, H·D)
    AGIR_TRY(zero(w, a->dq, NHD, e));
    AGIR_TRY(zero(w, a->dk, NKD, e));
    AGIR_TRY(zero(w, a->dv, NKD, e));
    AGIR_TRY(agir_op_attention_bwd(cx, a->dq, a->dk, a->dv, a->datt, a->dao, b.ao, att_saved(w, a, l), b.q, b.k, b.v,
                                   a->seg, B, T, H, KVH, D, e));  // dq: (N, H·D), dk, dv: (N, KVH·D)
    AGIR_TRY(agir_op_rope(cx, a->dq, a->cos_t, a->sin_t, N, H, D, 1, e));
    AGIR_TRY(agir_op_rope(cx, a->dk, a->cos_t, a->sin_t, N, KVH, D, 1, e));
    AGIR_TRY(zero(w, a->dtmp, NC, e));
    AGIR_TRY(proj_bwd(w, g, a, l, AGIR_LORA_Q, a->dtmp, a->dq, b.ln1, e));  // dtmp = d ln1: (N, C)
    AGIR_TRY(proj_bwd(w, g, a, l, AGIR_LORA_K, a->dtmp, a->dk, b.ln1, e));
    AGIR_TRY(proj_bwd(w, g, a, l, AGIR_LORA_V, a->dtmp, a->dv, b.ln1, e));
    return agir_op_rmsnorm_bwd(cx, a->dres, NULL, a->dtmp, b.x, layer_tensor(w, l, AGIR_LLAMA_ATTN_NORM), w->wdt,
                               b.rstd1, N, C, e);  // dres = d res[l]: (N, C)
}

int agir_llama_backward(const agir_llama_weights *w, agir_llama_grads *g, agir_llama_acts *a, agir_err *e) {
    const agir_llama *m = w->m;
    const agir_llama_config *c = &m->cfg;
    int N = a->B * a->T, C = c->dim, V = c->vocab, n_new = V - m->v0;
    size_t NC = (size_t)N * C, es = act_size(w);
    if (w->lora && w->lora->cfg.dropout > 0 && !a->dropout_on)
        return AGIR_BUG(e, "backward after a forward pass without a dropout stream (an evaluation pass)");
    // The head ran over Nh rows: all N, or the n_rows that agir_llama_forward_train kept.
    int Nh = a->n_rows < 0 ? N : a->n_rows;
    const void *dlogits = a->logits;  // (Nh, V)
    AGIR_TRY(zero(w, a->dres, NC, e));
    if (Nh > 0) {
        // dtmp = d lnf: (Nh, C)
        AGIR_TRY(zero(w, a->dtmp, (size_t)Nh * C, e));
        AGIR_TRY(agir_op_linear_bwd(w->ctx, a->dtmp, NULL, NULL, dlogits, V, a->lnf, w->head, w->wdt, Nh, C, V, 1, e));
        // the new head rows (the new embedding rows when tied) get the gradient of their logit columns
        if (n_new)
            AGIR_TRY(agir_op_linear_bwd(w->ctx, NULL, c->tied ? g->new_embed : g->new_head, NULL,
                                        at(dlogits, (size_t)m->v0, es), V, a->lnf,
                                        at(w->head, (size_t)m->v0 * C, agir_ftype_size(w->wdt)), w->wdt, Nh, C, n_new,
                                        1, e));
    }
    // dres = d res[L]: (N, C), through the final norm of the rows the head saw
    const void *res_l = at(a->res, (size_t)c->n_layer * NC, es);
    if (a->n_rows < 0) {
        AGIR_TRY(agir_op_rmsnorm_bwd(w->ctx, a->dres, NULL, a->dtmp, res_l, w->norm, w->wdt, a->rstdf, N, C, e));
    } else if (Nh > 0) {
        AGIR_TRY(zero(w, a->dxrows, (size_t)Nh * C, e));
        AGIR_TRY(agir_op_rmsnorm_bwd(w->ctx, a->dxrows, NULL, a->dtmp, a->xrows, w->norm, w->wdt, a->rstdf, Nh, C, e));
        AGIR_TRY(agir_op_rows_scatter_add(w->ctx, a->dres, a->dxrows, a->rows, Nh, N, C, e));
    }
    for (int l = c->n_layer - 1; l >= 0; l--) AGIR_TRY(backward_layer(w, g, a, l, e));
    if (!n_new) return 0;
    return agir_op_embedding_bwd(w->ctx, NULL, g->new_embed, a->dres, a->tokens, m->v0, n_new, N, C, e);
}
