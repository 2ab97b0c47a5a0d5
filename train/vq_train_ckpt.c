// Checkpoints of the VQ-VAE training job: what a save holds, and resuming from one bit for bit.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoints/ckpt.h"
#include "checkpoints/manifest.h"
#include "train/vq_train_impl.h"

static const char MODEL_TYPE[] = "vqvae";

// Keys that shape the run's trajectory: a resumed run must have the same values. Left out: where
// things are (data.path, run.dir), how the run is watched or paced (log level, threads, device,
// logging, validation and checkpoint cadence) and train.steps, which may grow to extend a run.
static int shapes_run(const agir_key *k) {
    if (!strcmp(k->section, "data")) return strcmp(k->name, "path") != 0;
    if (!strcmp(k->section, "model") || !strcmp(k->section, "optim")) return 1;
    return (!strcmp(k->section, "run") && !strcmp(k->name, "seed")) ||
           (!strcmp(k->section, "train") && !strcmp(k->name, "batch"));
}

static cJSON *state_extra(const vq_trainer *t) {
    cJSON *o = agir_vq_meta_to_json(&t->meta);
    cJSON *val = o ? cJSON_AddArrayToObject(o, "val_subjects") : NULL;
    int ok = val != NULL;
    for (int i = 0; ok && i < t->data.n_val_subjects; i++)
        ok = cJSON_AddItemToArray(val, cJSON_CreateString(t->data.val_subjects[i]));
    cJSON *rec = ok ? agir_job_config_record(&t->run->cfg, shapes_run) : NULL;
    if (!rec || !cJSON_AddItemToObject(o, "config", rec)) {
        cJSON_Delete(rec);
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static int download(vq_trainer *t, void *dst, const void *src, size_t n, agir_err *e) {
    return agir_dev_download(&t->ctx, dst, src, n * sizeof(float), e);
}

static int upload(vq_trainer *t, void *dst, const void *src, size_t n, agir_err *e) {
    return agir_dev_upload(&t->ctx, dst, src, n * sizeof(float), e);
}

// Host mirrors <- device (to save) or -> device (after a load).
static int sync_mirrors(vq_trainer *t, int to_device, agir_err *e) {
    agir_vqvae *m = &t->m;
    size_t P = m->n_params, K = (size_t)m->cfg.n_codes, KD = K * (size_t)m->cfg.code_dim;
    struct {
        float *dev, *host;
        size_t n;
    } pairs[] = {{m->params, t->h_params, P}, {m->codebook, t->h_codebook, KD}, {m->ema_count, t->h_count, K},
                 {m->ema_sum, t->h_sum, KD},  {t->adam_m, t->h_m, P},             {t->adam_v, t->h_v, P}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        AGIR_TRY(to_device ? upload(t, pairs[i].dev, pairs[i].host, pairs[i].n, e)
                           : download(t, pairs[i].host, pairs[i].dev, pairs[i].n, e));
    return AGIR_OK;
}

int agir_vqt_save(vq_trainer *t, agir_err *e) {
    AGIR_TRY(sync_mirrors(t, 0, e));
    agir_ckpt_state s;
    AGIR_TRY(agir_job_ckpt_state(t->run, MODEL_TYPE, t->step, t->skipped, t->pos.epoch, t->pos.cursor, &s, e));
    s.n_rng = 2;
    s.rng[0] = (agir_ckpt_rng){"data", t->data.root};
    s.rng[1] = (agir_ckpt_rng){"quant", t->quant};
    if (!(s.extra = state_extra(t))) return AGIR_BUG(e, "out of memory writing the checkpoint state");
    agir_ckpt_group g[3] = {{"model", t->views.model, t->views.n_model, NULL, 0},
                            {"ema", t->views.ema, t->views.n_ema, NULL, 0},
                            {"optim", t->optim, 2, NULL, 0}};
    agir_ckpt_opts o = {t->keep, t->log};
    int rc = agir_ckpt_save(t->run->dir, &s, g, 3, &o, e);
    cJSON_Delete(s.extra);
    AGIR_TRY(rc);
    agir_job_saved(t->log, t->run->dir, t->step);
    return AGIR_OK;
}

// ---------------------------------------------------------------------------------------------
// Resume

static int check_val_subjects(const vq_trainer *t, const cJSON *extra, const char *where, agir_err *e) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(extra, "val_subjects");
    int n = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : -1, same = n == t->data.n_val_subjects, i = 0;
    for (const cJSON *s = same ? a->child : NULL; s && same; s = s->next, i++)
        same = cJSON_IsString(s) && !strcmp(s->valuestring, t->data.val_subjects[i]);
    if (!same)
        return AGIR_BAD(e, "%s: the held-out subjects recorded in \"val_subjects\" differ from the data's split (hint: "
                        "%s changed since the run started; train into a new run.dir)", where,
                        agir_cfg_str(&t->run->cfg, "data", "path"));
    return AGIR_OK;
}

// Copies one group's tensors (shapes already matched) into the host mirrors the views point at.
static void copy_group(const agir_ckpt *c, const char *group, const agir_tensor_view *v, int64_t n) {
    const agir_st_file *f = agir_ckpt_group_file(c, group);
    for (int64_t i = 0; i < n; i++) memcpy((void *)v[i].data, agir_st_find(f, v[i].name)->data, v[i].nbytes);
}

static int restore_position(vq_trainer *t, const agir_ckpt *c, agir_err *e) {
    const agir_ckpt_state *s = &c->state;
    const agir_rng *quant = agir_ckpt_rng_get(c, "quant"), *data = agir_ckpt_rng_get(c, "data");
    if (!quant || !data)
        return AGIR_BAD(e, "%s/state.json: lacks the \"quant\" or \"data\" random stream (hint: the checkpoint was "
                        "not written by a vqvae training job)", c->dir);
    if (s->world_size != 1)
        return AGIR_BAD(e, "%s/state.json: saved by %d ranks, this job trains on one (hint: resume it with as many "
                        "ranks)", c->dir, s->world_size);
    if (s->sched_step != s->step || s->cursor >= t->data.n_train || s->skipped > INT64_MAX - s->step)
        return AGIR_BAD(e, "%s/state.json: step %lld, schedule step %lld and data cursor %lld of %d walks do not fit "
                        "together (hint: the dataset changed since the run started; train into a new run.dir)",
                        c->dir, (long long)s->step, (long long)s->sched_step, (long long)s->cursor, t->data.n_train);
    t->quant = *quant;
    t->data.root = *data;
    t->data.perm_epoch = -1;
    t->step = s->step, t->skipped = s->skipped;
    t->pos = (agir_vq_pos){s->epoch, s->cursor};
    return AGIR_OK;
}

static int restore(vq_trainer *t, const agir_ckpt *c, agir_err *e) {
    char where[4200];
    snprintf(where, sizeof where, "%s/state.json: extra", c->dir);
    agir_vq_meta meta;
    AGIR_TRY(agir_vq_meta_from_json(c->state.extra, where, &meta, e));
    AGIR_TRY(agir_job_config_check(&t->run->cfg, shapes_run, cJSON_GetObjectItemCaseSensitive(c->state.extra, "config"),
                                   where, MODEL_TYPE, e));
    AGIR_TRY(check_val_subjects(t, c->state.extra, where, e));
    AGIR_TRY(agir_ckpt_expect(c, "model", t->views.model, t->views.n_model, e));
    AGIR_TRY(agir_ckpt_expect(c, "ema", t->views.ema, t->views.n_ema, e));
    AGIR_TRY(agir_ckpt_expect(c, "optim", t->optim, 2, e));
    copy_group(c, "model", t->views.model, t->views.n_model);
    copy_group(c, "ema", t->views.ema, t->views.n_ema);
    copy_group(c, "optim", t->optim, 2);
    size_t D = (size_t)t->data.dim;
    if (memcmp(t->h_mean, t->data.mean, D * sizeof(float)) || memcmp(t->h_std, t->data.std, D * sizeof(float)))
        return AGIR_BAD(e, "%s/model.safetensors: its feature normalisation differs from the statistics of %s (hint: "
                        "the dataset changed since the run started; train into a new run.dir)", c->dir,
                        agir_cfg_str(&t->run->cfg, "data", "path"));
    AGIR_TRY(restore_position(t, c, e));
    AGIR_TRY(sync_mirrors(t, 1, e));
    t->m.codebook_ready = 1;  // a checkpoint is written after at least one update
    return AGIR_OK;
}

int agir_vqt_resume(vq_trainer *t, agir_resume_mode mode, int64_t *resumed_from, agir_err *e) {
    *resumed_from = -1;
    agir_ckpt c;
    AGIR_TRY(agir_job_ckpt_open(t->run, MODEL_TYPE, MODEL_TYPE, mode, &c, e));
    int rc = c.found ? restore(t, &c, e) : AGIR_OK;
    if (!rc && c.found) {
        *resumed_from = t->step;
        agir_info(t->log, "vqvae: resuming from %s (step %lld)", c.dir, (long long)t->step);
    }
    agir_ckpt_close(&c);
    return rc;
}
