// The SFT job (train/sft_job.h) on a CUDA context against the same job on the CPU: a few updates of
// the tiny random Llama (tests/tools/tiny_llm.h) on the tiny stores, run.device = cuda versus cpu,
// same seed and data. The CUDA run keeps bf16 weights and activations, so the comparison is at
// bf16's tolerance: the held-out loss per task at step 0 and at the end, and what training changed
// in the adapter (the final tensors minus those of a run with learning rate 0) as a relative L2
// error per tensor group.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parity.h"

#include "checkpoints/safetensors.h"
#include "core/run.h"
#include "tiny_llm.h"
#include "train/sft_job.h"

static char dir[256];

static void die_if(int rc, const agir_err *e) {
    if (rc) parity_die(e);
}

static void train(const char *name, const char *device, const char *lr, agir_sft_train_result *r) {
    char s[6][600];
    snprintf(s[0], sizeof s[0], "data.tokens=%s/tokens.h5", dir);
    snprintf(s[1], sizeof s[1], "data.texts=%s/texts.h5", dir);
    snprintf(s[2], sizeof s[2], "model.path=%s/tiny", dir);
    snprintf(s[3], sizeof s[3], "run.dir=%s/%s", dir, name);
    snprintf(s[4], sizeof s[4], "run.device=%s", device);
    snprintf(s[5], sizeof s[5], "optim.lr=%s", lr);
    char rows[64];
    snprintf(rows, sizeof rows, "rows.lr=%s", lr);
    const char *sets[] = {"run.job=sft", "run.log_level=quiet", "run.threads=1", s[0], s[1], s[2], s[3], s[4], s[5],
                          rows, "data.tokenizer=", "split.mode=list", "split.test=SYN002", "sft.tasks=m2t, t2m",
                          "sft.max_len=256", "train.batch_tokens=512", "lora.rank=4", "lora.alpha=8",
                          "lora.dropout=0.1", "optim.warmup=0", "optim.schedule=constant", "train.steps=3",
                          "train.val_every=0", "train.val_max=4", "train.ckpt_every=100"};
    const agir_key *const schema[] = {agir_run_keys, agir_sft_keys, NULL};
    agir_run run;
    agir_err e = {0};
    die_if(agir_run_load(&run, "sft", schema, NULL, sets, (int)(sizeof sets / sizeof *sets), &e), &e);
    agir_sft_train_opts o = {.resume = AGIR_RESUME_NEVER};
    die_if(agir_sft_train(&run, &o, r, &e), &e);
    agir_run_close(&run);
}

static void open_adapter(const char *name, agir_st_file *f) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s/ckpt-3/adapter.safetensors", dir, name);
    agir_err e = {0};
    die_if(agir_st_open(path, f, &e), &e);
}

// Relative L2 error of the CUDA run's change against the CPU run's, over the tensors whose name
// contains `part` ("lora_A", "lora_B", "new_embed").
static double change_error(const agir_st_file *cpu, const agir_st_file *cuda, const agir_st_file *init,
                           const char *part, double *moved) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < cpu->n; i++) {
        const agir_tensor_view *a = &cpu->t[i];
        if (!strstr(a->name, part)) continue;
        const agir_tensor_view *b = agir_st_find(cuda, a->name), *z = agir_st_find(init, a->name);
        if (!b || !z || b->nbytes != a->nbytes) return *moved = 0, INFINITY;
        const float *x = a->data, *y = b->data, *w = z->data;
        for (size_t k = 0; k < a->nbytes / sizeof(float); k++) {
            double dc = (double)x[k] - w[k], dd = (double)y[k] - w[k];
            num += (dd - dc) * (dd - dc), den += dc * dc;
        }
    }
    *moved = sqrt(den);
    return den > 0 ? sqrt(num / den) : INFINITY;
}

int main(void) {
    parity t;
    parity_open(&t);
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/agir-sft-parity-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char tiny[300], tok[600];
    const char *src = getenv("AGIR_SOURCE_DIR");
    snprintf(tok, sizeof tok, "%s/tests/fixtures/tokenizer/smollm.json", src && *src ? src : "../..");
    snprintf(tiny, sizeof tiny, "%s/tiny", dir);
    char texts[300], tokens[300];
    snprintf(texts, sizeof texts, "%s/texts.h5", dir);
    snprintf(tokens, sizeof tokens, "%s/tokens.h5", dir);
    agir_err e = {0};
    die_if(agir_tiny_llm_write(tiny, tok, 1, &e), &e);
    die_if(agir_tiny_sft_data(texts, tokens, &e), &e);
    agir_sft_train_result rc, rz;
    train("cpu", "cpu", "1e-2", &rc);
    train("init", "cpu", "0", &rz);
    agir_st_file fc, fz;
    open_adapter("cpu", &fc);
    open_adapter("init", &fz);
    for (int k = 0; k < parity_passes(); k++) {
        parity_pass(k);
        char name[32];
        snprintf(name, sizeof name, "cuda%d", k);
        agir_sft_train_result rd;
        train(name, "cuda", "1e-2", &rd);
        for (int task = 0; task < 2; task++) {
            const char *tn = agir_sft_task_name((agir_sft_task)task);
            double d0 = fabs(rd.first.loss[task] - rc.first.loss[task]) / rc.first.loss[task];
            double d1 = fabs(rd.last.loss[task] - rc.last.loss[task]) / rc.last.loss[task];
            printf("  held-out %-4s loss: step 0 cpu %.5f cuda %.5f (rel %.2g); step 3 cpu %.5f cuda %.5f (rel %.2g)\n",
                   tn, rc.first.loss[task], rd.first.loss[task], d0, rc.last.loss[task], rd.last.loss[task], d1);
            parity_check(&t, d0 <= 0x1p-6 && d1 <= 0x1p-6, "%s loss: relative error above 2^-6", tn);
            parity_check(&t, rc.last.loss[task] < rc.first.loss[task] - 0.05, "%s: the CPU run did not learn", tn);
        }
        agir_st_file fd;
        open_adapter(name, &fd);
        // LoRA A gets no gradient at the first update (B = 0) and small ones after, which AdamW
        // scales up to full-size steps: bf16's rounding of those near-zero gradients shows in A's
        // change twice as much as in B's or the new rows'.
        static const char *const parts[] = {"lora_A", "lora_B", "new_embed"};
        static const double tol[] = {0x1p-2, 0x1p-3, 0x1p-3};
        for (int p = 0; p < 3; p++) {
            double moved = 0, err = change_error(&fc, &fd, &fz, parts[p], &moved);
            printf("  adapter %-9s change: |cpu| %.3g, cuda vs cpu rel L2 %.3g (tolerance %.3g)\n", parts[p], moved,
                   err, tol[p]);
            parity_check(&t, moved > 0 && err <= tol[p], "adapter %s: change differs by rel L2 %.3g", parts[p], err);
        }
        agir_st_close(&fd);
    }
    agir_st_close(&fc);
    agir_st_close(&fz);
    return parity_close(&t);
}
