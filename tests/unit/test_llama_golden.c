// The CPU Llama model (models/llama.c, lora.c, hf_config.c) against golden outputs of an
// independent implementation: HF transformers + peft in PyTorch (tools/make_llama_fixtures.py),
// for tiny random models in tests/fixtures/llama/ — GQA untied, Llama 3 RoPE scaling with tied
// embeddings and rsLoRA, Qwen2 with QKV bias. Logits, loss and the gradients of every LoRA A/B and
// of the new token rows must match to 1e-4 relative (max |got − want| / max |want| per tensor).
//
// Also: packed sequences give the loss and gradients of the same examples unpacked; k micro-steps
// normalised by the global valid count sum to one big step; config.json and checkpoint refusals.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoints/safetensors.h"
#include "core/bf16.h"
#include "core/fsio.h"
#include "infer/kv_cache.h"
#include "models/llama.h"
#include "testutil.h"
#include "train/llm_step.h"

typedef struct fixture {
    agir_llama m;
    agir_lora lora;
    agir_test_llama tl;  // the model on a CPU context
    agir_llama_grads g;
    agir_st_file exp;
    int B, T;
    int32_t *tokens, *labels;
} fixture;

static const agir_tensor_view *want(const fixture *f, const char *name) {
    const agir_tensor_view *v = agir_st_find(&f->exp, name);
    if (!v) fail_msg("expected.safetensors: no tensor '%s'", name);
    return v;
}

static float *as_f32(const agir_tensor_view *v, uint64_t n) {
    uint64_t numel;
    assert_int_equal(agir_view_numel(v, &numel), 0);
    if (numel != n) fail_msg("tensor '%s': %llu elements, expected %llu", v->name, (unsigned long long)numel,
                             (unsigned long long)n);
    float *out = malloc(n * sizeof(float));
    agir_err e = {0};
    assert_int_equal(agir_view_to_f32(v, out, &e), 0);
    return out;
}

static int32_t *as_i32(const agir_tensor_view *v, uint64_t n) {
    uint64_t numel;
    assert_int_equal(v->dtype, AGIR_DT_I32);
    assert_int_equal(agir_view_numel(v, &numel), 0);
    assert_true(numel == n);
    int32_t *out = malloc(n * sizeof(int32_t));
    memcpy(out, v->data, n * sizeof(int32_t));
    return out;
}

static int meta_int(const fixture *f, const char *key) {
    const char *s = agir_st_meta(&f->exp, key);
    if (!s) fail_msg("expected.safetensors: no metadata '%s'", key);
    return atoi(s);
}

static void fixture_dir(const char *name, char *out, size_t n) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/fixtures/llama/%s", name);
    agir_test_src(rel, out, n);
}

static void open_fixture(const char *name, fixture *f) {
    char dir[4096], path[4200];
    agir_err e = {0};
    memset(f, 0, sizeof *f);
    fixture_dir(name, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    if (agir_st_open(path, &f->exp, &e)) fail_msg("%s", e.msg);
    int n_new = meta_int(f, "n_new");
    f->B = meta_int(f, "batch");
    f->T = meta_int(f, "seq");
    if (agir_llama_load_hf(dir, n_new, &f->m, &e)) fail_msg("%s", e.msg);
    agir_lora_cfg lc = {.rank = meta_int(f, "rank"), .alpha = (float)atof(agir_st_meta(&f->exp, "alpha")),
                        .rslora = meta_int(f, "rslora")};
    assert_int_equal(agir_lora_parse_targets(agir_st_meta(&f->exp, "targets"), "targets", &lc.targets, &e), 0);
    int dims[AGIR_LORA_NTARGET][2];
    agir_llama_lora_dims(&f->m.cfg, dims);
    assert_int_equal(agir_lora_alloc(&f->lora, &lc, f->m.cfg.n_layer, dims, &e), 0);
    for (int l = 0; l < f->m.cfg.n_layer; l++)
        for (int t = 0; t < AGIR_LORA_NTARGET; t++) {
            agir_lora_mat *mt = agir_lora_at(&f->lora, l, (agir_lora_target)t);
            if (!mt->A) continue;
            char name_a[64], name_b[64];
            snprintf(name_a, sizeof name_a, "layers.%d.%s.lora_A", l, agir_lora_target_name((agir_lora_target)t));
            snprintf(name_b, sizeof name_b, "layers.%d.%s.lora_B", l, agir_lora_target_name((agir_lora_target)t));
            float *a = as_f32(want(f, name_a), (uint64_t)lc.rank * mt->in);
            float *b = as_f32(want(f, name_b), (uint64_t)lc.rank * mt->out);
            memcpy(mt->A, a, sizeof(float) * lc.rank * mt->in);
            memcpy(mt->B, b, sizeof(float) * lc.rank * mt->out);
            free(a), free(b);
        }
    agir_test_llama_open(&f->tl, &f->m, &f->lora);
    assert_int_equal(agir_llama_grads_alloc(&f->g, &f->tl.w, &e), 0);
    f->tokens = as_i32(want(f, "tokens"), (uint64_t)f->B * f->T);
    f->labels = as_i32(want(f, "labels"), (uint64_t)f->B * f->T);
}

static void close_fixture(fixture *f) {
    agir_llama_grads_free(&f->g);
    agir_test_llama_close(&f->tl);
    agir_llama_free(&f->m);
    agir_lora_free(&f->lora);
    agir_st_close(&f->exp);
    free(f->tokens);
    free(f->labels);
}

// Per example positions 0.. and one segment per row: the plain (unpacked) batch.
static void plain_positions(int B, int T, int32_t *pos, int32_t *seg) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) pos[b * T + t] = t, seg[b * T + t] = 0;
}

static double compare(const char *fx, const char *what, const float *got, const agir_tensor_view *v, size_t n) {
    float *ref = as_f32(v, n);
    double r = agir_test_max_rel(got, ref, n);
    free(ref);
    print_message("%-12s %-26s rel err %.2e\n", fx, what, r);
    if (!(r <= 1e-4)) fail_msg("%s: %s differs from the reference by %.3g relative", fx, what, r);
    return r;
}

// One forward + loss + backward of a fixture's own batch.
static double run_step(fixture *f, agir_llama_acts *a, int want_logits_check, const char *name) {
    agir_err e = {0};
    size_t N = (size_t)f->B * f->T;
    int32_t *pos = malloc(N * sizeof(int32_t)), *seg = malloc(N * sizeof(int32_t));
    plain_positions(f->B, f->T, pos, seg);
    if (agir_llama_forward(&f->tl.w, a, f->tokens, pos, seg, NULL, &e)) fail_msg("%s", e.msg);
    if (want_logits_check) compare(name, "logits", a->logits, want(f, "logits"), N * f->m.cfg.vocab);
    double loss;
    int64_t n_valid = agir_llama_count_valid(f->labels, N);
    assert_int_equal(agir_llama_loss(&f->tl.w, a, f->labels, n_valid, 1, &loss, &e), 0);
    assert_int_equal(agir_llama_backward(&f->tl.w, &f->g, a, &e), 0);
    free(pos), free(seg);
    return loss;
}

static void golden(const char *name) {
    fixture f;
    open_fixture(name, &f);
    agir_llama_acts a;
    agir_err e = {0};
    assert_int_equal(agir_llama_acts_alloc(&a, &f.tl.w, f.B, f.T, &e), 0);
    double loss = run_step(&f, &a, 1, name);
    float l32 = (float)loss;
    compare(name, "loss", &l32, want(&f, "loss"), 1);
    for (int l = 0; l < f.m.cfg.n_layer; l++)
        for (int t = 0; t < AGIR_LORA_NTARGET; t++) {
            const agir_lora_mat *lm = agir_lora_at(&f.lora, l, (agir_lora_target)t);
            if (!lm->A) continue;
            const float *gA = f.g.lora + (lm->A - f.lora.mem), *gB = f.g.lora + (lm->B - f.lora.mem);
            char key[96];
            snprintf(key, sizeof key, "grad.layers.%d.%s.lora_A", l, agir_lora_target_name((agir_lora_target)t));
            compare(name, key + 5, gA, want(&f, key), (size_t)f.lora.cfg.rank * lm->in);
            snprintf(key, sizeof key, "grad.layers.%d.%s.lora_B", l, agir_lora_target_name((agir_lora_target)t));
            compare(name, key + 5, gB, want(&f, key), (size_t)f.lora.cfg.rank * lm->out);
        }
    size_t rows = (size_t)(f.m.cfg.vocab - f.m.v0) * f.m.cfg.dim;
    compare(name, "new_embed", f.g.new_embed, want(&f, "grad.new_embed"), rows);
    if (!f.m.cfg.tied) compare(name, "new_head", f.g.new_head, want(&f, "grad.new_head"), rows);
    else assert_null(agir_st_find(&f.exp, "grad.new_head"));
    agir_llama_acts_free(&a);
    close_fixture(&f);
}

static void golden_gqa_untied(void **state) {
    (void)state;
    golden("gqa_untied");
}
static void golden_llama3_tied(void **state) {
    (void)state;
    golden("llama3_tied");
}
static void golden_qwen2_bias(void **state) {
    (void)state;
    golden("qwen2_bias");
}

static void zero_grads(fixture *f) {
    agir_err e = {0};
    assert_int_equal(agir_llama_grads_zero(&f->g, &e), 0);
}

// Copies of the trainable gradients (LoRA then new rows) for comparisons.
static float *snapshot(const fixture *f, size_t *n) {
    *n = f->g.n;  // [lora | new rows]
    float *s = malloc(*n * sizeof(float));
    memcpy(s, f->g.mem, *n * sizeof(float));
    return s;
}

// Two examples of lengths 5 and 7: padded in a (2, 7) batch, then packed in one row of 12 with
// positions restarting at 0 and a segment per example. Loss and every gradient must agree.
static void packed_equals_unpacked(void **state) {
    (void)state;
    fixture f;
    open_fixture("gqa_untied", &f);
    agir_err e = {0};
    enum { L0 = 5, L1 = 7, T = 7 };
    int32_t tok[2 * T], lab[2 * T], pos[2 * T], seg[2 * T];
    int32_t ptok[L0 + L1], plab[L0 + L1], ppos[L0 + L1], pseg[L0 + L1];
    for (int t = 0; t < T; t++) {
        int pad = t >= L0;
        tok[t] = pad ? 0 : f.tokens[t];
        lab[t] = pad ? -1 : f.labels[f.T + t];  // labels valid from t = 2 in row 1 of the fixture
        pos[t] = t, seg[t] = pad;                // padding is its own segment
        tok[T + t] = f.tokens[f.T + t];
        lab[T + t] = f.labels[t + 4];
        pos[T + t] = t, seg[T + t] = 0;
    }
    for (int i = 0; i < L0 + L1; i++) {
        int second = i >= L0, t = second ? i - L0 : i;
        ptok[i] = tok[second * T + t];
        plab[i] = lab[second * T + t];
        ppos[i] = t;
        pseg[i] = second ? 7 : 3;
    }
    int64_t n_valid = agir_llama_count_valid(lab, 2 * T);
    assert_int_equal(n_valid, agir_llama_count_valid(plab, L0 + L1));
    assert_true(n_valid >= 6);
    agir_llama_acts a, pa;
    assert_int_equal(agir_llama_acts_alloc(&a, &f.tl.w, 2, T, &e), 0);
    assert_int_equal(agir_llama_acts_alloc(&pa, &f.tl.w, 1, L0 + L1, &e), 0);
    double loss, ploss;
    assert_int_equal(agir_llama_forward(&f.tl.w, &a, tok, pos, seg, NULL, &e), 0);
    assert_int_equal(agir_llama_forward(&f.tl.w, &pa, ptok, ppos, pseg, NULL, &e), 0);
    // Logits of real tokens agree position by position.
    int V = f.m.cfg.vocab;
    for (int i = 0; i < L0 + L1; i++) {
        int second = i >= L0, t = second ? i - L0 : i;
        double r = agir_test_max_rel((const float *)pa.logits + (size_t)i * V,
                                     (const float *)a.logits + (size_t)(second * T + t) * V, V);
        if (r > 1e-5) fail_msg("packed logits of token %d differ by %.3g", i, r);
    }
    assert_int_equal(agir_llama_loss(&f.tl.w, &a, lab, n_valid, 1, &loss, &e), 0);
    assert_int_equal(agir_llama_backward(&f.tl.w, &f.g, &a, &e), 0);
    size_t n;
    float *g_unpacked = snapshot(&f, &n);
    zero_grads(&f);
    assert_int_equal(agir_llama_loss(&f.tl.w, &pa, plab, n_valid, 1, &ploss, &e), 0);
    assert_int_equal(agir_llama_backward(&f.tl.w, &f.g, &pa, &e), 0);
    float *g_packed = snapshot(&f, &n);
    print_message("packed loss %.7f unpacked %.7f\n", ploss, loss);
    assert_true(fabs(loss - ploss) <= 1e-6 * fabs(loss));
    double r = agir_test_max_rel(g_packed, g_unpacked, n);
    print_message("packed vs unpacked gradients: rel err %.2e over %zu values\n", r, n);
    assert_true(r <= 1e-5);
    // Without the segment mask the packed loss must change (the test can see a missing mask).
    for (int i = 0; i < L0 + L1; i++) pseg[i] = 0;
    assert_int_equal(agir_llama_forward(&f.tl.w, &pa, ptok, ppos, pseg, NULL, &e), 0);
    assert_int_equal(agir_llama_loss(&f.tl.w, &pa, plab, n_valid, 0, &ploss, &e), 0);
    assert_true(fabs(loss - ploss) > 1e-4 * fabs(loss));
    free(g_unpacked), free(g_packed);
    agir_llama_acts_free(&a);
    agir_llama_acts_free(&pa);
    close_fixture(&f);
}

// Two micro-steps of one row each, normalised by the valid count of both rows, sum to the loss and
// gradients of one step over the two rows (gradient accumulation and data parallelism).
static void accumulation_equals_big_batch(void **state) {
    (void)state;
    fixture f;
    open_fixture("llama3_tied", &f);
    agir_err e = {0};
    agir_llama_acts big, small;
    assert_int_equal(agir_llama_acts_alloc(&big, &f.tl.w, f.B, f.T, &e), 0);
    assert_int_equal(agir_llama_acts_alloc(&small, &f.tl.w, 1, f.T, &e), 0);
    double loss = run_step(&f, &big, 0, "big");
    size_t n;
    float *g_big = snapshot(&f, &n);
    zero_grads(&f);
    int64_t n_valid = agir_llama_count_valid(f.labels, (size_t)f.B * f.T);
    int32_t *pos = malloc(f.T * sizeof(int32_t)), *seg = malloc(f.T * sizeof(int32_t));
    plain_positions(1, f.T, pos, seg);
    // The rows hold different numbers of valid labels, so per-micro-batch means would not add up.
    assert_true(agir_llama_count_valid(f.labels, f.T) != agir_llama_count_valid(f.labels + f.T, f.T));
    double sum = 0;
    for (int b = 0; b < f.B; b++) {
        double l;
        assert_int_equal(agir_llama_forward(&f.tl.w, &small, f.tokens + b * f.T, pos, seg, NULL, &e), 0);
        assert_int_equal(agir_llama_loss(&f.tl.w, &small, f.labels + b * f.T, n_valid, 1, &l, &e), 0);
        assert_int_equal(agir_llama_backward(&f.tl.w, &f.g, &small, &e), 0);
        sum += l;
    }
    float *g_acc = snapshot(&f, &n);
    print_message("big-batch loss %.7f, accumulated %.7f\n", loss, sum);
    assert_true(fabs(loss - sum) <= 1e-6 * fabs(loss));
    double r = agir_test_max_rel(g_acc, g_big, n);
    print_message("accumulated vs big-batch gradients: rel err %.2e\n", r);
    assert_true(r <= 1e-5);
    free(pos), free(seg), free(g_big), free(g_acc);
    agir_llama_acts_free(&big);
    agir_llama_acts_free(&small);
    close_fixture(&f);
}

// Relative L2 error of got against ref, and the cosine of their angle.
static void rel_l2(const float *got, const float *ref, size_t n, double *rel, double *cosine) {
    double d2 = 0, r2 = 0, g2 = 0, gr = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - ref[i];
        d2 += d * d, r2 += (double)ref[i] * ref[i], g2 += (double)got[i] * got[i], gr += (double)got[i] * ref[i];
    }
    *rel = sqrt(d2 / r2);
    *cosine = gr / sqrt(r2 * g2);
}

// Frozen weights stored as bf16 on the CPU (widened on the fly) against the fp32 run of the same
// model, adapter and batch. Rounding a weight to bf16 changes it by at most 2^-9 relative; each
// output of a product sums many such terms with independent signs, so the logits move by about
// 2^-9 relative per layer they pass, well inside the 2^-5 relative L2 bound the CUDA parity test uses
// for bf16 storage (there the activations are rounded too). The loss moves by at most 2·max|Δlogit|
// (its gradient in the logits has L1 norm ≤ 2) and the gradients by the same relative order.
// A step of the LoRA trainer on the bf16 placement refreshes the compute copy: it must hold the
// fp32 master rounded to bf16, and KV-cached prefill on that placement must match its full forward.
static void bf16_weights(const char *name) {
    fixture f;
    open_fixture(name, &f);
    agir_err e = {0};
    agir_llama_weights w16;
    agir_llama_acts a, a16;
    agir_llama_grads g16;
    assert_int_equal(agir_llama_weights_open(&w16, &f.tl.ctx, AGIR_BF16, &f.m, &f.lora, &e), 0);
    assert_int_equal(agir_llama_acts_alloc(&a, &f.tl.w, f.B, f.T, &e), 0);
    assert_int_equal(agir_llama_acts_alloc(&a16, &w16, f.B, f.T, &e), 0);
    assert_int_equal(agir_llama_grads_alloc(&g16, &w16, &e), 0);
    size_t N = (size_t)f.B * f.T, V = f.m.cfg.vocab;
    int32_t *pos = malloc(N * sizeof(int32_t)), *seg = malloc(N * sizeof(int32_t));
    plain_positions(f.B, f.T, pos, seg);
    int64_t n_valid = agir_llama_count_valid(f.labels, N);
    double loss, loss16, rel, cosine;
    assert_int_equal(agir_llama_forward(&f.tl.w, &a, f.tokens, pos, seg, NULL, &e), 0);
    assert_int_equal(agir_llama_forward(&w16, &a16, f.tokens, pos, seg, NULL, &e), 0);
    float *l32 = malloc(N * V * sizeof(float)), *l16 = malloc(N * V * sizeof(float));
    memcpy(l32, a.logits, N * V * sizeof(float));
    memcpy(l16, a16.logits, N * V * sizeof(float));
    rel_l2(l16, l32, N * V, &rel, &cosine);
    double max_d = agir_test_max_rel(l16, l32, N * V);
    print_message("%-12s bf16 weights: logits rel L2 %.3g (max rel %.3g)\n", name, rel, max_d);
    assert_true(rel <= 0x1p-5);
    double max_abs = 0;
    for (size_t i = 0; i < N * V; i++) max_abs = fmax(max_abs, fabs((double)l16[i] - l32[i]));
    assert_int_equal(agir_llama_loss(&f.tl.w, &a, f.labels, n_valid, 1, &loss, &e), 0);
    assert_int_equal(agir_llama_loss(&w16, &a16, f.labels, n_valid, 1, &loss16, &e), 0);
    print_message("%-12s bf16 weights: loss %.6f vs %.6f (bound %.3g)\n", name, loss16, loss, 2 * max_abs);
    assert_true(fabs(loss16 - loss) <= 2 * max_abs + 1e-6 * fabs(loss));
    assert_int_equal(agir_llama_backward(&f.tl.w, &f.g, &a, &e), 0);
    assert_int_equal(agir_llama_backward(&w16, &g16, &a16, &e), 0);
    rel_l2(g16.mem, f.g.mem, f.g.n, &rel, &cosine);
    print_message("%-12s bf16 weights: gradients rel L2 %.3g, cosine %.6f\n", name, rel, cosine);
    assert_true(rel <= 0x1p-5 && cosine >= 0.999);

    // KV-cached prefill of row 0 on the bf16 placement against its full forward's last position.
    agir_infer inf;
    float *kv = malloc(V * sizeof(float));
    int n = f.T;
    assert_int_equal(agir_llama_forward(&w16, &a16, f.tokens, pos, seg, NULL, &e), 0);
    assert_int_equal(agir_infer_open(&inf, &w16, 1, f.T, &e), 0);
    assert_int_equal(agir_infer_step(&inf, f.tokens, &n, kv, &e), 0);
    double r = agir_test_max_rel(kv, (const float *)a16.logits + (size_t)(f.T - 1) * V, V);
    print_message("%-12s bf16 weights: KV-cached logits vs forward %.2e\n", name, r);
    assert_true(r <= 1e-5);
    agir_infer_free(&inf);

    // One trainer step: the bf16 compute copy of every trainable tensor is its master rounded.
    agir_llm_trainer tr;
    agir_llm_opt_cfg oc = agir_llm_opt_defaults();
    oc.lr_lora = oc.lr_rows = 1e-2f;
    agir_llm_step_stats st;
    assert_int_equal(agir_llm_trainer_init(&tr, &w16, &oc, NULL, &e), 0);
    assert_int_equal(agir_llm_step_begin(&tr, n_valid, &e), 0);
    assert_int_equal(agir_llm_step_micro(&tr, &a16, f.tokens, pos, seg, f.labels, NULL, NULL, &e), 0);
    assert_int_equal(agir_llm_step_apply(&tr, &st, &e), 0);
    assert_int_equal(st.skipped, 0);
    size_t stale = 0, rows = (size_t)(V - f.m.v0) * f.m.cfg.dim;
    const agir_bf16 *lw = w16.lora_w, *ew = (const agir_bf16 *)w16.embed + (size_t)f.m.v0 * f.m.cfg.dim;
    for (size_t i = 0; i < f.lora.n_params; i++) stale += lw[i] != agir_f32_to_bf16(f.lora.mem[i]);
    for (size_t i = 0; i < rows; i++) stale += ew[i] != agir_f32_to_bf16(f.m.new_embed[i]);
    assert_int_equal(stale, 0);
    agir_llm_trainer_free(&tr);

    free(l32), free(l16), free(kv), free(pos), free(seg);
    agir_llama_grads_free(&g16);
    agir_llama_acts_free(&a);
    agir_llama_acts_free(&a16);
    agir_llama_weights_close(&w16);
    close_fixture(&f);
}

static void bf16_weights_all(void **state) {
    (void)state;
    bf16_weights("gqa_untied");
    bf16_weights("llama3_tied");
    bf16_weights("qwen2_bias");
}

static void expect_config_error(const char *json, const char *needle) {
    agir_llama_config c;
    agir_err e = {0};
    if (agir_hf_config_parse(json, strlen(json), "config.json", &c, &e) != AGIR_EINPUT)
        fail_msg("accepted: %s", json);
    if (!strstr(e.msg, needle)) fail_msg("message '%s' lacks '%s'", e.msg, needle);
    assert_null(strchr(e.msg, '\n'));
}

#define BASE_CFG "\"model_type\":\"llama\",\"vocab_size\":10,\"hidden_size\":8,\"intermediate_size\":16," \
                 "\"num_hidden_layers\":1,\"num_attention_heads\":2"

static void config_parsing(void **state) {
    (void)state;
    agir_llama_config c;
    agir_err e = {0};
    const char *ok = "{" BASE_CFG ",\"rope_scaling\":null}";
    assert_int_equal(agir_hf_config_parse(ok, strlen(ok), "config.json", &c, &e), 0);
    assert_int_equal(c.n_kv_head, 2);
    assert_int_equal(c.head_dim, 4);
    assert_int_equal(c.tied, 0);
    assert_int_equal(c.qkv_bias, 0);
    assert_true(c.rope.theta == 10000.0 && c.rope.factor == 0);
    const char *qwen = "{\"model_type\":\"qwen2\",\"vocab_size\":10,\"hidden_size\":8,\"intermediate_size\":16,"
                       "\"num_hidden_layers\":1,\"num_attention_heads\":2,\"tie_word_embeddings\":true}";
    assert_int_equal(agir_hf_config_parse(qwen, strlen(qwen), "config.json", &c, &e), 0);
    assert_int_equal(c.qkv_bias, 1);
    assert_int_equal(c.tied, 1);
    expect_config_error("{" BASE_CFG ",\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":4}}",
                        "type 'yarn' is not supported");
    expect_config_error("{" BASE_CFG ",\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8}}",
                        "low_freq_factor: missing");
    expect_config_error("{\"model_type\":\"llama\",\"vocab_size\":10}", "hidden_size: missing");
    expect_config_error("{" BASE_CFG ",\"num_key_value_heads\":1.5}", "num_key_value_heads: expected a positive");
    expect_config_error("{\"model_type\":\"gpt2\",\"vocab_size\":10}", "model_type: 'gpt2' is not supported");
    expect_config_error("{" BASE_CFG ",\"tie_word_embeddings\":1}", "tie_word_embeddings: expected true or false");
    expect_config_error("{" BASE_CFG ",\"mlp_bias\":true}", "mlp_bias");
    expect_config_error("{" BASE_CFG, "not valid JSON");
    expect_config_error("{" BASE_CFG "} {}", "text after the JSON object");
    // Sizes valid on their own but inconsistent are refused by the model.
    const char *gqa = "{" BASE_CFG ",\"num_key_value_heads\":3}";
    assert_int_equal(agir_hf_config_parse(gqa, strlen(gqa), "config.json", &c, &e), 0);
    agir_llama m;
    assert_int_equal(agir_llama_alloc(&m, &c, 0, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "num_key_value_heads"));
}

// A config.json whose sizes disagree with model.safetensors: one line naming the tensor.
static void checkpoint_shape_mismatch(void **state) {
    (void)state;
    char dir[4096], src[4096], path[4200], link_target[4200];
    agir_test_tmpdir(dir, sizeof dir);
    fixture_dir("gqa_untied", src, sizeof src);
    snprintf(path, sizeof path, "%s/config.json", src);
    agir_err e = {0};
    char *text;
    size_t len;
    assert_int_equal(agir_read_file(path, 1 << 20, &text, &len, &e), 0);
    char *p = strstr(text, "\"intermediate_size\": 128");
    assert_non_null(p);
    memcpy(p, "\"intermediate_size\": 96 ", 24);
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(agir_write_atomic(path, text, len, &e), 0);
    free(text);
    snprintf(link_target, sizeof link_target, "%s/model.safetensors", src);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    assert_int_equal(symlink(link_target, path), 0);
    agir_llama m;
    assert_int_equal(agir_llama_load_hf(dir, 8, &m, &e), AGIR_EINPUT);
    print_message("%s\n", e.msg);
    assert_non_null(strstr(e.msg, "model.layers.0.mlp.gate_proj.weight' has shape [128, 64]"));
    assert_null(strchr(e.msg, '\n'));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(golden_gqa_untied),         cmocka_unit_test(golden_llama3_tied),
        cmocka_unit_test(golden_qwen2_bias),         cmocka_unit_test(packed_equals_unpacked),
        cmocka_unit_test(accumulation_equals_big_batch), cmocka_unit_test(bf16_weights_all),
        cmocka_unit_test(config_parsing),
        cmocka_unit_test(checkpoint_shape_mismatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
