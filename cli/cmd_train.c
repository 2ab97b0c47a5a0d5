// `agir train CONFIG`: runs the training job the config's [run] job names, resuming from the run
// folder's newest checkpoint when there is one (docs/training.md).
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "core/run.h"
#include "train/sft_job.h"
#include "train/vq_train.h"

static const char USAGE[] = "CONFIG [--set section.key=value ...] [--steps N] [--fresh | --resume]";

const agir_opt agir_opts_train[] = {
    AGIR_OPT_SET,
    {"steps", "N", "stop after N more updates (with a checkpoint); the run resumes from there"},
    {"fresh", NULL, "start a new run; refused when the run folder already holds a checkpoint"},
    {"resume", NULL, "resume; refused when the run folder holds no checkpoint"},
    AGIR_OPTS_END,
};

// --steps, --fresh and --resume, which every training job takes.
static int loop_opts(const agir_args *a, int64_t *max_steps, agir_resume_mode *mode, agir_err *e) {
    unsigned long long steps = 0;
    AGIR_TRY(agir_args_uint(a, "steps", 1, 1ull << 40, &steps, e));
    *max_steps = (int64_t)steps;
    *mode = agir_args_get(a, "fresh") ? AGIR_RESUME_NEVER : agir_args_get(a, "resume") ? AGIR_RESUME_REQUIRE
                                                                                         : AGIR_RESUME_AUTO;
    return AGIR_OK;
}

static int train_vqvae(agir_run *run, const agir_args *a, agir_err *e) {
    agir_vq_train_opts o = {0};
    AGIR_TRY(loop_opts(a, &o.max_steps, &o.resume, e));
    agir_vq_train_result r;
    AGIR_TRY(agir_vq_train(run, &o, &r, e));
    if (r.val.windows)
        agir_info(&run->log, "vqvae: step %lld, held-out MPJPE %.1f mm (%.1f mm global), %.0f%% of the codes used; "
                  "%lld steps skipped; %.1f s (%.1f CPU s); checkpoints in %s", (long long)r.step, r.val.mpjpe_mm,
                  r.val.mpjpe_global_mm, 100 * r.val.usage,
                  (long long)r.skipped, r.wall_s, r.cpu_s, run->dir);
    else
        agir_info(&run->log, "vqvae: step %lld; %lld steps skipped; %.1f s (%.1f CPU s); checkpoints in %s",
                  (long long)r.step, (long long)r.skipped, r.wall_s, r.cpu_s, run->dir);
    return AGIR_OK;
}

static int train_sft(agir_run *run, const agir_args *a, agir_err *e) {
    agir_sft_train_opts o = {0};
    AGIR_TRY(loop_opts(a, &o.max_steps, &o.resume, e));
    agir_sft_train_result r;
    AGIR_TRY(agir_sft_train(run, &o, &r, e));
    char line[600] = "";
    size_t n = 0;
    for (int t = 0; t < AGIR_SFT_NTASK && n < sizeof line; t++) {
        if (!(r.last.tasks & (1 << t))) continue;
        int k = r.first.tasks & (1 << t)
                    ? snprintf(line + n, sizeof line - n, "%s %s %.4f (step 0: %.4f)", n ? "," : "",
                               agir_sft_task_name((agir_sft_task)t), r.last.loss[t], r.first.loss[t])
                    : snprintf(line + n, sizeof line - n, "%s %s %.4f", n ? "," : "", agir_sft_task_name((agir_sft_task)t),
                               r.last.loss[t]);
        if (k > 0) n += (size_t)k;
    }
    agir_info(&run->log, "sft: step %lld of %lld; held-out loss%s; %lld steps skipped; %.0f tokens/s; %.1f s (%.1f CPU "
              "s); checkpoints in %s", (long long)r.step, (long long)r.total, n ? line : " not measured (no held-out "
              "example)", (long long)r.skipped, r.tokens_per_s, r.wall_s, r.cpu_s, run->dir);
    return AGIR_OK;
}

int agir_cmd_train(int argc, char **argv, agir_err *e) {
    agir_args a;
    AGIR_TRY(agir_args_command("train", argc, argv, agir_opts_train, 1, 1, USAGE, &a, e));
    if (agir_args_get(&a, "fresh") && agir_args_get(&a, "resume"))
        return AGIR_BAD(e, "train: --fresh and --resume contradict each other (hint: give one of them, or neither to "
                        "resume when a checkpoint exists)");
    char job[64];
    AGIR_TRY(agir_job_expect(a.pos[0], "train", job, sizeof job, e));
    // Loaded, not started: the run folder is written only once training really begins.
    agir_run run;
    int rc = agir_run_load(&run, job, agir_job_schema(job), a.pos[0], a.sets, a.nsets, e);
    if (!rc) rc = !strcmp(job, "sft") ? train_sft(&run, &a, e) : train_vqvae(&run, &a, e);
    agir_run_close(&run);
    return rc;
}
