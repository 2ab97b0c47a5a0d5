// Run-folder plumbing shared by the training jobs (job.h).
#include "train/job.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "checkpoints/manifest.h"

cJSON *agir_job_config_record(const agir_cfg *cfg, agir_shapes_run shapes) {
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && i < cfg->n; i++) {
        const agir_key *k = cfg->v[i].key;
        if (!shapes(k)) continue;
        char name[128];
        snprintf(name, sizeof name, "%s.%s", k->section, k->name);
        if (!cJSON_AddStringToObject(o, name, cfg->v[i].text)) {
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

// Numbers compare by value, so "2e-4" and "0.0002" are the same setting.
static int same_value(const agir_value *v, const char *text) {
    if (v->key->type == AGIR_KEY_INT || v->key->type == AGIR_KEY_FLOAT) {
        char *end;
        double d = strtod(text, &end);
        return *text && !*end && d == (v->key->type == AGIR_KEY_INT ? (double)v->i : v->f);
    }
    return !strcmp(v->text, text);
}

int agir_job_config_check(const agir_cfg *cfg, agir_shapes_run shapes, const cJSON *rec, const char *where,
                          const char *job, agir_err *e) {
    if (!cJSON_IsObject(rec))
        return AGIR_BAD(e, "%s: \"config\" is missing (hint: the checkpoint was not written by 'agir train' for a "
                        "%s job)", where, job);
    for (size_t i = 0; i < cfg->n; i++) {
        const agir_value *v = &cfg->v[i];
        if (!shapes(v->key)) continue;
        char name[128], at[1200];
        snprintf(name, sizeof name, "%s.%s", v->key->section, v->key->name);
        const cJSON *was = cJSON_GetObjectItemCaseSensitive(rec, name);
        const char *text = cJSON_IsString(was) ? was->valuestring : NULL;
        if (text && same_value(v, text)) continue;
        agir_cfg_origin(cfg, v->key->section, v->key->name, at, sizeof at);
        if (!text)
            return AGIR_BAD(e, "%s: records no value of %s (hint: the checkpoint is from another version; train into a "
                            "new run.dir)", where, name);
        return AGIR_BAD(e, "%s: %s is '%s' but this run was trained with '%s' (hint: put the value back, or train "
                        "into a new run.dir)", at, name, v->text, text);
    }
    return AGIR_OK;
}

// agir_ckpt_load_latest with its fallback warnings held back until it succeeds: a run folder
// without any intact checkpoint is then one error line, whose message names the newest fault.
static int load_latest(const agir_run *run, const char *model_type, agir_ckpt *c, agir_err *e) {
    char *held = NULL;
    size_t len = 0;
    agir_log quiet = run->log;
    quiet.metrics = NULL;
    quiet.out = open_memstream(&held, &len);
    int rc = agir_ckpt_load_latest(run->dir, model_type, quiet.out ? &quiet : &run->log, c, e);
    if (quiet.out) fclose(quiet.out);
    if (!rc && len && run->log.out) {
        fputs(held, run->log.out);
        fflush(run->log.out);
    }
    free(held);
    return rc;
}

int agir_job_ckpt_open(const agir_run *run, const char *job, const char *model_type, agir_resume_mode mode,
                       agir_ckpt *c, agir_err *e) {
    AGIR_TRY(load_latest(run, model_type, c, e));
    int rc = AGIR_OK;
    if (!c->found && mode == AGIR_RESUME_REQUIRE)
        rc = AGIR_BAD(e, "%s: holds no checkpoint to resume from (hint: drop --resume to start a new run there)",
                      run->dir);
    else if (c->found && mode == AGIR_RESUME_NEVER)
        rc = AGIR_BAD(e, "%s: already holds a checkpoint (%s) (hint: drop --fresh to resume it, or set run.dir to "
                      "a new folder)", run->dir, c->dir);
    if (rc) {
        agir_ckpt_close(c);
        return rc;
    }
    if (!c->found) {
        // Said aloud: a run killed before its first checkpoint starts again from step 0.
        char metrics[1200];
        struct stat st;
        agir_err ignored = {0};
        int earlier = !agir_run_path(run, "metrics.jsonl", metrics, sizeof metrics, &ignored) &&
                      stat(metrics, &st) == 0;
        agir_info(&run->log, "%s: starting a new run in %s%s", job, run->dir,
                  earlier ? " (it holds no checkpoint: an earlier run there stopped before its first one)" : "");
    }
    return AGIR_OK;
}

int agir_job_start(agir_run *run, int64_t resumed_from, agir_err *e) {
    AGIR_TRY(agir_run_start(run, e));
    cJSON *m = cJSON_CreateObject();
    if (m) {
        cJSON_AddStringToObject(m, "event", resumed_from >= 0 ? "resume" : "start");
        cJSON_AddNumberToObject(m, "step", resumed_from >= 0 ? (double)resumed_from : 0);
        if (resumed_from >= 0) {
            char ckpt[1100];
            snprintf(ckpt, sizeof ckpt, "%s/ckpt-%lld", run->dir, (long long)resumed_from);
            cJSON_AddStringToObject(m, "checkpoint", ckpt);
        }
        agir_metrics_emit(&run->log, m);
    }
    return AGIR_OK;
}

int agir_job_interrupted(const agir_run *run, int64_t first, int64_t step, int64_t total, agir_err *e) {
    const char *what = "nothing saved: no update was made";
    char buf[160];
    if (step > first) {
        snprintf(buf, sizeof buf, "checkpoint ckpt-%lld saved", (long long)step);
        what = buf;
    } else if (first > 0) {
        snprintf(buf, sizeof buf, "its checkpoint ckpt-%lld is unchanged", (long long)first);
        what = buf;
    }
    return agir_errf(e, AGIR_EINTERRUPTED, "%s: interrupted at step %lld of %lld; %s (hint: run the same command "
                     "again to resume)", run->dir, (long long)step, (long long)total, what);
}

int agir_job_after_update(agir_job_cadence *c, const agir_job_hooks *h, int64_t step, agir_err *e) {
    c->saved = c->validated = 0;
    if (step % c->log_every == 0) h->log(h->self);
    if (c->val_every > 0 && step % c->val_every == 0) {
        AGIR_TRY(h->validate(h->self, e));
        c->validated = 1;
    }
    if (step % c->ckpt_every == 0) {
        AGIR_TRY(h->save(h->self, e));
        c->saved = 1;
    }
    return AGIR_OK;
}

int agir_job_finish(agir_job_cadence *c, const agir_job_hooks *h, const agir_run *run, int stopped, int64_t first,
                    int64_t step, int64_t total, agir_err *e) {
    h->log(h->self);
    if (stopped) {
        if (step > first && !c->saved) AGIR_TRY(h->save(h->self, e));
        return agir_job_interrupted(run, first, step, total, e);
    }
    if (!c->validated) AGIR_TRY(h->validate(h->self, e));
    return c->saved ? AGIR_OK : h->save(h->self, e);
}

int agir_job_skip(const agir_run *run, int64_t step, double loss, double grad_norm, int bad, int max_bad,
                  int64_t skipped, agir_err *e) {
    const agir_log *log = &run->log;
    agir_warn(log, "step %lld skipped (rank 0): loss %g, gradient norm %g are not finite (%d in a row, the run stops "
              "at %d)", (long long)step + 1, loss, grad_norm, bad, max_bad);
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "event", "skip");
        cJSON_AddNumberToObject(o, "step", (double)step + 1);
        cJSON_AddNumberToObject(o, "rank", 0);
        cJSON_AddNumberToObject(o, "in_a_row", bad);
        cJSON_AddNumberToObject(o, "skipped", (double)skipped);
        agir_metrics_emit(log, o);
    }
    if (bad < max_bad) return AGIR_OK;
    return AGIR_BAD(e, "%s: training stopped at step %lld after %d non-finite steps in a row (hint: lower optim.lr or "
                    "set optim.clip; the run resumes from its last checkpoint)", run->dir, (long long)step, bad);
}

int agir_job_ckpt_state(const agir_run *run, const char *model_type, int64_t step, int64_t skipped, int64_t epoch,
                        int64_t cursor, agir_ckpt_state *s, agir_err *e) {
    memset(s, 0, sizeof *s);
    snprintf(s->model_type, sizeof s->model_type, "%s", model_type);
    s->step = step, s->sched_step = step, s->skipped = skipped;
    s->epoch = epoch, s->cursor = cursor;
    s->world_size = 1;
    char path[1200];
    size_t bytes;
    AGIR_TRY(agir_run_path(run, "config.ini", path, sizeof path, e));
    return agir_sha256_file(path, s->config_hash, &bytes, e);
}

void agir_job_saved(const agir_log *log, const char *dir, int64_t step) {
    agir_debug(log, "step %lld: checkpoint saved in %s/ckpt-%lld", (long long)step, dir, (long long)step);
    cJSON *m = cJSON_CreateObject();
    if (!m) return;
    cJSON_AddStringToObject(m, "event", "checkpoint");
    cJSON_AddNumberToObject(m, "step", (double)step);
    agir_metrics_emit(log, m);
}

double agir_job_cpu_seconds(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    double usec = (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
    return (double)u.ru_utime.tv_sec + (double)u.ru_stime.tv_sec + 1e-6 * usec;
}
