// Benchmark: one VQ-VAE training step on the CPU against the machine's measured sgemm peak.
//
//   bench_vq [B=256] [T=64] [in_dim=107] [steps=3] [peak_n=4096]
//
// Peak: the best of 5 cblas_sgemm calls on peak_n × peak_n matrices, 2·n³ FLOP each. Step: encode,
// quantize (with the EMA update), decode, losses, backward and AdamW (lr 2e-4, β = (0.9, 0.99)) at
// T2M-GPT's sizes (width 512, depth 3, growth 3, 2 down-samplings, 512 codes of 512). FLOPs counted:
// 2·M·N·K of every GEMM the step runs, i.e. each conv's 2·B·T_out·C_out·K·C_in once forward and twice
// backward (input and weight gradients; the first conv has no input gradient), padded taps included,
// plus the quantizer's distance GEMM 2·B·T'·K·D. Element-wise work (ReLU, im2col, losses, EMA, AdamW)
// is not counted: it is time the step spends outside GEMM, which the fraction of peak shows.
//
// Threads: sgemm runs on OpenBLAS's own pool (OPENBLAS_NUM_THREADS), element-wise loops on OpenMP's
// (OMP_NUM_THREADS); sgemm is never called inside an OpenMP region, so the pools take turns instead
// of oversubscribing the cores. OMP_WAIT_POLICY=passive stops OpenMP's threads from spinning while
// OpenBLAS works, and OPENBLAS_THREAD_TIMEOUT=4 sends OpenBLAS's idle threads to sleep at once
// instead of yielding in a loop while OpenMP works.
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "models/vqvae.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

// CPU seconds this process has used (all threads, user + system).
static double cpu_now(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_stime.tv_sec + 1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// A rate measured two ways: per wall second, and per CPU second times the thread count, which is
// what the rate would be with the cores to ourselves (on a shared machine, other processes' load
// slows the wall clock but not the CPU time; spinning threads count against us).
typedef struct rate {
    double wall, cpu;
} rate;

static int arg(int argc, char **argv, int i, int def) {
    if (argc <= i) return def;
    char *end;
    long v = strtol(argv[i], &end, 10);
    if (*end || v < 1 || v > 1 << 20) {
        fprintf(stderr, "bench_vq: argument %d '%s' is not a positive integer\n", i, argv[i]);
        exit(2);
    }
    return (int)v;
}

static rate sgemm_peak(int n, int threads) {
    size_t nn = (size_t)n * n;
    float *a = malloc(nn * sizeof(float)), *b = malloc(nn * sizeof(float)), *c = malloc(nn * sizeof(float));
    if (!a || !b || !c) {
        fprintf(stderr, "bench_vq: out of memory for the sgemm peak\n");
        exit(1);
    }
    for (size_t i = 0; i < nn; i++) a[i] = (float)(i % 7) * 0.1f, b[i] = (float)(i % 5) * 0.1f;
    rate best = {0, 0};
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now(), c0 = cpu_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double gf = 2.0 * n * (double)n * n / 1e9;
        double w = gf / (now() - t0), cp = gf * threads / (cpu_now() - c0);
        if (w > best.wall) best.wall = w;
        if (cp > best.cpu) best.cpu = cp;
    }
    free(a), free(b), free(c);
    return best;
}

static void check(int rc, const agir_err *e) {
    if (rc) {
        fprintf(stderr, "bench_vq: %s\n", e->msg);
        exit(rc);
    }
}

int main(int argc, char **argv) {
    int B = arg(argc, argv, 1, 256), T = arg(argc, argv, 2, 64), in = arg(argc, argv, 3, 107);
    int steps = arg(argc, argv, 4, 3), peak_n = arg(argc, argv, 5, 4096);
    int threads = openblas_get_num_threads();
    printf("threads: OpenBLAS %d, OpenMP %d\n", threads, omp_get_max_threads());
    rate peak = sgemm_peak(peak_n, threads);
    printf("sgemm peak (%d^3): %.1f GFLOP/s wall, %.1f GFLOP/s per CPU time x %d threads\n", peak_n, peak.wall,
           peak.cpu, threads);

    agir_err e = {0};
    agir_ctx c;
    check(agir_ctx_open(&c, AGIR_DEV_CPU, &e), &e);
    agir_vqvae_config cfg = agir_vqvae_t2m_config(in);
    // T2M-GPT's joint term reads features [4, 4 + 3·(joints - 1)): [4, 52) for 17 joints.
    cfg.joint_c0 = in > 4 ? 4 : 0, cfg.joint_c1 = in >= 52 ? 52 : in;
    agir_vqvae m;
    check(agir_vqvae_init(&m, &cfg, B, T, 1, &e), &e);
    size_t nx = (size_t)B * T * in;
    float *x = malloc(nx * sizeof(float)), *mom = calloc(2 * m.n_params, sizeof(float));
    if (!x || !mom) {
        fprintf(stderr, "bench_vq: out of memory\n");
        return 1;
    }
    agir_rng r;
    agir_rng_init(&r, 1, 2);
    for (size_t i = 0; i < nx; i++) x[i] = (float)agir_rng_normal(&r);
    // The first conv has no input gradient: its 2·flops are not run backward for dx.
    int N = B * m.Tq, K = cfg.n_codes, D = cfg.code_dim;
    double first_conv = 2.0 * B * T * (double)cfg.width * 3 * in;
    double flops = 3 * m.flops_fwd - first_conv + 2.0 * N * (double)K * D;
    printf("VQ-VAE: B %d, T %d, in_dim %d, %zu parameters, %.1f GFLOP per step\n", B, T, in, m.n_params, flops / 1e9);

    double best = 1e30, best_cpu = 1e30, sum = 0, tf_best = 0, tb_best = 0;
    for (int s = 0; s <= steps; s++) {  // step 0 warms up (page faults, OpenBLAS buffers)
        double t0 = now(), c0 = cpu_now();
        agir_vqvae_qstats qs;
        agir_vqvae_losses l;
        check(agir_vqvae_encode(&c, &m, x, &e), &e);
        check(agir_vqvae_quantize(&c, &m, 1, &r, &qs, &e), &e);
        check(agir_vqvae_decode(&c, &m, m.zq, &e), &e);
        check(agir_vqvae_loss(&c, &m, x, NULL, &l, &e), &e);
        double t1 = now();
        check(agir_vqvae_backward(&c, &m, x, NULL, &e), &e);
        agir_adamw_hp hp = {.lr = 2e-4f, .beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-8f, .grad_scale = 1, .step = s + 1};
        check(agir_op_adamw(&c, m.params, m.grads, mom, mom + m.n_params, m.n_params, &hp, &e), &e);
        double t2 = now(), dt = t2 - t0, dc = cpu_now() - c0;
        printf("step %d: %.3f s (forward %.3f, backward+AdamW %.3f; %.3f CPU s), loss %.4f, perplexity %.1f%s\n", s,
               dt, t1 - t0, t2 - t1, dc, l.total, qs.perplexity, s ? "" : " (warm-up)");
        if (!s) continue;
        sum += dt;
        if (dt < best) best = dt, tf_best = t1 - t0, tb_best = t2 - t1;
        if (dc < best_cpu) best_cpu = dc;
    }
    double gf = flops / best / 1e9, gf_cpu = flops * threads / best_cpu / 1e9;
    printf("best step %.3f s (forward %.3f, backward %.3f), mean %.3f s: %.1f GFLOP/s = %.1f%% of sgemm peak (wall)\n",
           best, tf_best, tb_best, sum / steps, gf, 100 * gf / peak.wall);
    printf("best step %.3f CPU s: %.1f GFLOP/s per CPU time x %d = %.1f%% of sgemm peak (CPU time)\n", best_cpu, gf_cpu,
           threads, 100 * gf_cpu / peak.cpu);
    free(x), free(mom);
    agir_vqvae_free(&m);
    agir_ctx_close(&c);
    return 0;
}
