// Parity of the one Llama model (models/llama.c over kernels/llm_ops.h) placed on a CUDA context (bf16
// weights and activations) with the same source on a CPU context (fp32): forward, loss, backward, the
// LoRA optimizer step (train/llm_step.c) and KV-cached decoding with a query offset
// (infer/kv_cache.c). The host model's weights and LoRA parameters are rounded to bf16 first, so both
// sides start from identical values and differ only by the device's bf16 activations and fp32
// accumulation order.
//
// Models: random weights from agir_llama_alloc, because the golden fixtures in tests/fixtures/llama
// have head_dim 16 and the attention kernels take 32, 64 or 128 (placing must refuse that with one
// line, checked below). Three configurations cover tied and untied heads, GQA and plain multi-head
// attention, head sizes 32 and 64, QKV bias, Llama 3 RoPE scaling, new vocabulary rows in the batch
// (and none), packed sequences, all seven LoRA targets, rsLoRA, LoRA dropout (the device regenerates
// the CPU's Philox mask streams) and a model without adapter.
//
// Tolerances (why bf16 storage explains them). Every device activation is stored in bf16: a relative
// error of at most 2^-9 per store (half an ulp of 8 significant bits), about 2^-10 as an RMS. On the
// path from the embedding to the logits of an L-layer model a value passes through about 2 + 8·L
// stores (norms, projections, LoRA h, attention, SwiGLU, residual adds): 18 for L = 2. Worst case the
// errors add, 18 · 2^-9 ≈ 2^-4.8 of a value's scale, so the largest logit error is checked at 2^-4 of
// max|logit|. Independent roundings add in quadrature, sqrt(18) · 2^-10 ≈ 2^-7.9 for the relative L2
// error; allowing a factor 8 for the gain of the layers gives the bound 2^-5 on the logits' relative
// L2 error (observed: about 2^-6.7). The loss is then checked from the measured logit error, not with
// a constant: d(token loss)/d(logits) = p - onehot has an L1 norm at most 2, so |Δloss| <= 2 ·
// max|Δlogit| (plus fp32 slack). Gradients run back through as many bf16 stores again (dlogits are
// bf16 too): sqrt(2) times the forward's RMS, still inside the same 2^-5 relative L2 bound with the
// same factor (observed: about 2^-6.2), and a cosine with the CPU's of at least 0.999. A wrong dropout
// mask in the backward (tried once while writing this test) gives a relative error near 2^-3.
//
// The second pass (reversed thread order on the CPU runtime, a rerun on a GPU) must repeat the
// device's logits, loss and gradients bit for bit.
#include "parity.h"

#include "core/bf16.h"
#include "infer/kv_cache.h"
#include "models/llama.h"
#include "models/lora.h"
#include "train/llm_step.h"

enum { B = 2, T = 37, N = B * T };

typedef struct model_case {
    const char *name;
    agir_llama_config cfg;
    int n_new;
    agir_lora_cfg lora;  // rank 0: no adapter
} model_case;

static void die_if(int rc, const agir_err *e) {
    if (rc) parity_die(e);
}

static float bf(float x) { return agir_bf16_to_f32(agir_f32_to_bf16(x)); }

// Fills n weights with scale·N(0,1) + shift, rounded to bf16 values.
static void fill_w(float *x, size_t n, uint64_t stream, double scale, double shift) {
    parity_fill(x, n, stream, scale, shift);
    for (size_t i = 0; i < n; i++) x[i] = bf(x[i]);
}

static void random_model(agir_llama *m, const model_case *mc) {
    agir_err e = {0};
    die_if(agir_llama_alloc(m, &mc->cfg, mc->n_new, &e), &e);
    const agir_llama_config *c = &m->cfg;
    size_t shape[AGIR_LLAMA_NTENSOR][2];
    agir_llama_layer_shapes(c, shape);
    uint64_t s = 1;
    fill_w(m->embed, (size_t)c->vocab * c->dim, s++, 0.25, 0);
    if (!c->tied) fill_w(m->head, (size_t)c->vocab * c->dim, s++, 1.0 / sqrt(c->dim), 0);
    fill_w(m->norm, c->dim, s++, 0.1, 1);
    for (int l = 0; l < c->n_layer; l++) {
        float **slot[AGIR_LLAMA_NTENSOR];
        agir_llama_layer_slots(&m->layers[l], slot);
        for (int i = 0; i < AGIR_LLAMA_NTENSOR; i++) {
            size_t rows = shape[i][0], cols = shape[i][1];
            int norm = i == AGIR_LLAMA_ATTN_NORM || i == AGIR_LLAMA_MLP_NORM;
            if (cols) fill_w(*slot[i], rows * cols, s++, 1.0 / sqrt((double)cols), 0);  // (out, in): 1/sqrt(in)
            else if (rows) fill_w(*slot[i], rows, s++, 0.1, norm ? 1 : 0);  // norms near 1, biases near 0
        }
    }
}

// A with PEFT's init, B random (a fresh B = 0 would hide the B·h path and dA); both rounded to bf16.
static void random_lora(agir_lora *lo, const agir_llama *m, const agir_lora_cfg *cfg) {
    agir_err e = {0};
    int dims[AGIR_LORA_NTARGET][2];
    agir_llama_lora_dims(&m->cfg, dims);
    die_if(agir_lora_alloc(lo, cfg, m->cfg.n_layer, dims, &e), &e);
    agir_rng r;
    agir_rng_init(&r, 7, 3);
    agir_lora_init(lo, &r);
    for (int l = 0; l < lo->n_layer; l++)
        for (int t = 0; t < AGIR_LORA_NTARGET; t++) {
            agir_lora_mat *lm = agir_lora_at(lo, l, (agir_lora_target)t);
            if (lm->A) fill_w(lm->B, (size_t)cfg->rank * lm->out, 900 + l * 8 + t, 0.05, 0);
        }
    for (size_t i = 0; i < lo->n_params; i++) lo->mem[i] = bf(lo->mem[i]);
}

// Two packed examples in row 0, one in row 1; tokens include new rows; some labels ignored.
static void random_batch(int32_t *tok, int32_t *pos, int32_t *seg, int32_t *lab, int V, int v0) {
    agir_rng r;
    agir_rng_init(&r, 11, 5);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int n = b * T + t, split = b == 0 ? 15 : T;
            seg[n] = t < split ? 0 : 1;
            pos[n] = t < split ? t : t - split;
            int new_row = V > v0 && agir_rng_below(&r, 4) == 0;
            tok[n] = new_row ? v0 + (int32_t)agir_rng_below(&r, (uint32_t)(V - v0))
                             : (int32_t)agir_rng_below(&r, (uint32_t)v0);
            lab[n] = agir_rng_below(&r, 3) == 0 ? -1 : (int32_t)agir_rng_below(&r, (uint32_t)V);
        }
}

typedef struct err_stats {
    double max_abs, max_ref, rel_l2, cosine;
} err_stats;

static err_stats compare(const float *got, const float *ref, size_t n) {
    double d2 = 0, r2 = 0, g2 = 0, gr = 0;
    err_stats s = {0};
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - ref[i];
        d2 += d * d;
        r2 += (double)ref[i] * ref[i];
        g2 += (double)got[i] * got[i];
        gr += (double)got[i] * ref[i];
        s.max_abs = isnan(d) ? INFINITY : fmax(s.max_abs, fabs(d));
        s.max_ref = fmax(s.max_ref, fabs((double)ref[i]));
    }
    s.rel_l2 = r2 > 0 ? sqrt(d2 / r2) : sqrt(d2);
    s.cosine = r2 > 0 && g2 > 0 ? gr / sqrt(r2 * g2) : 0;
    if (isnan(s.rel_l2)) s.rel_l2 = INFINITY;
    return s;
}

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static void check_grad(parity *t, const char *what, const float *got, const float *ref, size_t n) {
    err_stats s = compare(got, ref, n);
    printf("  %-22s rel L2 %.3g, cosine %.5f, max |err| %.3g (max |ref| %.3g)\n", what, s.rel_l2, s.cosine, s.max_abs,
           s.max_ref);
    parity_check(t, s.rel_l2 <= 0x1p-5, "%s: relative L2 error %.3g above 2^-5", what, s.rel_l2);
    parity_check(t, s.cosine >= 0.999, "%s: cosine %.5f below 0.999", what, s.cosine);
}

// The device's logits of the last forward, as floats.
static float *device_logits(const agir_llama_weights *w, const agir_llama_acts *a) {
    agir_err e = {0};
    float *f = parity_host((size_t)N * w->m->cfg.vocab);
    die_if(agir_llama_logits_f32(w, a, f, &e), &e);
    return f;
}

// The trainable values a placement's masters hold, downloaded: [lora | new_embed | new_head].
static float *masters(parity *t, const agir_llama_weights *w, size_t n_lora, size_t per, size_t n_head) {
    float *h = parity_host(n_lora + per + n_head);
    if (n_lora) parity_down(t, h, w->lora_master, sizeof(float) * n_lora);
    parity_down(t, h + n_lora, w->embed_master, sizeof(float) * per);
    if (n_head) parity_down(t, h + n_lora + per, w->head_master, sizeof(float) * n_head);
    return h;
}

// One optimizer step (train/llm_step.c) on both sides from the same (CPU) gradients, so that only
// the optimizer plumbing is compared: device masters against the CPU's fp32 update (same formula,
// fp32: 1e-5 relative), then a second forward, whose logits must move by much more than their
// tolerance (the refreshed bf16 copies are used) and still match the CPU's at the forward's tolerance
// (the copies add one bf16 rounding of the trainable weights, inside the same budget).
static uint64_t check_step(parity *t, agir_llama_weights *wc, agir_llama_weights *wd, agir_llama_acts *ac,
                           agir_llama_acts *ad, const float *logits_before, const int32_t *tok, const int32_t *pos,
                           const int32_t *seg, const int32_t *lab, const agir_rng *drop, uint64_t h) {
    agir_err e = {0};
    const agir_llama *m = wc->m;
    size_t nl = wc->lora->n_params, per = (size_t)(m->cfg.vocab - m->v0) * m->cfg.dim;
    size_t n_head = m->cfg.tied ? 0 : per, V = m->cfg.vocab;
    agir_llm_opt_cfg oc = agir_llm_opt_defaults();
    oc.lr_lora = 0.02f, oc.wd_lora = 0.01f, oc.lr_rows = 0.05f, oc.clip = 0.5f;
    agir_llm_trainer tc, td;
    agir_llm_step_stats sc, sd;
    int64_t n_valid = agir_llama_count_valid(lab, N);
    die_if(agir_llm_trainer_init(&tc, wc, &oc, NULL, &e), &e);
    die_if(agir_llm_trainer_init(&td, wd, &oc, NULL, &e), &e);
    die_if(agir_llm_step_begin(&tc, n_valid, &e), &e);
    die_if(agir_llm_step_begin(&td, n_valid, &e), &e);
    die_if(agir_llm_step_micro(&tc, ac, tok, pos, seg, lab, drop, NULL, &e), &e);
    die_if(agir_llm_step_micro(&td, ad, tok, pos, seg, lab, drop, NULL, &e), &e);
    parity_up(t, td.g.mem, tc.g.mem, sizeof(float) * tc.g.n);  // the same gradients on both sides
    die_if(agir_llm_step_apply(&tc, &sc, &e), &e);
    die_if(agir_llm_step_apply(&td, &sd, &e), &e);
    printf("  %-22s clip scale cpu %.6f device %.6f\n", "optimizer step", sc.clip_scale, sd.clip_scale);
    parity_check(t, !sc.skipped && !sd.skipped && fabsf(sc.clip_scale - sd.clip_scale) <= 1e-5f * sc.clip_scale,
                 "optimizer step: skipped or clip scales differ (%g, %g)", sc.clip_scale, sd.clip_scale);
    float *want = masters(t, wc, nl, per, n_head), *got = masters(t, wd, nl, per, n_head);
    size_t n_all = nl + per + n_head;
    double err;
    double x = parity_excess(got, want, n_all, 1e-7, 1e-5, &err);
    printf("  %-22s max |err| %.3g, %.2f of tolerance\n", "AdamW masters", err, x);
    parity_check(t, x <= 1, "AdamW masters: tolerance exceeded x%.3g", x);
    h = hash_bytes(h, got, sizeof(float) * n_all);
    die_if(agir_llama_forward(wc, ac, tok, pos, seg, drop, &e), &e);
    die_if(agir_llama_forward(wd, ad, tok, pos, seg, drop, &e), &e);
    float *logits_dev = device_logits(wd, ad);
    err_stats moved = compare(ac->logits, logits_before, (size_t)N * V);
    err_stats s = compare(logits_dev, ac->logits, (size_t)N * V);
    printf("  %-22s moved by rel L2 %.3g; device vs CPU rel L2 %.3g\n", "logits after the step", moved.rel_l2,
           s.rel_l2);
    parity_check(t, moved.rel_l2 >= 0x1p-3, "the step moved the CPU logits by only %.3g", moved.rel_l2);
    parity_check(t, s.rel_l2 <= 0x1p-5, "logits after the step: relative L2 error %.3g above 2^-5", s.rel_l2);
    h = hash_bytes(h, logits_dev, sizeof(float) * N * V);
    agir_llm_trainer_free(&tc);
    agir_llm_trainer_free(&td);
    free(logits_dev), free(got), free(want);
    return h;
}

// KV-cached generation on both sides: two sequences of different lengths prefilled at once, then
// single-token steps, so that the device attention runs with query offsets > 0 against its cache.
// The logits of each step are checked at the forward's tolerance.
static uint64_t check_decode(parity *t, const agir_llama_weights *wc, const agir_llama_weights *wd,
                             const int32_t *tok, uint64_t h) {
    agir_err e = {0};
    int V = wc->m->cfg.vocab;
    agir_infer ic, id;
    die_if(agir_infer_open(&ic, wc, 2, T + 8, &e), &e);
    die_if(agir_infer_open(&id, wd, 2, T + 8, &e), &e);
    float *lc = parity_host(2 * (size_t)V), *ld = parity_host(2 * (size_t)V);
    int n[2] = {T, 20};
    for (int step = 0; step < 4; step++) {
        int32_t next[2] = {tok[step], tok[T + step]};
        const int32_t *in = step ? next : tok;
        die_if(agir_infer_step(&ic, in, n, lc, &e), &e);
        die_if(agir_infer_step(&id, in, n, ld, &e), &e);
        err_stats s = compare(ld, lc, 2 * (size_t)V);
        printf("  %-22s rel L2 %.3g, max |err| %.3g (max |ref| %.3g)\n", step ? "decode step" : "prefill", s.rel_l2,
               s.max_abs, s.max_ref);
        parity_check(t, s.rel_l2 <= 0x1p-5, "KV-cached logits, step %d: relative L2 error %.3g above 2^-5", step,
                     s.rel_l2);
        h = hash_bytes(h, ld, sizeof(float) * 2 * V);
        n[0] = n[1] = 1;
    }
    free(lc), free(ld);
    agir_infer_free(&ic);
    agir_infer_free(&id);
    return h;
}

// CPU reference and device run of one model; returns a hash of the device's outputs.
static uint64_t run_case(parity *t, const model_case *mc) {
    agir_err e = {0};
    agir_llama m;
    agir_lora lo = {0};
    int has_lora = mc->lora.rank > 0;
    random_model(&m, mc);
    if (has_lora) random_lora(&lo, &m, &mc->lora);
    agir_lora *lop = has_lora ? &lo : NULL;
    int V = m.cfg.vocab;
    int32_t tok[N], pos[N], seg[N], lab[N];
    random_batch(tok, pos, seg, lab, V, m.v0);
    int64_t n_valid = agir_llama_count_valid(lab, N);
    agir_rng drop;
    agir_rng_init(&drop, 99, 1);
    printf(" %s: V %d (%d new), C %d, H %d/%d x %d, F %d, L %d, LoRA r %d targets 0x%x dropout %g\n", mc->name, V,
           mc->n_new, m.cfg.dim, m.cfg.n_head, m.cfg.n_kv_head, m.cfg.head_dim, m.cfg.ffn, m.cfg.n_layer,
           mc->lora.rank, mc->lora.targets, mc->lora.dropout);
    // both placements start from the host values: the device copies them at open
    agir_llama_weights wc, wd;
    agir_llama_acts ac, ad;
    agir_llama_grads gc, gd;
    die_if(agir_llama_weights_open(&wc, &t->cpu, AGIR_F32, &m, lop, &e), &e);
    die_if(agir_llama_weights_open(&wd, &t->cuda, AGIR_BF16, &m, lop, &e), &e);
    die_if(agir_llama_acts_alloc(&ac, &wc, B, T, &e), &e);
    die_if(agir_llama_acts_alloc(&ad, &wd, B, T, &e), &e);
    die_if(agir_llama_grads_alloc(&gc, &wc, &e), &e);
    die_if(agir_llama_grads_alloc(&gd, &wd, &e), &e);

    // CPU reference (logits copied before the loss turns them into gradients)
    double loss_cpu, loss_dev;
    die_if(agir_llama_forward(&wc, &ac, tok, pos, seg, &drop, &e), &e);
    float *logits_cpu = parity_host((size_t)N * V);
    memcpy(logits_cpu, ac.logits, sizeof(float) * N * V);
    die_if(agir_llama_loss(&wc, &ac, lab, n_valid, 1, &loss_cpu, &e), &e);
    die_if(agir_llama_backward(&wc, &gc, &ac, &e), &e);

    // device
    die_if(agir_llama_forward(&wd, &ad, tok, pos, seg, &drop, &e), &e);
    float *logits_dev = device_logits(&wd, &ad);
    die_if(agir_llama_loss(&wd, &ad, lab, n_valid, 1, &loss_dev, &e), &e);
    die_if(agir_llama_backward(&wd, &gd, &ad, &e), &e);
    float *g_dev = parity_host(gd.n);
    parity_down(t, g_dev, gd.mem, sizeof(float) * gd.n);

    err_stats s = compare(logits_dev, logits_cpu, (size_t)N * V);
    printf("  %-22s rel L2 %.3g, max |err| %.3g (max |ref| %.3g)\n", "logits", s.rel_l2, s.max_abs, s.max_ref);
    parity_check(t, s.rel_l2 <= 0x1p-5, "logits: relative L2 error %.3g above 2^-5", s.rel_l2);
    parity_check(t, s.max_abs <= 0x1p-4 * s.max_ref, "logits: max error %.3g above 2^-4 of %.3g", s.max_abs, s.max_ref);
    double loss_tol = 2 * s.max_abs + 1e-5 * fabs(loss_cpu);
    printf("  %-22s cpu %.6f device %.6f, |diff| %.3g (bound 2·max|Δlogit| = %.3g)\n", "loss", loss_cpu, loss_dev,
           fabs(loss_dev - loss_cpu), loss_tol);
    parity_check(t, fabs(loss_dev - loss_cpu) <= loss_tol, "loss: |%.6f - %.6f| above %.3g", loss_dev, loss_cpu,
                 loss_tol);
    if (has_lora) check_grad(t, "LoRA A/B gradients", g_dev, gc.lora, gc.n_lora);
    size_t n_rows = (size_t)mc->n_new * m.cfg.dim;
    if (n_rows) check_grad(t, "new embedding rows", g_dev + gd.n_lora, gc.new_embed, n_rows);
    if (n_rows && !m.cfg.tied) check_grad(t, "new head rows", g_dev + gd.n_lora + n_rows, gc.new_head, n_rows);

    uint64_t h = hash_bytes(1469598103934665603ull, logits_dev, sizeof(float) * N * V);
    h = hash_bytes(h, &loss_dev, sizeof loss_dev);
    h = hash_bytes(h, g_dev, sizeof(float) * gd.n);
    h = check_decode(t, &wc, &wd, tok, h);
    if (has_lora) h = check_step(t, &wc, &wd, &ac, &ad, logits_cpu, tok, pos, seg, lab, &drop, h);
    free(logits_dev);
    free(logits_cpu);
    free(g_dev);
    agir_llama_grads_free(&gc);
    agir_llama_grads_free(&gd);
    agir_llama_acts_free(&ac);
    agir_llama_acts_free(&ad);
    agir_llama_weights_close(&wc);
    agir_llama_weights_close(&wd);
    agir_lora_free(&lo);
    agir_llama_free(&m);
    return h;
}

#define ALL_TARGETS ((1u << AGIR_LORA_NTARGET) - 1u)

static const model_case CASES[] = {
    {"tied, llama3 rope, GQA 2:1",
     {.vocab = 200, .dim = 64, .ffn = 96, .n_layer = 2, .n_head = 2, .n_kv_head = 1, .head_dim = 32, .eps = 1e-5f,
      .rope = {.theta = 500000, .factor = 8, .low_freq_factor = 1, .high_freq_factor = 4, .original_max_pos = 16},
      .tied = 1},
     8,
     {.rank = 4, .alpha = 8, .targets = (1u << AGIR_LORA_Q) | (1u << AGIR_LORA_V) | (1u << AGIR_LORA_O) |
                                       (1u << AGIR_LORA_DOWN)}},
    {"untied, qkv bias, GQA 3:1, dropout",
     {.vocab = 150, .dim = 80, .ffn = 112, .n_layer = 2, .n_head = 3, .n_kv_head = 1, .head_dim = 32, .eps = 1e-6f,
      .rope = {.theta = 10000}, .qkv_bias = 1},
     5,
     {.rank = 3, .alpha = 6, .dropout = 0.1f, .rslora = 1, .targets = ALL_TARGETS}},
    {"no adapter, no new rows, MHA, D 64",
     {.vocab = 120, .dim = 48, .ffn = 64, .n_layer = 1, .n_head = 2, .n_kv_head = 2, .head_dim = 64, .eps = 1e-5f,
      .rope = {.theta = 10000}},
     0,
     {.rank = 0}},
};
enum { N_CASES = sizeof CASES / sizeof *CASES };

// fp32 weights on CUDA and a head size the CUDA kernels lack are refused with one line each.
static void check_refusals(parity *t) {
    agir_err e = {0};
    agir_llama m;
    agir_llama_weights w;
    agir_llama_config c = CASES[0].cfg;
    die_if(agir_llama_alloc(&m, &c, 0, &e), &e);
    int rc = agir_llama_weights_open(&w, &t->cuda, AGIR_F32, &m, NULL, &e);
    printf("  f32 weights on CUDA: %s\n", e.msg);
    parity_check(t, rc == AGIR_EINPUT && !strchr(e.msg, '\n'), "f32 weights on CUDA were not refused");
    agir_llama_free(&m);
    c.head_dim = 16;  // as in tests/fixtures/llama
    die_if(agir_llama_alloc(&m, &c, 0, &e), &e);
    e = (agir_err){0};
    rc = agir_llama_weights_open(&w, &t->cuda, AGIR_BF16, &m, NULL, &e);
    printf("  head_dim 16: %s\n", e.msg);
    parity_check(t, rc == AGIR_EINPUT && strstr(e.msg, "head_dim") && !strchr(e.msg, '\n'),
                 "head_dim 16 was not refused as an input error");
    agir_llama_weights_close(&w);
    agir_llama_free(&m);
}

int main(void) {
    parity t;
    parity_open(&t);
    check_refusals(&t);
    uint64_t first[N_CASES] = {0};
    for (int pass = 0; pass < 2; pass++) {
        parity_pass(pass);
        for (int k = 0; k < N_CASES; k++) {
            uint64_t h = run_case(&t, &CASES[k]);
            if (!pass) first[k] = h;
            parity_check(&t, !pass || h == first[k], "%s: the two passes gave different bits", CASES[k].name);
        }
    }
    return parity_close(&t);
}
