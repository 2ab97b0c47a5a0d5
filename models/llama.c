// Llama-family model on the CPU: weights, activation arena, forward, fused loss, backward (see
// llama.h), and the tables of layer tensors and activations that the device model (llama_dev.c)
// lays out the same way. Loading checkpoints lives in llama_load.c.
#include "models/llama.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


// Limits well above any model AGIR trains on the CPU; they keep every size product far from
// overflow before the checked totals are formed.
enum { MAX_DIM = 1 << 16, MAX_FFN = 1 << 18, MAX_LAYERS = 1024, MAX_HEADS = 1024, MAX_HEAD_DIM = 1024,
       MAX_VOCAB = 1 << 24 };

// Hands out consecutive float ranges of one block. A first pass with base == NULL only counts.
typedef struct arena {
    float *base;
    size_t used;
    int overflow;
} arena;

static float *carve(arena *ar, size_t a, size_t b) {
    size_t n, end;
    if (agir_mul_ok(a, b, &n) || agir_add_ok(ar->used, n, &end)) {
        ar->overflow = 1;
        return NULL;
    }
    float *p = ar->base ? ar->base + ar->used : NULL;
    ar->used = end;
    return p;
}

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

static void layout_weights(agir_llama *m, arena *ar) {
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
    arena ar = {0};
    layout_weights(m, &ar);
    if (ar.overflow) {
        agir_llama_free(m);
        return AGIR_BAD(e, "model size overflows (hint: check config.json)");
    }
    m->n_floats = ar.used;
    m->mem = calloc(ar.used, sizeof(float));
    if (!m->mem) {
        agir_llama_free(m);
        return AGIR_BUG(e, "out of memory for %zu model weights", ar.used);
    }
    ar = (arena){.base = m->mem};
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

static void layout_acts(agir_llama_acts *a, const agir_llama *m, const agir_lora *lora, arena *ar) {
    const agir_llama_config *c = &m->cfg;
    size_t L = c->n_layer, N = (size_t)a->B * a->T, C = c->dim, F = c->ffn;
    size_t HD = (size_t)c->n_head * c->head_dim, TT = (size_t)a->T * a->T, BH = (size_t)a->B * c->n_head;
    size_t w[AGIR_LLAMA_NACT];
    agir_llama_act_widths(c, w);
    float **slot[AGIR_LLAMA_NACT] = {&a->res, &a->mid, &a->ln1, &a->ln2, &a->q, &a->k, &a->v, &a->ao, &a->gate,
                                     &a->up, &a->act, &a->lnf, &a->logits, &a->dres, &a->dtmp, &a->dq, &a->dk,
                                     &a->dv, &a->dao, &a->dgate, &a->dup, &a->dact};
    for (int i = 0; i < AGIR_LLAMA_NACT; i++) *slot[i] = carve(ar, N, w[i]);
    a->cos_t = carve(ar, N, c->head_dim / 2);
    a->sin_t = carve(ar, N, c->head_dim / 2);
    a->rstd1 = carve(ar, L, N);
    a->rstd2 = carve(ar, L, N);
    a->rstdf = carve(ar, N, 1);
    a->att = carve(ar, L * BH, TT);
    a->datt = carve(ar, BH, TT);
    if (!lora) return;
    size_t r = lora->cfg.rank, widest = C > HD ? C : HD;
    widest = widest > F ? widest : F;
    a->dh = carve(ar, N, r);
    a->du = lora->cfg.dropout > 0 ? carve(ar, N, widest) : NULL;
    for (size_t l = 0; l < L; l++)
        for (int t = 0; t < AGIR_LORA_NTARGET; t++) {
            const agir_lora_mat *lm = agir_lora_at(lora, (int)l, (agir_lora_target)t);
            agir_lora_act *la = &a->lora[l * AGIR_LORA_NTARGET + t];
            if (!lm->A) continue;
            la->h = carve(ar, N, r);
            la->u = lora->cfg.dropout > 0 ? carve(ar, N, lm->in) : NULL;
        }
}

int agir_llama_acts_alloc(agir_llama_acts *a, const agir_llama *m, const agir_lora *lora, int B, int T, agir_err *e) {
    memset(a, 0, sizeof *a);
    if (B < 1 || T < 1 || (long long)B * T > (1 << 24))
        return AGIR_BAD(e, "batch %d x sequence %d: out of range (hint: at most 2^24 tokens)", B, T);
    if (lora && lora->n_layer != m->cfg.n_layer) return AGIR_BUG(e, "LoRA has %d layers, model %d", lora->n_layer,
                                                                 m->cfg.n_layer);
    a->B = B;
    a->T = T;
    size_t N = (size_t)B * T;
    a->tokens = malloc(3 * N * sizeof(int32_t));
    a->lora = calloc((size_t)m->cfg.n_layer * AGIR_LORA_NTARGET, sizeof *a->lora);
    arena ar = {0};
    layout_acts(a, m, lora, &ar);
    if (ar.overflow || !a->tokens || !a->lora) {
        agir_llama_acts_free(a);
        return AGIR_BAD(e, "activations for batch %d x sequence %d do not fit in memory (hint: lower them)", B, T);
    }
    a->mem = calloc(ar.used, sizeof(float));
    if (!a->mem) {
        size_t used = ar.used;
        agir_llama_acts_free(a);
        return AGIR_BAD(e, "cannot allocate %zu MB of activations (hint: lower batch or sequence length)",
                        used >> 18);
    }
    a->pos = a->tokens + N;
    a->seg = a->pos + N;
    ar = (arena){.base = a->mem};
    layout_acts(a, m, lora, &ar);
    return 0;
}

void agir_llama_acts_free(agir_llama_acts *a) {
    free(a->tokens);
    free(a->lora);
    free(a->mem);
    memset(a, 0, sizeof *a);
}

// y (beta 0: =, 1: +=) W_t x + bias over b's N rows, plus the LoRA term of target t when lora adapts it,
// saving its values in b->lora[t]. x: (N, in)  y: (N, out), {in, out} of agir_llama_lora_dims.
static void proj_fwd(const agir_llama *m, const agir_lora *lora, int l, const agir_llama_layer_bufs *b,
                     agir_lora_target t, float *y, const float *x, const float *bias, float beta) {
    int dims[AGIR_LORA_NTARGET][2];
    agir_llama_lora_dims(&m->cfg, dims);
    int in = dims[t][0], out = dims[t][1];
    agir_linear_fwd(y, out, x, m->layers[l].w[t], bias, b->N, in, out, beta);
    if (!lora || !agir_lora_at(lora, l, t)->A) return;
    agir_rng r;
    if (b->dropout) agir_rng_child(b->dropout, (uint64_t)l * AGIR_LORA_NTARGET + t, &r);
    agir_lora_fwd(lora, agir_lora_at(lora, l, t), &b->lora[t], y, x, b->N, b->dropout ? &r : NULL);
}

void agir_llama_layer_qkv_fwd(const agir_llama *m, const agir_lora *lora, int l, const agir_llama_layer_bufs *b) {
    const agir_llama_config *c = &m->cfg;
    const agir_llama_layer *L = &m->layers[l];
    agir_rmsnorm_fwd(b->ln1, b->rstd1, b->x, L->attn_norm, b->N, c->dim, c->eps);
    proj_fwd(m, lora, l, b, AGIR_LORA_Q, b->q, b->ln1, L->bq, 0);
    proj_fwd(m, lora, l, b, AGIR_LORA_K, b->k, b->ln1, L->bk, 0);
    proj_fwd(m, lora, l, b, AGIR_LORA_V, b->v, b->ln1, L->bv, 0);
    agir_rope_apply(b->q, b->cos_t, b->sin_t, b->N, c->n_head, c->head_dim, 0);
    agir_rope_apply(b->k, b->cos_t, b->sin_t, b->N, c->n_kv_head, c->head_dim, 0);
}

void agir_llama_layer_out_fwd(const agir_llama *m, const agir_lora *lora, int l, const agir_llama_layer_bufs *b) {
    const agir_llama_config *c = &m->cfg;
    size_t NC = (size_t)b->N * c->dim;
    if (b->mid != b->x) memcpy(b->mid, b->x, sizeof(float) * NC);
    proj_fwd(m, lora, l, b, AGIR_LORA_O, b->mid, b->ao, NULL, 1);
    agir_rmsnorm_fwd(b->ln2, b->rstd2, b->mid, m->layers[l].mlp_norm, b->N, c->dim, c->eps);
    proj_fwd(m, lora, l, b, AGIR_LORA_GATE, b->gate, b->ln2, NULL, 0);
    proj_fwd(m, lora, l, b, AGIR_LORA_UP, b->up, b->ln2, NULL, 0);
    agir_swiglu_fwd(b->act, b->gate, b->up, (size_t)b->N * c->ffn);
    if (b->out != b->mid) memcpy(b->out, b->mid, sizeof(float) * NC);
    proj_fwd(m, lora, l, b, AGIR_LORA_DOWN, b->out, b->act, NULL, 1);
}

// Layer l's slices of the training activations.
static agir_llama_layer_bufs layer_bufs(const agir_llama_config *c, agir_llama_acts *a, int l) {
    size_t N = (size_t)a->B * a->T, NC = N * c->dim, NF = N * c->ffn;
    size_t NHD = N * c->n_head * c->head_dim, NKD = N * c->n_kv_head * c->head_dim;
    return (agir_llama_layer_bufs){
        .N = (int)N,
        .x = a->res + l * NC, .mid = a->mid + l * NC, .out = a->res + (l + 1) * NC,
        .ln1 = a->ln1 + l * NC, .ln2 = a->ln2 + l * NC, .rstd1 = a->rstd1 + l * N, .rstd2 = a->rstd2 + l * N,
        .q = a->q + l * NHD, .ao = a->ao + l * NHD, .k = a->k + l * NKD, .v = a->v + l * NKD,
        .gate = a->gate + l * NF, .up = a->up + l * NF, .act = a->act + l * NF,
        .cos_t = a->cos_t, .sin_t = a->sin_t,
        .lora = &a->lora[(size_t)l * AGIR_LORA_NTARGET], .dropout = &a->dropout_rng,
    };
}

// dx += d(proj)/dx · dy; LoRA gradients of (l, t) accumulate. The frozen W gets none.
static void proj_bwd(const agir_llama *m, const agir_lora *lora, agir_lora *lgrad, agir_llama_acts *a, int l,
                     agir_lora_target t, float *dx, const float *dy, const float *x) {
    int dims[AGIR_LORA_NTARGET][2];
    agir_llama_lora_dims(&m->cfg, dims);
    int N = a->B * a->T, in = dims[t][0], out = dims[t][1];
    agir_linear_bwd(dx, NULL, NULL, dy, out, x, m->layers[l].w[t], N, in, out);
    if (!lora || !agir_lora_at(lora, l, t)->A) return;
    agir_rng r;
    agir_rng_child(&a->dropout_rng, (uint64_t)l * AGIR_LORA_NTARGET + t, &r);
    agir_lora_bwd(lora, agir_lora_at(lora, l, t), agir_lora_at(lgrad, l, t), &a->lora[l * AGIR_LORA_NTARGET + t], dx,
                  dy, x, N, &r, a->dh, a->du);
}

int agir_llama_forward(const agir_llama *m, const agir_lora *lora, agir_llama_acts *a, const int32_t *tokens,
                       const int32_t *pos, const int32_t *seg, const agir_rng *rng, agir_err *e) {
    const agir_llama_config *c = &m->cfg;
    int B = a->B, T = a->T, N = B * T, C = c->dim, D = c->head_dim, H = c->n_head, KVH = c->n_kv_head;
    for (int n = 0; n < N; n++) {
        if (tokens[n] < 0 || tokens[n] >= c->vocab)
            return AGIR_BAD(e, "tokens[%d]: id %d outside the vocabulary [0, %d) (hint: tokenizer and model differ?)",
                            n, tokens[n], c->vocab);
        if (pos[n] < 0) return AGIR_BAD(e, "positions[%d]: %d is negative", n, pos[n]);
    }
    if (lora && lora->cfg.dropout > 0 && !rng) return AGIR_BUG(e, "LoRA dropout needs a random stream");
    if (rng) a->dropout_rng = *rng;
    memcpy(a->tokens, tokens, sizeof(int32_t) * N);
    memcpy(a->pos, pos, sizeof(int32_t) * N);
    memcpy(a->seg, seg, sizeof(int32_t) * N);
    agir_rope_table(a->cos_t, a->sin_t, pos, m->inv_freq, N, D);
    agir_embedding_fwd(a->res, tokens, m->embed, m->new_embed, m->v0, N, C);
    for (int l = 0; l < c->n_layer; l++) {
        agir_llama_layer_bufs b = layer_bufs(c, a, l);
        agir_llama_layer_qkv_fwd(m, lora, l, &b);
        agir_attention_fwd(b.ao, a->att + (size_t)l * B * H * T * T, b.q, b.k, b.v, a->seg, B, T, 0, H, KVH, D);
        agir_llama_layer_out_fwd(m, lora, l, &b);
    }
    agir_rmsnorm_fwd(a->lnf, a->rstdf, a->res + (size_t)c->n_layer * N * C, m->norm, N, C, c->eps);
    agir_linear_fwd(a->logits, c->vocab, a->lnf, m->head, NULL, N, C, c->vocab, 0);
    return 0;
}

int64_t agir_llama_count_valid(const int32_t *labels, size_t n) {
    int64_t k = 0;
    for (size_t i = 0; i < n; i++) k += labels[i] != -1;
    return k;
}

int agir_llama_loss(const agir_llama *m, agir_llama_acts *a, const int32_t *labels, int64_t n_valid_global,
                    int want_grad, double *loss, agir_err *e) {
    int N = a->B * a->T, V = m->cfg.vocab;
    for (int n = 0; n < N; n++)
        if (labels[n] < -1 || labels[n] >= V)
            return AGIR_BAD(e, "labels[%d]: %d is neither -1 (ignored) nor a token id below %d", n, labels[n], V);
    if (n_valid_global < 1) return AGIR_BAD(e, "loss: no trained token in the batch (hint: check the loss masks)");
    *loss = agir_softmax_xent(want_grad ? a->logits : NULL, a->logits, labels, N, V, (float)(1.0 / n_valid_global));
    return 0;
}

int agir_llama_grads_alloc(agir_llama_grads *g, const agir_llama *m, agir_err *e) {
    memset(g, 0, sizeof *g);
    size_t rows = (size_t)(m->cfg.vocab - m->v0), n = rows * m->cfg.dim * (m->cfg.tied ? 1 : 2);
    g->mem = calloc(n ? n : 1, sizeof(float));
    if (!g->mem) return AGIR_BUG(e, "out of memory for %zu new-row gradients", n);
    g->new_embed = g->mem;
    g->new_head = m->cfg.tied ? NULL : g->mem + rows * m->cfg.dim;
    return 0;
}

void agir_llama_grads_free(agir_llama_grads *g) {
    free(g->mem);
    memset(g, 0, sizeof *g);
}

void agir_llama_backward(const agir_llama *m, const agir_lora *lora, agir_lora *lgrad, agir_llama_grads *g,
                         agir_llama_acts *a) {
    const agir_llama_config *c = &m->cfg;
    int B = a->B, T = a->T, N = B * T, C = c->dim, D = c->head_dim, H = c->n_head, KVH = c->n_kv_head, F = c->ffn;
    int V = c->vocab, n_new = V - m->v0;
    size_t NC = (size_t)N * C, NHD = (size_t)N * H * D, NKD = (size_t)N * KVH * D, NF = (size_t)N * F;
    const float *dlogits = a->logits;
    memset(a->dtmp, 0, sizeof(float) * NC);
    agir_linear_bwd(a->dtmp, NULL, NULL, dlogits, V, a->lnf, m->head, N, C, V);
    if (n_new)
        agir_linear_bwd(NULL, c->tied ? g->new_embed : g->new_head, NULL, dlogits + m->v0, V, a->lnf, m->new_head, N,
                        C, n_new);
    memset(a->dres, 0, sizeof(float) * NC);
    agir_rmsnorm_bwd(a->dres, NULL, a->dtmp, a->res + (size_t)c->n_layer * NC, m->norm, a->rstdf, N, C);
    for (int l = c->n_layer - 1; l >= 0; l--) {
        const agir_llama_layer *L = &m->layers[l];
        const agir_llama_layer_bufs b = layer_bufs(c, a, l);
        // MLP block: res[l+1] = mid + down(swiglu(gate(ln2), up(ln2)))
        memset(a->dact, 0, sizeof(float) * NF);
        proj_bwd(m, lora, lgrad, a, l, AGIR_LORA_DOWN, a->dact, a->dres, b.act);
        memset(a->dgate, 0, sizeof(float) * NF);
        memset(a->dup, 0, sizeof(float) * NF);
        agir_swiglu_bwd(a->dgate, a->dup, a->dact, b.gate, b.up, NF);
        memset(a->dtmp, 0, sizeof(float) * NC);
        proj_bwd(m, lora, lgrad, a, l, AGIR_LORA_GATE, a->dtmp, a->dgate, b.ln2);
        proj_bwd(m, lora, lgrad, a, l, AGIR_LORA_UP, a->dtmp, a->dup, b.ln2);
        agir_rmsnorm_bwd(a->dres, NULL, a->dtmp, b.mid, L->mlp_norm, b.rstd2, N, C);
        // attention block: mid = res[l] + o(attention(rope(q(ln1)), rope(k(ln1)), v(ln1)))
        memset(a->dao, 0, sizeof(float) * NHD);
        proj_bwd(m, lora, lgrad, a, l, AGIR_LORA_O, a->dao, a->dres, b.ao);
        memset(a->dq, 0, sizeof(float) * NHD);
        memset(a->dk, 0, sizeof(float) * NKD);
        memset(a->dv, 0, sizeof(float) * NKD);
        agir_attention_bwd(a->dq, a->dk, a->dv, a->datt, a->dao, a->att + (size_t)l * B * H * T * T, b.q, b.k, b.v,
                           B, T, H, KVH, D);
        agir_rope_apply(a->dq, a->cos_t, a->sin_t, N, H, D, 1);
        agir_rope_apply(a->dk, a->cos_t, a->sin_t, N, KVH, D, 1);
        memset(a->dtmp, 0, sizeof(float) * NC);
        proj_bwd(m, lora, lgrad, a, l, AGIR_LORA_Q, a->dtmp, a->dq, b.ln1);
        proj_bwd(m, lora, lgrad, a, l, AGIR_LORA_K, a->dtmp, a->dk, b.ln1);
        proj_bwd(m, lora, lgrad, a, l, AGIR_LORA_V, a->dtmp, a->dv, b.ln1);
        agir_rmsnorm_bwd(a->dres, NULL, a->dtmp, b.x, L->attn_norm, b.rstd1, N, C);
    }
    if (n_new) agir_embedding_bwd(NULL, g->new_embed, a->dres, a->tokens, m->v0, N, C);
}
