// LoRA adapter storage, initialisation and its forward/backward on the CPU (see lora.h).
#include "models/lora.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/llm_ops.h"

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

// dst (+)= src · keep / (1 - p), keep drawn per element from row n's child stream. Forward applies
// it to x; backward applies the very same mask to the gradient.
static void dropout_rows(const agir_rng *rng, float p, const float *src, float *dst, int N, int in, int accumulate) {
    float keep_scale = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static) if ((size_t)N * in >= AGIR_CPU_PAR_MIN)
    for (int n = 0; n < N; n++) {
        agir_rng r;
        agir_rng_child(rng, (uint64_t)n, &r);
        for (int i = 0; i < in; i++) {
            size_t k = (size_t)n * in + i;
            float v = agir_rng_uniform(&r) >= p ? src[k] * keep_scale : 0.0f;
            dst[k] = accumulate ? dst[k] + v : v;
        }
    }
}

void agir_lora_fwd(const agir_lora *l, const agir_lora_mat *m, agir_lora_act *a, float *y, const float *x, int N,
                   const agir_rng *rng) {
    int r = l->cfg.rank;
    const float *u = x;
    if (l->cfg.dropout > 0) {
        dropout_rows(rng, l->cfg.dropout, x, a->u, N, m->in, 0);
        u = a->u;
    }
    agir_linear_fwd(a->h, r, u, m->A, NULL, N, m->in, r, 0.0f);
    for (size_t k = 0; k < (size_t)N * r; k++) a->h[k] *= l->scale;
    agir_linear_fwd(y, m->out, a->h, m->B, NULL, N, r, m->out, 1.0f);
}

void agir_lora_bwd(const agir_lora *l, const agir_lora_mat *m, const agir_lora_mat *g, const agir_lora_act *a,
                   float *dx, const float *dy, const float *x, int N, const agir_rng *rng, float *dh, float *du) {
    int r = l->cfg.rank;
    int drop = l->cfg.dropout > 0;
    const float *u = drop ? a->u : x;
    memset(dh, 0, sizeof(float) * (size_t)N * r);
    agir_linear_bwd(dh, g->B, NULL, dy, m->out, a->h, m->B, N, r, m->out);  // h already carries s
    for (size_t k = 0; k < (size_t)N * r; k++) dh[k] *= l->scale;
    if (!drop) {
        agir_linear_bwd(dx, g->A, NULL, dh, r, u, m->A, N, m->in, r);
        return;
    }
    memset(du, 0, sizeof(float) * (size_t)N * m->in);
    agir_linear_bwd(du, g->A, NULL, dh, r, u, m->A, N, m->in, r);
    dropout_rows(rng, l->cfg.dropout, du, dx, N, m->in, 1);
}
