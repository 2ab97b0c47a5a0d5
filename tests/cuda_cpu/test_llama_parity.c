// Parity of the device model (models/llama_dev.c: the Llama-family forward, loss, backward and AdamW
// step built from kernels/llm_cuda.h and kernels/ops.h) with the CPU engine (models/llama.c) on the
// same weights: the host model's weights and LoRA parameters are rounded to bf16 first, so both sides
// start from identical values and differ only by the device's bf16 activations and fp32 accumulation
// order.
//
// Models: random weights from agir_llama_alloc, because the golden fixtures in tests/fixtures/llama
// have head_dim 16 and the attention kernels take 32, 64 or 128 (open must refuse that with one line,
// checked below). Three configurations cover tied and untied heads, GQA and plain multi-head
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
#include "models/llama.h"
#include "models/llama_dev.h"
#include "models/lora.h"

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

// One AdamW step on both sides from the same (CPU) gradients, so that only the optimizer plumbing is
// compared: device masters against the CPU's fp32 update (same formula, fp32: 1e-5 relative), then a
// second forward, whose logits must move by much more than their tolerance (the refreshed bf16
// copies are used) and still match the CPU's at the forward's tolerance (the copies add one bf16
// rounding of the trainable weights, inside the same budget).
static uint64_t check_step(parity *t, agir_llama *m, agir_lora *lo, const float *lg_cpu, const agir_llama_grads *g_cpu,
                           agir_llama_dev *d, agir_llama_acts *a, const float *logits_before, const int32_t *tok,
                           const int32_t *pos, const int32_t *seg, const agir_rng *drop, uint64_t h) {
    agir_err e = {0};
    size_t nl = lo ? lo->n_params : 0, per = (size_t)(m->cfg.vocab - m->v0) * m->cfg.dim;
    size_t n_head = m->cfg.tied ? 0 : per, V = m->cfg.vocab;
    agir_adamw_hp hl = {.lr = 0.02f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f,
                        .grad_scale = 0.5f, .step = 1};
    agir_adamw_hp hr = hl;
    hr.lr = 0.05f;
    hr.weight_decay = 0;
    // the CPU update, in place on the host model
    float *mom = parity_host(2 * (nl + 2 * per));
    memset(mom, 0, sizeof(float) * 2 * (nl + 2 * per));
    die_if(agir_op_adamw(&t->cpu, lo ? lo->mem : NULL, lg_cpu, mom, mom + nl, nl, &hl, &e), &e);
    float *mr = mom + 2 * nl;
    die_if(agir_op_adamw(&t->cpu, m->new_embed, g_cpu->new_embed, mr, mr + per, per, &hr, &e), &e);
    die_if(agir_op_adamw(&t->cpu, m->new_head, g_cpu->new_head, mr + 2 * per, mr + 3 * per, n_head, &hr, &e), &e);
    float *want = parity_host(nl + 2 * per);
    if (nl) memcpy(want, lo->mem, sizeof(float) * nl);
    memcpy(want + nl, m->new_embed, sizeof(float) * per);
    if (n_head) memcpy(want + nl + per, m->new_head, sizeof(float) * n_head);
    // the device update from the same gradients
    if (nl) parity_up(t, d->lora_g, lg_cpu, sizeof(float) * nl);
    parity_up(t, d->g_embed, g_cpu->new_embed, sizeof(float) * per);
    if (n_head) parity_up(t, d->g_head, g_cpu->new_head, sizeof(float) * n_head);
    die_if(agir_llama_dev_adamw(d, &hl, &hr, &e), &e);
    die_if(agir_llama_dev_download_trainable(d, lo, m, &e), &e);
    float *got = parity_host(nl + 2 * per);
    if (nl) memcpy(got, lo->mem, sizeof(float) * nl);
    memcpy(got + nl, m->new_embed, sizeof(float) * per);
    if (n_head) memcpy(got + nl + per, m->new_head, sizeof(float) * n_head);
    size_t n_all = nl + per + n_head;
    double err;
    double x = parity_excess(got, want, n_all, 1e-7, 1e-5, &err);
    printf("  %-22s max |err| %.3g, %.2f of tolerance\n", "AdamW masters", err, x);
    parity_check(t, x <= 1, "AdamW masters: tolerance exceeded x%.3g", x);
    h = hash_bytes(h, got, sizeof(float) * n_all);
    // the host keeps the CPU's values for its second forward
    if (nl) memcpy(lo->mem, want, sizeof(float) * nl);
    memcpy(m->new_embed, want + nl, sizeof(float) * per);
    if (n_head) memcpy(m->new_head, want + nl + per, sizeof(float) * n_head);
    die_if(agir_llama_forward(m, lo, a, tok, pos, seg, drop, &e), &e);
    die_if(agir_llama_dev_forward(d, tok, pos, seg, drop, &e), &e);
    agir_bf16 *lb = malloc(sizeof *lb * N * V);
    float *logits_dev = parity_host((size_t)N * V);
    parity_down(t, lb, d->logits, sizeof *lb * N * V);
    for (size_t i = 0; i < (size_t)N * V; i++) logits_dev[i] = agir_bf16_to_f32(lb[i]);
    err_stats moved = compare(a->logits, logits_before, (size_t)N * V);
    err_stats s = compare(logits_dev, a->logits, (size_t)N * V);
    printf("  %-22s moved by rel L2 %.3g; device vs CPU rel L2 %.3g\n", "logits after the step", moved.rel_l2,
           s.rel_l2);
    parity_check(t, moved.rel_l2 >= 0x1p-3, "the step moved the CPU logits by only %.3g", moved.rel_l2);
    parity_check(t, s.rel_l2 <= 0x1p-5, "logits after the step: relative L2 error %.3g above 2^-5", s.rel_l2);
    h = hash_bytes(h, lb, sizeof *lb * N * V);
    free(lb);
    free(logits_dev);
    free(got);
    free(want);
    free(mom);
    return h;
}

// CPU reference and device run of one model; returns a hash of the device's outputs.
static uint64_t run_case(parity *t, const model_case *mc) {
    agir_err e = {0};
    agir_llama m;
    agir_lora lo = {0}, lg = {0};
    int has_lora = mc->lora.rank > 0;
    random_model(&m, mc);
    if (has_lora) {
        int dims[AGIR_LORA_NTARGET][2];
        agir_llama_lora_dims(&m.cfg, dims);
        random_lora(&lo, &m, &mc->lora);
        die_if(agir_lora_alloc(&lg, &mc->lora, m.cfg.n_layer, dims, &e), &e);
    }
    agir_lora *lop = has_lora ? &lo : NULL, *lgp = has_lora ? &lg : NULL;
    int V = m.cfg.vocab;
    int32_t tok[N], pos[N], seg[N], lab[N];
    random_batch(tok, pos, seg, lab, V, m.v0);
    int64_t n_valid = agir_llama_count_valid(lab, N);
    agir_rng drop;
    agir_rng_init(&drop, 99, 1);
    printf(" %s: V %d (%d new), C %d, H %d/%d x %d, F %d, L %d, LoRA r %d targets 0x%x dropout %g\n", mc->name, V,
           mc->n_new, m.cfg.dim, m.cfg.n_head, m.cfg.n_kv_head, m.cfg.head_dim, m.cfg.ffn, m.cfg.n_layer,
           mc->lora.rank, mc->lora.targets, mc->lora.dropout);

    // CPU reference (logits copied before the loss turns them into gradients)
    agir_llama_acts a;
    agir_llama_grads g_cpu, g_dev;
    double loss_cpu;
    die_if(agir_llama_acts_alloc(&a, &m, lop, B, T, &e), &e);
    die_if(agir_llama_forward(&m, lop, &a, tok, pos, seg, &drop, &e), &e);
    float *logits_cpu = parity_host((size_t)N * V);
    memcpy(logits_cpu, a.logits, sizeof(float) * N * V);
    die_if(agir_llama_loss(&m, &a, lab, n_valid, 1, &loss_cpu, &e), &e);
    die_if(agir_llama_grads_alloc(&g_cpu, &m, &e), &e);
    agir_llama_backward(&m, lop, lgp, &g_cpu, &a);
    float *lg_cpu = parity_host(lg.n_params);
    if (has_lora) memcpy(lg_cpu, lg.mem, sizeof(float) * lg.n_params);

    // device
    agir_llama_dev d;
    float loss_dev;
    die_if(agir_llama_dev_open(&d, &t->cuda, &m, lop, B, T, &e), &e);
    die_if(agir_llama_dev_forward(&d, tok, pos, seg, &drop, &e), &e);
    agir_bf16 *lb = malloc(sizeof *lb * N * V);
    float *logits_dev = parity_host((size_t)N * V);
    parity_down(t, lb, d.logits, sizeof *lb * N * V);
    for (size_t i = 0; i < (size_t)N * V; i++) logits_dev[i] = agir_bf16_to_f32(lb[i]);
    die_if(agir_llama_dev_loss(&d, lab, n_valid, 1, &loss_dev, &e), &e);
    die_if(agir_llama_dev_backward(&d, &e), &e);
    die_if(agir_llama_grads_alloc(&g_dev, &m, &e), &e);
    die_if(agir_llama_dev_download_grads(&d, lgp, &g_dev, &e), &e);

    err_stats s = compare(logits_dev, logits_cpu, (size_t)N * V);
    printf("  %-22s rel L2 %.3g, max |err| %.3g (max |ref| %.3g)\n", "logits", s.rel_l2, s.max_abs, s.max_ref);
    parity_check(t, s.rel_l2 <= 0x1p-5, "logits: relative L2 error %.3g above 2^-5", s.rel_l2);
    parity_check(t, s.max_abs <= 0x1p-4 * s.max_ref, "logits: max error %.3g above 2^-4 of %.3g", s.max_abs, s.max_ref);
    double loss_tol = 2 * s.max_abs + 1e-5 * fabs(loss_cpu);
    printf("  %-22s cpu %.6f device %.6f, |diff| %.3g (bound 2·max|Δlogit| = %.3g)\n", "loss", loss_cpu, loss_dev,
           fabs(loss_dev - loss_cpu), loss_tol);
    parity_check(t, fabs(loss_dev - loss_cpu) <= loss_tol, "loss: |%.6f - %.6f| above %.3g", loss_dev, loss_cpu,
                 loss_tol);
    if (has_lora) check_grad(t, "LoRA A/B gradients", lg.mem, lg_cpu, lg.n_params);
    size_t n_rows = (size_t)mc->n_new * m.cfg.dim;
    if (n_rows) check_grad(t, "new embedding rows", g_dev.new_embed, g_cpu.new_embed, n_rows);
    if (n_rows && !m.cfg.tied) check_grad(t, "new head rows", g_dev.new_head, g_cpu.new_head, n_rows);

    uint64_t h = hash_bytes(1469598103934665603ull, lb, sizeof *lb * N * V);
    h = hash_bytes(h, &loss_dev, sizeof loss_dev);
    if (has_lora) h = hash_bytes(h, lg.mem, sizeof(float) * lg.n_params);
    h = hash_bytes(h, g_dev.mem, sizeof(float) * n_rows * (m.cfg.tied ? 1 : 2));
    if (has_lora || n_rows)
        h = check_step(t, &m, lop, lg_cpu, &g_cpu, &d, &a, logits_cpu, tok, pos, seg, &drop, h);
    free(lb);
    free(logits_dev);
    free(logits_cpu);
    free(lg_cpu);
    agir_llama_dev_close(&d);
    agir_llama_grads_free(&g_cpu);
    agir_llama_grads_free(&g_dev);
    agir_llama_acts_free(&a);
    agir_lora_free(&lg);
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

// A CPU context and an unsupported head size are refused with one line each.
static void check_refusals(parity *t) {
    agir_err e = {0};
    agir_llama m;
    agir_llama_dev d;
    agir_llama_config c = CASES[0].cfg;
    c.head_dim = 16;  // as in tests/fixtures/llama
    die_if(agir_llama_alloc(&m, &c, 0, &e), &e);
    int rc = agir_llama_dev_open(&d, &t->cpu, &m, NULL, B, T, &e);
    printf("  CPU context: %s\n", e.msg);
    parity_check(t, rc == AGIR_EINTERNAL && !strchr(e.msg, '\n'), "a CPU context was not refused as a bug");
    e = (agir_err){0};
    rc = agir_llama_dev_open(&d, &t->cuda, &m, NULL, B, T, &e);
    printf("  head_dim 16: %s\n", e.msg);
    parity_check(t, rc == AGIR_EINPUT && strstr(e.msg, "head_dim") && !strchr(e.msg, '\n'),
                 "head_dim 16 was not refused as an input error");
    agir_llama_dev_close(&d);
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
