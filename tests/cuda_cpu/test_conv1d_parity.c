// Parity of kernels/cuda/conv1d.cu (im2col, col2im, bias broadcast and bias gradient around cuBLAS
// GEMMs) with the CPU conv1d (kernels/cpu/conv1d.c) on awkward shapes: odd T, channels that are not
// multiples of 32, stride 2 and 3, dilations 3 and 9 with matching padding, padding wider than the
// input, the direct 1×1 path, and a 1×1 stride-2 conv; forward with and without bias, backward with
// and without dx and dbias, accumulating (+=) into gradients that start non-zero.
// The CPU op itself is checked against finite differences in tests/unit/test_vq_ops_fd.c.
//
// Tolerances: a conv output or weight-gradient element is an fp32 dot product of length L (K·C_in
// for y and dx, B·T_out for dw and dbias) over N(0, 1) data; a GPU GEMM sums in another order,
// which moves the result by at most a few ulps per term: |d| <= ~L·2^-24·Σ|terms|, and Σ|terms| is
// about 0.64·L here, so atol = 1e-6·L·(1 + L/64) with rtol 1e-5 bounds it with room while still
// catching a dropped or doubled tap (an error of order 1). Gradients an op must leave alone (dx and
// dbias passed as NULL) are compared exactly. The bias gradient sums in fp32 against
// the CPU's double: the same bound with L = rows. On the CPU runtime the GEMM is OpenBLAS for both
// sides in the same layout, so the maxima printed are usually 0.
#include "vq_parity.h"

#include "kernels/vq_ops.h"

typedef struct shape_case {
    int B, T, C_in, C_out, K, stride, dilation, pad;
} shape_case;

static const shape_case cases[] = {
    {2, 37, 45, 51, 3, 1, 1, 1},   // the model's conv3
    {3, 33, 20, 33, 4, 2, 1, 1},   // its stride-2 down-sampling conv, odd T
    {2, 29, 33, 31, 3, 1, 3, 3},   // residual conv, dilation 3
    {1, 31, 17, 19, 3, 1, 9, 9},   // dilation 9
    {2, 2, 5, 7, 3, 1, 9, 9},      // padding wider than the input: most taps are zero
    {2, 23, 45, 37, 1, 1, 1, 0},   // direct 1×1 (no im2col; dcol straight into dx)
    {2, 23, 13, 11, 1, 2, 1, 0},   // 1×1 with stride 2 (im2col path)
    {3, 40, 9, 70, 5, 3, 2, 2},    // stride 3, dilation 2, C_out over two warps of bias channels
    {1, 1, 1, 1, 1, 1, 1, 0},      // one of everything
};

static double tol_len(double L) { return 1e-6 * L * (1 + L / 64); }

static void run_case(vqp *v, const shape_case *sc) {
    agir_err e = {0};
    agir_conv1d_shape s = {sc->B, sc->T, sc->C_in, sc->C_out, sc->K, sc->stride, sc->dilation, sc->pad};
    int T_out = agir_conv1d_t_out(&s);
    parity_check(&v->t, T_out > 0, "case B%d T%d: invalid shape", sc->B, sc->T);
    if (T_out <= 0) return;
    size_t nx = (size_t)s.B * s.T_in * s.C_in, ny = (size_t)s.B * T_out * s.C_out;
    size_t nw = (size_t)s.C_out * s.K * s.C_in, nws = agir_conv1d_ws_floats(&s), rows = (size_t)s.B * T_out;
    uint64_t seed = (uint64_t)sc->T * 1000 + (uint64_t)sc->K * 10 + (uint64_t)sc->dilation;
    float *x = parity_host(nx), *w = parity_host(nw), *b = parity_host(s.C_out), *dy = parity_host(ny);
    float *dx0 = parity_host(nx), *dw0 = parity_host(nw), *db0 = parity_host(s.C_out);
    parity_fill(x, nx, seed + 1, 1, 0), parity_fill(w, nw, seed + 2, 1, 0), parity_fill(b, s.C_out, seed + 3, 1, 0);
    parity_fill(dy, ny, seed + 4, 1, 0), parity_fill(dx0, nx, seed + 5, 1, 0), parity_fill(dw0, nw, seed + 6, 1, 0);
    parity_fill(db0, s.C_out, seed + 7, 1, 0);
    float *dxv = vqp_dev(v, x, nx * 4), *dwv = vqp_dev(v, w, nw * 4), *dbv = vqp_dev(v, b, s.C_out * 4);
    float *ddy = vqp_dev(v, dy, ny * 4), *dws = parity_alloc(&v->t, (nws ? nws : 1) * 4);
    float *ws = parity_host(nws), *y = parity_host(ny), *dyv = parity_alloc(&v->t, ny * 4);
    double L = (double)s.K * s.C_in, Lr = (double)rows;
    char what[96];
    for (int bias = 1; bias >= 0; bias--) {
        if (agir_op_conv1d_fwd(&v->t.cpu, &s, x, w, bias ? b : NULL, y, ws, &e) ||
            agir_op_conv1d_fwd(&v->t.cuda, &s, dxv, dwv, bias ? dbv : NULL, dyv, dws, &e))
            parity_die(&e);
        snprintf(what, sizeof what, "fwd%s K%d s%d d%d p%d T%d", bias ? "" : " nobias", s.K, s.stride, s.dilation,
                 s.pad, s.T_in);
        vqp_compare(v, what, dyv, y, ny, tol_len(L), 1e-5);
    }
    // Backward, accumulating into non-zero gradients; with and without dx / dbias.
    for (int full = 1; full >= 0; full--) {
        float *gx = parity_host(nx), *gw = parity_host(nw), *gb = parity_host(s.C_out);
        memcpy(gx, dx0, nx * 4), memcpy(gw, dw0, nw * 4), memcpy(gb, db0, s.C_out * 4);
        float *dgx = vqp_dev(v, dx0, nx * 4), *dgw = vqp_dev(v, dw0, nw * 4), *dgb = vqp_dev(v, db0, s.C_out * 4);
        if (agir_op_conv1d_bwd(&v->t.cpu, &s, x, w, dy, full ? gx : NULL, gw, full ? gb : NULL, ws, &e) ||
            agir_op_conv1d_bwd(&v->t.cuda, &s, dxv, dwv, ddy, full ? dgx : NULL, dgw, full ? dgb : NULL, dws, &e))
            parity_die(&e);
        snprintf(what, sizeof what, "bwd%s K%d s%d d%d p%d T%d", full ? "" : " (no dx/db)", s.K, s.stride,
                 s.dilation, s.pad, s.T_in);
        char sub[128];
        snprintf(sub, sizeof sub, "%s dw", what);
        vqp_compare(v, sub, dgw, gw, nw, tol_len(Lr), 1e-5);
        snprintf(sub, sizeof sub, "%s dx", what);
        vqp_compare(v, sub, dgx, gx, nx, full ? tol_len(s.K * (double)s.C_out) : EXACT, full ? 1e-5 : 0);
        snprintf(sub, sizeof sub, "%s dbias", what);
        vqp_compare(v, sub, dgb, gb, s.C_out, full ? tol_len(Lr) : EXACT, full ? 1e-5 : 0);
        vqp_free(v, dgx), vqp_free(v, dgw), vqp_free(v, dgb);
        free(gx), free(gw), free(gb);
    }
    vqp_free(v, dxv), vqp_free(v, dwv), vqp_free(v, dbv), vqp_free(v, ddy), vqp_free(v, dws), vqp_free(v, dyv);
    free(x), free(w), free(b), free(dy), free(dx0), free(dw0), free(db0), free(ws), free(y);
}

// Invalid shapes are bugs on either device, reported before any kernel runs.
static void invalid(vqp *v) {
    agir_err e = {0};
    agir_conv1d_shape s = {1, 2, 3, 4, 5, 1, 1, 0};  // K·dilation beyond the input: T_out 0
    float f = 0;
    int rc = agir_op_conv1d_fwd(&v->t.cuda, &s, &f, &f, NULL, &f, &f, &e);
    parity_check(&v->t, rc == AGIR_EINTERNAL && strstr(e.msg, "invalid conv1d shape"), "invalid shape: %d %s", rc,
                 e.msg);
}

int main(void) {
    vqp v;
    vqp_open(&v);
    for (int pass = 0; pass < parity_passes(); pass++) {
        vqp_pass(&v, pass);
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) run_case(&v, &cases[i]);
        invalid(&v);
    }
    return vqp_close(&v);
}
