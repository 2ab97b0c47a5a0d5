// What the LLM training benchmarks share (bench_train.h).
#include "bench_train.h"

#include <stdio.h>
#include <sys/resource.h>

double bench_step_flops(const agir_llama *m, const agir_lora *lora, double tokens, double pairs) {
    const agir_llama_config *c = &m->cfg;
    double lin = 0, lora_f = 0;
    int dims[AGIR_LORA_NTARGET][2];
    agir_llama_lora_dims(c, dims);
    for (int t = 0; t < AGIR_LORA_NTARGET; t++) {
        lin += (double)dims[t][0] * dims[t][1];
        if (lora->cfg.targets & (1u << t)) lora_f += (double)lora->cfg.rank * (dims[t][0] + dims[t][1]);
    }
    lin = 2 * tokens * (lin * c->n_layer + (double)c->vocab * c->dim);
    lora_f *= 2 * tokens * c->n_layer;
    double att = 4.0 * c->n_head * c->head_dim * pairs * c->n_layer;
    return 2 * lin + 3 * lora_f + 3 * att + 2 * tokens * c->dim * (c->vocab - m->v0);
}

bench_step_result bench_train_steps(const char *prog, agir_llama_weights *w, agir_llm_trainer *tr,
                                    agir_llama_acts *a, const int32_t *tok, const int32_t *pos, const int32_t *seg,
                                    const int32_t *lab, const agir_rng *dropout, int steps) {
    agir_err e = {0};
    size_t N = (size_t)a->B * a->T;
    bench_step_result r = {.best = 1e30, .best_cpu = 1e30};
    double sum = 0;
    // One micro-batch per step; agir_llm_step_micro's three calls are made here one by one to time them.
    for (int s = 0; s <= steps; s++) {
        double t0 = bench_now(), c0 = bench_cpu_now(), loss;
        bench_check(prog, agir_llm_step_begin(tr, agir_llama_count_valid(lab, N), &e), &e);
        bench_check(prog, agir_llama_forward_train(w, a, tok, pos, seg, lab, dropout, &e), &e);
        double t1 = bench_now();
        bench_check(prog, agir_llama_loss(w, a, lab, tr->n_valid, 1, &loss, &e), &e);
        tr->loss += loss;
        double t2 = bench_now();
        bench_check(prog, agir_llama_backward(w, &tr->g, a, &e), &e);
        double t3 = bench_now();
        agir_llm_step_stats st;
        bench_check(prog, agir_llm_step_apply(tr, &st, &e), &e);
        double t4 = bench_now(), dt = t4 - t0, dc = bench_cpu_now() - c0;
        printf("step %d: %.3f s (forward %.3f, loss %.3f, backward %.3f, AdamW %.3f; %.3f CPU s), loss %.4f, grad "
               "norm %.3g%s\n",
               s, dt, t1 - t0, t2 - t1, t3 - t2, t4 - t3, dc, st.loss, st.grad_norm, s ? "" : " (warm-up)");
        if (!s) continue;
        sum += dt;
        if (dt < r.best)
            r.best = dt, r.phase[0] = t1 - t0, r.phase[1] = t2 - t1, r.phase[2] = t3 - t2, r.phase[3] = t4 - t3;
        if (dc < r.best_cpu) r.best_cpu = dc;
    }
    r.mean = sum / steps;
    return r;
}

void bench_train_report(const bench_step_result *r, double tokens, double flops, bench_rate peak, int threads) {
    double gf = flops / r->best / 1e9, gf_cpu = flops * threads / r->best_cpu / 1e9;
    printf("training step: best %.3f s (forward %.3f, loss %.3f, backward %.3f, AdamW %.3f), mean %.3f s\n", r->best,
           r->phase[0], r->phase[1], r->phase[2], r->phase[3], r->mean);
    printf("training: %.0f tokens/s wall, %.1f GFLOP/s = %.1f%% of sgemm peak (wall)\n", tokens / r->best, gf,
           100 * gf / peak.wall);
    printf("training: best %.3f CPU s: %.0f tokens/s per CPU time x %d, %.1f GFLOP/s = %.1f%% of sgemm peak (CPU "
           "time)\n",
           r->best_cpu, tokens * threads / r->best_cpu, threads, gf_cpu, 100 * gf_cpu / peak.cpu);
}

double bench_peak_rss_mib(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_maxrss / 1024.0;  // Linux reports KiB
}
