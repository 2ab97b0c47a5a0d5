// Parity of kernels/cuda/adamw.cu with the CPU AdamW (kernels/cpu/adamw.c): fp32 and bf16-master
// variants, several steps (bias correction changes each step), a gradient scale and weight decay,
// sizes around the block size, one element and beyond the capped grid (grid-stride loop).
// The CPU op itself is checked against a double-precision reference in tests/unit/test_adamw.c.
#include "parity.h"

#include "core/bf16.h"

enum { STEPS = 4, BIG = 70000 };

static const size_t sizes[] = {1, 31, 255, 256, 257, 1000, 4099, 65539, (1u << 20) + 7};

typedef struct state {
    float *p, *m, *v;
    agir_bf16 *p16;  // NULL for the fp32 variant
} state;

static agir_adamw_hp hyper(int step) {
    agir_adamw_hp hp = {.lr = 1e-2f,
                        .beta1 = 0.9f,
                        .beta2 = 0.99f,
                        .eps = 1e-8f,
                        .weight_decay = 0.1f,
                        .grad_scale = step == 3 ? 0.25f : 1.0f,
                        .step = step};
    return hp;
}

static void update(const agir_ctx *c, state *s, const float *g, size_t n, int step) {
    agir_err e = {0};
    agir_adamw_hp hp = hyper(step);
    int rc = s->p16 ? agir_op_adamw_bf16(c, s->p, s->p16, g, s->m, s->v, n, &hp, &e)
                    : agir_op_adamw(c, s->p, g, s->m, s->v, n, &hp, &e);
    if (rc) parity_die(&e);
}

// Runs STEPS updates from the same start on both devices and compares. out_p receives the device's
// final parameters (to compare passes bit for bit).
static void run(parity *t, size_t n, int bf16, float *out_p) {
    size_t fb = n * sizeof(float), hb = n * sizeof(agir_bf16);
    float *p0 = parity_host(n), *g = parity_host(n), *zero = parity_host(n);
    memset(zero, 0, fb);
    parity_fill(p0, n, n, 0.5, 0.0);
    state h = {parity_host(n), parity_host(n), parity_host(n), bf16 ? malloc(hb ? hb : 1) : NULL};
    state d = {parity_alloc(t, fb), parity_alloc(t, fb), parity_alloc(t, fb), bf16 ? parity_alloc(t, hb) : NULL};
    float *dg = parity_alloc(t, fb);
    memcpy(h.p, p0, fb);
    memcpy(h.m, zero, fb);
    memcpy(h.v, zero, fb);
    parity_up(t, d.p, p0, fb);
    parity_up(t, d.m, zero, fb);
    parity_up(t, d.v, zero, fb);
    int steps = n > BIG ? 2 : STEPS;  // each step of the largest size costs the CPU runtime ~0.2 s
    for (int step = 1; step <= steps; step++) {
        parity_fill(g, n, 1000 * n + (size_t)step, step == 2 ? 1e-3 : 1.0, 0.0);  // a step of tiny gradients
        parity_up(t, dg, g, fb);
        update(&t->cpu, &h, g, n, step);
        update(&t->cuda, &d, dg, n, step);
    }
    float *m = parity_host(n), *v = parity_host(n);
    agir_bf16 *p16 = malloc(hb ? hb : 1);
    parity_down(t, out_p, d.p, fb);
    parity_down(t, m, d.m, fb);
    parity_down(t, v, d.v, fb);
    double dp, dm, dv;
    double xp = parity_excess(out_p, h.p, n, 1e-6, 1e-5, &dp);
    double xm = parity_excess(m, h.m, n, 1e-9, 1e-5, &dm);
    double xv = parity_excess(v, h.v, n, 1e-12, 1e-5, &dv);
    parity_check(t, xp <= 1 && xm <= 1 && xv <= 1, "adamw%s n=%zu: tolerance exceeded x%.3g (p) x%.3g (m) x%.3g (v)",
                 bf16 ? "_bf16" : "", n, xp, xm, xv);
    size_t moved = 0, bad16 = 0;
    for (size_t i = 0; i < n; i++) moved += out_p[i] != p0[i];
    parity_check(t, moved == n, "adamw n=%zu: only %zu of %zu parameters changed", n, moved, n);
    if (bf16) {
        parity_down(t, p16, d.p16, hb);
        for (size_t i = 0; i < n; i++) {
            // Equal masters must round alike; masters a rounding apart may land on neighbouring bf16.
            int diff = (int)p16[i] - (int)h.p16[i];
            bad16 += out_p[i] == h.p[i] ? diff != 0 : abs(diff) > 1;
            bad16 += p16[i] != agir_f32_to_bf16(out_p[i]);  // the kernel rounds its own master
        }
        parity_check(t, bad16 == 0, "adamw_bf16 n=%zu: %zu bf16 parameters differ", n, bad16);
    }
    printf("adamw%-5s n=%8zu: max |dp| %.3g  |dm| %.3g  |dv| %.3g  bf16 mismatches %zu\n", bf16 ? "_bf16" : "", n, dp,
           dm, dv, bad16);
    agir_dev_free(&t->cuda, d.p);
    agir_dev_free(&t->cuda, d.m);
    agir_dev_free(&t->cuda, d.v);
    agir_dev_free(&t->cuda, d.p16);
    agir_dev_free(&t->cuda, dg);
    free(h.p), free(h.m), free(h.v), free(h.p16);
    free(p0), free(g), free(zero), free(m), free(v), free(p16);
}

int main(void) {
    parity t;
    parity_open(&t);
    size_t nsizes = sizeof sizes / sizeof *sizes;
    float *first[2 * sizeof sizes / sizeof *sizes];
    for (int pass = 0; pass < parity_passes(); pass++) {
        parity_pass(pass);
        for (size_t k = 0; k < nsizes; k++)
            for (int bf16 = 0; bf16 < 2; bf16++) {
                size_t n = sizes[k];
                float *p = parity_host(n);
                run(&t, n, bf16, p);
                float **slot = &first[2 * k + (size_t)bf16];
                if (!pass) {
                    *slot = p;
                    continue;
                }
                parity_check(&t, !memcmp(p, *slot, n * sizeof *p), "adamw n=%zu: passes differ (missing barrier?)", n);
                free(p);
            }
    }
    for (size_t k = 0; k < 2 * nsizes; k++) free(first[k]);
    return parity_close(&t);
}
