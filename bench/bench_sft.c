// Benchmark: one SFT update on a realistic batch — the first micro-batch the job itself would train
// on (mixed lengths, packed), with the config's model, LoRA and weight storage — against the
// machine's measured sgemm peak, and the process's peak resident memory.
//
//   bench_sft CONFIG [steps=3] [peak_n=4096] [BATCH.json|-] [section.key=value ...]
//
// CONFIG is an SFT config (configs/sft_stage1.ini) whose data exist (docs/fine_tuning.md, "The
// pipeline"); the overrides are its --set values. BATCH.json receives the batch (tokens, positions,
// segments, labels, shape, LoRA settings) for tools/bench_sft_torch.py, which times PyTorch + PEFT
// on exactly the same tokens.
//
// FLOPs are counted on the batch's real tokens (bench_train.h), attention over the causal pairs
// inside each example: the useful work, the same for any implementation. Slots the packing left
// empty cost time here and count for nothing, which the tokens/s and the fraction of peak show.
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/run.h"
#include "train/sft_job.h"

#include "bench_common.h"
#include "bench_train.h"

static const char PROG[] = "bench_sft";

static void write_ints(FILE *f, const char *name, const int32_t *x, size_t n) {
    fprintf(f, "\"%s\": [", name);
    for (size_t i = 0; i < n; i++) fprintf(f, "%s%d", i ? "," : "", x[i]);
    fprintf(f, "],\n");
}

static void dump(const char *path, const agir_sft_batch *b, const agir_llama *m, const agir_lora *l) {
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "%s: cannot write %s\n", PROG, path);
        exit(2);
    }
    size_t N = (size_t)b->B * b->T;
    fprintf(f, "{\"B\": %d, \"T\": %d, \"vocab\": %d, \"v0\": %d, \"rank\": %d, \"alpha\": %g, \"dropout\": %g,\n",
            b->B, b->T, m->cfg.vocab, m->v0, l->cfg.rank, l->cfg.alpha, l->cfg.dropout);
    write_ints(f, "tokens", b->tokens, N);
    write_ints(f, "pos", b->pos, N);
    write_ints(f, "seg", b->seg, N);
    write_ints(f, "labels", b->labels, N);
    fprintf(f, "\"examples\": %lld, \"real_tokens\": %lld}\n", (long long)b->n_examples, (long long)b->n_tokens);
    fclose(f);
}

// Causal (query, key) pairs inside each example of the batch, per head and layer.
static double pairs(const agir_sft_batch *b) {
    double p = 0;
    for (size_t i = 0; i < (size_t)b->B * b->T; i++)
        if (b->seg[i] >= 0) p += b->pos[i] + 1.0;
    return p;
}

int main(int argc, char **argv) {
    agir_thread_env(argv);
    if (argc < 2) {
        fprintf(stderr, "usage: %s CONFIG [steps=3] [peak_n=4096] [BATCH.json|-] [section.key=value ...]\n", PROG);
        return 2;
    }
    int steps = bench_arg(PROG, argc, argv, 2, 3), peak_n = bench_arg(PROG, argc, argv, 3, 4096);
    const char *out = argc > 4 && strcmp(argv[4], "-") ? argv[4] : NULL;
    agir_err e = {0};
    agir_run run;
    const agir_key *const schema[] = {agir_run_keys, agir_sft_keys, NULL};
    bench_check(PROG, agir_run_load(&run, "sft", schema, argv[1], (const char *const *)argv + 5, argc > 5 ? argc - 5 : 0,
                                    &e), &e);
    int threads = openblas_get_num_threads();
    printf("threads: OpenBLAS %d, OpenMP %d\n", threads, omp_get_max_threads());
    bench_rate peak = bench_sgemm_peak(PROG, peak_n, threads);
    printf("sgemm peak (%d^3): %.1f GFLOP/s wall, %.1f GFLOP/s per CPU time x %d threads\n", peak_n, peak.wall,
           peak.cpu, threads);

    const agir_cfg *c = &run.cfg;
    agir_sft_inputs in;
    agir_llm llm;
    bench_check(PROG, agir_sft_inputs_open(&in, c, &run.log, &e), &e);
    bench_check(PROG, agir_sft_load_model(c, &in, &llm, &e), &e);
    bench_check(PROG, agir_sft_inputs_build(&in, c, &llm, &run.log, &e), &e);
    agir_lora lora;
    agir_lora_cfg lc = {.rank = (int)agir_cfg_int(c, "lora", "rank"), .alpha = (float)agir_cfg_float(c, "lora", "alpha"),
                        .dropout = (float)agir_cfg_float(c, "lora", "dropout"), .rslora = agir_cfg_bool(c, "lora", "rslora")};
    bench_check(PROG, agir_lora_parse_targets(agir_cfg_str(c, "lora", "targets"), "lora.targets", &lc.targets, &e), &e);
    int dims[AGIR_LORA_NTARGET][2];
    agir_llama_lora_dims(&llm.model.cfg, dims);
    bench_check(PROG, agir_lora_alloc(&lora, &lc, llm.model.cfg.n_layer, dims, &e), &e);
    agir_rng r;
    agir_rng_init(&r, 1, 2);
    agir_lora_init(&lora, &r);

    int T = (int)agir_cfg_int(c, "sft", "max_len"), B = (int)(agir_cfg_int(c, "train", "batch_tokens") / T);
    agir_sft_stream st;
    agir_sft_batch b;
    agir_sft_pos p = {0, 0};
    bench_check(PROG, agir_sft_stream_open(&st, &in.set[0], (uint64_t)agir_cfg_int(c, "run", "seed"),
                                           agir_cfg_bool(c, "sft", "pack"), &e), &e);
    bench_check(PROG, agir_sft_batch_alloc(&b, B, T, &e), &e);
    agir_sft_stream_fill(&st, &p, &b);
    if (out) dump(out, &b, &llm.model, &lora);

    agir_ftype wdt = strcmp(agir_cfg_str(c, "model", "weights"), "bf16") ? AGIR_F32 : AGIR_BF16;
    agir_ctx cpu;
    agir_llama_weights w;
    agir_llm_trainer tr;
    agir_llama_acts a;
    agir_llm_opt_cfg oc = agir_llm_opt_defaults();
    bench_check(PROG, agir_ctx_open(&cpu, AGIR_DEV_CPU, &e), &e);
    bench_check(PROG, agir_llama_weights_open(&w, &cpu, wdt, &llm.model, &lora, &e), &e);
    if (!agir_llama_weights_aliased(&w)) bench_check(PROG, agir_llama_drop_frozen(&llm.model, &e), &e);
    bench_check(PROG, agir_llm_trainer_init(&tr, &w, &oc, NULL, &e), &e);
    bench_check(PROG, agir_llama_acts_alloc(&a, &w, B, T, &e), &e);
    double flops = bench_step_flops(&llm.model, &lora, (double)b.n_tokens, pairs(&b));
    printf("model: %s, %d layers, vocab %d (%d new rows), %s weights; LoRA r=%d alpha %g dropout %g, %zu parameters\n",
           llm.source, llm.model.cfg.n_layer, llm.model.cfg.vocab, llm.model.cfg.vocab - llm.model.v0,
           agir_ftype_name(wdt), lc.rank, lc.alpha, lc.dropout, lora.n_params);
    printf("batch: %d x %d slots, %lld examples packed, %lld tokens (%.1f%% of the slots), %lld trained; %.1f GFLOP "
           "per update\n", B, T, (long long)b.n_examples, (long long)b.n_tokens,
           100.0 * (double)b.n_tokens / ((double)B * T), (long long)b.n_valid, flops / 1e9);
    agir_rng drop;
    agir_rng_init(&drop, 3, 0);  // the LoRA dropout masks, as the job draws them
    bench_step_result sr = bench_train_steps(PROG, &w, &tr, &a, b.tokens, b.pos, b.seg, b.labels, &drop, steps);
    bench_train_report(&sr, (double)b.n_tokens, flops, peak, threads);
    printf("peak resident memory: %.0f MiB\n", bench_peak_rss_mib());
    agir_llama_acts_free(&a);
    agir_llm_trainer_free(&tr);
    agir_llama_weights_close(&w);
    agir_ctx_close(&cpu);
    agir_sft_batch_free(&b);
    agir_sft_stream_close(&st);
    agir_lora_free(&lora);
    agir_llm_free(&llm);
    agir_sft_inputs_close(&in);
    agir_run_close(&run);
    return 0;
}
