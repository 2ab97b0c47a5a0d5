// AdamW on the CPU (agir_op_adamw, kernels/cpu/adamw.c) against a plain double-precision reference
// written from the paper's algorithm (Loshchilov & Hutter 2019, Algorithm 2, with PyTorch's placement
// of eps), over several steps so that the bias correction is exercised as it fades; plus the
// properties that tell AdamW from its usual mistakes.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "core/bf16.h"
#include "kernels/ops.h"
#include "testutil.h"

enum { N = 1003, STEPS = 7 };

typedef struct ref_state {
    double p[N], m[N], v[N];
} ref_state;

// Textbook form: m̂ = m / (1 - β1^t), v̂ = v / (1 - β2^t), θ ← θ - lr·(m̂ / (√v̂ + ε) + wd·θ).
static void ref_step(ref_state *s, const float *g, const agir_adamw_hp *hp) {
    double b1 = hp->beta1, b2 = hp->beta2, t = (double)hp->step;
    for (int i = 0; i < N; i++) {
        double gi = (double)hp->grad_scale * g[i];
        s->m[i] = b1 * s->m[i] + (1 - b1) * gi;
        s->v[i] = b2 * s->v[i] + (1 - b2) * gi * gi;
        double mhat = s->m[i] / (1 - pow(b1, t)), vhat = s->v[i] / (1 - pow(b2, t));
        s->p[i] -= hp->lr * (mhat / (sqrt(vhat) + hp->eps) + hp->weight_decay * s->p[i]);
    }
}

static agir_ctx cpu_ctx(void) {
    agir_ctx c;
    agir_err e = {0};
    assert_int_equal(agir_ctx_open(&c, AGIR_DEV_CPU, &e), AGIR_OK);
    return c;
}

static void fill_normal(float *x, int n, uint64_t stream, double scale) {
    agir_rng r;
    agir_rng_init(&r, 99, stream);
    for (int i = 0; i < n; i++) x[i] = (float)(scale * agir_rng_normal(&r));
}

static void matches_double_reference_over_steps(void **state) {
    (void)state;
    agir_ctx c = cpu_ctx();
    static ref_state ref;
    static float p[N], m[N], v[N], g[N];
    fill_normal(p, N, 1, 1.0);
    memset(m, 0, sizeof m);
    memset(v, 0, sizeof v);
    for (int i = 0; i < N; i++) ref.p[i] = p[i], ref.m[i] = 0, ref.v[i] = 0;
    for (int step = 1; step <= STEPS; step++) {
        // Gradients change scale between steps (tiny, large) so m and v lag behind.
        fill_normal(g, N, 100 + (uint64_t)step, step == 3 ? 1e-4 : step == 5 ? 30.0 : 1.0);
        agir_adamw_hp hp = {.lr = 3e-3f,
                            .beta1 = 0.9f,
                            .beta2 = 0.999f,
                            .eps = 1e-8f,
                            .weight_decay = 0.05f,
                            .grad_scale = step == 4 ? 0.5f : 1.0f,
                            .step = step};
        agir_err e = {0};
        assert_int_equal(agir_op_adamw(&c, p, g, m, v, N, &hp, &e), AGIR_OK);
        ref_step(&ref, g, &hp);
        double worst = 0;
        for (int i = 0; i < N; i++) {
            double dp = fabs(p[i] - ref.p[i]) / (1e-6 + 1e-5 * fabs(ref.p[i]));
            // m may cancel to near zero; its rounding error scales with the gradients (√v), not with m.
            double dm = fabs(m[i] - ref.m[i]) / (1e-6 * sqrt(ref.v[i]) + 1e-5 * fabs(ref.m[i]));
            double dv = fabs(v[i] - ref.v[i]) / (1e-15 + 1e-5 * fabs(ref.v[i]));
            worst = fmax(worst, fmax(dp, fmax(dm, dv)));
        }
        if (worst > 1) fail_msg("step %d: error %.3g times the tolerance", step, worst);
    }
    agir_ctx_close(&c);
}

// At step 1 with no decay, m̂/√v̂ = g/|g|: every weight moves by lr against its gradient's sign.
// Without bias correction the step would be lr·(1-β1)/√(1-β2) ≈ 3.16·lr here.
static void first_step_moves_by_lr(void **state) {
    (void)state;
    agir_ctx c = cpu_ctx();
    float p[64], g[64], m[64] = {0}, v[64] = {0};
    fill_normal(g, 64, 7, 1.0);
    for (int i = 0; i < 64; i++) p[i] = 1.0f;
    agir_adamw_hp hp = {
        .lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-12f, .weight_decay = 0, .grad_scale = 1, .step = 1};
    agir_err e = {0};
    assert_int_equal(agir_op_adamw(&c, p, g, m, v, 64, &hp, &e), AGIR_OK);
    for (int i = 0; i < 64; i++) assert_float_equal(p[i], 1.0f - 1e-2f * (g[i] > 0 ? 1.0f : -1.0f), 1e-6);
}

// Decoupled decay shrinks weights by (1 - lr·wd) even with zero gradients; an L2 penalty folded into
// the gradient would instead move them by about lr (through m̂/√v̂).
static void weight_decay_is_decoupled(void **state) {
    (void)state;
    agir_ctx c = cpu_ctx();
    float p[3] = {2.0f, -1.0f, 0.5f}, g[3] = {0}, m[3] = {0}, v[3] = {0};
    agir_adamw_hp hp = {
        .lr = 0.1f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.2f, .grad_scale = 1, .step = 3};
    agir_err e = {0};
    assert_int_equal(agir_op_adamw(&c, p, g, m, v, 3, &hp, &e), AGIR_OK);
    assert_float_equal(p[0], 2.0f * 0.98f, 1e-6);
    assert_float_equal(p[1], -0.98f, 1e-6);
    assert_float_equal(p[2], 0.49f, 1e-6);
    assert_true(m[0] == 0 && v[0] == 0);
}

// The bf16 variant updates its fp32 master exactly like the fp32 op and stores the master rounded
// to nearest-even.
static void bf16_variant_keeps_fp32_master(void **state) {
    (void)state;
    agir_ctx c = cpu_ctx();
    static float p[N], master[N], g[N], m1[N], v1[N], m2[N], v2[N];
    static agir_bf16 p16[N];
    fill_normal(p, N, 3, 1.0);
    memcpy(master, p, sizeof p);
    memset(m1, 0, sizeof m1), memset(v1, 0, sizeof v1), memset(m2, 0, sizeof m2), memset(v2, 0, sizeof v2);
    for (int step = 1; step <= 3; step++) {
        fill_normal(g, N, 200 + (uint64_t)step, 1.0);
        agir_adamw_hp hp = {.lr = 1e-2f,
                            .beta1 = 0.9f,
                            .beta2 = 0.95f,
                            .eps = 1e-8f,
                            .weight_decay = 0.1f,
                            .grad_scale = 1,
                            .step = step};
        agir_err e = {0};
        assert_int_equal(agir_op_adamw(&c, p, g, m1, v1, N, &hp, &e), AGIR_OK);
        assert_int_equal(agir_op_adamw_bf16(&c, master, p16, g, m2, v2, N, &hp, &e), AGIR_OK);
    }
    assert_memory_equal(p, master, sizeof p);
    for (int i = 0; i < N; i++) {
        float back = agir_bf16_to_f32(p16[i]);
        // Nearest: no bf16 lies closer to the master than the stored one (bf16 spacing 2^-7 relative).
        assert_true(fabsf(back - master[i]) <= fabsf(master[i]) * (1.0f / 256) * 1.0001f);
    }
}

// Rounding ties to even, and the neighbours of a tie going to the nearer side.
static void bf16_rounding(void **state) {
    (void)state;
    assert_int_equal(agir_f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(agir_f32_to_bf16(1.0f + 1.0f / 256), 0x3f80);  // tie, 0x3f80 is even
    assert_int_equal(agir_f32_to_bf16(1.0f + 3.0f / 256), 0x3f82);  // tie, 0x3f81 is odd
    assert_int_equal(agir_f32_to_bf16(1.0f + 1.0f / 256 + 1.0f / 4096), 0x3f81);
    assert_int_equal(agir_f32_to_bf16(-2.0f), 0xc000);
    assert_int_equal(agir_f32_to_bf16(INFINITY), 0x7f80);
    assert_true(isnan(agir_bf16_to_f32(agir_f32_to_bf16(NAN))));
}

static void bad_hyper_parameters_are_bugs(void **state) {
    (void)state;
    agir_ctx c = cpu_ctx();
    float p[1] = {1}, g[1] = {1}, m[1] = {0}, v[1] = {0};
    agir_adamw_hp hp = {.lr = 1e-3f, .beta1 = 1.0f, .beta2 = 0.999f, .eps = 1e-8f, .grad_scale = 1, .step = 1};
    agir_err e = {0};
    assert_int_equal(agir_op_adamw(&c, p, g, m, v, 1, &hp, &e), AGIR_EINTERNAL);
    assert_non_null(strstr(e.msg, "AdamW"));
    hp.beta1 = 0.9f;
    hp.step = 0;
    agir_err_clear(&e);
    assert_int_equal(agir_op_adamw(&c, p, g, m, v, 1, &hp, &e), AGIR_EINTERNAL);
    assert_true(p[0] == 1.0f);  // nothing was touched
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_double_reference_over_steps),
        cmocka_unit_test(first_step_moves_by_lr),
        cmocka_unit_test(weight_decay_is_decoupled),
        cmocka_unit_test(bf16_variant_keeps_fp32_master),
        cmocka_unit_test(bf16_rounding),
        cmocka_unit_test(bad_hyper_parameters_are_bugs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
