// Benchmark: the LoRA training step of the LLM on the CPU against the machine's measured sgemm peak,
// and generation throughput (prefill and decode through the KV cache).
//
//   bench_llm [B=4] [T=256] [steps=3] [peak_n=4096] [model=smollm2] [weights=f32|bf16]
//
// weights: how the frozen weights are stored on the CPU (bf16: half the memory, widened on the fly).
// model: "smollm2" = SmolLM2-135M's exact shape (dim 576, ffn 1536, 30 layers, 9 heads, 3 KV heads,
// vocabulary 49152, tied) with random weights, which times the same as the real weights; "tiny" = a
// small random model (the smoke test); anything else is a .gguf file or HF folder for agir_llm_load
// ("default" = the embedded SmolLM2). Every model gets 514 new token rows (512 motion codes, <som>,
// <eom>), trained with their own group. LoRA: rank 16, alpha 32, on q, k, v, o, gate, up, down,
// dropout 0. Every position is a trained label (no masked prompt), the costliest case for the loss.
//
// Step = forward + masked cross-entropy + backward + clipping + AdamW on both groups (train/llm_step.h).
//
// FLOPs counted (model FLOPs, 2 per multiply-add), N = B·T tokens:
//   - frozen matrices (7 per layer + the output head over all rows): 2·N·in·out forward, and the same
//     again backward for their input gradients (their weight gradients are never computed);
//   - the head's weight gradient for the new rows: 2·N·C·n_new;
//   - LoRA per adapted matrix: 2·N·r·(in + out) forward, twice that backward (dA, dB, dh, dx);
//   - attention: QKᵀ and PV over the causal pairs only, 2·D per pair and head each, forward; dP, dS·K,
//     dSᵀ·Q and Pᵀ·dO backward: 4·B·H·D·T(T+1)/2 forward and twice that backward.
// Not counted: norms, RoPE, softmax, SwiGLU, cross-entropy, embedding, AdamW (step time outside
// matrix products, which lowers the fraction of peak).
//
// Peak and threads as bench_vq.c: best of 5 cblas_sgemm on peak_n² matrices; sgemm on OpenBLAS's
// pool, element-wise loops on OpenMP's, never nested; agir_thread_env() puts both pools' idle threads
// to sleep (core/threads.h), so no environment variable is needed. Rates per wall second and per CPU
// second × threads.
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer/kv_cache.h"
#include "models/llama_load.h"
#include "train/llm_step.h"

#include "bench_common.h"
#include "bench_train.h"

static const char PROG[] = "bench_llm";

enum { N_NEW = 514 };

// Uniform values of standard deviation sd from a cheap per-index hash: random weights for timing.
static void fill(float *x, size_t n, float sd, uint64_t seed) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        uint64_t z = (i + 1) * 0x9E3779B97F4A7C15ull ^ seed;
        z = (z ^ (z >> 31)) * 0xBF58476D1CE4E5B9ull;
        z ^= z >> 29;
        x[i] = sd * 1.7320508f * (2.0f * (float)(z >> 40) / (float)(1 << 24) - 1.0f);
    }
}

static void random_model(agir_llama *m, int tiny, agir_err *e) {
    agir_llama_config c = {.vocab = 49152 + N_NEW, .dim = 576, .ffn = 1536, .n_layer = 30, .n_head = 9,
                           .n_kv_head = 3, .head_dim = 64, .eps = 1e-5f, .rope = {.theta = 100000}, .tied = 1};
    if (tiny)
        c = (agir_llama_config){.vocab = 256 + N_NEW, .dim = 64, .ffn = 128, .n_layer = 2, .n_head = 4,
                                .n_kv_head = 2, .head_dim = 16, .eps = 1e-5f, .rope = {.theta = 10000}, .tied = 1};
    bench_check(PROG, agir_llama_alloc(m, &c, N_NEW, e), e);
    fill(m->embed, (size_t)c.vocab * c.dim, 0.02f, 1);
    size_t shape[AGIR_LLAMA_NTENSOR][2];
    agir_llama_layer_shapes(&c, shape);
    for (int l = 0; l < c.n_layer; l++) {
        float **slot[AGIR_LLAMA_NTENSOR];
        agir_llama_layer_slots(&m->layers[l], slot);
        for (int i = 0; i < AGIR_LLAMA_NTENSOR; i++) {
            size_t rows = shape[i][0], cols = shape[i][1];
            if (cols) fill(*slot[i], rows * cols, 0.02f, 100 + (uint64_t)l * 16 + (uint64_t)(i - AGIR_LLAMA_W));
            else if (i == AGIR_LLAMA_ATTN_NORM || i == AGIR_LLAMA_MLP_NORM)
                for (size_t j = 0; j < rows; j++) (*slot[i])[j] = 1;
        }
    }
    for (int i = 0; i < c.dim; i++) m->norm[i] = 1;
}

// Generation through the KV cache (infer/kv_cache.h) with the adapter applied unmerged: prefill of
// B prompts of T tokens (logits of each last token only), then DECODE_STEPS steps of one token per
// sequence. FLOPs: 2·in·out per frozen matrix and token, LoRA 2·r·(in + out), attention 4·H·D per
// visible (query, key) pair and layer, the head 2·C·V per sequence and step.
enum { DECODE_STEPS = 16 };

static double infer_flops(const agir_llama *m, const agir_lora *lora, double tokens, double pairs, double heads) {
    const agir_llama_config *c = &m->cfg;
    int dims[AGIR_LORA_NTARGET][2];
    agir_llama_lora_dims(c, dims);
    double per_tok = 0;
    for (int t = 0; t < AGIR_LORA_NTARGET; t++) {
        per_tok += 2.0 * dims[t][0] * dims[t][1];
        if (lora->cfg.targets & (1u << t)) per_tok += 2.0 * lora->cfg.rank * (dims[t][0] + dims[t][1]);
    }
    return c->n_layer * (tokens * per_tok + 4.0 * c->n_head * c->head_dim * pairs) + heads * 2.0 * c->dim * c->vocab;
}

static void infer_bench(const agir_llama_weights *w, const int32_t *tok, int B, int T, bench_rate peak) {
    const agir_llama *m = w->m;
    const agir_lora *lora = w->lora;
    agir_err e = {0};
    agir_infer s;
    bench_check(PROG, agir_infer_open(&s, w, B, T + DECODE_STEPS, &e), &e);
    float *logits = bench_malloc(PROG, (size_t)B * m->cfg.vocab * sizeof(float));
    int *n = bench_malloc(PROG, (size_t)B * sizeof(int));
    int32_t *next = bench_malloc(PROG, (size_t)B * sizeof(int32_t));
    double best = 1e30, best_cpu = 1e30, dec = 0, dec_cpu = 0;
    for (int rep = 0; rep < 2; rep++) {  // the first prefill warms up
        for (int b = 0; b < B; b++) agir_infer_truncate(&s, b, 0), n[b] = T;
        double t0 = bench_now(), c0 = bench_cpu_now();
        bench_check(PROG, agir_infer_step(&s, tok, n, logits, &e), &e);
        double dt = bench_now() - t0, dc = bench_cpu_now() - c0;
        if (dt < best) best = dt;
        if (dc < best_cpu) best_cpu = dc;
    }
    for (int b = 0; b < B; b++) n[b] = 1;
    for (int k = 0; k < DECODE_STEPS; k++) {
        for (int b = 0; b < B; b++) next[b] = tok[(size_t)b * T + k % T];  // any ids: the cost is the same
        double t0 = bench_now(), c0 = bench_cpu_now();
        bench_check(PROG, agir_infer_step(&s, next, n, logits, &e), &e);
        dec += bench_now() - t0, dec_cpu += bench_cpu_now() - c0;
    }
    double pre = infer_flops(m, lora, (double)B * T, B * (T * (T + 1.0) / 2), B) / 1e9;
    double ctx = DECODE_STEPS * (T + (DECODE_STEPS + 1) / 2.0);  // keys seen over the decode steps
    double gen = infer_flops(m, lora, (double)B * DECODE_STEPS, B * ctx, (double)B * DECODE_STEPS) / 1e9;
    printf("prefill (KV cache, adapter unmerged): %d x %d tokens in %.3f s: %.0f tokens/s wall (%.0f per CPU time x "
           "%d), %.1f GFLOP/s = %.1f%% of sgemm peak (wall)\n",
           B, T, best, B * T / best, B * T * openblas_get_num_threads() / best_cpu, openblas_get_num_threads(),
           pre / best, 100 * pre / best / peak.wall);
    printf("decode: %d steps of %d sequences after %d tokens: %.1f ms per step, %.0f tokens/s wall (%.0f per CPU time x "
           "%d), %.1f GFLOP/s\n",
           DECODE_STEPS, B, T, 1e3 * dec / DECODE_STEPS, B * DECODE_STEPS / dec,
           B * DECODE_STEPS * openblas_get_num_threads() / dec_cpu, openblas_get_num_threads(), gen / dec);
    free(logits), free(n), free(next);
    agir_infer_free(&s);
}

int main(int argc, char **argv) {
    agir_thread_env(argv);
    int B = bench_arg(PROG, argc, argv, 1, 4), T = bench_arg(PROG, argc, argv, 2, 256), steps = bench_arg(PROG, argc, argv, 3, 3);
    int peak_n = bench_arg(PROG, argc, argv, 4, 4096);
    const char *which = argc > 5 ? argv[5] : "smollm2";
    const char *wname = argc > 6 ? argv[6] : "f32";
    if (strcmp(wname, "f32") && strcmp(wname, "bf16")) {
        fprintf(stderr, "%s: weights '%s' (hint: f32 or bf16)\n", PROG, wname);
        return 2;
    }
    agir_ftype wdt = strcmp(wname, "bf16") ? AGIR_F32 : AGIR_BF16;
    int threads = openblas_get_num_threads();
    printf("threads: OpenBLAS %d, OpenMP %d\n", threads, omp_get_max_threads());
    bench_rate peak = bench_sgemm_peak(PROG, peak_n, threads);
    printf("sgemm peak (%d^3): %.1f GFLOP/s wall, %.1f GFLOP/s per CPU time x %d threads\n", peak_n, peak.wall,
           peak.cpu, threads);

    agir_err e = {0};
    agir_llm llm = {0};
    agir_llama *m = &llm.model;
    int loaded = strcmp(which, "smollm2") && strcmp(which, "tiny");
    if (!loaded) {
        random_model(m, !strcmp(which, "tiny"), &e);
    } else {
        bench_check(PROG, agir_llm_load(strcmp(which, "default") ? which : NULL, &llm, &e), &e);
        agir_rng r;
        agir_rng_init(&r, 7, 0);
        agir_new_rows_opts o = {.init = AGIR_NEW_ROWS_MEAN_NOISE, .noise = 0.02f};
        bench_check(PROG, agir_llm_add_motion(&llm, N_NEW - 2, &o, &r, &e), &e);
    }
    const agir_llama_config *c = &m->cfg;
    agir_lora lora;
    agir_lora_cfg lc = {.rank = 16, .alpha = 32, .targets = (1u << AGIR_LORA_NTARGET) - 1};
    int dims[AGIR_LORA_NTARGET][2];
    agir_llama_lora_dims(c, dims);
    bench_check(PROG, agir_lora_alloc(&lora, &lc, c->n_layer, dims, &e), &e);
    agir_rng r;
    agir_rng_init(&r, 1, 2);
    agir_lora_init(&lora, &r);
    // The model on a CPU context: fp32 weights alias the host's; bf16 ones are a half-size copy.
    agir_ctx cpu;
    agir_llama_weights w;
    bench_check(PROG, agir_ctx_open(&cpu, AGIR_DEV_CPU, &e), &e);
    bench_check(PROG, agir_llama_weights_open(&w, &cpu, wdt, m, &lora, &e), &e);
    agir_llm_trainer tr;
    agir_llm_opt_cfg oc = agir_llm_opt_defaults();
    bench_check(PROG, agir_llm_trainer_init(&tr, &w, &oc, NULL, &e), &e);
    agir_llama_acts a;
    bench_check(PROG, agir_llama_acts_alloc(&a, &w, B, T, &e), &e);
    size_t N = (size_t)B * T;
    int32_t *tok = bench_malloc(PROG, 4 * N * sizeof(int32_t)), *pos = tok + N, *seg = pos + N, *lab = seg + N;
    for (size_t i = 0; i < N; i++) tok[i] = (int32_t)agir_rng_below(&r, (uint32_t)c->vocab);
    for (size_t i = 0; i < N; i++) {
        pos[i] = (int32_t)(i % T), seg[i] = 0;
        lab[i] = pos[i] == T - 1 ? (int32_t)agir_rng_below(&r, (uint32_t)c->vocab) : tok[i + 1];
    }
    double flops = bench_step_flops(m, &lora, (double)N, B * (T * (T + 1.0) / 2));
    printf("model: %s, %d layers, dim %d, vocab %d (%d new rows), %s weights; LoRA r=%d on 7 targets, %zu "
           "parameters\n", which, c->n_layer, c->dim, c->vocab, c->vocab - m->v0, agir_ftype_name(wdt), lc.rank,
           lora.n_params);
    printf("batch %d x %d = %zu tokens, %.1f GFLOP per training step\n", B, T, N, flops / 1e9);

    bench_step_result sr = bench_train_steps(PROG, &w, &tr, &a, tok, pos, seg, lab, NULL, steps);
    bench_train_report(&sr, (double)N, flops, peak, threads);

    infer_bench(&w, tok, B, T, peak);
    free(tok);
    agir_llama_acts_free(&a);
    agir_llm_trainer_free(&tr);
    agir_llama_weights_close(&w);
    agir_lora_free(&lora);
    if (loaded) agir_llm_free(&llm);
    else agir_llama_free(m);
    return 0;
}
