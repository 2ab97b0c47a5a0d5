// Backward passes of the Llama CPU kernels (kernels/cpu/llm_ops.c) and of LoRA (models/lora.c)
// against central finite differences of their own forward passes, on small shapes.
//
// Each check takes the scalar L = Σ w·y with fixed random weights w, so the backward is fed dy = w,
// and compares every analytic input gradient with (L(x + h) − L(x − h)) / (2h), accumulated in
// double. The kernels compute in float, hence h = 1e-2 and a tolerance far below the size of the
// errors a missing or wrong term produces (order 1 relative).
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "kernels/llm_ops.h"
#include "models/lora.h"
#include "testutil.h"

// Every op runs through the public interface on a CPU context (kernels/llm_ops.h).
static const agir_ctx CPU = {.dev = AGIR_DEV_CPU};
#define OP(call)                                  \
    do {                                          \
        agir_err op_err_ = {0};                   \
        agir_err *E = &op_err_;                   \
        if (call) fail_msg("%s", op_err_.msg);    \
    } while (0)

typedef struct probe probe;
struct probe {
    void (*fwd)(probe *p);  // recomputes out from the inputs
    float *out, *w;
    size_t nout;
};

static double objective(probe *p) {
    p->fwd(p);
    double s = 0;
    for (size_t i = 0; i < p->nout; i++) s += (double)p->w[i] * p->out[i];
    return s;
}

// Compares grad (n) with finite differences over x (n); fails naming the op and the element.
static void check_grad(probe *p, const char *what, float *x, size_t n, const float *grad) {
    const float h = 1e-2f;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        float x0 = x[i], xp = x0 + h, xm = x0 - h;
        x[i] = xp;
        double lp = objective(p);
        x[i] = xm;
        double lm = objective(p);
        x[i] = x0;
        double fd = (lp - lm) / ((double)xp - xm);
        double err = fabs(fd - grad[i]) / (2e-3 + 1e-2 * fabs(fd));
        if (err > 1) fail_msg("%s: d/dx[%zu] analytic %.6g, finite difference %.6g", what, i, grad[i], fd);
        worst = fmax(worst, err);
    }
    print_message("%-22s %4zu elements, worst error %.3f of tolerance\n", what, n, worst);
}

static float *rnd(size_t n, uint64_t stream, double scale) {
    float *x = malloc(n * sizeof(float));
    assert_non_null(x);
    agir_rng r;
    agir_rng_init(&r, 4242, stream);
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * agir_rng_normal(&r));
    return x;
}

static float *zeros(size_t n) {
    float *x = calloc(n, sizeof(float));
    assert_non_null(x);
    return x;
}

// ---- linear ----
enum { LN = 3, LC = 5, LOC = 4, LLD = 6 };
typedef struct lin_case {
    probe p;
    float *x, *W, *b;
} lin_case;
static void lin_fwd(probe *p) {
    lin_case *c = (lin_case *)p;
    memset(p->out, 0, sizeof(float) * p->nout);
    OP(agir_op_linear_fwd(&CPU, p->out, LLD, c->x, c->W, c->b, AGIR_F32, LN, LC, LOC, 1, 0, E));
}

static void linear_grads(void **state) {
    (void)state;
    lin_case c = {.p = {lin_fwd, zeros(LN * LLD), rnd(LN * LLD, 1, 1), LN * LLD}};
    for (int n = 0; n < LN; n++) c.p.w[n * LLD + 4] = c.p.w[n * LLD + 5] = 0;  // padding columns
    c.x = rnd(LN * LC, 2, 1), c.W = rnd(LOC * LC, 3, 1), c.b = rnd(LOC, 4, 1);
    float *dx = zeros(LN * LC), *dW = zeros(LOC * LC), *db = zeros(LOC);
    OP(agir_op_linear_bwd(&CPU, dx, dW, db, c.p.w, LLD, c.x, c.W, AGIR_F32, LN, LC, LOC, 1, E));
    check_grad(&c.p, "linear dx", c.x, LN * LC, dx);
    check_grad(&c.p, "linear dW", c.W, LOC * LC, dW);
    check_grad(&c.p, "linear db", c.b, LOC, db);
    free(dx), free(dW), free(db), free(c.x), free(c.W), free(c.b), free(c.p.out), free(c.p.w);
}

// ---- rmsnorm ----
enum { RN = 3, RC = 7 };
typedef struct rms_case {
    probe p;
    float *x, *wt, rstd[RN];
} rms_case;
static void rms_fwd(probe *p) {
    rms_case *c = (rms_case *)p;
    OP(agir_op_rmsnorm_fwd(&CPU, p->out, c->rstd, c->x, c->wt, AGIR_F32, RN, RC, 1e-5f, E));
}

static void rmsnorm_grads(void **state) {
    (void)state;
    rms_case c = {.p = {rms_fwd, zeros(RN * RC), rnd(RN * RC, 5, 1), RN * RC}};
    c.x = rnd(RN * RC, 6, 1), c.wt = rnd(RC, 7, 1);
    rms_fwd(&c.p);
    float *dx = zeros(RN * RC), *dw = zeros(RC);
    OP(agir_op_rmsnorm_bwd(&CPU, dx, dw, c.p.w, c.x, c.wt, AGIR_F32, c.rstd, RN, RC, E));
    check_grad(&c.p, "rmsnorm dx", c.x, RN * RC, dx);
    check_grad(&c.p, "rmsnorm dw", c.wt, RC, dw);
    free(dx), free(dw), free(c.x), free(c.wt), free(c.p.out), free(c.p.w);
}

// ---- rope ----
enum { PN = 3, PH = 2, PD = 8 };
typedef struct rope_case {
    probe p;
    float *x, cos_t[PN * PD / 2], sin_t[PN * PD / 2];
} rope_case;
static void rope_fwd(probe *p) {
    rope_case *c = (rope_case *)p;
    memcpy(p->out, c->x, sizeof(float) * PN * PH * PD);
    OP(agir_op_rope(&CPU, p->out, c->cos_t, c->sin_t, PN, PH, PD, 0, E));
}

static void rope_grads(void **state) {
    (void)state;
    const agir_rope_cfg cfgs[2] = {{.theta = 10000}, {.theta = 500000, .factor = 8, .low_freq_factor = 1,
                                                      .high_freq_factor = 4, .original_max_pos = 16}};
    for (int k = 0; k < 2; k++) {
        rope_case c = {.p = {rope_fwd, zeros(PN * PH * PD), rnd(PN * PH * PD, 8, 1), PN * PH * PD}};
        c.x = rnd(PN * PH * PD, 9, 1);
        float inv_freq[PD / 2];
        const int32_t pos[PN] = {0, 5, 17};
        agir_rope_inv_freq(inv_freq, PD, &cfgs[k]);
        agir_rope_table(c.cos_t, c.sin_t, pos, inv_freq, PN, PD);
        float *dx = malloc(sizeof(float) * PN * PH * PD);
        memcpy(dx, c.p.w, sizeof(float) * PN * PH * PD);
        OP(agir_op_rope(&CPU, dx, c.cos_t, c.sin_t, PN, PH, PD, 1, E));
        check_grad(&c.p, k ? "rope llama3 dx" : "rope dx", c.x, PN * PH * PD, dx);
        free(dx), free(c.x), free(c.p.out), free(c.p.w);
    }
}

// Llama 3 scaling by hand for the (theta, D) above: wavelengths above 16 / 1 are divided by 8,
// below 16 / 4 kept, and in between interpolated with s = (16 / wavelength − 1) / (4 − 1).
static void rope_llama3_frequencies(void **state) {
    (void)state;
    agir_rope_cfg cfg = {.theta = 500000, .factor = 8, .low_freq_factor = 1, .high_freq_factor = 4,
                         .original_max_pos = 16};
    float got[PD / 2];
    agir_rope_inv_freq(got, PD, &cfg);
    for (int i = 0; i < PD / 2; i++) {
        double f = pow(500000.0, -2.0 * i / PD), wl = 2 * M_PI / f, want = f;
        if (wl > 16) want = f / 8;
        else if (wl >= 4) {
            double s = (16 / wl - 1) / 3;
            want = (1 - s) * f / 8 + s * f;
        }
        assert_true(fabs(got[i] - want) <= 1e-6 * want);
    }
    assert_true(got[0] < 1.0f);  // i = 0 (wavelength 2π) lies in the interpolated band
}

// ---- attention ----
enum { AB = 2, AT = 5, AH = 4, AKV = 2, AD = 4 };
typedef struct att_case {
    probe p;
    float *q, *k, *v, att[AB * AH * AT * AT];
    int32_t seg[AB * AT];
} att_case;
static void att_fwd(probe *p) {
    att_case *c = (att_case *)p;
    OP(agir_op_attention_fwd(&CPU, p->out, c->att, c->q, c->k, c->v, c->seg, AB, AT, 0, AH, AKV, AD, E));
}

static void attention_grads(void **state) {
    (void)state;
    size_t nq = AB * AT * AH * AD, nk = AB * AT * AKV * AD;
    att_case c = {.p = {att_fwd, zeros(nq), rnd(nq, 10, 1), nq}, .seg = {0, 0, 1, 1, 1, 3, 3, 3, 3, 3}};
    c.q = rnd(nq, 11, 1), c.k = rnd(nk, 12, 1), c.v = rnd(nk, 13, 1);
    att_fwd(&c.p);
    float *dq = zeros(nq), *dk = zeros(nk), *dv = zeros(nk), *datt = zeros(AB * AH * AT * AT);
    OP(agir_op_attention_bwd(&CPU, dq, dk, dv, datt, c.p.w, c.p.out, c.att, c.q, c.k, c.v, c.seg, AB, AT, AH, AKV, AD, E));
    check_grad(&c.p, "attention dq", c.q, nq, dq);
    check_grad(&c.p, "attention dk", c.k, nk, dk);
    check_grad(&c.p, "attention dv", c.v, nk, dv);
    // The block-diagonal mask: batch 0's second example (positions 2..4) never sees positions 0, 1.
    for (int h = 0; h < AH; h++)
        for (int i = 2; i < AT; i++)
            for (int j = 0; j < AT; j++) {
                float a = c.att[(h * AT + i) * AT + j];
                if (j < 2 || j > i) assert_true(a == 0.0f);
                else assert_true(a > 0.0f);
            }
    free(dq), free(dk), free(dv), free(datt), free(c.q), free(c.k), free(c.v), free(c.p.out), free(c.p.w);
}

// ---- swiglu ----
enum { SN = 17 };
typedef struct swi_case {
    probe p;
    float *g, *u;
} swi_case;
static void swi_fwd(probe *p) {
    swi_case *c = (swi_case *)p;
    OP(agir_op_swiglu_fwd(&CPU, p->out, c->g, c->u, SN, E));
}

static void swiglu_grads(void **state) {
    (void)state;
    swi_case c = {.p = {swi_fwd, zeros(SN), rnd(SN, 14, 1), SN}};
    c.g = rnd(SN, 15, 2), c.u = rnd(SN, 16, 1);
    float *dg = zeros(SN), *du = zeros(SN);
    OP(agir_op_swiglu_bwd(&CPU, dg, du, c.p.w, c.g, c.u, SN, E));
    check_grad(&c.p, "swiglu dgate", c.g, SN, dg);
    check_grad(&c.p, "swiglu dup", c.u, SN, du);
    free(dg), free(du), free(c.g), free(c.u), free(c.p.out), free(c.p.w);
}

// ---- embedding ----
enum { EN = 6, EC = 3, EV0 = 4, ENEW = 2 };
typedef struct emb_case {
    probe p;
    float *base, *extra;
    int32_t ids[EN];
} emb_case;
static void emb_fwd(probe *p) {
    emb_case *c = (emb_case *)p;
    OP(agir_op_embedding_fwd(&CPU, p->out, c->ids, c->base, c->extra, AGIR_F32, EV0, ENEW, EN, EC, E));
}

static void embedding_grads(void **state) {
    (void)state;
    emb_case c = {.p = {emb_fwd, zeros(EN * EC), rnd(EN * EC, 17, 1), EN * EC}, .ids = {5, 1, 4, 5, 0, 1}};
    c.base = rnd(EV0 * EC, 18, 1), c.extra = rnd(ENEW * EC, 19, 1);
    float *db = zeros(EV0 * EC), *dx = zeros(ENEW * EC);
    OP(agir_op_embedding_bwd(&CPU, db, dx, c.p.w, c.ids, EV0, ENEW, EN, EC, E));
    check_grad(&c.p, "embedding dbase", c.base, EV0 * EC, db);
    check_grad(&c.p, "embedding dextra", c.extra, ENEW * EC, dx);
    free(db), free(dx), free(c.base), free(c.extra), free(c.p.out), free(c.p.w);
}

// ---- fused softmax cross-entropy ----
enum { XN = 4, XV = 9 };
typedef struct xent_case {
    probe p;
    float *logits, loss;
    int32_t labels[XN];
} xent_case;
static void xent_fwd(probe *p) {
    xent_case *c = (xent_case *)p;
    double l;
    OP(agir_op_softmax_xent(&CPU, NULL, c->logits, c->labels, XN, XV, 1.0f / 3, NULL, &l, E));
    c->loss = (float)l;
    p->out = &c->loss;
}

static void softmax_xent_grads(void **state) {
    (void)state;
    static float one = 1.0f;
    xent_case c = {.p = {xent_fwd, NULL, &one, 1}, .labels = {3, -1, 0, 8}};
    c.logits = rnd(XN * XV, 20, 3);
    // The loss against a direct double computation: mean over the 3 valid rows of lse − x[label].
    double want = 0;
    for (int n = 0; n < XN; n++) {
        if (c.labels[n] < 0) continue;
        double s = 0;
        for (int i = 0; i < XV; i++) s += exp((double)c.logits[n * XV + i]);
        want += log(s) - c.logits[n * XV + c.labels[n]];
    }
    want /= 3;
    float *d = zeros(XN * XV);
    double got, again;
    OP(agir_op_softmax_xent(&CPU, d, c.logits, c.labels, XN, XV, 1.0f / 3, NULL, &got, E));
    assert_true(fabs(got - want) <= 1e-6 * fabs(want));
    for (int i = 0; i < XV; i++) assert_true(d[XV + i] == 0.0f);  // ignored row
    check_grad(&c.p, "softmax-xent dlogits", c.logits, XN * XV, d);
    // In place (dlogits = logits) gives the same loss and gradient.
    float *inplace = malloc(sizeof(float) * XN * XV);
    memcpy(inplace, c.logits, sizeof(float) * XN * XV);
    OP(agir_op_softmax_xent(&CPU, inplace, inplace, c.labels, XN, XV, 1.0f / 3, NULL, &again, E));
    assert_true(again == got);
    assert_memory_equal(inplace, d, sizeof(float) * XN * XV);
    free(inplace), free(d), free(c.logits);
}

// ---- LoRA with dropout ----
enum { ON = 5, OIN = 6, OOUT = 4 };
typedef struct lora_case {
    probe p;
    agir_lora l;
    agir_lora_act act;
    float *x;
    agir_rng rng;
} lora_case;
// Layer 0's target t of l (and its gradients in g) as the ops see it, fp32 weights.
static agir_lora_view view_of(const agir_lora *l, const agir_lora *g, agir_lora_target t) {
    const agir_lora_mat *m = agir_lora_at(l, 0, t);
    return (agir_lora_view){.A = m->A, .B = m->B, .gA = g ? agir_lora_at(g, 0, t)->A : NULL,
                            .gB = g ? agir_lora_at(g, 0, t)->B : NULL, .wdt = AGIR_F32, .in = m->in, .out = m->out};
}

static void lora_fwd_probe(probe *p) {
    lora_case *c = (lora_case *)p;
    memset(p->out, 0, sizeof(float) * p->nout);
    agir_lora_view v = view_of(&c->l, NULL, AGIR_LORA_Q);
    OP(agir_lora_fwd(&CPU, &c->l, &v, &c->act, p->out, c->x, ON, &c->rng, E));
}

static void lora_dropout_grads(void **state) {
    (void)state;
    agir_lora_cfg cfg = {.rank = 3, .alpha = 6, .dropout = 0.3f, .rslora = 1, .targets = 1u << AGIR_LORA_Q};
    int dims[AGIR_LORA_NTARGET][2] = {{OIN, OOUT}};
    lora_case c = {.p = {lora_fwd_probe, zeros(ON * OOUT), rnd(ON * OOUT, 21, 1), ON * OOUT}};
    agir_err e = {0};
    agir_lora g;
    assert_int_equal(agir_lora_alloc(&c.l, &cfg, 1, dims, &e), 0);
    assert_int_equal(agir_lora_alloc(&g, &cfg, 1, dims, &e), 0);
    assert_true(fabsf(c.l.scale - 6 / sqrtf(3)) < 1e-6f);
    agir_rng_init(&c.rng, 7, 1);
    agir_lora_init(&c.l, &c.rng);
    agir_lora_mat *m = agir_lora_at(&c.l, 0, AGIR_LORA_Q);
    for (int i = 0; i < OOUT * 3; i++) assert_true(m->B[i] == 0.0f);  // a fresh adapter is a no-op
    float bound = 1 / sqrtf(OIN);
    for (int i = 0; i < 3 * OIN; i++) assert_true(fabsf(m->A[i]) <= bound);
    float *b = rnd(OOUT * 3, 22, 1);
    memcpy(m->B, b, sizeof(float) * OOUT * 3);
    c.x = rnd(ON * OIN, 23, 1);
    c.act.u = zeros(ON * OIN), c.act.h = zeros(ON * 3);
    lora_fwd_probe(&c.p);
    int dropped = 0;
    for (int i = 0; i < ON * OIN; i++) dropped += ((const float *)c.act.u)[i] == 0.0f;
    assert_true(dropped > 0 && dropped < ON * OIN);
    float *dx = zeros(ON * OIN), *dh = zeros(ON * 3), *du = zeros(ON * OIN);
    agir_lora_view v = view_of(&c.l, &g, AGIR_LORA_Q);
    OP(agir_lora_bwd(&CPU, &c.l, &v, &c.act, dx, c.p.w, c.x, ON, &c.rng, dh, du, E));
    check_grad(&c.p, "lora dx (dropout)", c.x, ON * OIN, dx);
    check_grad(&c.p, "lora dA", m->A, 3 * OIN, agir_lora_at(&g, 0, AGIR_LORA_Q)->A);
    check_grad(&c.p, "lora dB", m->B, OOUT * 3, agir_lora_at(&g, 0, AGIR_LORA_Q)->B);
    free(dx), free(dh), free(du), free(b), free(c.x), free(c.act.u), free(c.act.h), free(c.p.out), free(c.p.w);
    agir_lora_free(&c.l);
    agir_lora_free(&g);
}

static void lora_target_lists(void **state) {
    (void)state;
    agir_err e = {0};
    unsigned bits;
    assert_int_equal(agir_lora_parse_targets("q,v,down", "lora.targets", &bits, &e), 0);
    assert_int_equal(bits, (1u << AGIR_LORA_Q) | (1u << AGIR_LORA_V) | (1u << AGIR_LORA_DOWN));
    assert_int_equal(agir_lora_parse_targets("q,ffn", "lora.targets", &bits, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "lora.targets: unknown LoRA target 'ffn'"));
    assert_null(strchr(e.msg, '\n'));
}

// Shapes above AGIR_CPU_PAR_MIN run the threaded paths: attention (whose backward splits work by
// kv head so no two threads add to the same rows), RMSNorm, SwiGLU, cross-entropy and LoRA
// dropout must give bit-identical results with 1 and 4 threads.
enum { BT_B = 2, BT_T = 128, BT_H = 4, BT_KV = 2, BT_D = 32, BT_V = 700 };
typedef struct big_out {
    float *out, *att, *dq, *dk, *dv, *rms, *dx, *xent_d, *swi, *drop;
    double loss;
} big_out;

static void run_big(big_out *o, int threads) {
    omp_set_num_threads(threads);
    size_t N = BT_B * BT_T, nq = N * BT_H * BT_D, nk = N * BT_KV * BT_D, na = (size_t)BT_B * BT_H * BT_T * BT_T;
    float *q = rnd(nq, 30, 1), *k = rnd(nk, 31, 1), *v = rnd(nk, 32, 1), *dout = rnd(nq, 33, 1);
    int32_t seg[BT_B * BT_T], labels[BT_B * BT_T];
    for (size_t i = 0; i < N; i++) seg[i] = (int32_t)(i % BT_T) / 20, labels[i] = (int32_t)((i * 37) % BT_V) - (i % 5 == 0);
    o->out = zeros(nq), o->att = zeros(na), o->dq = zeros(nq), o->dk = zeros(nk), o->dv = zeros(nk);
    float *datt = zeros(na);
    OP(agir_op_attention_fwd(&CPU, o->out, o->att, q, k, v, seg, BT_B, BT_T, 0, BT_H, BT_KV, BT_D, E));
    OP(agir_op_attention_bwd(&CPU, o->dq, o->dk, o->dv, datt, dout, o->out, o->att, q, k, v, seg, BT_B, BT_T, BT_H, BT_KV, BT_D, E));
    float rstd[BT_B * BT_T];
    o->rms = zeros(nq), o->dx = zeros(nq);
    OP(agir_op_rmsnorm_fwd(&CPU, o->rms, rstd, q, dout, AGIR_F32, (int)N, BT_H * BT_D, 1e-5f, E));
    OP(agir_op_rmsnorm_bwd(&CPU, o->dx, NULL, dout, q, dout, AGIR_F32, rstd, (int)N, BT_H * BT_D, E));
    float *logits = rnd(N * BT_V, 34, 2);
    o->xent_d = zeros(N * BT_V);
    OP(agir_op_softmax_xent(&CPU, o->xent_d, logits, labels, (int)N, BT_V, 1.0f / 100, NULL, &o->loss, E));
    o->swi = zeros(nq);
    OP(agir_op_swiglu_fwd(&CPU, o->swi, q, dout, nq, E));
    agir_lora_cfg cfg = {.rank = 2, .alpha = 2, .dropout = 0.5f, .targets = 1u << AGIR_LORA_O};
    int dims[AGIR_LORA_NTARGET][2] = {[AGIR_LORA_O] = {BT_H * BT_D, 8}};
    agir_lora l;
    agir_err e = {0};
    agir_rng rng;
    agir_rng_init(&rng, 5, 5);
    assert_int_equal(agir_lora_alloc(&l, &cfg, 1, dims, &e), 0);
    agir_lora_act act = {.u = zeros(nq), .h = zeros(N * 2)};
    float *y = zeros(N * 8);
    agir_lora_view lv = view_of(&l, NULL, AGIR_LORA_O);
    OP(agir_lora_fwd(&CPU, &l, &lv, &act, y, q, (int)N, &rng, E));
    o->drop = act.u;
    free(act.h), free(y), free(logits), free(datt), free(q), free(k), free(v), free(dout);
    agir_lora_free(&l);
}

static void thread_count_independent(void **state) {
    (void)state;
    big_out a, b;
    int saved = omp_get_max_threads();
    run_big(&a, 1);
    run_big(&b, 4);
    omp_set_num_threads(saved);
    size_t N = BT_B * BT_T, nq = N * BT_H * BT_D, nk = N * BT_KV * BT_D, na = (size_t)BT_B * BT_H * BT_T * BT_T;
    assert_memory_equal(a.out, b.out, nq * sizeof(float));
    assert_memory_equal(a.att, b.att, na * sizeof(float));
    assert_memory_equal(a.dq, b.dq, nq * sizeof(float));
    assert_memory_equal(a.dk, b.dk, nk * sizeof(float));
    assert_memory_equal(a.dv, b.dv, nk * sizeof(float));
    assert_memory_equal(a.rms, b.rms, nq * sizeof(float));
    assert_memory_equal(a.dx, b.dx, nq * sizeof(float));
    assert_memory_equal(a.xent_d, b.xent_d, N * BT_V * sizeof(float));
    assert_memory_equal(a.swi, b.swi, nq * sizeof(float));
    assert_memory_equal(a.drop, b.drop, nq * sizeof(float));
    assert_true(a.loss == b.loss);
    float *bufs[2][10] = {{a.out, a.att, a.dq, a.dk, a.dv, a.rms, a.dx, a.xent_d, a.swi, a.drop},
                          {b.out, b.att, b.dq, b.dk, b.dv, b.rms, b.dx, b.xent_d, b.swi, b.drop}};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 10; j++) free(bufs[i][j]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(linear_grads),       cmocka_unit_test(rmsnorm_grads),
        cmocka_unit_test(rope_grads),         cmocka_unit_test(rope_llama3_frequencies),
        cmocka_unit_test(attention_grads),    cmocka_unit_test(swiglu_grads),
        cmocka_unit_test(embedding_grads),    cmocka_unit_test(softmax_xent_grads),
        cmocka_unit_test(lora_dropout_grads), cmocka_unit_test(lora_target_lists),
        cmocka_unit_test(thread_count_independent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
