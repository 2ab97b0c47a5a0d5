// Run folders: effective config, metrics file, thread count and log level of a job.
#include "core/run.h"

#include <stdio.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/fsio.h"

const agir_key agir_run_keys[] = {
    {"run", "job", AGIR_KEY_STRING, NULL, 0, 0, NULL, "which job this file configures (synth, vqvae, sft)"},
    {"run", "seed", AGIR_KEY_INT, "1234", 0, 9.2e18, NULL, "seed of every random stream of the job"},
    {"run", "dir", AGIR_KEY_STRING, "", 0, 0, NULL, "run folder for config, metrics and outputs ('' = runs/<job>)"},
    {"run", "threads", AGIR_KEY_INT, "0", 0, 1024, NULL, "CPU threads (0 = all cores); results do not depend on it"},
    {"run", "device", AGIR_KEY_CHOICE, "cpu", 0, 0, "cpu|cuda", "compute device"},
    {"run", "log_level", AGIR_KEY_CHOICE, "info", 0, 0, "quiet|info|debug", "how much the job prints"},
    AGIR_KEYS_END,
};

int agir_run_load(agir_run *run, const char *job, const agir_key *const *schema, const char *cfg_path,
                  const char *const *sets, int nsets, agir_err *e) {
    memset(run, 0, sizeof *run);
    run->job = job;
    agir_log_init(&run->log, AGIR_LOG_INFO);
    AGIR_TRY(agir_cfg_load(&run->cfg, schema, cfg_path, sets, nsets, e));
    const char *named = agir_cfg_str(&run->cfg, "run", "job");
    if (strcmp(named, job)) {
        char at[1200];
        agir_cfg_origin(&run->cfg, "run", "job", at, sizeof at);
        return AGIR_BAD(e, "%s: this config is for job '%s', not '%s' (hint: pick a %s config, or set [run] job = %s)",
                        at, named, job, job, job);
    }
    const char *lv = agir_cfg_str(&run->cfg, "run", "log_level");
    run->log.level = !strcmp(lv, "quiet") ? AGIR_LOG_QUIET : !strcmp(lv, "debug") ? AGIR_LOG_DEBUG : AGIR_LOG_INFO;
#ifdef _OPENMP
    long long th = agir_cfg_int(&run->cfg, "run", "threads");
    if (th > 0) omp_set_num_threads((int)th);
#endif
    const char *dir = agir_cfg_str(&run->cfg, "run", "dir");
    int k = *dir ? snprintf(run->dir, sizeof run->dir, "%s", dir) : snprintf(run->dir, sizeof run->dir, "runs/%s", job);
    if (k < 0 || (size_t)k >= sizeof run->dir) return AGIR_BAD(e, "run.dir: path too long");
    return AGIR_OK;
}

int agir_run_start(agir_run *run, agir_err *e) {
    if (run->started) return AGIR_OK;
    AGIR_TRY(agir_mkdirs(run->dir, e));
    char path[1200];
    AGIR_TRY(agir_run_path(run, "config.ini", path, sizeof path, e));
    AGIR_TRY(agir_cfg_write(&run->cfg, run->job, path, e));
    AGIR_TRY(agir_run_path(run, "metrics.jsonl", path, sizeof path, e));
    AGIR_TRY(agir_metrics_open(&run->log, path, e));
    run->started = 1;
    return AGIR_OK;
}

int agir_run_open(agir_run *run, const char *job, const agir_key *const *schema, const char *cfg_path,
                  const char *const *sets, int nsets, agir_err *e) {
    AGIR_TRY(agir_run_load(run, job, schema, cfg_path, sets, nsets, e));
    return agir_run_start(run, e);
}

void agir_run_close(agir_run *run) {
    agir_log_close(&run->log);
    agir_cfg_free(&run->cfg);
}

int agir_run_path(const agir_run *run, const char *name, char *out, size_t outsz, agir_err *e) {
    return agir_path_join(out, outsz, run->dir, name, e);
}
