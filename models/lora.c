// LoRA adapter storage, initialisation, and its forward/backward over the ops of kernels/llm_ops.h
// on either backend (see lora.h).
#include "models/lora.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/llm_ops.h"

static const char *const TARGET_NAMES[AGIR_LORA_NTARGET] = {"q", "k", "v", "o", "gate", "up", "down"};

const char *agir_lora_target_name(agir_lora_target t) {
    return (unsigned)t < AGIR_LORA_NTARGET ? TARGET_NAMES[t] : NULL;
}

int agir_lora_parse_targets(const char *list, const char *what, unsigned *bits, agir_err *e) {
    *bits = 0;
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        int found = -1;
        for (int t = 0; t < AGIR_LORA_NTARGET; t++)
            if (strlen(TARGET_NAMES[t]) == len && !strncmp(p, TARGET_NAMES[t], len)) found = t;
        if (found < 0)
            return AGIR_BAD(e, "%s: unknown LoRA target '%.*s' (hint: use q, k, v, o, gate, up, down)", what, (int)len,
                            p);
        *bits |= 1u << found;
        p += len;
        if (*p == ',') p++;
    }
    if (!*bits) return AGIR_BAD(e, "%s: no LoRA target given (hint: e.g. q,v)", what);
    return 0;
}

int agir_lora_alloc(agir_lora *l, const agir_lora_cfg *cfg, int n_layer, const int dims[AGIR_LORA_NTARGET][2],
                    agir_err *e) {
    memset(l, 0, sizeof *l);
    if (cfg->rank < 1 || cfg->rank > 4096) return AGIR_BAD(e, "lora rank: %d out of range (hint: 1 to 4096)", cfg->rank);
    if (!(cfg->dropout >= 0 && cfg->dropout < 1))
        return AGIR_BAD(e, "lora dropout: %g out of range (hint: 0 <= dropout < 1)", cfg->dropout);
    if (!(cfg->alpha > 0 && isfinite(cfg->alpha))) return AGIR_BAD(e, "lora alpha: %g must be positive", cfg->alpha);
    l->cfg = *cfg;
    l->scale = cfg->rslora ? cfg->alpha / sqrtf((float)cfg->rank) : cfg->alpha / (float)cfg->rank;
    l->n_layer = n_layer;
    size_t per_layer = 0;
    for (int t = 0; t < AGIR_LORA_NTARGET; t++)
        if (cfg->targets & (1u << t)) per_layer += (size_t)cfg->rank * ((size_t)dims[t][0] + dims[t][1]);
    l->n_params = per_layer * (size_t)n_layer;
    l->m = calloc((size_t)n_layer * AGIR_LORA_NTARGET, sizeof *l->m);
    l->mem = calloc(l->n_params ? l->n_params : 1, sizeof(float));
    if (!l->m || !l->mem) {
        agir_lora_free(l);
        return AGIR_BUG(e, "out of memory for %zu LoRA parameters", l->n_params);
    }
    float *p = l->mem;
    for (int i = 0; i < n_layer; i++)
        for (int t = 0; t < AGIR_LORA_NTARGET; t++) {
            agir_lora_mat *m = agir_lora_at(l, i, (agir_lora_target)t);
            m->in = dims[t][0];
            m->out = dims[t][1];
            if (!(cfg->targets & (1u << t))) continue;
            m->A = p;
            p += (size_t)cfg->rank * m->in;
            m->B = p;
            p += (size_t)cfg->rank * m->out;
        }
    return 0;
}

void agir_lora_free(agir_lora *l) {
    free(l->m);
    free(l->mem);
    memset(l, 0, sizeof *l);
}

void agir_lora_init(agir_lora *l, const agir_rng *rng) {
    for (int i = 0; i < l->n_layer; i++)
        for (int t = 0; t < AGIR_LORA_NTARGET; t++) {
            agir_lora_mat *m = agir_lora_at(l, i, (agir_lora_target)t);
            if (!m->A) continue;
            agir_rng r;
            agir_rng_child(rng, (uint64_t)i * AGIR_LORA_NTARGET + t, &r);
            // PEFT: kaiming_uniform_(a = sqrt(5)) gives bound sqrt(6 / ((1 + 5) · fan_in)).
            double bound = 1.0 / sqrt((double)m->in);
            for (size_t k = 0; k < (size_t)l->cfg.rank * m->in; k++) m->A[k] = (float)agir_rng_range(&r, -bound, bound);
            memset(m->B, 0, sizeof(float) * (size_t)l->cfg.rank * m->out);
        }
}

int agir_lora_fwd(const agir_ctx *c, const agir_lora *l, const agir_lora_view *v, agir_lora_act *a, void *y,
                  const void *x, int N, const agir_rng *rng, agir_err *e) {
    int r = l->cfg.rank;
    const void *u = x;
    if (l->cfg.dropout > 0 && rng) {
        AGIR_TRY(agir_op_dropout(c, a->u, x, N, v->in, l->cfg.dropout, rng, 0, e));
        u = a->u;
    }
    // h = s · A u, then y += B h
    AGIR_TRY(agir_op_linear_fwd(c, a->h, r, u, v->A, NULL, v->wdt, N, v->in, r, l->scale, 0, e));
    return agir_op_linear_fwd(c, y, v->out, a->h, v->B, NULL, v->wdt, N, r, v->out, 1, 1, e);
}

int agir_lora_bwd(const agir_ctx *c, const agir_lora *l, const agir_lora_view *v, const agir_lora_act *a, void *dx,
                  const void *dy, const void *x, int N, const agir_rng *rng, void *dh, void *du, agir_err *e) {
    int r = l->cfg.rank;
    size_t es = agir_ftype_size(agir_act_ftype(c));
    // h already carries s, so dB += dyᵀ h; dh = s · dy B.
    AGIR_TRY(agir_op_linear_bwd(c, NULL, v->gB, NULL, dy, v->out, a->h, v->B, v->wdt, N, r, v->out, 1, e));
    AGIR_TRY(agir_dev_zero(c, dh, (size_t)N * r * es, e));
    AGIR_TRY(agir_op_linear_bwd(c, dh, NULL, NULL, dy, v->out, a->h, v->B, v->wdt, N, r, v->out, l->scale, e));
    if (l->cfg.dropout <= 0) return agir_op_linear_bwd(c, dx, v->gA, NULL, dh, r, x, v->A, v->wdt, N, v->in, r, 1, e);
    // dA += dhᵀ u with u = dropout(x) made again from the same stream (the same masks as the forward's),
    // so no matrix keeps its own u between the passes.
    AGIR_TRY(agir_op_dropout(c, du, x, N, v->in, l->cfg.dropout, rng, 0, e));
    AGIR_TRY(agir_op_linear_bwd(c, NULL, v->gA, NULL, dh, r, du, v->A, v->wdt, N, v->in, r, 1, e));
    // The input gradient goes back through the same mask: du = dh A, dx += dropout(du).
    AGIR_TRY(agir_dev_zero(c, du, (size_t)N * v->in * es, e));
    AGIR_TRY(agir_op_linear_bwd(c, du, NULL, NULL, dh, r, x, v->A, v->wdt, N, v->in, r, 1, e));
    return agir_op_dropout(c, dx, du, N, v->in, l->cfg.dropout, rng, 1, e);
}
