// Parity of kernels/cuda/vq_ops.cu with the CPU ops of kernels/cpu/vq_ops.c: the residual add, ReLU
// and nearest up-sampling (forward and backward), the masked smooth-L1 / L2 losses with their gradients, and the
// quantizer: nearest code (cuBLAS GEMM + argmin, ties to the lower index), gather, per-code
// statistics, reset rows (host Philox draws, device gather) and the EMA update. Sizes around the
// block size, odd and one beyond a capped grid; channels that are not multiples of 32.
// The CPU ops themselves are checked in tests/unit/test_vq_ops_fd.c and tests/unit/test_vqvae.c.
//
// Tolerances, and why:
// - Residual add, ReLU, up-sampling, gather, statistics, reset rows: the same float operations in the same order
//   (the statistics kernel walks rows in the CPU's order), so they must be equal (EXACT).
// - Loss value: both sides sum in double in different orders: rtol 1e-10. Loss gradient: computed in
//   double and rounded once like the CPU, then one float add: rtol 1e-6.
// - EMA update: nvcc may contract mu·a + (1-mu)·b into an FMA and divides in one rounding either
//   way: a few ulps, rtol 1e-6. Dead-code counts must be equal (counts are kept away from 1).
// - Nearest code: a GPU GEMM orders the dot products' sums differently, so near-ties may flip; an
//   index may differ from the CPU's only when its exact distance is within 1e-5·(|x|² + |c|²) of
//   the CPU choice's. With integer data (exact arithmetic) and duplicated codes it must be equal and
//   the lower duplicate.
#include "vq_parity.h"

#include "kernels/vq_ops.h"

static void die_if(int rc, const agir_err *e) {
    if (rc) parity_die(e);
}

// --- element-wise ---

static void relu(vqp *v, size_t n) {
    agir_err e = {0};
    float *x = parity_host(n), *dy = parity_host(n), *g = parity_host(n), *y = parity_host(n);
    parity_fill(x, n, n + 1, 1, 0), parity_fill(dy, n, n + 2, 1, 0), parity_fill(g, n, n + 3, 1, 0);
    float *dx = vqp_dev(v, x, n * 4), *ddy = vqp_dev(v, dy, n * 4), *dg = vqp_dev(v, g, n * 4);
    float *dyv = parity_alloc(&v->t, n * 4 + 4);
    die_if(agir_op_relu_fwd(&v->t.cpu, x, y, n, &e) || agir_op_relu_fwd(&v->t.cuda, dx, dyv, n, &e), &e);
    vqp_compare(v, "relu_fwd", dyv, y, n, EXACT, 0);
    die_if(agir_op_relu_bwd(&v->t.cpu, y, dy, g, n, &e) || agir_op_relu_bwd(&v->t.cuda, dyv, ddy, dg, n, &e), &e);
    vqp_compare(v, "relu_bwd (+= into non-zero dx)", dg, g, n, EXACT, 0);
    die_if(agir_op_relu_fwd(&v->t.cpu, x, x, n, &e) || agir_op_relu_fwd(&v->t.cuda, dx, dx, n, &e), &e);
    vqp_compare(v, "relu_fwd in place", dx, x, n, EXACT, 0);
    die_if(agir_op_add_into(&v->t.cpu, dy, g, n, &e) || agir_op_add_into(&v->t.cuda, ddy, dg, n, &e), &e);
    vqp_compare(v, "add_into", dg, g, n, EXACT, 0);
    vqp_free(v, dx), vqp_free(v, ddy), vqp_free(v, dg), vqp_free(v, dyv);
    free(x), free(dy), free(g), free(y);
}

static void upsample(vqp *v, int B, int T, int C) {
    agir_err e = {0};
    size_t n = (size_t)B * T * C;
    float *x = parity_host(n), *y = parity_host(2 * n), *dy = parity_host(2 * n), *g = parity_host(n);
    parity_fill(x, n, 11, 1, 0), parity_fill(dy, 2 * n, 12, 1, 0), parity_fill(g, n, 13, 1, 0);
    float *dx = vqp_dev(v, x, n * 4), *ddy = vqp_dev(v, dy, 2 * n * 4), *dg = vqp_dev(v, g, n * 4);
    float *dyv = parity_alloc(&v->t, 2 * n * 4);
    die_if(agir_op_upsample2_fwd(&v->t.cpu, x, y, B, T, C, &e) ||
               agir_op_upsample2_fwd(&v->t.cuda, dx, dyv, B, T, C, &e),
           &e);
    vqp_compare(v, "upsample2_fwd", dyv, y, 2 * n, EXACT, 0);
    die_if(agir_op_upsample2_bwd(&v->t.cpu, dy, g, B, T, C, &e) ||
               agir_op_upsample2_bwd(&v->t.cuda, ddy, dg, B, T, C, &e),
           &e);
    vqp_compare(v, "upsample2_bwd", dg, g, n, EXACT, 0);
    vqp_free(v, dx), vqp_free(v, ddy), vqp_free(v, dg), vqp_free(v, dyv);
    free(x), free(y), free(dy), free(g);
}

// --- losses ---

// mask_kind: 0 none, 1 random rows, 2 every row masked out.
static void loss(vqp *v, agir_loss_kind kind, int N, int C, int c0, int c1, float weight, int mask_kind) {
    agir_err e = {0};
    size_t n = (size_t)N * C;
    float *p = parity_host(n), *t = parity_host(n), *g = parity_host(n);
    parity_fill(p, n, 21 + (uint64_t)N, 1.5, 0), parity_fill(t, n, 22 + (uint64_t)N, 1.0, 0.1);
    parity_fill(g, n, 23, 0.01, 0);
    uint8_t *mask = malloc((size_t)N + 1);
    agir_rng r;
    agir_rng_init(&r, 5, (uint64_t)N);
    for (int i = 0; i < N; i++) mask[i] = mask_kind == 1 ? agir_rng_below(&r, 4) != 0 : mask_kind == 0;
    float *dp = vqp_dev(v, p, n * 4), *dt = vqp_dev(v, t, n * 4), *dg = vqp_dev(v, g, n * 4);
    uint8_t *dm = vqp_dev(v, mask, (size_t)N + 1);
    agir_loss_spec s = {kind, N, C, c0, c1, weight};
    for (int grad = 1; grad >= 0; grad--) {
        double lc = -1, lg = -1;
        const uint8_t *hm = mask_kind ? mask : NULL, *gm = mask_kind ? dm : NULL;
        die_if(agir_op_loss(&v->t.cpu, &s, p, t, hm, &lc, grad ? g : NULL, &e) ||
                   agir_op_loss(&v->t.cuda, &s, dp, dt, gm, &lg, grad ? dg : NULL, &e),
               &e);
        char what[96];
        snprintf(what, sizeof what, "loss %s N%d C%d [%d,%d) mask%d%s", kind == AGIR_LOSS_L2 ? "l2" : "sl1", N, C, c0,
                 c1, mask_kind, grad ? "" : " (value only)");
        double rel = fabs(lg - lc) / (fabs(lc) > 0 ? fabs(lc) : 1);
        parity_check(&v->t, rel <= 1e-10 && (mask_kind != 2 || lg == 0), "%s: %.17g vs %.17g", what, lg, lc);
        if (v->pass == 0) printf("  %-44s loss %.9g  rel |d| %.3g\n", what, lc, rel);
        vqp_record(v, what, &lg, sizeof lg);
        vqp_compare(v, what, dg, g, n, 1e-9, 1e-6);
    }
    vqp_free(v, dp), vqp_free(v, dt), vqp_free(v, dg), vqp_free(v, dm);
    free(p), free(t), free(g), free(mask);
}

// --- quantizer ---

// Squared distance in double, the exact ranking the argmin approximates.
static double dist2(const float *a, const float *b, int D) {
    double s = 0;
    for (int i = 0; i < D; i++) s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return s;
}

// ints: small-integer data with codes k and k + K/2 equal, so exact ties must go to the lower one.
static void assign(vqp *v, int N, int K, int D, int ints) {
    agir_err e = {0};
    float *x = parity_host((size_t)N * D), *cb = parity_host((size_t)K * D);
    parity_fill(x, (size_t)N * D, 31 + (uint64_t)N, 1, 0), parity_fill(cb, (size_t)K * D, 32 + (uint64_t)K, 1, 0);
    if (ints) {
        for (size_t i = 0; i < (size_t)N * D; i++) x[i] = roundf(x[i]);
        for (size_t i = 0; i < (size_t)K * D; i++) cb[i] = roundf(cb[i]);
        for (int k = K / 2; k < K; k++) memcpy(cb + (size_t)k * D, cb + (size_t)(k - K / 2) * D, sizeof(float) * D);
    }
    size_t nws = agir_vq_ws_floats(N, K);
    float *ws = parity_host(nws), *dws = parity_alloc(&v->t, nws * 4);
    int32_t *idx = malloc(sizeof *idx * (size_t)N), *gidx = malloc(sizeof *gidx * (size_t)N);
    float *dx = vqp_dev(v, x, (size_t)N * D * 4), *dcb = vqp_dev(v, cb, (size_t)K * D * 4);
    int32_t *didx = parity_alloc(&v->t, sizeof *didx * (size_t)N);
    die_if(agir_op_vq_assign(&v->t.cpu, x, cb, N, K, D, idx, ws, &e) ||
               agir_op_vq_assign(&v->t.cuda, dx, dcb, N, K, D, didx, dws, &e),
           &e);
    parity_down(&v->t, gidx, didx, sizeof *gidx * (size_t)N);
    int differ = 0, bad = 0, upper = 0;
    for (int n = 0; n < N; n++) {
        const float *xn = x + (size_t)n * D;
        if (gidx[n] < 0 || gidx[n] >= K) {
            bad++;
            continue;
        }
        upper += ints && gidx[n] >= K / 2 && K % 2 == 0;
        if (gidx[n] == idx[n]) continue;
        differ++;
        double dg = dist2(xn, cb + (size_t)gidx[n] * D, D), dc = dist2(xn, cb + (size_t)idx[n] * D, D);
        double scale = dist2(xn, xn, D) + dist2(cb + (size_t)idx[n] * D, cb + (size_t)idx[n] * D, D);
        bad += ints || fabs(dg - dc) > 1e-5 * (scale + 1);
    }
    char what[96];
    snprintf(what, sizeof what, "vq_assign N%d K%d D%d%s", N, K, D, ints ? " ints+ties" : "");
    parity_check(&v->t, !bad && !upper, "%s: %d wrong indices, %d ties to the upper duplicate", what, bad, upper);
    if (v->pass == 0) printf("  %-44s %d of %d indices differ (near-ties)\n", what, differ, N);
    vqp_record(v, what, gidx, sizeof *gidx * (size_t)N);
    vqp_free(v, dws), vqp_free(v, dx), vqp_free(v, dcb), vqp_free(v, didx);
    free(x), free(cb), free(ws), free(idx), free(gidx);
}

// gather and stats on random indices that leave some codes unused; then an out-of-range index.
static void gather_stats(vqp *v, int N, int K, int D) {
    agir_err e = {0};
    float *x = parity_host((size_t)N * D), *cb = parity_host((size_t)K * D), *q = parity_host((size_t)N * D);
    float *cnt = parity_host(K), *sums = parity_host((size_t)K * D);
    parity_fill(x, (size_t)N * D, 41, 1, 0), parity_fill(cb, (size_t)K * D, 42, 1, 0);
    int32_t *idx = malloc(sizeof *idx * (size_t)N);
    agir_rng r;
    agir_rng_init(&r, 43, (uint64_t)N);
    for (int n = 0; n < N; n++) idx[n] = (int32_t)agir_rng_below(&r, (uint32_t)(K > 3 ? K - K / 3 : K));
    float *dx = vqp_dev(v, x, (size_t)N * D * 4), *dcb = vqp_dev(v, cb, (size_t)K * D * 4);
    int32_t *didx = vqp_dev(v, idx, sizeof *idx * (size_t)N);
    float *dq = parity_alloc(&v->t, (size_t)N * D * 4), *dcnt = parity_alloc(&v->t, (size_t)K * 4);
    float *dsums = parity_alloc(&v->t, (size_t)K * D * 4);
    die_if(agir_op_vq_gather(&v->t.cpu, cb, idx, N, K, D, q, &e) ||
               agir_op_vq_gather(&v->t.cuda, dcb, didx, N, K, D, dq, &e) ||
               agir_op_vq_stats(&v->t.cpu, x, idx, N, K, D, cnt, sums, &e) ||
               agir_op_vq_stats(&v->t.cuda, dx, didx, N, K, D, dcnt, dsums, &e),
           &e);
    char what[96];
    snprintf(what, sizeof what, "vq_gather N%d K%d D%d", N, K, D);
    vqp_compare(v, what, dq, q, (size_t)N * D, EXACT, 0);
    snprintf(what, sizeof what, "vq_stats counts N%d K%d", N, K);
    vqp_compare(v, what, dcnt, cnt, K, EXACT, 0);
    snprintf(what, sizeof what, "vq_stats sums N%d K%d D%d", N, K, D);
    vqp_compare(v, what, dsums, sums, (size_t)K * D, EXACT, 0);
    // An index outside [0, K) is a bug the device reports too, rather than reading out of bounds.
    int32_t bad = K;
    parity_up(&v->t, didx + N / 2, &bad, sizeof bad);
    int rg = agir_op_vq_gather(&v->t.cuda, dcb, didx, N, K, D, dq, &e);
    int rs = agir_op_vq_stats(&v->t.cuda, dx, didx, N, K, D, dcnt, dsums, &e);
    parity_check(&v->t, rg == AGIR_EINTERNAL && rs == AGIR_EINTERNAL, "index %d accepted (gather %d, stats %d)", K, rg,
                 rs);
    vqp_free(v, dx), vqp_free(v, dcb), vqp_free(v, didx), vqp_free(v, dq), vqp_free(v, dcnt), vqp_free(v, dsums);
    free(x), free(cb), free(q), free(cnt), free(sums), free(idx);
}

// Same seed on both sides: the rows must be equal and both streams must have drawn the same amount.
static void reset_rows(vqp *v, int N, int K, int D) {
    agir_err e = {0};
    float *x = parity_host((size_t)N * D), *rows = parity_host((size_t)K * D);
    parity_fill(x, (size_t)N * D, 51, 1, 0);
    size_t nws = agir_vq_reset_ws_ints(N, K);
    int32_t *ws = malloc(sizeof *ws * nws), *dws = parity_alloc(&v->t, sizeof *dws * nws);
    float *dx = vqp_dev(v, x, (size_t)N * D * 4), *drows = parity_alloc(&v->t, (size_t)K * D * 4);
    agir_rng rc, rg;
    agir_rng_init(&rc, 52, (uint64_t)K), agir_rng_init(&rg, 52, (uint64_t)K);
    die_if(agir_op_vq_reset_rows(&v->t.cpu, &rc, x, N, K, D, rows, ws, &e) ||
               agir_op_vq_reset_rows(&v->t.cuda, &rg, dx, N, K, D, drows, dws, &e),
           &e);
    char what[96];
    snprintf(what, sizeof what, "vq_reset_rows N%d K%d D%d%s", N, K, D, N < K ? " (tiled + noise)" : "");
    vqp_compare(v, what, drows, rows, (size_t)K * D, EXACT, 0);
    parity_check(&v->t, agir_rng_u64(&rc) == agir_rng_u64(&rg), "%s: the streams drew different amounts", what);
    vqp_free(v, dws), vqp_free(v, dx), vqp_free(v, drows);
    free(x), free(rows), free(ws);
}

static void ema(vqp *v, int K, int D, float mu) {
    agir_err e = {0};
    size_t kd = (size_t)K * D;
    float *count = parity_host(K), *sum = parity_host(kd), *bc = parity_host(K), *bs = parity_host(kd);
    float *rows = parity_host(kd), *cb = parity_host(kd);
    parity_fill(sum, kd, 61, 1, 0), parity_fill(bs, kd, 62, 3, 0), parity_fill(rows, kd, 63, 1, 0);
    agir_rng r;
    agir_rng_init(&r, 64, (uint64_t)K);
    for (int k = 0; k < K; k++) {  // new counts kept at least 1e-3 away from the threshold 1
        do {
            count[k] = (float)agir_rng_range(&r, 0, 2.5);
            bc[k] = (float)agir_rng_below(&r, 4);
        } while (fabs(mu * (double)count[k] + (1 - mu) * (double)bc[k] - 1) < 1e-3);
    }
    float *dcount = vqp_dev(v, count, K * 4), *dsum = vqp_dev(v, sum, kd * 4), *dbc = vqp_dev(v, bc, K * 4);
    float *dbs = vqp_dev(v, bs, kd * 4), *drows = vqp_dev(v, rows, kd * 4), *dcb = parity_alloc(&v->t, kd * 4);
    int nc = -1, ng = -2;
    die_if(agir_op_vq_ema_update(&v->t.cpu, count, sum, bc, bs, rows, mu, K, D, cb, &nc, &e) ||
               agir_op_vq_ema_update(&v->t.cuda, dcount, dsum, dbc, dbs, drows, mu, K, D, dcb, &ng, &e),
           &e);
    char what[96];
    snprintf(what, sizeof what, "vq_ema_update K%d D%d mu %.2f: count", K, D, mu);
    vqp_compare(v, what, dcount, count, K, 1e-12, 1e-6);
    snprintf(what, sizeof what, "vq_ema_update K%d D%d mu %.2f: sum", K, D, mu);
    vqp_compare(v, what, dsum, sum, kd, 1e-12, 1e-6);
    snprintf(what, sizeof what, "vq_ema_update K%d D%d mu %.2f: codebook", K, D, mu);
    vqp_compare(v, what, dcb, cb, kd, 1e-12, 1e-6);
    parity_check(&v->t, nc == ng && nc > 0 && nc < K, "%s: %d codes reset on the device, %d on the CPU", what, ng, nc);
    if (v->pass == 0) printf("  %-44s %d of %d codes reset\n", what, nc, K);
    vqp_record(v, what, &ng, sizeof ng);
    vqp_free(v, dcount), vqp_free(v, dsum), vqp_free(v, dbc), vqp_free(v, dbs), vqp_free(v, drows), vqp_free(v, dcb);
    free(count), free(sum), free(bc), free(bs), free(rows), free(cb);
}

int main(void) {
    static const size_t relu_sizes[] = {0, 1, 255, 257, 4099, 300007};
    vqp v;
    vqp_open(&v);
    for (int pass = 0; pass < parity_passes(); pass++) {
        vqp_pass(&v, pass);
        for (size_t i = 0; i < sizeof relu_sizes / sizeof *relu_sizes; i++) relu(&v, relu_sizes[i]);
        upsample(&v, 3, 7, 45);
        upsample(&v, 1, 1, 1);
        loss(&v, AGIR_LOSS_SMOOTH_L1, 517, 67, 0, 67, 1.0f, 1);
        loss(&v, AGIR_LOSS_SMOOTH_L1, 517, 67, 3, 50, 0.5f, 0);
        loss(&v, AGIR_LOSS_L2, 33, 45, 0, 45, 0.02f, 0);
        loss(&v, AGIR_LOSS_L2, 1, 1, 0, 1, 1.0f, 1);
        loss(&v, AGIR_LOSS_SMOOTH_L1, 40, 7, 2, 5, 1.0f, 2);
        assign(&v, 77, 45, 19, 0);
        assign(&v, 301, 513, 64, 0);
        assign(&v, 129, 70, 9, 1);
        assign(&v, 5, 1, 3, 0);
        gather_stats(&v, 77, 45, 19);
        gather_stats(&v, 300, 129, 257);
        reset_rows(&v, 77, 45, 19);
        reset_rows(&v, 13, 45, 19);
        ema(&v, 45, 19, 0.99f);
        ema(&v, 129, 257, 0.5f);
    }
    return vqp_close(&v);
}
