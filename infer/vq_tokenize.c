// Whole motions through a trained tokenizer: exact-length encoding with edge padding, decoding of
// codes to features and joints, and tokenizing a dataset in length order (vq_tokenize.h).
#include "infer/vq_tokenize.h"

#include <stdlib.h>
#include <string.h>

#include "datasets/resample.h"
#include "kernels/vq_ops.h"

int agir_vq_coder_init(agir_vq_coder *c, const agir_vq_tokenizer *t, const agir_skeleton *sk, agir_err *e) {
    memset(c, 0, sizeof *c);
    c->tok = t;
    AGIR_TRY(agir_motion_layout_init(&c->layout, sk, e));
    if (c->layout.dim != t->meta.cfg.in_dim)
        return AGIR_BAD(e, "%s: the tokenizer reads %d features per frame, skeleton %s gives %d (hint: use a tokenizer "
                        "trained on this skeleton)", t->ckpt_dir, t->meta.cfg.in_dim, sk->name, c->layout.dim);
    return agir_ctx_open(&c->ctx, AGIR_DEV_CPU, e);
}

void agir_vq_coder_free(agir_vq_coder *c) {
    agir_vqvae_free(&c->m);
    free(c->x);
    agir_ctx_close(&c->ctx);
    memset(c, 0, sizeof *c);
}

// Sizes the model for T frames (a multiple of f), copying the trained weights into it.
static int fit(agir_vq_coder *c, int64_t T, agir_err *e) {
    if (c->m.T == T) return AGIR_OK;
    const agir_vqvae *src = &c->tok->model;
    if (T > (1 << 20))
        return AGIR_BAD(e, "a motion of %lld frames is too long for the tokenizer (hint: split the sequence)",
                        (long long)T);
    agir_vqvae_free(&c->m);
    free(c->x);
    c->x = NULL;
    AGIR_TRY(agir_vqvae_init(&c->m, &src->cfg, 1, (int)T, 0, e));
    memcpy(c->m.params, src->params, src->n_params * sizeof(float));
    memcpy(c->m.codebook, src->codebook, (size_t)src->cfg.n_codes * src->cfg.code_dim * sizeof(float));
    c->m.codebook_ready = 1;
    c->x = malloc((size_t)T * src->cfg.in_dim * sizeof *c->x);
    if (!c->x) return AGIR_BUG(e, "out of memory for a motion of %lld frames", (long long)T);
    return AGIR_OK;
}

int agir_vq_encode(agir_vq_coder *c, const float *feat, int64_t n, int32_t *codes, agir_err *e) {
    if (n < 1) return AGIR_BUG(e, "agir_vq_encode: %lld rows", (long long)n);
    const agir_vq_tokenizer *t = c->tok;
    int D = t->meta.cfg.in_dim;
    int64_t nq = agir_vq_codes_for(t, n), T = nq * agir_vq_frames_per_code(t);
    AGIR_TRY(fit(c, T, e));
    memcpy(c->x, feat, (size_t)n * D * sizeof(float));
    agir_motion_normalize(c->x, n, D, t->mean, t->std);
    for (int64_t r = n; r < T; r++) memcpy(c->x + r * D, c->x + (n - 1) * D, (size_t)D * sizeof(float));
    AGIR_TRY(agir_vqvae_encode(&c->ctx, &c->m, c->x, e));
    AGIR_TRY(agir_vqvae_quantize(&c->ctx, &c->m, 0, NULL, NULL, e));
    memcpy(codes, c->m.idx, (size_t)nq * sizeof *codes);
    return AGIR_OK;
}

// z: (1, m.T / f, D) latents of the model's current size → feat: (m.T, in_dim) de-normalised.
static int decode_latents(agir_vq_coder *c, const float *z, float *feat, agir_err *e) {
    const agir_vq_tokenizer *t = c->tok;
    AGIR_TRY(agir_vqvae_decode(&c->ctx, &c->m, z, e));
    memcpy(feat, c->m.out, (size_t)c->m.T * t->meta.cfg.in_dim * sizeof(float));
    agir_motion_denormalize(feat, c->m.T, t->meta.cfg.in_dim, t->mean, t->std);
    return AGIR_OK;
}

int agir_vq_decode(agir_vq_coder *c, const int32_t *codes, int64_t n, float *feat, agir_err *e) {
    const agir_vq_tokenizer *t = c->tok;
    const agir_vqvae_config *cfg = &t->meta.cfg;
    if (n < 1) return AGIR_BAD(e, "no codes to decode (hint: the sequence is empty)");
    for (int64_t i = 0; i < n; i++)
        if (codes[i] < 0 || codes[i] >= cfg->n_codes)
            return AGIR_BAD(e, "code %d at position %lld lies outside the codebook of %d (hint: the codes come from "
                            "another tokenizer)", codes[i], (long long)i, cfg->n_codes);
    int64_t T = n * agir_vq_frames_per_code(t);
    AGIR_TRY(fit(c, T, e));
    memcpy(c->m.idx, codes, (size_t)n * sizeof *codes);
    AGIR_TRY(agir_op_vq_gather(&c->ctx, c->m.codebook, c->m.idx, (int)n, cfg->n_codes, cfg->code_dim, c->m.zq, e));
    return decode_latents(c, c->m.zq, feat, e);
}

int agir_vq_reconstruct(agir_vq_coder *c, const float *feat, int64_t n, int quantize, int32_t *codes, float *rec,
                        agir_err *e) {
    AGIR_TRY(agir_vq_encode(c, feat, n, codes, e));
    return decode_latents(c, quantize ? c->m.zq : c->m.ze, rec, e);
}

int agir_vq_decode_joints(agir_vq_coder *c, const int32_t *codes, int64_t n, float **joints, int64_t *frames,
                          agir_err *e) {
    *joints = NULL;
    *frames = 0;
    int64_t T = n * agir_vq_frames_per_code(c->tok);
    float *feat = malloc((size_t)(T > 0 ? T : 1) * c->layout.dim * sizeof *feat);
    float *out = malloc((size_t)(T > 0 ? T : 1) * c->layout.n_joints * 3 * sizeof *out);
    int rc = feat && out ? AGIR_OK : AGIR_BUG(e, "out of memory decoding %lld codes", (long long)n);
    if (!rc) rc = agir_vq_decode(c, codes, n, feat, e);
    if (!rc) rc = agir_motion_decode(&c->layout, &c->tok->meta.motion, feat, T, out, e);
    free(feat);
    if (rc) {
        free(out);
        return rc;
    }
    *joints = out;
    *frames = T;
    return AGIR_OK;
}

typedef struct by_len {
    int64_t frames, seq;  // frames at the model's rate
} by_len;

static int cmp_len(const void *a, const void *b) {
    const by_len *p = a, *q = b;
    if (p->frames != q->frames) return (p->frames > q->frames) - (p->frames < q->frames);
    return (p->seq > q->seq) - (p->seq < q->seq);
}

int agir_vq_length_order(const agir_vq_tokenizer *t, const agir_gait *g, const uint8_t *sel, int64_t *order,
                         int64_t *n, agir_err *e) {
    by_len *v = malloc((size_t)(g->n_seq ? g->n_seq : 1) * sizeof *v);
    if (!v) return AGIR_BUG(e, "out of memory ordering %lld sequences", (long long)g->n_seq);
    *n = 0;
    for (int64_t s = 0; s < g->n_seq; s++)
        if (!sel || sel[s]) v[(*n)++] = (by_len){agir_resample_len(g->seq[s].length, g->seq[s].fps, t->meta.motion.fps), s};
    if (*n) qsort(v, (size_t)*n, sizeof *v, cmp_len);
    for (int64_t i = 0; i < *n; i++) order[i] = v[i].seq;
    free(v);
    return AGIR_OK;
}

// Codes of every sequence, encoded in length order; codes[s]: (n[s],) malloc'ed.
static int encode_all(agir_vq_coder *c, const agir_gait *g, const agir_log *log, int32_t **codes, int64_t *n,
                      agir_err *e) {
    int64_t *order = malloc((size_t)(g->n_seq ? g->n_seq : 1) * sizeof *order), n_sel = 0;
    int rc = order ? agir_vq_length_order(c->tok, g, NULL, order, &n_sel, e)
                   : AGIR_BUG(e, "out of memory ordering %lld sequences", (long long)g->n_seq);
    agir_progress p;
    agir_progress_start(&p, log, "tokenize", n_sel);
    for (int64_t i = 0; i < n_sel && !rc; i++) {
        int64_t s = order[i], rows;
        float *feat = NULL;
        rc = agir_motion_from_seq(g, s, &c->layout, &c->tok->meta.motion, &feat, &rows, e);
        if (!rc) {
            n[s] = agir_vq_codes_for(c->tok, rows);
            codes[s] = malloc((size_t)n[s] * sizeof **codes);
            rc = codes[s] ? agir_vq_encode(c, feat, rows, codes[s], e) : AGIR_BUG(e, "out of memory for codes");
        }
        free(feat);
        agir_progress_add(&p, 1);
    }
    agir_progress_finish(&p);
    free(order);
    return rc;
}

int agir_vq_tokenize_dataset(agir_vq_coder *c, const agir_gait *g, const agir_log *log, agir_tokens *out,
                             agir_err *e) {
    size_t ns = (size_t)(g->n_seq ? g->n_seq : 1);
    int32_t **codes = calloc(ns, sizeof *codes);
    int64_t *n = calloc(ns, sizeof *n);
    int rc = codes && n ? encode_all(c, g, log, codes, n, e) : AGIR_BUG(e, "out of memory for codes");
    for (int64_t s = 0; s < g->n_seq && !rc; s++) rc = agir_tokens_append(out, &g->seq[s], codes[s], n[s], e);
    for (int64_t s = 0; codes && s < g->n_seq; s++) free(codes[s]);
    free(codes);
    free(n);
    return rc;
}
