// What the LLM training benchmarks share (bench_llm.c, bench_sft.c): the model FLOPs of one LoRA
// training step, and timing steps on one micro-batch phase by phase.
#ifndef AGIR_BENCH_TRAIN_H
#define AGIR_BENCH_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "bench_common.h"
#include "models/llama.h"
#include "train/llm_step.h"

// Model FLOPs (2 per multiply-add) of one training step over `tokens` tokens with `pairs` causal
// (query, key) pairs per head and layer (T(T+1)/2 per row unpacked; within each example when
// packed), as bench_llm.c's header explains: frozen matrices and the head forward and input
// gradient, LoRA forward and backward, attention forward and backward, the new rows' gradient.
double bench_step_flops(const agir_llama *m, const agir_lora *lora, double tokens, double pairs);

typedef struct bench_step_result {
    double best, best_cpu, mean;  // seconds of the fastest step, its CPU time, the mean step
    double phase[4];              // of the fastest step: forward, loss, backward, AdamW
} bench_step_result;

// Times steps + 1 optimizer steps on one micro-batch (the first warms up, page faults and OpenBLAS
// buffers, and is not counted), printing each; tokens, pos, seg, labels: (a->B, a->T); dropout: the
// LoRA dropout stream (NULL without dropout).
bench_step_result bench_train_steps(const char *prog, agir_llama_weights *w, agir_llm_trainer *tr,
                                    agir_llama_acts *a, const int32_t *tok, const int32_t *pos, const int32_t *seg,
                                    const int32_t *lab, const agir_rng *dropout, int steps);

// Prints the step's summary: tokens/s, GFLOP/s and the fractions of the sgemm peak (wall and CPU).
void bench_train_report(const bench_step_result *r, double tokens, double flops, bench_rate peak, int threads);

// Peak resident memory of this process so far, MiB.
double bench_peak_rss_mib(void);

#endif
