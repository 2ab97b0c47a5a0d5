// The VQ-VAE model and quantizer: shapes and parameter count of T2M-GPT's configuration, the
// quantizer's assignment, statistics and EMA update against hand-computed examples, dead-code reset,
// perplexity and usage, loss values, config validation, the parameter tensor table, and results that
// do not depend on the thread counts of OpenMP and OpenBLAS.
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/vq_ops.h"
#include "models/vqvae.h"
#include "testutil.h"

static agir_ctx cpu(void) {
    agir_ctx c;
    agir_err e = {0};
    assert_int_equal(agir_ctx_open(&c, AGIR_DEV_CPU, &e), AGIR_OK);
    return c;
}

static void assert_close(double a, double b, double tol) {
    if (fabs(a - b) > tol) fail_msg("%.9g != %.9g (tolerance %g)", a, b, tol);
}

// Parameters of a conv: weight C_out·K·C_in plus bias C_out.
static size_t conv_params(size_t cin, size_t cout, size_t k) { return cout * k * cin + cout; }

static void t2m_shapes_and_parameter_count(void **state) {
    (void)state;
    int in = 107, B = 2, T = 64;
    agir_vqvae_config cfg = agir_vqvae_t2m_config(in);
    cfg.joint_c0 = 4, cfg.joint_c1 = 4 + 3 * 16;
    agir_vqvae m;
    agir_err e = {0};
    assert_int_equal(agir_vqvae_init(&m, &cfg, B, T, 1, &e), AGIR_OK);
    assert_int_equal(m.Tq, 16);
    // Counted from T2M-GPT's encdec.py: per stage one stride-2 conv4 and 3 blocks (conv3 + conv1).
    size_t W = 512, res = conv_params(W, W, 3) + conv_params(W, W, 1);
    size_t enc = conv_params(in, W, 3) + 2 * (conv_params(W, W, 4) + 3 * res) + conv_params(W, 512, 3);
    size_t dec = conv_params(512, W, 3) + 2 * (3 * res + conv_params(W, W, 3)) + conv_params(W, W, 3) +
                 conv_params(W, in, 3);
    assert_int_equal(m.n_params, enc + dec);
    printf("  T2M-GPT size, 107 features: %zu parameters, %.2f GFLOP per forward at B=%d\n", m.n_params,
           m.flops_fwd / 1e9, B);
    // One forward pass: every output finite, z_q rows are codebook rows.
    size_t nx = (size_t)B * T * in;
    float *x = malloc(nx * sizeof(float));
    assert_non_null(x);
    agir_rng r;
    agir_rng_init(&r, 3, 4);
    for (size_t i = 0; i < nx; i++) x[i] = (float)agir_rng_normal(&r);
    agir_ctx c = cpu();
    agir_vqvae_qstats qs;
    assert_int_equal(agir_vqvae_encode(&c, &m, x, &e), AGIR_OK);
    assert_int_equal(agir_vqvae_quantize(&c, &m, 1, &r, &qs, &e), AGIR_OK);
    assert_int_equal(agir_vqvae_decode(&c, &m, m.zq, &e), AGIR_OK);
    for (size_t i = 0; i < nx; i++) assert_true(isfinite(m.out[i]));
    for (int n = 0; n < B * m.Tq; n++) assert_true(m.idx[n] >= 0 && m.idx[n] < 512);
    agir_vqvae_losses l;
    assert_int_equal(agir_vqvae_loss(&c, &m, x, NULL, &l, &e), AGIR_OK);
    assert_true(l.rec > 0 && l.joint > 0 && isfinite(l.total));
    assert_close(l.total, l.rec + l.joint + l.commit, 1e-12);
    assert_true(qs.perplexity >= 1 && qs.perplexity <= B * m.Tq + 1e-6);
    free(x);
    agir_vqvae_free(&m);
}

static void config_is_validated(void **state) {
    (void)state;
    agir_vqvae_config cfg = agir_vqvae_t2m_config(10);
    agir_vqvae m;
    agir_err e = {0};
    assert_int_equal(agir_vqvae_init(&m, &cfg, 2, 62, 1, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "multiple of 2^down = 4"));
    agir_err_clear(&e);
    cfg.joint_c1 = 11;
    assert_int_equal(agir_vqvae_init(&m, &cfg, 2, 64, 1, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "joint channels"));
    agir_err_clear(&e);
    cfg = agir_vqvae_t2m_config(10);
    cfg.mu = 1.5f;
    assert_int_equal(agir_vqvae_init(&m, &cfg, 2, 64, 1, &e), AGIR_EINPUT);
    agir_err_clear(&e);
    // The config alone, without a batch: a field outside its range is named.
    cfg = agir_vqvae_t2m_config(10);
    assert_int_equal(agir_vqvae_check_config(&cfg, &e), AGIR_OK);
    cfg.joint_c0 = -1;
    assert_int_equal(agir_vqvae_check_config(&cfg, &e), AGIR_EINPUT);
    assert_non_null(strstr(e.msg, "joint_c0 = -1"));
    agir_vqvae_free(&m);
}

// The tensor table counts with cap 0, writes no entry at or past cap, and tiles the parameters in
// layer order with T2M-GPT's block structure.
static void tensor_table_tiles_params(void **state) {
    (void)state;
    agir_vqvae_config cfg = {.in_dim = 4, .width = 8, .depth = 2, .dilation_growth = 3, .down = 1, .n_codes = 4,
                             .code_dim = 5, .mu = 0.99f};
    agir_vqvae m;
    agir_err e = {0};
    assert_int_equal(agir_vqvae_init(&m, &cfg, 1, 4, 1, &e), AGIR_OK);
    // enc: conv3, conv4, 2 blocks of 2 convs, conv3 (7); dec: conv3, 2 blocks of 2 convs, conv3, conv3, conv3 (8).
    int n = agir_vqvae_tensors(&m, NULL, 0);
    assert_int_equal(n, 2 * (7 + 8));
    agir_vqvae_tensor *t = malloc((size_t)n * sizeof *t), untouched;
    assert_non_null(t);
    memset(&untouched, 0xab, sizeof untouched);
    t[n - 1] = untouched;
    assert_int_equal(agir_vqvae_tensors(&m, t, n - 1), n);
    assert_memory_equal(&t[n - 1], &untouched, sizeof untouched);
    assert_int_equal(agir_vqvae_tensors(&m, t, n), n);
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        size_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++) numel *= (size_t)t[i].shape[d];
        assert_int_equal(t[i].off, at);
        assert_int_equal(t[i].numel, numel);
        at += numel;
    }
    assert_int_equal(at, m.n_params);
    assert_string_equal(t[0].name, "enc.0.weight");
    assert_int_equal(t[0].shape[2], 4);
    assert_string_equal(t[2].name, "enc.2.weight");  // after the ReLU, the stride-2 conv
    assert_int_equal(t[2].shape[1], 4);
    assert_string_equal(t[6].name, "enc.3.conv2.weight");  // the block's 1×1 conv
    assert_int_equal(t[6].shape[1], 1);
    assert_string_equal(t[13].name, "enc.5.bias");
    assert_int_equal(t[13].shape[0], 5);
    assert_string_equal(t[14].name, "dec.0.weight");
    assert_int_equal(t[14].shape[2], 5);
    assert_string_equal(t[24].name, "dec.5.weight");  // after 2 blocks and the up-sampling
    assert_string_equal(t[n - 1].name, "dec.8.bias");
    assert_int_equal(t[n - 1].ndim, 1);
    assert_int_equal(t[n - 1].shape[0], 4);
    free(t);
    agir_vqvae_free(&m);
}

static void assign_picks_nearest_with_ties_to_lower_index(void **state) {
    (void)state;
    // Codes (0,0), (2,0), (0,2), (2,0) again; rows chosen by hand.
    float cb[] = {0, 0, 2, 0, 0, 2, 2, 0};
    float x[] = {0.1f, 0.2f, 1.9f, -0.3f, 0.4f, 1.5f, 1.0f, 0.0f, 5.0f, 5.0f};
    int32_t want[] = {0, 1, 2, 0, 1};  // (1,0) is equidistant to codes 0 and 1; (5,5): 1 and 2 tie with 3
    int32_t idx[5];
    float ws[5 * 4 + 4];
    assert_true(agir_vq_ws_floats(5, 4) <= sizeof ws / sizeof ws[0]);
    agir_ctx c = cpu();
    agir_err e = {0};
    assert_int_equal(agir_op_vq_assign(&c, x, cb, 5, 4, 2, idx, ws, &e), AGIR_OK);
    for (int n = 0; n < 5; n++) assert_int_equal(idx[n], want[n]);
    float q[10];
    assert_int_equal(agir_op_vq_gather(&c, cb, idx, 5, 4, 2, q, &e), AGIR_OK);
    for (int n = 0; n < 5; n++) assert_true(q[2 * n] == cb[2 * want[n]] && q[2 * n + 1] == cb[2 * want[n] + 1]);
    int32_t bad[] = {0, 4};
    assert_int_equal(agir_op_vq_gather(&c, cb, bad, 2, 4, 2, q, &e), AGIR_EINTERNAL);
}

static void stats_and_ema_update_by_hand(void **state) {
    (void)state;
    agir_ctx c = cpu();
    agir_err e = {0};
    // 4 rows of D = 2 assigned to codes 0, 0, 1, 0 of K = 3.
    float x[] = {1, 2, 3, 4, 5, 6, -1, 0};
    int32_t idx[] = {0, 0, 1, 0};
    float counts[3], sums[6];
    assert_int_equal(agir_op_vq_stats(&c, x, idx, 4, 3, 2, counts, sums, &e), AGIR_OK);
    float want_counts[] = {3, 1, 0}, want_sums[] = {3, 6, 5, 6, 0, 0};
    for (int k = 0; k < 3; k++) assert_true(counts[k] == want_counts[k]);
    for (int i = 0; i < 6; i++) assert_true(sums[i] == want_sums[i]);
    // mu = 0.5. EMA counts before: 2, 1.5, 1.6 → after: 0.5·2+0.5·3 = 2.5, 0.5·1.5+0.5·1 = 1.25,
    // 0.5·1.6 = 0.8 (< 1: reset). EMA sums before: (1,1), (4,2), (7,7) → (2, 3.5), (4.5, 4), (3.5, 3.5).
    float ema_count[] = {2, 1.5f, 1.6f}, ema_sum[] = {1, 1, 4, 2, 7, 7};
    float rows[] = {100, 101, 102, 103, 104, 105}, cb[6];
    int n_reset = -1;
    assert_int_equal(agir_op_vq_ema_update(&c, ema_count, ema_sum, counts, sums, rows, 0.5f, 3, 2, cb, &n_reset, &e),
                     AGIR_OK);
    assert_int_equal(n_reset, 1);
    float want_ec[] = {2.5f, 1.25f, 0.8f}, want_es[] = {2, 3.5f, 4.5f, 4, 3.5f, 3.5f};
    float want_cb[] = {2 / 2.5f, 3.5f / 2.5f, 4.5f / 1.25f, 4 / 1.25f, 104, 105};
    for (int k = 0; k < 3; k++) assert_close(ema_count[k], want_ec[k], 1e-6);
    for (int i = 0; i < 6; i++) assert_close(ema_sum[i], want_es[i], 1e-6);
    for (int i = 0; i < 6; i++) assert_close(cb[i], want_cb[i], 1e-6);
}

static int row_of(const float *x, int N, int D, const float *row) {
    for (int n = 0; n < N; n++)
        if (!memcmp(x + (size_t)n * D, row, sizeof(float) * D)) return n;
    return -1;
}

static void dead_code_reset_rows(void **state) {
    (void)state;
    agir_ctx c = cpu();
    agir_err e = {0};
    enum { N = 20, D = 3, K = 8, NS = 3 };
    float x[N * D], rows[K * D], rows2[K * D];
    for (int i = 0; i < N * D; i++) x[i] = (float)i;
    int32_t ws[N];
    assert_true(agir_vq_reset_ws_ints(N, K) <= N);
    agir_rng r, r2;
    agir_rng_init(&r, 11, 1);
    agir_rng_init(&r2, 11, 1);
    // N >= K: K distinct rows of x.
    assert_int_equal(agir_op_vq_reset_rows(&c, &r, x, N, K, D, rows, ws, &e), AGIR_OK);
    int seen[N] = {0};
    for (int k = 0; k < K; k++) {
        int n = row_of(x, N, D, rows + k * D);
        assert_true(n >= 0);
        assert_int_equal(seen[n]++, 0);
    }
    // The same stream gives the same rows; the next draw differs.
    assert_int_equal(agir_op_vq_reset_rows(&c, &r2, x, N, K, D, rows2, ws, &e), AGIR_OK);
    assert_memory_equal(rows, rows2, sizeof rows);
    assert_int_equal(agir_op_vq_reset_rows(&c, &r2, x, N, K, D, rows2, ws, &e), AGIR_OK);
    assert_memory_not_equal(rows, rows2, sizeof rows);
    // N < K: x tiled with small noise; every code near some row of x, each row used at most ceil(K/N)
    // times.
    int32_t ws_small[9];
    assert_int_equal(agir_vq_reset_ws_ints(NS, K), 9);
    assert_int_equal(agir_op_vq_reset_rows(&c, &r, x, NS, K, D, rows, ws_small, &e), AGIR_OK);
    int uses[NS] = {0};
    for (int k = 0; k < K; k++) {
        int best = -1;
        for (int n = 0; n < NS; n++) {
            double d = 0;
            for (int i = 0; i < D; i++) d = fmax(d, fabs(rows[k * D + i] - x[n * D + i]));
            if (d < 0.05) best = n;  // noise std 0.01/sqrt(3): 0.05 is beyond 8 sigma
        }
        assert_true(best >= 0);
        uses[best]++;
    }
    for (int n = 0; n < NS; n++) assert_true(uses[n] <= 3);
}

static void codebook_init_and_reset_in_training(void **state) {
    (void)state;
    agir_vqvae_config cfg = {.in_dim = 4, .width = 8, .depth = 1, .dilation_growth = 3, .down = 1, .n_codes = 64,
                             .code_dim = 4, .mu = 0.99f, .commit = 0.02f, .w_joint = 0, .joint_c0 = 0, .joint_c1 = 0};
    agir_vqvae m;
    agir_err e = {0};
    agir_ctx c = cpu();
    assert_int_equal(agir_vqvae_init(&m, &cfg, 2, 8, 3, &e), AGIR_OK);
    float x[2 * 8 * 4];
    agir_rng r;
    agir_rng_init(&r, 5, 6);
    for (int i = 0; i < 64; i++) x[i] = (float)agir_rng_normal(&r);
    assert_int_equal(agir_vqvae_encode(&c, &m, x, &e), AGIR_OK);
    agir_vqvae_qstats qs;
    assert_int_equal(agir_vqvae_quantize(&c, &m, 1, &r, &qs, &e), AGIR_OK);
    // 8 latent rows, 64 codes: the codebook starts as tiled z_e, so each row is assigned a code that
    // is its own noisy copy; EMA counts then fall under 1 for every code used 0 times: 64 - used.
    int used = (int)lround(qs.usage * 64);
    assert_true(used >= 1 && used <= 8);
    assert_int_equal(qs.n_reset, 64 - used);
    for (int n = 0; n < 8; n++) {
        double d = 0;
        for (int i = 0; i < 4; i++) d += fabs(m.zq[n * 4 + i] - m.ze[n * 4 + i]);
        assert_true(d < 0.1);
    }
    agir_vqvae_free(&m);
}

static void perplexity_and_usage(void **state) {
    (void)state;
    float uniform[] = {3, 3, 3, 3}, one[] = {0, 5, 0, 0}, half[] = {2, 2, 0, 0}, none[] = {0, 0, 0, 0};
    assert_close(agir_vq_perplexity(uniform, 4), 4, 1e-5);
    assert_close(agir_vq_perplexity(one, 4), 1, 1e-5);
    assert_close(agir_vq_perplexity(half, 4), 2, 1e-5);
    assert_close(agir_vq_perplexity(none, 4), 0, 0);
    assert_close(agir_vq_usage(uniform, 4), 1, 0);
    assert_close(agir_vq_usage(one, 4), 0.25, 0);
    assert_close(agir_vq_usage(half, 4), 0.5, 0);
}

static void loss_values_by_hand(void **state) {
    (void)state;
    agir_ctx c = cpu();
    agir_err e = {0};
    // Differences per row (2 rows × 3 channels): 0.5, -2, 0 | 3, 0.1, -0.5; channels [0, 2).
    float p[] = {1.5f, -2, 7, 3, 0.1f, 0.5f}, t[] = {1, 0, 7, 0, 0, 1};
    double l;
    agir_loss_spec s = {AGIR_LOSS_SMOOTH_L1, 2, 3, 0, 2, 1.0f};
    assert_int_equal(agir_op_loss(&c, &s, p, t, NULL, &l, NULL, &e), AGIR_OK);
    assert_close(l, (0.125 + 1.5 + 2.5 + 0.005) / 4, 1e-6);
    uint8_t mask[] = {0, 1};
    s.weight = 0.5f;
    assert_int_equal(agir_op_loss(&c, &s, p, t, mask, &l, NULL, &e), AGIR_OK);
    assert_close(l, 0.5 * (2.5 + 0.005) / 2, 1e-6);
    s = (agir_loss_spec){AGIR_LOSS_L2, 2, 3, 1, 3, 1.0f};
    assert_int_equal(agir_op_loss(&c, &s, p, t, NULL, &l, NULL, &e), AGIR_OK);
    assert_close(l, (4 + 0 + 0.01 + 0.25) / 4, 1e-6);
    uint8_t nomask[] = {0, 0};
    assert_int_equal(agir_op_loss(&c, &s, p, t, nomask, &l, NULL, &e), AGIR_OK);
    assert_close(l, 0, 0);
}

// One training step's outputs, gradients and codebook with the given thread counts.
static void step_with_threads(int threads, float *out, float *grads, float *codebook) {
    // Activations of 32·32·128 values: above the element-wise ops' threading threshold.
    agir_vqvae_config cfg = {.in_dim = 7, .width = 128, .depth = 3, .dilation_growth = 3, .down = 2, .n_codes = 32,
                             .code_dim = 16, .mu = 0.99f, .commit = 0.02f, .w_joint = 0.5f,
                             .joint_c0 = 1, .joint_c1 = 5};
    int B = 32, T = 32;
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
    agir_vqvae m;
    agir_err e = {0};
    agir_ctx c = cpu();
    assert_int_equal(agir_vqvae_init(&m, &cfg, B, T, 9, &e), AGIR_OK);
    assert_true(m.n_params <= 1 << 21);
    size_t nx = (size_t)B * T * cfg.in_dim;
    float *x = malloc(nx * sizeof(float));
    assert_non_null(x);
    agir_rng r;
    agir_rng_init(&r, 8, 1);
    for (size_t i = 0; i < nx; i++) x[i] = (float)agir_rng_normal(&r);
    assert_int_equal(agir_vqvae_encode(&c, &m, x, &e), AGIR_OK);
    assert_int_equal(agir_vqvae_quantize(&c, &m, 1, &r, NULL, &e), AGIR_OK);
    assert_int_equal(agir_vqvae_decode(&c, &m, m.zq, &e), AGIR_OK);
    assert_int_equal(agir_vqvae_backward(&c, &m, x, NULL, &e), AGIR_OK);
    memcpy(out, m.out, nx * sizeof(float));
    memcpy(grads, m.grads, m.n_params * sizeof(float));
    memcpy(codebook, m.codebook, (size_t)cfg.n_codes * cfg.code_dim * sizeof(float));
    free(x);
    agir_vqvae_free(&m);
}

static void same_results_for_any_thread_count(void **state) {
    (void)state;
    enum { NX = 32 * 32 * 7, NP = 1 << 21, NC = 32 * 16 };
    int omp0 = omp_get_max_threads(), blas0 = openblas_get_num_threads();
    float *a = calloc(NX + NP + NC, sizeof(float)), *b = calloc(NX + NP + NC, sizeof(float));
    assert_non_null(a);
    assert_non_null(b);
    step_with_threads(1, a, a + NX, a + NX + NP);
    step_with_threads(3, b, b + NX, b + NX + NP);
    omp_set_num_threads(omp0);
    openblas_set_num_threads(blas0);
    assert_memory_equal(a, b, sizeof(float) * NX);
    assert_memory_equal(a + NX, b + NX, sizeof(float) * NP);
    assert_memory_equal(a + NX + NP, b + NX + NP, sizeof(float) * NC);
    free(a), free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t2m_shapes_and_parameter_count),
        cmocka_unit_test(config_is_validated),
        cmocka_unit_test(tensor_table_tiles_params),
        cmocka_unit_test(assign_picks_nearest_with_ties_to_lower_index),
        cmocka_unit_test(stats_and_ema_update_by_hand),
        cmocka_unit_test(dead_code_reset_rows),
        cmocka_unit_test(codebook_init_and_reset_in_training),
        cmocka_unit_test(perplexity_and_usage),
        cmocka_unit_test(loss_values_by_hand),
        cmocka_unit_test(same_results_for_any_thread_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
