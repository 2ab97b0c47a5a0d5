// Every backward pass of the VQ-VAE ops and model against central finite differences.
//
// The kernels compute in float32; each scalar test loss is accumulated in double, and the difference
// quotient divides by the step actually taken (float(v ± h) - v), so the only noise left is the
// float32 rounding of the outputs, far below the tolerances. Inputs sit away from ReLU's and the
// losses' kinks by more than the step. The whole-model check uses the straight-through estimator's
// defining function: z_q is replaced by z_e + δ with δ = z_q - z_e frozen at the base point, whose
// exact gradient is what the estimator gives.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "kernels/vq_ops.h"
#include "models/vqvae.h"
#include "testutil.h"

typedef double (*loss_fn)(void *arg);

static agir_ctx cpu(void) {
    agir_ctx c;
    agir_err e = {0};
    assert_int_equal(agir_ctx_open(&c, AGIR_DEV_CPU, &e), AGIR_OK);
    return c;
}

// Uniform in ±[lo, hi]: magnitudes at least lo keep values off kinks at 0.
static void fill(float *x, size_t n, uint64_t stream, double lo, double hi) {
    agir_rng r;
    agir_rng_init(&r, 7, stream);
    for (size_t i = 0; i < n; i++) {
        double v = agir_rng_range(&r, lo, hi);
        x[i] = (float)(agir_rng_uniform(&r) < 0.5 ? -v : v);
    }
}

static float *falloc(size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    assert_non_null(p);
    return p;
}

// Central difference of f along p[i] with step h, dividing by the step actually taken.
static double central(float *p, size_t i, loss_fn f, void *arg, double h) {
    float v = p[i];
    p[i] = (float)(v + h);
    double up = (double)p[i] - v, lp = f(arg);
    p[i] = (float)(v - h);
    double dn = v - (double)p[i], lm = f(arg);
    p[i] = v;
    return (lp - lm) / (up + dn);
}

// Checks grad against central differences of f for every element of p: |error| < atol + rtol·|fd|.
// A step that straddles a ReLU kink (a pre-activation within h of 0) gives a difference quotient
// that is neither one-sided slope; such an element is tried once more with a step 8 times smaller
// and twice the absolute tolerance (float32 noise grows as the step shrinks). Retries are counted
// and printed and may be at most 2% of the elements.
static void check_grad(const char *what, float *p, size_t n, const float *grad, loss_fn f, void *arg, double h,
                       double atol, double rtol) {
    double worst = 0, worst_abs = 0;
    size_t retried = 0;
    for (size_t i = 0; i < n; i++) {
        double fd = central(p, i, f, arg, h), err = fabs(fd - grad[i]), tol = atol + rtol * fabs(fd);
        if (err >= tol) {
            retried++;
            fd = central(p, i, f, arg, h / 8), err = fabs(fd - grad[i]), tol = 2 * atol + rtol * fabs(fd);
        }
        if (err / tol > worst) worst = err / tol;
        if (err > worst_abs) worst_abs = err;
        if (err >= tol)
            fail_msg("%s[%zu]: analytic %.7g, finite difference %.7g (error %.3g)", what, i, grad[i], fd, err);
    }
    printf("  %-28s %5zu values, max |error| %.3g (%.2f of tolerance), %zu retried with h/8\n", what, n, worst_abs,
           worst, retried);
    assert_true(retried <= n / 50);
}

// Σ r·y in double: a random linear read-out makes every output's gradient matter.
static double dot(const float *y, const float *r, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)r[i] * y[i];
    return s;
}

typedef struct conv_case {
    agir_conv1d_shape s;
    float *x, *w, *b, *y, *r, *ws;
    size_t nx, nw, ny;
} conv_case;

static double conv_loss(void *arg) {
    conv_case *k = arg;
    agir_ctx c = cpu();
    agir_err e = {0};
    assert_int_equal(agir_op_conv1d_fwd(&c, &k->s, k->x, k->w, k->b, k->y, k->ws, &e), AGIR_OK);
    return dot(k->y, k->r, k->ny);
}

static void conv_variant(agir_conv1d_shape s, int with_bias) {
    conv_case k = {.s = s};
    int T_out = agir_conv1d_t_out(&s);
    assert_true(T_out > 0);
    k.nx = (size_t)s.B * s.T_in * s.C_in, k.nw = (size_t)s.C_out * s.K * s.C_in, k.ny = (size_t)s.B * T_out * s.C_out;
    k.x = falloc(k.nx), k.w = falloc(k.nw), k.b = with_bias ? falloc(s.C_out) : NULL, k.y = falloc(k.ny);
    k.r = falloc(k.ny), k.ws = falloc(agir_conv1d_ws_floats(&s));
    fill(k.x, k.nx, 1, 0.1, 1), fill(k.w, k.nw, 2, 0.1, 1), fill(k.r, k.ny, 3, 0.1, 1);
    if (k.b) fill(k.b, s.C_out, 4, 0.1, 1);
    // Gradient buffers start at 1: the op must add to them, not overwrite.
    float *dx = falloc(k.nx), *dw = falloc(k.nw), *db = falloc(s.C_out), *ws = falloc(agir_conv1d_ws_floats(&s));
    for (size_t i = 0; i < k.nx; i++) dx[i] = 1;
    for (size_t i = 0; i < k.nw; i++) dw[i] = 1;
    for (int i = 0; i < s.C_out; i++) db[i] = 1;
    agir_ctx c = cpu();
    agir_err e = {0};
    assert_int_equal(agir_op_conv1d_bwd(&c, &s, k.x, k.w, k.r, dx, dw, k.b ? db : NULL, ws, &e), AGIR_OK);
    for (size_t i = 0; i < k.nx; i++) dx[i] -= 1;
    for (size_t i = 0; i < k.nw; i++) dw[i] -= 1;
    for (int i = 0; i < s.C_out; i++) db[i] -= 1;
    char name[96];
    snprintf(name, sizeof name, "conv K%d s%d d%d p%d dx", s.K, s.stride, s.dilation, s.pad);
    check_grad(name, k.x, k.nx, dx, conv_loss, &k, 1e-2, 1e-4, 1e-3);
    name[strlen(name) - 1] = 'w';
    check_grad(name, k.w, k.nw, dw, conv_loss, &k, 1e-2, 1e-4, 1e-3);
    if (k.b) {
        name[strlen(name) - 1] = 'b';
        check_grad(name, k.b, s.C_out, db, conv_loss, &k, 1e-2, 1e-4, 1e-3);
    }
    free(k.x), free(k.w), free(k.b), free(k.y), free(k.r), free(k.ws), free(dx), free(dw), free(db), free(ws);
}

static void conv1d_variants(void **state) {
    (void)state;
    conv_variant((agir_conv1d_shape){2, 7, 3, 4, 3, 1, 1, 1}, 1);  // conv3, same padding
    conv_variant((agir_conv1d_shape){2, 8, 3, 5, 4, 2, 1, 1}, 1);  // T2M-GPT's down-sampling conv
    conv_variant((agir_conv1d_shape){2, 9, 2, 3, 3, 1, 3, 3}, 1);  // dilated residual conv
    conv_variant((agir_conv1d_shape){3, 5, 4, 3, 1, 1, 1, 0}, 1);  // 1×1: the direct GEMM path
    conv_variant((agir_conv1d_shape){1, 11, 2, 3, 3, 2, 2, 0}, 0); // stride and dilation, no pad, no bias
    conv_variant((agir_conv1d_shape){2, 3, 2, 2, 3, 1, 4, 4}, 1);  // taps mostly in the padding
}

typedef struct unary_case {
    int op;  // 0 ReLU, 1 up-sampling
    int B, T, C;
    float *x, *y, *r;
    size_t nx, ny;
} unary_case;

static double unary_loss(void *arg) {
    unary_case *k = arg;
    agir_ctx c = cpu();
    agir_err e = {0};
    if (k->op == 0)
        assert_int_equal(agir_op_relu_fwd(&c, k->x, k->y, k->nx, &e), AGIR_OK);
    else
        assert_int_equal(agir_op_upsample2_fwd(&c, k->x, k->y, k->B, k->T, k->C, &e), AGIR_OK);
    return dot(k->y, k->r, k->ny);
}

static void relu_and_upsample(void **state) {
    (void)state;
    for (int op = 0; op < 2; op++) {
        unary_case k = {.op = op, .B = 2, .T = 5, .C = 3};
        k.nx = (size_t)k.B * k.T * k.C, k.ny = op ? 2 * k.nx : k.nx;
        k.x = falloc(k.nx), k.y = falloc(k.ny), k.r = falloc(k.ny);
        fill(k.x, k.nx, 10, 0.1, 1), fill(k.r, k.ny, 11, 0.1, 1);
        float *dx = falloc(k.nx);
        agir_ctx c = cpu();
        agir_err e = {0};
        if (op == 0) {
            unary_loss(&k);
            assert_int_equal(agir_op_relu_bwd(&c, k.y, k.r, dx, k.nx, &e), AGIR_OK);
        } else {
            assert_int_equal(agir_op_upsample2_bwd(&c, k.r, dx, k.B, k.T, k.C, &e), AGIR_OK);
        }
        check_grad(op ? "upsample2 dx" : "relu dx", k.x, k.nx, dx, unary_loss, &k, 1e-2, 1e-5, 1e-4);
        free(k.x), free(k.y), free(k.r), free(dx);
    }
}

// x + conv1(ReLU(conv3_d(ReLU(x)))) composed from the ops, as models/vqvae.c does.
typedef struct res_case {
    agir_conv1d_shape s3, s1;
    float *x, *w3, *b3, *w1, *b1, *a1, *a2, *y, *r, *ws;
    size_t n;
} res_case;

static double res_loss(void *arg) {
    res_case *k = arg;
    agir_ctx c = cpu();
    agir_err e = {0};
    assert_int_equal(agir_op_relu_fwd(&c, k->x, k->a1, k->n, &e), AGIR_OK);
    assert_int_equal(agir_op_conv1d_fwd(&c, &k->s3, k->a1, k->w3, k->b3, k->a2, k->ws, &e), AGIR_OK);
    assert_int_equal(agir_op_relu_fwd(&c, k->a2, k->a2, k->n, &e), AGIR_OK);
    assert_int_equal(agir_op_conv1d_fwd(&c, &k->s1, k->a2, k->w1, k->b1, k->y, NULL, &e), AGIR_OK);
    for (size_t i = 0; i < k->n; i++) k->y[i] += k->x[i];
    return dot(k->y, k->r, k->n);
}

static void residual_block(void **state) {
    (void)state;
    int B = 2, T = 6, C = 3, d = 2;
    res_case k = {.s3 = {B, T, C, C, 3, 1, d, d}, .s1 = {B, T, C, C, 1, 1, 1, 0}, .n = (size_t)B * T * C};
    size_t n3 = (size_t)C * 3 * C, n1 = (size_t)C * C;
    k.x = falloc(k.n), k.w3 = falloc(n3), k.b3 = falloc(C), k.w1 = falloc(n1), k.b1 = falloc(C);
    k.a1 = falloc(k.n), k.a2 = falloc(k.n), k.y = falloc(k.n), k.r = falloc(k.n);
    k.ws = falloc(agir_conv1d_ws_floats(&k.s3));
    fill(k.x, k.n, 20, 0.1, 1), fill(k.w3, n3, 21, 0.1, 0.6), fill(k.b3, C, 22, 0.1, 0.5);
    fill(k.w1, n1, 23, 0.1, 1), fill(k.b1, C, 24, 0.1, 1), fill(k.r, k.n, 25, 0.1, 1);
    res_loss(&k);
    float *dx = falloc(k.n), *t1 = falloc(k.n), *t2 = falloc(k.n);
    float *dw3 = falloc(n3), *db3 = falloc(C), *dw1 = falloc(n1), *db1 = falloc(C);
    agir_ctx c = cpu();
    agir_err e = {0};
    assert_int_equal(agir_op_conv1d_bwd(&c, &k.s1, k.a2, k.w1, k.r, t1, dw1, db1, NULL, &e), AGIR_OK);
    assert_int_equal(agir_op_relu_bwd(&c, k.a2, t1, t2, k.n, &e), AGIR_OK);
    memset(t1, 0, k.n * sizeof(float));
    assert_int_equal(agir_op_conv1d_bwd(&c, &k.s3, k.a1, k.w3, t2, t1, dw3, db3, k.ws, &e), AGIR_OK);
    memcpy(dx, k.r, k.n * sizeof(float));
    assert_int_equal(agir_op_relu_bwd(&c, k.a1, t1, dx, k.n, &e), AGIR_OK);
    check_grad("resblock dx", k.x, k.n, dx, res_loss, &k, 1e-3, 1e-4, 1e-3);
    check_grad("resblock dw3", k.w3, n3, dw3, res_loss, &k, 1e-3, 1e-4, 1e-3);
    check_grad("resblock db3", k.b3, C, db3, res_loss, &k, 1e-3, 1e-4, 1e-3);
    check_grad("resblock dw1", k.w1, n1, dw1, res_loss, &k, 1e-3, 1e-4, 1e-3);
    check_grad("resblock db1", k.b1, C, db1, res_loss, &k, 1e-3, 1e-4, 1e-3);
    float *f[] = {k.x, k.w3, k.b3, k.w1, k.b1, k.a1, k.a2, k.y, k.r, k.ws, dx, t1, t2, dw3, db3, dw1, db1};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) free(f[i]);
}

typedef struct loss_case {
    agir_loss_spec s;
    float *pred, *target;
    uint8_t *mask;
} loss_case;

static double loss_value(void *arg) {
    loss_case *k = arg;
    agir_ctx c = cpu();
    agir_err e = {0};
    double l;
    assert_int_equal(agir_op_loss(&c, &k->s, k->pred, k->target, k->mask, &l, NULL, &e), AGIR_OK);
    return l;
}

static void losses(void **state) {
    (void)state;
    int N = 6, C = 5;
    uint8_t mask[6] = {1, 0, 1, 1, 0, 1};
    for (int kind = 0; kind < 2; kind++) {
        for (int masked = 0; masked < 2; masked++) {
            loss_case k = {.s = {(agir_loss_kind)kind, N, C, 1, 4, 0.7f}, .mask = masked ? mask : NULL};
            k.pred = falloc((size_t)N * C), k.target = falloc((size_t)N * C);
            fill(k.target, (size_t)N * C, 30, 0, 1);
            // Differences of 0.2..0.8 and 1.2..2.5 in size: both branches of smooth-L1, off |d| = 1.
            agir_rng r;
            agir_rng_init(&r, 3, 31);
            for (int i = 0; i < N * C; i++) {
                double d = i % 2 ? agir_rng_range(&r, 0.2, 0.8) : agir_rng_range(&r, 1.2, 2.5);
                k.pred[i] = (float)(k.target[i] + (agir_rng_uniform(&r) < 0.5 ? -d : d));
            }
            float *g = falloc((size_t)N * C);
            double l;
            agir_ctx c = cpu();
            agir_err e = {0};
            assert_int_equal(agir_op_loss(&c, &k.s, k.pred, k.target, k.mask, &l, g, &e), AGIR_OK);
            char name[64];
            snprintf(name, sizeof name, "%s%s dpred", kind ? "L2" : "smooth-L1", masked ? " masked" : "");
            check_grad(name, k.pred, (size_t)N * C, g, loss_value, &k, 1e-2, 1e-6, 1e-4);
            free(k.pred), free(k.target), free(g);
        }
    }
}

// A small model: two stages, two residual blocks each (dilations 2, 1), 8 codes.
typedef struct model_case {
    agir_vqvae m;
    float *x, *delta, *zin;
    size_t nz;
} model_case;

// The straight-through function: decoder(z_e + δ) with δ frozen, commitment against the frozen z_q.
static double model_loss(void *arg) {
    model_case *k = arg;
    agir_ctx c = cpu();
    agir_err e = {0};
    assert_int_equal(agir_vqvae_encode(&c, &k->m, k->x, &e), AGIR_OK);
    for (size_t i = 0; i < k->nz; i++) k->zin[i] = k->m.ze[i] + k->delta[i];
    assert_int_equal(agir_vqvae_decode(&c, &k->m, k->zin, &e), AGIR_OK);
    agir_vqvae_losses l;
    assert_int_equal(agir_vqvae_loss(&c, &k->m, k->x, NULL, &l, &e), AGIR_OK);
    return l.total;
}

static void whole_model_straight_through(void **state) {
    (void)state;
    agir_vqvae_config cfg = {.in_dim = 5, .width = 6, .depth = 2, .dilation_growth = 2, .down = 2, .n_codes = 8,
                             .code_dim = 4, .mu = 0.99f, .commit = 0.02f, .w_joint = 0.5f,
                             .joint_c0 = 1, .joint_c1 = 4};
    int B = 2, T = 8;
    model_case k;
    agir_ctx c = cpu();
    agir_err e = {0};
    assert_int_equal(agir_vqvae_init(&k.m, &cfg, B, T, 5, &e), AGIR_OK);
    size_t nx = (size_t)B * T * cfg.in_dim;
    k.nz = (size_t)B * k.m.Tq * cfg.code_dim;
    k.x = falloc(nx), k.delta = falloc(k.nz), k.zin = falloc(k.nz);
    fill(k.x, nx, 40, 0, 1.5);
    agir_rng r;
    agir_rng_init(&r, 1, 2);
    // One training pass seeds the codebook from z_e; the base point then quantizes without updating.
    assert_int_equal(agir_vqvae_encode(&c, &k.m, k.x, &e), AGIR_OK);
    assert_int_equal(agir_vqvae_quantize(&c, &k.m, 1, &r, NULL, &e), AGIR_OK);
    assert_int_equal(agir_vqvae_quantize(&c, &k.m, 0, &r, NULL, &e), AGIR_OK);
    for (size_t i = 0; i < k.nz; i++) k.delta[i] = k.m.zq[i] - k.m.ze[i];
    assert_int_equal(agir_vqvae_decode(&c, &k.m, k.m.zq, &e), AGIR_OK);
    assert_int_equal(agir_vqvae_backward(&c, &k.m, k.x, NULL, &e), AGIR_OK);
    float *grads = falloc(k.m.n_params);
    memcpy(grads, k.m.grads, k.m.n_params * sizeof(float));
    double total = 0;
    for (size_t i = 0; i < k.m.n_params; i++) total += fabs(grads[i]);
    assert_true(total > 0);
    check_grad("vqvae params (ST)", k.m.params, k.m.n_params, grads, model_loss, &k, 1e-3, 2e-5, 2e-2);
    free(grads), free(k.x), free(k.delta), free(k.zin);
    agir_vqvae_free(&k.m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(conv1d_variants), cmocka_unit_test(relu_and_upsample), cmocka_unit_test(residual_block),
        cmocka_unit_test(losses),          cmocka_unit_test(whole_model_straight_through),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
