// Benchmark: one VQ-VAE training step on the CPU against the machine's measured sgemm peak.
//
//   bench_vq [CONFIG.ini] [B] [T] [steps=3] [peak_n=4096]
//
// The model is the one a vqvae job config describes (configs/vqvae.ini, T2M-GPT's size, when none
// is given; configs/vqvae_demo.ini for the demo size), on H36M-17 motion features (105 per frame);
// B and T default to the config's [train] batch and [data] window.
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
// instead of yielding in a loop while OpenMP works; agir_thread_env() sets both (core/threads.h)
// unless the environment already does.
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/run.h"
#include "datasets/motion_rep.h"
#include "models/vqvae.h"
#include "train/vq_train.h"

#include "bench_common.h"

static const char PROG[] = "bench_vq";

int main(int argc, char **argv) {
    agir_thread_env(argv);
    const char *cfg_path = argc > 1 && strstr(argv[1], ".ini") ? argv[1] : NULL;
    if (cfg_path) argc--, argv++;
    agir_err e = {0};
    agir_cfg cfg;
    const agir_key *const schema[] = {agir_run_keys, agir_vqvae_keys, NULL};
    static const char defaults[] = "[run]\njob = vqvae\n";  // the schema's defaults: T2M-GPT's sizes
    bench_check(PROG,
                cfg_path ? agir_cfg_load(&cfg, schema, cfg_path, NULL, 0, &e)
                         : agir_cfg_load_text(&cfg, schema, "defaults", defaults, sizeof defaults - 1, NULL, 0, &e),
                &e);
    agir_motion_layout L;
    bench_check(PROG, agir_motion_layout_init(&L, &agir_skel_h36m17, &e), &e);
    int B = bench_arg(PROG, argc, argv, 1, (int)agir_cfg_int(&cfg, "train", "batch"));
    int T = bench_arg(PROG, argc, argv, 2, (int)agir_cfg_int(&cfg, "data", "window"));
    int steps = bench_arg(PROG, argc, argv, 3, 3), peak_n = bench_arg(PROG, argc, argv, 4, 4096);
    agir_vqvae_config mc = agir_vq_model_config(&cfg, &L);
    agir_cfg_free(&cfg);
    int in = mc.in_dim;
    int threads = openblas_get_num_threads();
    printf("threads: OpenBLAS %d, OpenMP %d\n", threads, omp_get_max_threads());
    bench_rate peak = bench_sgemm_peak(PROG, peak_n, threads);
    printf("sgemm peak (%d^3): %.1f GFLOP/s wall, %.1f GFLOP/s per CPU time x %d threads\n", peak_n, peak.wall,
           peak.cpu, threads);

    agir_ctx c;
    bench_check(PROG, agir_ctx_open(&c, AGIR_DEV_CPU, &e), &e);
    agir_vqvae m;
    bench_check(PROG, agir_vqvae_init(&m, &mc, B, T, 1, &e), &e);
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
    int N = B * m.Tq, K = mc.n_codes, D = mc.code_dim;
    double first_conv = 2.0 * B * T * (double)mc.width * 3 * in;
    double flops = 3 * m.flops_fwd - first_conv + 2.0 * N * (double)K * D;
    printf("VQ-VAE %s: width %d, depth %d, %d codes of %d; B %d, T %d, in_dim %d, %zu parameters, %.1f GFLOP per "
           "step\n", cfg_path ? cfg_path : "(T2M-GPT defaults)", mc.width, mc.depth, mc.n_codes, mc.code_dim, B, T, in,
           m.n_params, flops / 1e9);

    double best = 1e30, best_cpu = 1e30, sum = 0, tf_best = 0, tb_best = 0;
    for (int s = 0; s <= steps; s++) {  // step 0 warms up (page faults, OpenBLAS buffers)
        double t0 = bench_now(), c0 = bench_cpu_now();
        agir_vqvae_qstats qs;
        agir_vqvae_losses l;
        bench_check(PROG, agir_vqvae_encode(&c, &m, x, &e), &e);
        bench_check(PROG, agir_vqvae_quantize(&c, &m, 1, &r, &qs, &e), &e);
        bench_check(PROG, agir_vqvae_decode(&c, &m, m.zq, &e), &e);
        bench_check(PROG, agir_vqvae_loss(&c, &m, x, NULL, &l, &e), &e);
        double t1 = bench_now();
        bench_check(PROG, agir_vqvae_backward(&c, &m, x, NULL, &e), &e);
        agir_adamw_hp hp = {.lr = 2e-4f, .beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-8f, .grad_scale = 1, .step = s + 1};
        bench_check(PROG, agir_op_adamw(&c, m.params, m.grads, mom, mom + m.n_params, m.n_params, &hp, &e), &e);
        double t2 = bench_now(), dt = t2 - t0, dc = bench_cpu_now() - c0;
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
