// The Llama-family model and its LoRA adapter on a CUDA context (see llama_dev.h): upload with bf16
// rounding, one device block for weights, activations and gradients, forward, fused loss, backward,
// AdamW on fp32 masters.
// Each step mirrors the CPU engine in models/llama.c op for op, so the two can be compared.
#include "models/llama_dev.h"

#include <stdlib.h>
#include <string.h>

#include "core/bf16.h"
#include "kernels/cpu/llm_ops.h"
#include "kernels/llm_cuda.h"

// Consecutive 256-byte aligned ranges of one device block; a first pass with base == NULL counts.
typedef struct arena {
    char *base;
    size_t used;
    int overflow;
} arena;

static void *carve(arena *ar, size_t count, size_t size) {
    size_t n, end, start = (ar->used + 255) & ~(size_t)255;
    if (start < ar->used || agir_mul_ok(count, size, &n) || agir_add_ok(start, n, &end)) {
        ar->overflow = 1;
        return NULL;
    }
    ar->used = end;
    return ar->base ? ar->base + start : NULL;
}

static void layout(agir_llama_dev *d, arena *ar) {
    const agir_llama_config *c = &d->m->cfg;
    const agir_lora *lora = d->lora;
    size_t L = c->n_layer, N = (size_t)d->B * d->T, C = c->dim, F = c->ffn, V = c->vocab;
    size_t HD = (size_t)c->n_head * c->head_dim, n_new = V - d->m->v0;
    size_t BH = (size_t)d->B * c->n_head, bf = sizeof(agir_bf16), f4 = sizeof(float), i4 = sizeof(int32_t);
    size_t n[AGIR_LLAMA_NTENSOR];
    agir_llama_layer_sizes(c, n);
    d->embed = carve(ar, V * C, bf);
    d->head = c->tied ? d->embed : carve(ar, V * C, bf);
    d->norm = carve(ar, C, bf);
    for (size_t l = 0; l < L; l++)
        for (int i = 0; i < AGIR_LLAMA_NTENSOR; i++) d->layers[l].t[i] = n[i] ? carve(ar, n[i], bf) : NULL;
    size_t n_rows = n_new * C * (c->tied ? 1 : 2), n_train = (lora ? lora->n_params : 0) + n_rows;
    d->g_embed = carve(ar, n_new * C, f4);
    d->g_head = c->tied ? NULL : carve(ar, n_new * C, f4);
    d->rows_master = carve(ar, n_rows, f4);
    d->mom = carve(ar, 2 * n_train, f4);
    d->tokens = carve(ar, N, i4);
    d->seg = carve(ar, N, i4);
    d->labels = carve(ar, N, i4);
    d->cos_t = carve(ar, N * (c->head_dim / 2), f4);
    d->sin_t = carve(ar, N * (c->head_dim / 2), f4);
    size_t w[AGIR_LLAMA_NACT];
    agir_llama_act_widths(c, w);
    agir_bf16 **slot[AGIR_LLAMA_NACT] = {&d->res, &d->mid, &d->ln1, &d->ln2, &d->q, &d->k, &d->v, &d->ao, &d->gate,
                                         &d->up, &d->act, &d->lnf, &d->logits, &d->dres, &d->dtmp, &d->dq, &d->dk,
                                         &d->dv, &d->dao, &d->dgate, &d->dup, &d->dact};
    for (int i = 0; i < AGIR_LLAMA_NACT; i++) *slot[i] = carve(ar, N * w[i], bf);
    d->rstd1 = carve(ar, L * N, f4);
    d->rstd2 = carve(ar, L * N, f4);
    d->rstdf = carve(ar, N, f4);
    d->lse = carve(ar, L * BH * d->T, f4);
    d->losses = carve(ar, N, f4);
    d->loss = carve(ar, 1, f4);
    d->delta = carve(ar, BH * d->T, f4);
    if (!lora) return;
    size_t r = lora->cfg.rank, widest = C > HD ? C : HD;
    widest = widest > F ? widest : F;
    int drop = lora->cfg.dropout > 0;
    d->lora_w = carve(ar, lora->n_params, bf);
    d->lora_g = carve(ar, lora->n_params, f4);
    d->lora_master = carve(ar, lora->n_params, f4);
    d->dh = carve(ar, N * r, bf);
    d->du = drop ? carve(ar, N * widest, bf) : NULL;
    for (size_t l = 0; l < L; l++)
        for (int t = 0; t < AGIR_LORA_NTARGET; t++) {
            const agir_lora_mat *lm = agir_lora_at(lora, (int)l, (agir_lora_target)t);
            if (!lm->A) continue;
            d->lora_h[l * AGIR_LORA_NTARGET + t] = carve(ar, N * r, bf);
            d->lora_u[l * AGIR_LORA_NTARGET + t] = drop ? carve(ar, N * (size_t)lm->in, bf) : NULL;
        }
}

// dst (device, n bf16) = src (host, n f32) rounded to nearest even.
static int upload_bf16(const agir_llama_dev *d, agir_bf16 *dst, const float *src, size_t n, agir_err *e) {
    if (!n) return 0;
    agir_bf16 *h = malloc(n * sizeof *h);
    if (!h) return AGIR_BUG(e, "out of memory for %zu bf16 values", n);
    for (size_t i = 0; i < n; i++) h[i] = agir_f32_to_bf16(src[i]);
    int rc = agir_dev_upload(d->ctx, dst, h, n * sizeof *h, e);
    free(h);
    return rc;
}

static int upload_weights(agir_llama_dev *d, agir_err *e) {
    const agir_llama *m = d->m;
    const agir_llama_config *c = &m->cfg;
    size_t C = c->dim, V0 = m->v0, n[AGIR_LLAMA_NTENSOR];
    agir_llama_layer_sizes(c, n);
    // the new rows [v0, V) follow in agir_llama_dev_upload_trainable
    AGIR_TRY(upload_bf16(d, d->embed, m->embed, V0 * C, e));
    if (!c->tied) AGIR_TRY(upload_bf16(d, d->head, m->head, V0 * C, e));
    AGIR_TRY(upload_bf16(d, d->norm, m->norm, C, e));
    for (int l = 0; l < c->n_layer; l++) {
        float **host[AGIR_LLAMA_NTENSOR];
        agir_llama_layer_slots(&m->layers[l], host);
        for (int i = 0; i < AGIR_LLAMA_NTENSOR; i++)
            AGIR_TRY(upload_bf16(d, d->layers[l].t[i], *host[i], n[i], e));  // absent biases: n = 0
    }
    return agir_llama_dev_upload_trainable(d, e);
}

// The trainable tensors of the two AdamW groups: master, bf16 copy, gradient, host value, size.
typedef struct trainable {
    float *master;
    agir_bf16 *copy;
    float *grad;
    float *host;
    size_t n;
} trainable;

// [0] LoRA A/B, [1] new embedding rows, [2] new head rows (n = 0 when tied); sizes 0 when absent.
static void trainables(const agir_llama_dev *d, trainable t[3]) {
    const agir_llama *m = d->m;
    size_t C = m->cfg.dim, off = (size_t)m->v0 * C, per = (size_t)(m->cfg.vocab - m->v0) * C;
    const agir_lora *lo = d->lora;
    t[0] = (trainable){d->lora_master, d->lora_w, d->lora_g, lo ? lo->mem : NULL, lo ? lo->n_params : 0};
    t[1] = (trainable){d->rows_master, d->embed + off, d->g_embed, m->new_embed, per};
    t[2] = (trainable){d->rows_master + per, d->head + off, d->g_head, m->new_head, m->cfg.tied ? 0 : per};
}

int agir_llama_dev_upload_trainable(agir_llama_dev *d, agir_err *e) {
    trainable t[3];
    trainables(d, t);
    for (int i = 0; i < 3; i++) {
        if (!t[i].n) continue;
        AGIR_TRY(agir_dev_upload(d->ctx, t[i].master, t[i].host, t[i].n * sizeof(float), e));
        AGIR_TRY(upload_bf16(d, t[i].copy, t[i].host, t[i].n, e));
    }
    return 0;
}

int agir_llama_dev_download_trainable(const agir_llama_dev *d, agir_lora *lora, agir_llama *m, agir_err *e) {
    trainable t[3];
    trainables(d, t);
    if ((lora ? lora->n_params : 0) != t[0].n || m->cfg.vocab != d->m->cfg.vocab || m->v0 != d->m->v0 ||
        m->cfg.dim != d->m->cfg.dim || m->cfg.tied != d->m->cfg.tied)
        return AGIR_BUG(e, "llama_dev: download into a model or adapter of other shapes");
    float *host[3] = {lora ? lora->mem : NULL, m->new_embed, m->new_head};
    for (int i = 0; i < 3; i++)
        if (t[i].n) AGIR_TRY(agir_dev_download(d->ctx, host[i], t[i].master, t[i].n * sizeof(float), e));
    return 0;
}

int agir_llama_dev_adamw(agir_llama_dev *d, const agir_adamw_hp *hp_lora, const agir_adamw_hp *hp_rows, agir_err *e) {
    trainable t[3];
    trainables(d, t);
    size_t n_rows = t[1].n + t[2].n;
    float *m_lora = d->mom, *v_lora = m_lora + t[0].n, *m_rows = v_lora + t[0].n, *v_rows = m_rows + n_rows;
    // moments laid out like the masters: group 1's rows [embed | head]
    float *ms[3] = {m_lora, m_rows, m_rows + t[1].n}, *vs[3] = {v_lora, v_rows, v_rows + t[1].n};
    const agir_adamw_hp *hp[3] = {hp_lora, hp_rows, hp_rows};
    for (int i = 0; i < 3; i++)
        AGIR_TRY(agir_op_adamw_bf16(d->ctx, t[i].master, t[i].copy, t[i].grad, ms[i], vs[i], t[i].n, hp[i], e));
    return 0;
}

static int zero_moments(agir_llama_dev *d, agir_err *e) {
    trainable t[3];
    trainables(d, t);
    size_t n = 2 * (t[0].n + t[1].n + t[2].n);
    return n ? agir_dev_zero(d->ctx, d->mom, n * sizeof(float), e) : 0;
}

int agir_llama_dev_open(agir_llama_dev *d, const agir_ctx *c, const agir_llama *m, const agir_lora *lora, int B,
                        int T, agir_err *e) {
    memset(d, 0, sizeof *d);
    if (!c || c->dev != AGIR_DEV_CUDA) return AGIR_BUG(e, "llama_dev: needs a CUDA context");
    int D = m->cfg.head_dim;
    if (D != 32 && D != 64 && D != 128)
        return AGIR_BAD(e, "head_dim: %d is not supported on CUDA (hint: the attention kernels take 32, 64 or 128; "
                        "use device = cpu)", D);
    if (B < 1 || T < 1 || (long long)B * T > (1 << 24))
        return AGIR_BAD(e, "batch %d x sequence %d: out of range (hint: at most 2^24 tokens)", B, T);
    if (lora && lora->n_layer != m->cfg.n_layer)
        return AGIR_BUG(e, "LoRA has %d layers, model %d", lora->n_layer, m->cfg.n_layer);
    *d = (agir_llama_dev){.ctx = c, .m = m, .lora = lora, .B = B, .T = T};
    size_t n_mats = (size_t)m->cfg.n_layer * AGIR_LORA_NTARGET;
    d->layers = calloc((size_t)m->cfg.n_layer, sizeof *d->layers);
    d->lora_u = calloc(n_mats, sizeof *d->lora_u);
    d->lora_h = calloc(n_mats, sizeof *d->lora_h);
    if (!d->layers || !d->lora_u || !d->lora_h) {
        agir_llama_dev_close(d);
        return AGIR_BUG(e, "out of memory for %d layers", m->cfg.n_layer);
    }
    arena ar = {0};
    layout(d, &ar);
    if (ar.overflow) {
        agir_llama_dev_close(d);
        return AGIR_BAD(e, "batch %d x sequence %d: device buffers overflow (hint: lower them)", B, T);
    }
    int rc = agir_dev_alloc(c, ar.used, &d->mem, e);
    if (rc) {
        d->mem = NULL;
        agir_llama_dev_close(d);
        return rc;
    }
    d->bytes = ar.used;
    ar = (arena){.base = d->mem};
    layout(d, &ar);
    rc = upload_weights(d, e);
    if (!rc) rc = agir_llama_dev_zero_grads(d, e);
    if (!rc) rc = zero_moments(d, e);
    if (rc) agir_llama_dev_close(d);
    return rc;
}

void agir_llama_dev_close(agir_llama_dev *d) {
    if (d->ctx) agir_dev_free(d->ctx, d->mem);
    free(d->layers);
    free(d->lora_u);
    free(d->lora_h);
    memset(d, 0, sizeof *d);
}

int agir_llama_dev_zero_grads(agir_llama_dev *d, agir_err *e) {
    trainable t[3];
    trainables(d, t);
    for (int i = 0; i < 3; i++)
        if (t[i].n) AGIR_TRY(agir_dev_zero(d->ctx, t[i].grad, t[i].n * sizeof(float), e));
    return 0;
}

// The device copy (bf16 weights or f32 gradients) of a host LoRA tensor: same offset in lora->mem.
static size_t lora_off(const agir_llama_dev *d, const float *host) { return (size_t)(host - d->lora->mem); }

static const agir_lora_mat *adapted(const agir_llama_dev *d, int l, agir_lora_target t) {
    const agir_lora_mat *lm = d->lora ? agir_lora_at(d->lora, l, t) : NULL;
    return lm && lm->A ? lm : NULL;
}

// y (beta 0: =, 1: +=) W_t x + b, plus layer l's LoRA on target t: h = s · A dropout(x), y += B h.
static int proj_fwd(agir_llama_dev *d, int l, agir_lora_target t, agir_bf16 *y, const agir_bf16 *x,
                    const agir_bf16 *bias, float beta, agir_err *e) {
    int dims[AGIR_LORA_NTARGET][2];
    agir_llama_lora_dims(&d->m->cfg, dims);
    int N = d->B * d->T, in = dims[t][0], out = dims[t][1];
    AGIR_TRY(agir_llm_linear_fwd(d->ctx, y, out, x, d->layers[l].t[AGIR_LLAMA_W + t], bias, N, in, out, 1, beta, e));
    const agir_lora_mat *lm = adapted(d, l, t);
    if (!lm) return 0;
    int r = d->lora->cfg.rank, i = l * AGIR_LORA_NTARGET + t;
    const agir_bf16 *u = x;
    if (d->lora->cfg.dropout > 0) {
        agir_rng rs;
        agir_rng_child(&d->dropout_rng, (uint64_t)i, &rs);
        AGIR_TRY(agir_llm_dropout(d->ctx, d->lora_u[i], x, N, in, d->lora->cfg.dropout, &rs, 0, e));
        u = d->lora_u[i];
    }
    const agir_bf16 *A = d->lora_w + lora_off(d, lm->A), *Bm = d->lora_w + lora_off(d, lm->B);
    AGIR_TRY(agir_llm_linear_fwd(d->ctx, d->lora_h[i], r, u, A, NULL, N, in, r, d->lora->scale, 0, e));
    return agir_llm_linear_fwd(d->ctx, y, out, d->lora_h[i], Bm, NULL, N, r, out, 1, 1, e);
}

// Layer l's slices of the activations (shapes of agir_llama_dev without the leading L).
typedef struct layer_acts {
    agir_bf16 *x, *mid, *ln1, *ln2, *q, *k, *v, *ao, *gate, *up, *act;
    float *rstd1, *rstd2, *lse;
} layer_acts;

static layer_acts layer_at(const agir_llama_dev *d, int l) {
    const agir_llama_config *c = &d->m->cfg;
    size_t N = (size_t)d->B * d->T, NC = N * c->dim, NHD = N * c->n_head * c->head_dim;
    size_t NKD = N * c->n_kv_head * c->head_dim, NF = N * c->ffn, BHT = (size_t)d->B * c->n_head * d->T;
    return (layer_acts){.x = d->res + l * NC, .mid = d->mid + l * NC, .ln1 = d->ln1 + l * NC, .ln2 = d->ln2 + l * NC,
                        .q = d->q + l * NHD, .k = d->k + l * NKD, .v = d->v + l * NKD, .ao = d->ao + l * NHD,
                        .gate = d->gate + l * NF, .up = d->up + l * NF, .act = d->act + l * NF,
                        .rstd1 = d->rstd1 + l * N, .rstd2 = d->rstd2 + l * N, .lse = d->lse + l * BHT};
}

static int forward_layer(agir_llama_dev *d, int l, agir_err *e) {
    const agir_llama_config *c = &d->m->cfg;
    agir_bf16 *const *w = d->layers[l].t;
    const agir_ctx *cx = d->ctx;
    int N = d->B * d->T, C = c->dim, D = c->head_dim, H = c->n_head, KVH = c->n_kv_head;
    size_t NC = (size_t)N * C, NF = (size_t)N * c->ffn;
    layer_acts a = layer_at(d, l);
    AGIR_TRY(agir_llm_rmsnorm_fwd(cx, a.ln1, a.rstd1, a.x, w[AGIR_LLAMA_ATTN_NORM], N, C, c->eps, e));
    AGIR_TRY(proj_fwd(d, l, AGIR_LORA_Q, a.q, a.ln1, w[AGIR_LLAMA_BQ], 0, e));
    AGIR_TRY(proj_fwd(d, l, AGIR_LORA_K, a.k, a.ln1, w[AGIR_LLAMA_BK], 0, e));
    AGIR_TRY(proj_fwd(d, l, AGIR_LORA_V, a.v, a.ln1, w[AGIR_LLAMA_BV], 0, e));
    AGIR_TRY(agir_llm_rope(cx, a.q, d->cos_t, d->sin_t, N, H, D, 0, e));
    AGIR_TRY(agir_llm_rope(cx, a.k, d->cos_t, d->sin_t, N, KVH, D, 0, e));
    AGIR_TRY(agir_llm_attention_fwd(cx, a.ao, a.lse, a.q, a.k, a.v, d->seg, d->B, d->T, H, KVH, D, e));
    // residual adds: the product accumulates into a copy of the stream (beta = 1)
    AGIR_TRY(agir_dev_copy(cx, a.mid, a.x, NC * sizeof *a.x, e));
    AGIR_TRY(proj_fwd(d, l, AGIR_LORA_O, a.mid, a.ao, NULL, 1, e));
    AGIR_TRY(agir_llm_rmsnorm_fwd(cx, a.ln2, a.rstd2, a.mid, w[AGIR_LLAMA_MLP_NORM], N, C, c->eps, e));
    AGIR_TRY(proj_fwd(d, l, AGIR_LORA_GATE, a.gate, a.ln2, NULL, 0, e));
    AGIR_TRY(proj_fwd(d, l, AGIR_LORA_UP, a.up, a.ln2, NULL, 0, e));
    AGIR_TRY(agir_llm_swiglu_fwd(cx, a.act, a.gate, a.up, NF, e));
    AGIR_TRY(agir_dev_copy(cx, a.x + NC, a.mid, NC * sizeof *a.x, e));
    return proj_fwd(d, l, AGIR_LORA_DOWN, a.x + NC, a.act, NULL, 1, e);
}

int agir_llama_dev_forward(agir_llama_dev *d, const int32_t *tokens, const int32_t *pos, const int32_t *seg,
                           const agir_rng *rng, agir_err *e) {
    const agir_llama *m = d->m;
    const agir_llama_config *c = &m->cfg;
    int N = d->B * d->T, C = c->dim, V = c->vocab, half = c->head_dim / 2;
    for (int n = 0; n < N; n++) {
        if (tokens[n] < 0 || tokens[n] >= V)
            return AGIR_BAD(e, "tokens[%d]: id %d outside the vocabulary [0, %d) (hint: tokenizer and model differ?)",
                            n, tokens[n], V);
        if (pos[n] < 0) return AGIR_BAD(e, "positions[%d]: %d is negative", n, pos[n]);
    }
    if (d->lora && d->lora->cfg.dropout > 0 && !rng) return AGIR_BUG(e, "LoRA dropout needs a random stream");
    if (rng) d->dropout_rng = *rng;
    float *tab = malloc((size_t)N * half * 2 * sizeof *tab);
    if (!tab) return AGIR_BUG(e, "out of memory for RoPE tables of %d tokens", N);
    agir_rope_table(tab, tab + (size_t)N * half, pos, m->inv_freq, N, c->head_dim);
    int rc = agir_dev_upload(d->ctx, d->cos_t, tab, (size_t)N * half * sizeof *tab, e);
    if (!rc) rc = agir_dev_upload(d->ctx, d->sin_t, tab + (size_t)N * half, (size_t)N * half * sizeof *tab, e);
    free(tab);
    AGIR_TRY(rc);
    AGIR_TRY(agir_dev_upload(d->ctx, d->tokens, tokens, (size_t)N * sizeof *tokens, e));
    AGIR_TRY(agir_dev_upload(d->ctx, d->seg, seg, (size_t)N * sizeof *seg, e));
    int n_new = V - m->v0;
    AGIR_TRY(agir_llm_embedding_fwd(d->ctx, d->res, d->tokens, d->embed, n_new ? d->embed + (size_t)m->v0 * C : NULL,
                                    m->v0, n_new, N, C, e));
    for (int l = 0; l < c->n_layer; l++) AGIR_TRY(forward_layer(d, l, e));
    AGIR_TRY(agir_llm_rmsnorm_fwd(d->ctx, d->lnf, d->rstdf, d->res + (size_t)c->n_layer * N * C, d->norm, N, C,
                                  c->eps, e));
    return agir_llm_linear_fwd(d->ctx, d->logits, V, d->lnf, d->head, NULL, N, C, V, 1, 0, e);
}

int agir_llama_dev_loss(agir_llama_dev *d, const int32_t *labels, int64_t n_valid_global, int want_grad, float *loss,
                        agir_err *e) {
    int N = d->B * d->T, V = d->m->cfg.vocab;
    for (int n = 0; n < N; n++)
        if (labels[n] < -1 || labels[n] >= V)
            return AGIR_BAD(e, "labels[%d]: %d is neither -1 (ignored) nor a token id below %d", n, labels[n], V);
    if (n_valid_global < 1) return AGIR_BAD(e, "loss: no trained token in the batch (hint: check the loss masks)");
    AGIR_TRY(agir_dev_upload(d->ctx, d->labels, labels, (size_t)N * sizeof *labels, e));
    AGIR_TRY(agir_llm_softmax_xent(d->ctx, want_grad ? d->logits : NULL, d->losses, d->loss, d->logits, d->labels, N,
                                   V, (float)(1.0 / n_valid_global), e));
    return agir_dev_download(d->ctx, loss, d->loss, sizeof *loss, e);
}

// dx += d(proj)/dx · dy; LoRA gradients of (l, t) accumulate in d->lora_g. The frozen W gets none.
static int proj_bwd(agir_llama_dev *d, int l, agir_lora_target t, agir_bf16 *dx, const agir_bf16 *dy,
                    const agir_bf16 *x, agir_err *e) {
    int dims[AGIR_LORA_NTARGET][2];
    agir_llama_lora_dims(&d->m->cfg, dims);
    int N = d->B * d->T, in = dims[t][0], out = dims[t][1];
    const agir_bf16 *W = d->layers[l].t[AGIR_LLAMA_W + t];
    AGIR_TRY(agir_llm_linear_bwd(d->ctx, dx, NULL, NULL, dy, out, x, W, N, in, out, 1, e));
    const agir_lora_mat *lm = adapted(d, l, t);
    if (!lm) return 0;
    int r = d->lora->cfg.rank, i = l * AGIR_LORA_NTARGET + t, drop = d->lora->cfg.dropout > 0;
    const agir_bf16 *A = d->lora_w + lora_off(d, lm->A), *Bm = d->lora_w + lora_off(d, lm->B);
    float *gA = d->lora_g + lora_off(d, lm->A), *gB = d->lora_g + lora_off(d, lm->B);
    const agir_bf16 *u = drop ? d->lora_u[i] : x;
    // h already carries s, so dB = dyᵀ h; dh = s · dy B.
    AGIR_TRY(agir_llm_linear_bwd(d->ctx, NULL, gB, NULL, dy, out, d->lora_h[i], Bm, N, r, out, 1, e));
    AGIR_TRY(agir_dev_zero(d->ctx, d->dh, (size_t)N * r * sizeof *d->dh, e));
    AGIR_TRY(agir_llm_linear_bwd(d->ctx, d->dh, NULL, NULL, dy, out, d->lora_h[i], Bm, N, r, out, d->lora->scale, e));
    if (!drop) return agir_llm_linear_bwd(d->ctx, dx, gA, NULL, d->dh, r, u, A, N, in, r, 1, e);
    AGIR_TRY(agir_dev_zero(d->ctx, d->du, (size_t)N * in * sizeof *d->du, e));
    AGIR_TRY(agir_llm_linear_bwd(d->ctx, d->du, gA, NULL, d->dh, r, u, A, N, in, r, 1, e));
    agir_rng rs;
    agir_rng_child(&d->dropout_rng, (uint64_t)i, &rs);
    return agir_llm_dropout(d->ctx, dx, d->du, N, in, d->lora->cfg.dropout, &rs, 1, e);
}

static int zero(const agir_llama_dev *d, agir_bf16 *p, size_t n, agir_err *e) {
    return agir_dev_zero(d->ctx, p, n * sizeof *p, e);
}

static int backward_layer(agir_llama_dev *d, int l, agir_err *e) {
    const agir_llama_config *c = &d->m->cfg;
    agir_bf16 *const *w = d->layers[l].t;
    const agir_ctx *cx = d->ctx;
    int N = d->B * d->T, C = c->dim, D = c->head_dim, H = c->n_head, KVH = c->n_kv_head;
    size_t NC = (size_t)N * C, NHD = (size_t)N * H * D, NKD = (size_t)N * KVH * D, NF = (size_t)N * c->ffn;
    const layer_acts a = layer_at(d, l);
    // MLP block: res[l+1] = mid + down(swiglu(gate(ln2), up(ln2)))
    AGIR_TRY(zero(d, d->dact, NF, e));
    AGIR_TRY(proj_bwd(d, l, AGIR_LORA_DOWN, d->dact, d->dres, a.act, e));
    AGIR_TRY(zero(d, d->dgate, NF, e));
    AGIR_TRY(zero(d, d->dup, NF, e));
    AGIR_TRY(agir_llm_swiglu_bwd(cx, d->dgate, d->dup, d->dact, a.gate, a.up, NF, e));
    AGIR_TRY(zero(d, d->dtmp, NC, e));
    AGIR_TRY(proj_bwd(d, l, AGIR_LORA_GATE, d->dtmp, d->dgate, a.ln2, e));
    AGIR_TRY(proj_bwd(d, l, AGIR_LORA_UP, d->dtmp, d->dup, a.ln2, e));
    AGIR_TRY(agir_llm_rmsnorm_bwd(cx, d->dres, NULL, d->dtmp, a.mid, w[AGIR_LLAMA_MLP_NORM], a.rstd2, N, C, e));
    // attention block: mid = res[l] + o(attention(rope(q(ln1)), rope(k(ln1)), v(ln1)))
    AGIR_TRY(zero(d, d->dao, NHD, e));
    AGIR_TRY(proj_bwd(d, l, AGIR_LORA_O, d->dao, d->dres, a.ao, e));
    AGIR_TRY(zero(d, d->dq, NHD, e));
    AGIR_TRY(zero(d, d->dk, NKD, e));
    AGIR_TRY(zero(d, d->dv, NKD, e));
    AGIR_TRY(agir_llm_attention_bwd(cx, d->dq, d->dk, d->dv, d->delta, d->dao, a.ao, a.lse, a.q, a.k, a.v, d->seg, d->B,
                                    d->T, H, KVH, D, e));
    AGIR_TRY(agir_llm_rope(cx, d->dq, d->cos_t, d->sin_t, N, H, D, 1, e));
    AGIR_TRY(agir_llm_rope(cx, d->dk, d->cos_t, d->sin_t, N, KVH, D, 1, e));
    AGIR_TRY(zero(d, d->dtmp, NC, e));
    AGIR_TRY(proj_bwd(d, l, AGIR_LORA_Q, d->dtmp, d->dq, a.ln1, e));
    AGIR_TRY(proj_bwd(d, l, AGIR_LORA_K, d->dtmp, d->dk, a.ln1, e));
    AGIR_TRY(proj_bwd(d, l, AGIR_LORA_V, d->dtmp, d->dv, a.ln1, e));
    return agir_llm_rmsnorm_bwd(cx, d->dres, NULL, d->dtmp, a.x, w[AGIR_LLAMA_ATTN_NORM], a.rstd1, N, C, e);
}

int agir_llama_dev_backward(agir_llama_dev *d, agir_err *e) {
    const agir_llama *m = d->m;
    const agir_llama_config *c = &m->cfg;
    int N = d->B * d->T, C = c->dim, V = c->vocab, n_new = V - m->v0;
    size_t NC = (size_t)N * C;
    const agir_bf16 *dlogits = d->logits;
    AGIR_TRY(zero(d, d->dtmp, NC, e));
    AGIR_TRY(agir_llm_linear_bwd(d->ctx, d->dtmp, NULL, NULL, dlogits, V, d->lnf, d->head, N, C, V, 1, e));
    // the new head rows (the new embedding rows when tied) get the gradient of their logit columns
    if (n_new)
        AGIR_TRY(agir_llm_linear_bwd(d->ctx, NULL, c->tied ? d->g_embed : d->g_head, NULL, dlogits + m->v0, V, d->lnf,
                                     d->head + (size_t)m->v0 * C, N, C, n_new, 1, e));
    AGIR_TRY(zero(d, d->dres, NC, e));
    AGIR_TRY(agir_llm_rmsnorm_bwd(d->ctx, d->dres, NULL, d->dtmp, d->res + (size_t)c->n_layer * NC, d->norm, d->rstdf,
                                  N, C, e));
    for (int l = c->n_layer - 1; l >= 0; l--) AGIR_TRY(backward_layer(d, l, e));
    if (!n_new) return 0;
    return agir_llm_embedding_bwd(d->ctx, NULL, d->g_embed, d->dres, d->tokens, m->v0, n_new, N, C, e);
}

int agir_llama_dev_download_grads(const agir_llama_dev *d, agir_lora *lora_grad, agir_llama_grads *g, agir_err *e) {
    const agir_llama *m = d->m;
    size_t n_new = (size_t)(m->cfg.vocab - m->v0) * m->cfg.dim;
    if (d->lora) {
        if (!lora_grad || lora_grad->n_params != d->lora->n_params)
            return AGIR_BUG(e, "llama_dev: LoRA gradient layout differs from the adapter's");
        AGIR_TRY(agir_dev_download(d->ctx, lora_grad->mem, d->lora_g, d->lora->n_params * sizeof(float), e));
    }
    if (!n_new) return 0;
    AGIR_TRY(agir_dev_download(d->ctx, g->new_embed, d->g_embed, n_new * sizeof(float), e));
    return d->g_head ? agir_dev_download(d->ctx, g->new_head, d->g_head, n_new * sizeof(float), e) : 0;
}
