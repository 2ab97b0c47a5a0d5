// The LoRA training step (train/llm_step.c) on tiny random Llama models: k micro-steps of b rows give
// the parameters of one step of k·b rows after AdamW; global-norm clipping scales the gradients the
// optimizer sees; each learning rate moves its own group only; the base weights never change; a
// non-finite step updates nothing; both data-parallel reduce points see the right buffers; the
// step's blocked attention matches a direct evaluation over several row blocks.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/llama.h"
#include "testutil.h"
#include "train/llm_step.h"

enum { B = 4, T = 6, N_NEW = 5 };

typedef struct setup {
    agir_llama m;
    agir_lora lora;
    agir_test_llama tl;  // m and lora on a CPU context
    int32_t tok[B * T], lab[B * T], pos[B * T], seg[B * T];
} setup;

static void fill(float *x, size_t n, double sd, agir_rng *r) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(sd * agir_rng_normal(r));
}

// A 2-layer GQA model with random weights and an adapter whose B is not zero, so that every LoRA
// matrix and both new-row tensors get gradients. Rows hold different numbers of valid labels, and
// new-row ids occur as inputs and as labels.
static void make(setup *s, int tied) {
    agir_err e = {0};
    agir_llama_config c = {.vocab = 40, .dim = 16, .ffn = 24, .n_layer = 2, .n_head = 4, .n_kv_head = 2,
                           .head_dim = 4, .eps = 1e-5f, .rope = {.theta = 10000}, .tied = tied};
    assert_int_equal(agir_llama_alloc(&s->m, &c, N_NEW, &e), 0);
    agir_rng r;
    agir_rng_init(&r, 11, tied);
    fill(s->m.mem, s->m.n_floats, 0.3, &r);
    for (int l = 0; l < c.n_layer; l++)
        for (int i = 0; i < c.dim; i++) s->m.layers[l].attn_norm[i] += 1, s->m.layers[l].mlp_norm[i] += 1;
    for (int i = 0; i < c.dim; i++) s->m.norm[i] += 1;
    agir_rope_inv_freq(s->m.inv_freq, c.head_dim, &c.rope);  // overwritten by the fill above
    agir_lora_cfg lc = {.rank = 3, .alpha = 6, .targets = (1u << AGIR_LORA_NTARGET) - 1};
    int dims[AGIR_LORA_NTARGET][2];
    agir_llama_lora_dims(&c, dims);
    assert_int_equal(agir_lora_alloc(&s->lora, &lc, c.n_layer, dims, &e), 0);
    fill(s->lora.mem, s->lora.n_params, 0.2, &r);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int i = b * T + t;
            s->tok[i] = (int32_t)agir_rng_below(&r, (uint32_t)c.vocab);
            s->lab[i] = t < b ? -1 : (int32_t)agir_rng_below(&r, (uint32_t)c.vocab);  // b masked prompt tokens
            s->pos[i] = t, s->seg[i] = 0;
        }
    s->tok[1] = c.vocab - 1, s->lab[7] = c.vocab - 2;
    agir_test_llama_open(&s->tl, &s->m, &s->lora);
}

static void unmake(setup *s) {
    agir_test_llama_close(&s->tl);
    agir_llama_free(&s->m);
    agir_lora_free(&s->lora);
}

// Runs `steps` optimizer steps, each over the B rows cut into micro-batches of `rows` rows.
// own_count: normalise each micro-batch by its own valid count (the mistake the test must catch).
static void train(setup *s, const agir_llm_opt_cfg *oc, int rows, int steps, int own_count, agir_llm_step_stats *st) {
    agir_err e = {0};
    agir_llm_trainer tr;
    assert_int_equal(agir_llm_trainer_init(&tr, &s->tl.w, oc, NULL, &e), 0);
    agir_llama_acts a;
    assert_int_equal(agir_llama_acts_alloc(&a, &s->tl.w, rows, T, &e), 0);
    for (int k = 0; k < steps; k++) {
        assert_int_equal(agir_llm_step_begin(&tr, agir_llama_count_valid(s->lab, B * T), &e), 0);
        for (int b = 0; b < B; b += rows) {
            int o = b * T;
            if (own_count) tr.n_valid = agir_llama_count_valid(s->lab + o, (size_t)rows * T);
            assert_int_equal(agir_llm_step_micro(&tr, &a, s->tok + o, s->pos + o, s->seg + o, s->lab + o, NULL, NULL,
                                                 &e), 0);
        }
        assert_int_equal(agir_llm_step_apply(&tr, st, &e), 0);
    }
    agir_llama_acts_free(&a);
    agir_llm_trainer_free(&tr);
}

static float *copy_of(const float *x, size_t n) {
    float *c = malloc(n * sizeof(float));
    memcpy(c, x, n * sizeof(float));
    return c;
}

// max |a - b| over the trainable values (LoRA, then new rows of the embedding and untied head).
static double trainable_diff(const setup *x, const setup *y) {
    double d = 0;
    for (size_t i = 0; i < x->lora.n_params; i++) d = fmax(d, fabs((double)x->lora.mem[i] - y->lora.mem[i]));
    size_t rows = (size_t)N_NEW * x->m.cfg.dim;
    for (size_t i = 0; i < rows; i++) {
        d = fmax(d, fabs((double)x->m.new_embed[i] - y->m.new_embed[i]));
        d = fmax(d, fabs((double)x->m.new_head[i] - y->m.new_head[i]));
    }
    return d;
}

// Two AdamW steps: micro-batches of 1 and 2 rows against one batch of 4, in parameters.
static void accumulation(int tied) {
    agir_llm_opt_cfg oc = agir_llm_opt_defaults();
    oc.lr_lora = 1e-2f, oc.lr_rows = 3e-2f, oc.wd_lora = 0.1f, oc.clip = 0.5f;
    setup big, acc, acc2, wrong;
    make(&big, tied), make(&acc, tied), make(&acc2, tied), make(&wrong, tied);
    agir_llm_step_stats sb, sa, sa2, sw;
    train(&big, &oc, B, 2, 0, &sb);
    train(&acc, &oc, 1, 2, 0, &sa);
    train(&acc2, &oc, 2, 2, 0, &sa2);
    train(&wrong, &oc, 1, 2, 1, &sw);
    double d1 = trainable_diff(&big, &acc), d2 = trainable_diff(&big, &acc2), dw = trainable_diff(&big, &wrong);
    print_message("tied %d: loss %.7f / %.7f / %.7f, norm %.6g / %.6g; max |param diff| 4x1 %.2e, 2x2 %.2e, "
                  "per-micro-batch normalisation %.2e\n",
                  tied, sb.loss, sa.loss, sa2.loss, sb.grad_norm, sa.grad_norm, d1, d2, dw);
    assert_true(sb.clip_scale < 1);  // the clipping path is part of what must match
    assert_true(fabs(sb.loss - sa.loss) <= 1e-6 * sb.loss && fabs(sb.loss - sa2.loss) <= 1e-6 * sb.loss);
    assert_true(fabs(sb.grad_norm - sa.grad_norm) <= 1e-5 * sb.grad_norm);
    // Float rounding of the summed gradients only: far below one step's move (lr · 1e-3).
    assert_true(d1 <= 1e-5 && d2 <= 1e-5);
    assert_true(dw > 1e-3);  // the wrong normalisation is visible at this tolerance
    unmake(&big), unmake(&acc), unmake(&acc2), unmake(&wrong);
}

static void accumulation_untied(void **state) {
    (void)state;
    accumulation(0);
}
static void accumulation_tied(void **state) {
    (void)state;
    accumulation(1);
}

// One step's first moment is (1 - β1) · scale · g: read through m, the clipping factor is exact.
static void clipping(void **state) {
    (void)state;
    setup s;
    make(&s, 0);
    agir_err e = {0};
    agir_llm_opt_cfg oc = agir_llm_opt_defaults();
    oc.lr_lora = oc.lr_rows = 0;  // the three passes see the same gradients
    agir_llm_trainer tr;
    agir_llama_acts a;
    assert_int_equal(agir_llama_acts_alloc(&a, &s.tl.w, B, T, &e), 0);
    double norm = 0;
    for (int pass = 0; pass < 3; pass++) {
        oc.clip = pass == 0 ? 0 : pass == 1 ? (float)(norm / 4) : (float)(norm * 2);
        assert_int_equal(agir_llm_trainer_init(&tr, &s.tl.w, &oc, NULL, &e), 0);
        assert_int_equal(agir_llm_step_begin(&tr, agir_llama_count_valid(s.lab, B * T), &e), 0);
        assert_int_equal(agir_llm_step_micro(&tr, &a, s.tok, s.pos, s.seg, s.lab, NULL, NULL, &e), 0);
        size_t nl = tr.g.n_lora;
        double ss = 0;
        for (size_t i = 0; i < nl; i++) ss += (double)tr.g.lora[i] * tr.g.lora[i];
        for (size_t i = 0; i < tr.g.n_rows; i++) ss += (double)tr.g.new_embed[i] * tr.g.new_embed[i];
        float *g = copy_of(tr.g.lora, nl), *gr = copy_of(tr.g.new_embed, tr.g.n_rows);
        agir_llm_step_stats st;
        assert_int_equal(agir_llm_step_apply(&tr, &st, &e), 0);
        print_message("clip %.4g: norm %.6g (independent %.6g), scale %.6g\n", oc.clip, st.grad_norm, sqrt(ss),
                      st.clip_scale);
        assert_true(fabs(st.grad_norm - sqrt(ss)) <= 1e-5 * sqrt(ss));
        double want = pass == 1 ? 0.25 : 1;
        assert_true(fabs(st.clip_scale - want) <= 1e-5);
        double dm = 0;
        for (size_t i = 0; i < nl; i++) dm = fmax(dm, fabs(tr.mom[i] - (1 - oc.beta1) * want * g[i]));
        for (size_t i = 0; i < tr.g.n_rows; i++) dm = fmax(dm, fabs(tr.mom[2 * nl + i] - (1 - oc.beta1) * want * gr[i]));
        assert_true(dm <= 1e-7 * (1 + sqrt(ss)));
        norm = st.grad_norm;
        free(g), free(gr);
        agir_llm_trainer_free(&tr);
    }
    agir_llama_acts_free(&a);
    unmake(&s);
}

// lr of one group 0: that group stays bitwise equal, the other moves; the frozen weights (every
// value of the model but the new rows) never change.
static void groups_and_frozen(void **state) {
    (void)state;
    for (int tied = 0; tied < 2; tied++)
        for (int zero = 0; zero < 2; zero++) {
            setup s;
            make(&s, tied);
            float *model0 = copy_of(s.m.mem, s.m.n_floats), *lora0 = copy_of(s.lora.mem, s.lora.n_params);
            agir_llm_opt_cfg oc = agir_llm_opt_defaults();
            oc.wd_lora = oc.wd_rows = 0.1f;
            if (zero) oc.lr_rows = 0;
            else oc.lr_lora = 0;
            agir_llm_step_stats st;
            train(&s, &oc, 2, 2, 0, &st);
            size_t C = s.m.cfg.dim, rows = (size_t)N_NEW * C;
            size_t changed_rows = 0, changed_lora = 0, changed_base = 0;
            for (size_t i = 0; i < s.lora.n_params; i++) changed_lora += s.lora.mem[i] != lora0[i];
            for (size_t i = 0; i < s.m.n_floats; i++) {
                const float *p = s.m.mem + i;
                int in_rows = (p >= s.m.new_embed && p < s.m.new_embed + rows) ||
                              (p >= s.m.new_head && p < s.m.new_head + rows);
                if (memcmp(p, model0 + i, sizeof(float))) {
                    if (in_rows) changed_rows++;
                    else changed_base++;
                }
            }
            print_message("tied %d, lr %s = 0: changed LoRA %zu/%zu, new rows %zu, base %zu\n", tied,
                          zero ? "rows" : "lora", changed_lora, s.lora.n_params, changed_rows, changed_base);
            assert_int_equal(changed_base, 0);
            if (zero) {
                assert_int_equal(changed_rows, 0);
                assert_true(changed_lora == s.lora.n_params);
            } else {
                assert_int_equal(changed_lora, 0);
                assert_true(changed_rows >= rows * (tied ? 1 : 2) / 2);  // rows without gradient still decay
            }
            free(model0), free(lora0);
            unmake(&s);
        }
}

// A NaN in the forward pass: the step is reported skipped and nothing moves, moments included.
static void nonfinite_skips(void **state) {
    (void)state;
    setup s;
    make(&s, 1);
    agir_err e = {0};
    agir_llm_opt_cfg oc = agir_llm_opt_defaults();
    agir_llm_trainer tr;
    agir_llama_acts a;
    assert_int_equal(agir_llm_trainer_init(&tr, &s.tl.w, &oc, NULL, &e), 0);
    assert_int_equal(agir_llama_acts_alloc(&a, &s.tl.w, B, T, &e), 0);
    s.lora.mem[3] = NAN;
    float *lora0 = copy_of(s.lora.mem, s.lora.n_params), *rows0 = copy_of(s.m.new_embed, (size_t)N_NEW * 16);
    assert_int_equal(agir_llm_step_begin(&tr, agir_llama_count_valid(s.lab, B * T), &e), 0);
    assert_int_equal(agir_llm_step_micro(&tr, &a, s.tok, s.pos, s.seg, s.lab, NULL, NULL, &e), 0);
    agir_llm_step_stats st;
    assert_int_equal(agir_llm_step_apply(&tr, &st, &e), 0);
    assert_int_equal(st.skipped, 1);
    assert_int_equal(tr.step, 0);
    assert_memory_equal(lora0, s.lora.mem, s.lora.n_params * sizeof(float));
    assert_memory_equal(rows0, s.m.new_embed, (size_t)N_NEW * 16 * sizeof(float));
    for (size_t i = 0; i < 2 * (s.lora.n_params + tr.g.n_rows); i++) assert_true(tr.mom[i] == 0);
    // A global batch without trained tokens is refused before any work.
    assert_int_equal(agir_llm_step_begin(&tr, 0, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "no trained token"));
    free(lora0), free(rows0);
    agir_llama_acts_free(&a);
    agir_llm_trainer_free(&tr);
    unmake(&s);
}

// A stand-in for two data-parallel ranks holding the same batch: the reduce doubles the count and
// the gradients. Each rank's loss is then halved and the summed gradients are those of one rank,
// so the update must equal the single-rank one; a reduce point left out or applied to the wrong
// buffer breaks that.
static int twice_f32(void *ctx, float *buf, size_t n, agir_err *e) {
    (void)e;
    for (size_t i = 0; i < n; i++) buf[i] *= 2;
    ++*(int *)ctx;
    return 0;
}
static int twice_i64(void *ctx, int64_t *buf, size_t n, agir_err *e) {
    (void)e;
    for (size_t i = 0; i < n; i++) buf[i] *= 2;
    ++*(int *)ctx;
    return 0;
}

static void reduce_points(void **state) {
    (void)state;
    setup one, two;
    make(&one, 0), make(&two, 0);
    agir_err e = {0};
    agir_llm_opt_cfg oc = agir_llm_opt_defaults();
    oc.lr_lora = oc.lr_rows = 1e-2f;
    agir_llm_step_stats s1, s2;
    train(&one, &oc, B, 1, 0, &s1);
    int calls = 0;
    agir_llm_reduce red = {.ctx = &calls, .sum_f32 = twice_f32, .sum_i64 = twice_i64};
    agir_llm_trainer tr;
    agir_llama_acts a;
    assert_int_equal(agir_llm_trainer_init(&tr, &two.tl.w, &oc, &red, &e), 0);
    assert_int_equal(agir_llama_acts_alloc(&a, &two.tl.w, B, T, &e), 0);
    assert_int_equal(agir_llm_step_begin(&tr, agir_llama_count_valid(two.lab, B * T), &e), 0);
    assert_int_equal(agir_llm_step_micro(&tr, &a, two.tok, two.pos, two.seg, two.lab, NULL, NULL, &e), 0);
    assert_int_equal(agir_llm_step_apply(&tr, &s2, &e), 0);
    print_message("one rank: loss %.7f norm %.6g; two: loss %.7f norm %.6g; %d reduce calls; max diff %.2e\n",
                  s1.loss, s1.grad_norm, s2.loss, s2.grad_norm, calls, trainable_diff(&one, &two));
    assert_int_equal(calls, 2);  // the count, then the gradients (one buffer: LoRA, then the new rows)
    assert_true(fabs(2 * s2.loss - s1.loss) <= 1e-6 * s1.loss);
    assert_true(fabs(s2.grad_norm - s1.grad_norm) <= 1e-6 * s1.grad_norm);
    assert_true(trainable_diff(&one, &two) <= 1e-6);
    agir_llama_acts_free(&a);
    agir_llm_trainer_free(&tr);
    unmake(&one), unmake(&two);
}

// The step's attention splits rows into blocks of 64 (kernels/cpu/llm_ops.c); the golden tests use
// shorter sequences. Forward and backward over T = 150 (three blocks, the last one partial) with
// two packed segments against a direct double-precision evaluation of the same formulas.
enum { AB = 2, AT = 150, AH = 4, AKV = 2, AD = 8 };

static void attention_reference(double *out, double *dq, double *dk, double *dv, const float *q, const float *k,
                                 const float *v, const float *dout, const int32_t *seg) {
    double p[AT], dp[AT];
    for (int b = 0; b < AB; b++)
        for (int h = 0; h < AH; h++)
            for (int i = 0; i < AT; i++) {
                const float *qi = q + ((size_t)(b * AT + i) * AH + h) * AD;
                int kh = h / (AH / AKV);
                double mx = -INFINITY, sum = 0, dot = 0;
                for (int j = 0; j <= i; j++) {
                    const float *kj = k + ((size_t)(b * AT + j) * AKV + kh) * AD;
                    double sc = 0;
                    for (int d = 0; d < AD; d++) sc += (double)qi[d] * kj[d];
                    p[j] = seg[b * AT + j] == seg[b * AT + i] ? sc / sqrt(AD) : -INFINITY;
                    mx = fmax(mx, p[j]);
                }
                for (int j = 0; j <= i; j++) sum += (p[j] = exp(p[j] - mx));
                const float *doi = dout + ((size_t)(b * AT + i) * AH + h) * AD;
                for (int j = 0; j <= i; j++) {
                    p[j] /= sum;
                    const float *vj = v + ((size_t)(b * AT + j) * AKV + kh) * AD;
                    dp[j] = 0;
                    for (int d = 0; d < AD; d++) {
                        out[((size_t)(b * AT + i) * AH + h) * AD + d] += p[j] * vj[d];
                        dp[j] += (double)doi[d] * vj[d];
                        dv[((size_t)(b * AT + j) * AKV + kh) * AD + d] += p[j] * doi[d];
                    }
                    dot += p[j] * dp[j];
                }
                for (int j = 0; j <= i; j++) {
                    double ds = p[j] * (dp[j] - dot) / sqrt(AD);
                    const float *kj = k + ((size_t)(b * AT + j) * AKV + kh) * AD;
                    for (int d = 0; d < AD; d++) {
                        dq[((size_t)(b * AT + i) * AH + h) * AD + d] += ds * kj[d];
                        dk[((size_t)(b * AT + j) * AKV + kh) * AD + d] += ds * qi[d];
                    }
                }
            }
}

static double max_rel(const float *got, const double *want, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) num = fmax(num, fabs(got[i] - want[i])), den = fmax(den, fabs(want[i]));
    return num / den;
}

static void attention_row_blocks(void **state) {
    (void)state;
    size_t N = AB * AT, nq = N * AH * AD, nk = N * AKV * AD, na = (size_t)AB * AH * AT * AT;
    float *f = calloc(2 * nq + 2 * nk + nq + nq + 2 * nk + 2 * na, sizeof(float));
    float *q = f, *dout = q + nq, *k = dout + nq, *v = k + nk, *out = v + nk, *dq = out + nq, *dk = dq + nq,
          *dv = dk + nk, *att = dv + nk, *datt = att + na;
    double *r = calloc(2 * nq + 2 * nk, sizeof(double)), *rout = r, *rdq = r + nq, *rdk = rdq + nq, *rdv = rdk + nk;
    agir_rng g;
    agir_rng_init(&g, 3, 4);
    fill(q, 2 * nq + 2 * nk, 1.0, &g);
    int32_t seg[AB * AT];
    for (int i = 0; i < AB * AT; i++) seg[i] = i % AT < 97 ? 0 : 1;  // second segment starts inside block 2
    const agir_ctx cpu = {.dev = AGIR_DEV_CPU};
    agir_err err = {0};
    assert_int_equal(agir_op_attention_fwd(&cpu, out, att, q, k, v, seg, AB, AT, 0, AH, AKV, AD, &err), 0);
    assert_int_equal(agir_op_attention_bwd(&cpu, dq, dk, dv, datt, dout, out, att, q, k, v, seg, AB, AT, AH, AKV, AD,
                                           &err), 0);
    attention_reference(rout, rdq, rdk, rdv, q, k, v, dout, seg);
    double e[4] = {max_rel(out, rout, nq), max_rel(dq, rdq, nq), max_rel(dk, rdk, nk), max_rel(dv, rdv, nk)};
    print_message("attention T=%d vs double reference: out %.2e dq %.2e dk %.2e dv %.2e\n", AT, e[0], e[1], e[2],
                  e[3]);
    for (int i = 0; i < 4; i++) assert_true(e[i] <= 1e-5);
    free(f), free(r);
}

static void bad_config(void **state) {
    (void)state;
    setup s;
    make(&s, 1);
    agir_err e = {0};
    agir_llm_trainer tr;
    agir_llm_opt_cfg oc = agir_llm_opt_defaults();
    oc.lr_rows = -1;
    assert_int_equal(agir_llm_trainer_init(&tr, &s.tl.w, &oc, NULL, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "lr_new_rows"));
    agir_err_clear(&e);
    oc = agir_llm_opt_defaults();
    oc.beta2 = 1;
    assert_int_equal(agir_llm_trainer_init(&tr, &s.tl.w, &oc, NULL, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "beta2"));
    unmake(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accumulation_untied), cmocka_unit_test(accumulation_tied), cmocka_unit_test(clipping),
        cmocka_unit_test(groups_and_frozen),   cmocka_unit_test(nonfinite_skips),   cmocka_unit_test(reduce_points),
        cmocka_unit_test(attention_row_blocks), cmocka_unit_test(bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
