// One VQ-VAE training step through the CUDA backend against the same step on the CPU
// (models/vqvae.c on each device, kernels/cuda/ against kernels/cpu/): a small model with every
// layer kind (stride-2 convs, dilated residual blocks, up-sampling), masked frames and the joint
// term; two steps, each encode → quantize (the first initialises the codebook; then the EMA update
// with dead-code reset, tiled rows with noise since the batch has fewer latent rows than codes) →
// decode → losses → backward → AdamW on the parameters.
//
// Tolerances: the initial parameters must be equal (drawn on the host, then uploaded); the code
// indices must be equal (a flipped near-tie would change a whole latent row: at these sizes the
// distances' gaps are far above fp32 noise); tensors within atol = 1e-5·max|ref| + rtol 1e-4: about
// twenty layers of GEMMs whose fp32 sums a GPU orders differently (~1e-6 relative each), compounded,
// plus the bias gradients summed in fp32 instead of double. On the CPU runtime the GEMMs are
// OpenBLAS on both sides, so the printed maxima are mostly 0.
#include "vq_parity.h"

#include "models/vqvae.h"

enum { B = 2, T = 16, STEPS = 2 };

static agir_vqvae_config config(void) {
    agir_vqvae_config c = agir_vqvae_t2m_config(13);
    c.width = 40, c.depth = 2, c.dilation_growth = 3, c.down = 2, c.n_codes = 37, c.code_dim = 24;
    c.joint_c0 = 3, c.joint_c1 = 9;
    return c;
}

// A device tensor against its host reference, scaled to the reference's magnitude.
static void compare_t(vqp *v, const char *what, int step, const float *dev, const float *ref, size_t n) {
    double mx = 0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs((double)ref[i]));
    char name[96];
    snprintf(name, sizeof name, "step %d %s", step, what);
    vqp_compare(v, name, dev, ref, n, 1e-5 * mx + 1e-30, 1e-4);
}

typedef struct side {
    const agir_ctx *c;
    agir_vqvae m;
    float *x, *adam_m, *adam_v;
    uint8_t *mask;
    agir_rng r;
    agir_vqvae_losses l;
    agir_vqvae_qstats qs;
} side;

static void *on(const agir_ctx *c, vqp *v, const void *h, size_t bytes) {
    if (c->dev == AGIR_DEV_CPU) {
        void *p = malloc(bytes ? bytes : 1);
        memcpy(p, h, bytes);
        return p;
    }
    return vqp_dev(v, h, bytes);
}

static void step(side *s, int k) {
    agir_err e = {0};
    agir_vqvae *m = &s->m;
    // eps 1e-4: Adam's first steps move every weight by about ±lr whatever its gradient's size, so a
    // gradient of ~1e-9 whose sign differs between devices would move by 2·lr; a larger eps bounds
    // how much a gradient difference is amplified (by lr/eps = 10) without changing what is tested.
    agir_adamw_hp hp = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-4f, .weight_decay = 0.0f,
                        .grad_scale = 1.0f, .step = k + 1};
    if (agir_vqvae_encode(s->c, m, s->x, &e) || agir_vqvae_quantize(s->c, m, 1, &s->r, &s->qs, &e) ||
        agir_vqvae_decode(s->c, m, m->zq, &e) || agir_vqvae_loss(s->c, m, s->x, s->mask, &s->l, &e) ||
        agir_vqvae_backward(s->c, m, s->x, s->mask, &e) ||
        agir_op_adamw(s->c, m->params, m->grads, s->adam_m, s->adam_v, m->n_params, &hp, &e))
        parity_die(&e);
}

static void open_side(vqp *v, side *s, const agir_ctx *c, const float *x, const uint8_t *mask) {
    agir_err e = {0};
    agir_vqvae_config cfg = config();
    s->c = c;
    if (agir_vqvae_init_ctx(c, &s->m, &cfg, B, T, 99, &e)) parity_die(&e);
    size_t nx = (size_t)B * T * cfg.in_dim, np = s->m.n_params;
    float *zeros = calloc(np, sizeof *zeros);
    s->x = on(c, v, x, nx * 4), s->mask = on(c, v, mask, (size_t)B * T);
    s->adam_m = on(c, v, zeros, np * 4), s->adam_v = on(c, v, zeros, np * 4);
    free(zeros);
    agir_rng_init(&s->r, 7, 1);
}

static void close_side(vqp *v, side *s) {
    if (s->c->dev == AGIR_DEV_CPU) {
        free(s->x), free(s->mask), free(s->adam_m), free(s->adam_v);
    } else {
        vqp_free(v, s->x), vqp_free(v, s->mask), vqp_free(v, s->adam_m), vqp_free(v, s->adam_v);
    }
    agir_vqvae_free(&s->m);
}

static void run(vqp *v) {
    agir_vqvae_config cfg = config();
    size_t nx = (size_t)B * T * cfg.in_dim;
    float *x = parity_host(nx);
    uint8_t mask[B * T];
    for (int i = 0; i < B * T; i++) mask[i] = i % 7 != 3;  // a few frames do not count
    side h = {0}, d = {0};
    parity_fill(x, nx, 1, 1, 0);
    open_side(v, &h, &v->t.cpu, x, mask);
    open_side(v, &d, &v->t.cuda, x, mask);
    size_t np = h.m.n_params;
    int K = cfg.n_codes, D = cfg.code_dim, N = B * (T >> cfg.down);
    // The model's tensors are on one device: a context of the other is a bug, caught before any op.
    agir_err e = {0};
    int rc = agir_vqvae_encode(&v->t.cpu, &d.m, d.x, &e);
    parity_check(&v->t, rc == AGIR_EINTERNAL && strstr(e.msg, "vqvae on cuda called with a cpu context"),
                 "wrong-device context: %d %s", rc, e.msg);
    vqp_compare(v, "initial params", d.m.params, h.m.params, np, EXACT, 0);
    for (int k = 0; k < STEPS; k++) {
        if (k) {  // a new batch
            parity_fill(x, nx, 2 + (uint64_t)k, 1, 0);
            memcpy(h.x, x, nx * 4);
            parity_up(&v->t, d.x, x, nx * 4);
        }
        step(&h, k);
        step(&d, k);
        int32_t *idx = malloc(sizeof *idx * (size_t)N);
        parity_down(&v->t, idx, d.m.idx, sizeof *idx * (size_t)N);
        int differ = 0;
        for (int n = 0; n < N; n++) differ += idx[n] != h.m.idx[n];
        parity_check(&v->t, !differ, "step %d: %d of %d code indices differ", k, differ, N);
        vqp_record(v, "idx", idx, sizeof *idx * (size_t)N);
        free(idx);
        compare_t(v, "z_e", k, d.m.ze, h.m.ze, (size_t)N * D);
        compare_t(v, "z_q", k, d.m.zq, h.m.zq, (size_t)N * D);
        compare_t(v, "codebook", k, d.m.codebook, h.m.codebook, (size_t)K * D);
        compare_t(v, "ema_count", k, d.m.ema_count, h.m.ema_count, K);
        compare_t(v, "ema_sum", k, d.m.ema_sum, h.m.ema_sum, (size_t)K * D);
        compare_t(v, "decoder output", k, d.m.out, h.m.out, nx);
        compare_t(v, "gradients", k, d.m.grads, h.m.grads, np);
        compare_t(v, "params after AdamW", k, d.m.params, h.m.params, np);
        double lt = fabs(d.l.total - h.l.total) / h.l.total, lc = fabs(d.l.commit - h.l.commit) / h.l.commit;
        parity_check(&v->t, lt < 1e-5 && lc < 1e-5 && d.qs.n_reset == h.qs.n_reset &&
                                fabs(d.qs.perplexity - h.qs.perplexity) < 1e-9 * h.qs.perplexity,
                     "step %d: loss %.9g vs %.9g, commit %.9g vs %.9g, resets %d vs %d, perplexity %g vs %g", k,
                     d.l.total, h.l.total, d.l.commit, h.l.commit, d.qs.n_reset, h.qs.n_reset, d.qs.perplexity,
                     h.qs.perplexity);
        if (v->pass == 0)
            printf("  step %d: loss %.6f (rel |d| %.3g), commit rel |d| %.3g, %d codes reset, perplexity %.3f\n", k,
                   h.l.total, lt, lc, h.qs.n_reset, h.qs.perplexity);
        vqp_record(v, "loss", &d.l.total, sizeof d.l.total);
    }
    close_side(v, &h);
    close_side(v, &d);
    free(x);
}

int main(void) {
    vqp v;
    vqp_open(&v);
    for (int pass = 0; pass < parity_passes(); pass++) {
        vqp_pass(&v, pass);
        run(&v);
    }
    return vqp_close(&v);
}
