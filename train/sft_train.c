// The SFT job: set-up, held-out validation and the update loop (design in sft_job.h).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsio.h"
#include "models/adapter.h"
#include "train/sft_train_impl.h"

// Philox streams of the job ("sftdrop", "sftlora", "sftrows").
#define DROPOUT_STREAM 0x73667464726f70ull
#define LORA_STREAM 0x7366746c6f7261ull
#define ROWS_STREAM 0x736674726f7773ull

// ---------------------------------------------------------------------------------------------
// Set-up

static int read_config(sft_trainer *t, agir_err *e) {
    const agir_cfg *c = &t->run->cfg;
    t->T = (int)agir_cfg_int(c, "sft", "max_len");
    int64_t slots = agir_cfg_int(c, "train", "batch_tokens");
    if (slots % t->T) {
        char at[1200];
        agir_cfg_origin(c, "train", "batch_tokens", at, sizeof at);
        return AGIR_BAD(e, "%s: batch_tokens %lld is not a multiple of sft.max_len %d (hint: e.g. batch_tokens = %lld)",
                        at, (long long)slots, t->T, (long long)(slots / t->T + 1) * t->T);
    }
    t->B = (int)(slots / t->T);
    t->accum = (int)agir_cfg_int(c, "train", "accum");
    t->pack = agir_cfg_bool(c, "sft", "pack");
    t->log_every = agir_cfg_int(c, "train", "log_every");
    t->val_every = agir_cfg_int(c, "train", "val_every");
    t->val_max = agir_cfg_int(c, "train", "val_max");
    t->ckpt_every = agir_cfg_int(c, "train", "ckpt_every");
    t->keep = agir_cfg_int(c, "train", "keep");
    t->max_bad = (int)agir_cfg_int(c, "train", "max_bad_steps");
    t->seed = (uint64_t)agir_cfg_int(c, "run", "seed");
    t->lr_lora = (float)agir_cfg_float(c, "optim", "lr");
    t->lr_rows = (float)agir_cfg_float(c, "rows", "lr");
    return AGIR_OK;
}

static int lora_config(const agir_cfg *c, agir_lora_cfg *lc, agir_err *e) {
    char at[1200];
    agir_cfg_origin(c, "lora", "targets", at, sizeof at);
    *lc = (agir_lora_cfg){.rank = (int)agir_cfg_int(c, "lora", "rank"), .alpha = (float)agir_cfg_float(c, "lora", "alpha"),
                          .dropout = (float)agir_cfg_float(c, "lora", "dropout"), .rslora = agir_cfg_bool(c, "lora", "rslora")};
    return agir_lora_parse_targets(agir_cfg_str(c, "lora", "targets"), at, &lc->targets, e);
}

// A fresh adapter: the motion tokens' rows from the mean (plus noise), LoRA A Kaiming-uniform, B zero.
static int fresh_adapter(sft_trainer *t, agir_err *e) {
    const agir_cfg *c = &t->run->cfg;
    agir_lora_cfg lc;
    AGIR_TRY(lora_config(c, &lc, e));
    agir_new_rows_opts o = {.init = strcmp(agir_cfg_str(c, "rows", "init"), "mean") ? AGIR_NEW_ROWS_MEAN_NOISE
                                                                                     : AGIR_NEW_ROWS_MEAN,
                            .noise = (float)agir_cfg_float(c, "rows", "noise")};
    agir_rng rows, lr;
    agir_rng_init(&rows, t->seed, ROWS_STREAM);
    agir_rng_init(&lr, t->seed, LORA_STREAM);
    AGIR_TRY(agir_llm_add_motion(&t->llm, (int)t->in.tokens.codebook_size, &o, &rows, e));
    int dims[AGIR_LORA_NTARGET][2];
    agir_llama_lora_dims(&t->llm.model.cfg, dims);
    AGIR_TRY(agir_lora_alloc(&t->lora, &lc, t->llm.model.cfg.n_layer, dims, e));
    t->have_lora = 1;
    agir_lora_init(&t->lora, &lr);
    return AGIR_OK;
}

// The adapter of a stage-1 run's checkpoint, or of this run's own (own = 1), read from the
// checkpoint's verified group file: its LoRA must have the shape the config asks for; dropout is
// this run's.
static int saved_adapter(sft_trainer *t, const agir_ckpt *ck, int own, agir_err *e) {
    char name[4300];
    snprintf(name, sizeof name, "%s/adapter.safetensors", ck->dir);
    const agir_st_file *f = agir_ckpt_group_file(ck, "adapter");
    if (!f) return AGIR_BAD(e, "%s: missing (hint: the checkpoint was not written by an SFT run)", name);
    AGIR_TRY(agir_adapter_apply(f, name, &t->llm, &t->lora, e));
    t->have_lora = 1;
    if (!own) snprintf(t->init_from, sizeof t->init_from, "%s", ck->dir);  // a resumed run keeps its record
    const agir_cfg *c = &t->run->cfg;
    agir_lora_cfg want, *got = &t->lora.cfg;
    AGIR_TRY(lora_config(c, &want, e));
    if (!own && (want.rank != got->rank || want.alpha != got->alpha || want.targets != got->targets ||
                 want.rslora != got->rslora)) {
        char at[1200];
        agir_cfg_origin(c, "model", "init", at, sizeof at);
        return AGIR_BAD(e, "%s: the adapter in %s has rank %d, alpha %g, rslora %d on other targets or settings than "
                        "[lora] asks for (rank %d, alpha %g, rslora %d) (hint: make [lora] match the stage-1 run)", at,
                        ck->dir, got->rank, got->alpha, got->rslora, want.rank, want.alpha, want.rslora);
    }
    got->dropout = want.dropout;
    if (t->llm.motion_k != (int)t->in.tokens.codebook_size)
        return AGIR_BAD(e, "%s: the adapter has %d motion tokens but %s holds codes of %lld (hint: the stage-1 run "
                        "used another motion tokenizer)", name, t->llm.motion_k, agir_cfg_str(c, "data", "tokens"),
                        (long long)t->in.tokens.codebook_size);
    return AGIR_OK;
}

static int load_model(sft_trainer *t, const agir_ckpt *c, agir_err *e) {
    const agir_cfg *cfg = &t->run->cfg;
    AGIR_TRY(agir_llm_load(agir_cfg_str(cfg, "model", "path"), &t->llm, e));
    t->have_llm = 1;
    const char *init = agir_cfg_str(cfg, "model", "init");
    if (c->found) return saved_adapter(t, c, 1, e);
    if (!*init) return fresh_adapter(t, e);
    agir_ckpt stage1;
    AGIR_TRY(agir_sftt_open_init(init, t->log, &stage1, e));
    agir_info(t->log, "sft: starting from the adapter of %s", stage1.dir);
    int rc = saved_adapter(t, &stage1, 0, e);
    agir_ckpt_close(&stage1);
    return rc;
}

static int place_model(sft_trainer *t, agir_err *e) {
    const agir_cfg *c = &t->run->cfg;
    agir_ftype wdt = t->ctx.dev == AGIR_DEV_CUDA || !strcmp(agir_cfg_str(c, "model", "weights"), "bf16") ? AGIR_BF16
                                                                                                           : AGIR_F32;
    AGIR_TRY(agir_llama_weights_open(&t->w, &t->ctx, wdt, &t->llm.model, &t->lora, e));
    if (!agir_llama_weights_aliased(&t->w)) AGIR_TRY(agir_llama_drop_frozen(&t->llm.model, e));
    AGIR_TRY(agir_llama_acts_alloc(&t->a, &t->w, t->B, t->T, e));
    agir_llm_opt_cfg oc = {.lr_lora = t->lr_lora, .wd_lora = (float)agir_cfg_float(c, "optim", "weight_decay"),
                           .lr_rows = t->lr_rows, .wd_rows = (float)agir_cfg_float(c, "rows", "weight_decay"),
                           .beta1 = (float)agir_cfg_float(c, "optim", "beta1"),
                           .beta2 = (float)agir_cfg_float(c, "optim", "beta2"),
                           .eps = (float)agir_cfg_float(c, "optim", "eps"), .clip = (float)agir_cfg_float(c, "optim", "clip")};
    AGIR_TRY(agir_llm_trainer_init(&t->tr, &t->w, &oc, NULL, e));
    if (!(t->h_mom = calloc(2 * t->tr.g.n, sizeof(float)))) return AGIR_BUG(e, "out of memory for optimizer state");
    return AGIR_OK;
}

static int plan(sft_trainer *t, agir_err *e) {
    const agir_cfg *c = &t->run->cfg;
    AGIR_TRY(agir_sft_stream_open(&t->stream, &t->in.set[0], t->seed, t->pack, e));
    if (!(t->mb = calloc((size_t)t->accum, sizeof *t->mb))) return AGIR_BUG(e, "out of memory");
    for (int i = 0; i < t->accum; i++) AGIR_TRY(agir_sft_batch_alloc(&t->mb[i], t->B, t->T, e));
    t->total = agir_cfg_int(c, "train", "steps");
    if (!t->total) {
        int64_t epochs = agir_cfg_int(c, "train", "epochs");
        if (!epochs) {
            char at[1200];
            agir_cfg_origin(c, "train", "epochs", at, sizeof at);
            return AGIR_BAD(e, "%s: epochs and train.steps are both 0 (hint: set one of them)", at);
        }
        int64_t micro = agir_sft_stream_count(&t->stream, t->B, t->T, epochs, e);
        if (micro < 0) return e->code;
        t->total = (micro + t->accum - 1) / t->accum;
    }
    return agir_schedule_from_cfg(c, "optim", t->total, &t->sched, e);
}

static int setup(sft_trainer *t, const agir_sft_train_opts *o, int64_t *resumed_from, agir_err *e) {
    AGIR_TRY(read_config(t, e));
    const agir_cfg *c = &t->run->cfg;
    agir_device dev;
    char at[1200];
    agir_cfg_origin(c, "run", "device", at, sizeof at);
    AGIR_TRY(agir_device_parse(agir_cfg_str(c, "run", "device"), at, &dev, e));
    AGIR_TRY(agir_ctx_open(&t->ctx, dev, e));
    AGIR_TRY(agir_sft_inputs_open(&t->in, c, t->log, e));
    agir_ckpt ck;
    AGIR_TRY(agir_job_ckpt_open(t->run, "sft", AGIR_SFT_MODEL_TYPE, o->resume, &ck, e));
    int rc = load_model(t, &ck, e);
    if (!rc) rc = agir_sft_inputs_build(&t->in, c, &t->llm, t->log, e);
    if (!rc) rc = agir_sft_inputs_check(&t->in, c, e);
    if (!rc) rc = place_model(t, e);
    if (!rc) rc = plan(t, e);
    if (!rc && ck.found) rc = agir_sftt_restore(t, &ck, e);
    if (!rc && ck.found) {
        *resumed_from = t->step;
        agir_info(t->log, "sft: resuming from %s (step %lld)", ck.dir, (long long)t->step);
    }
    agir_ckpt_close(&ck);
    AGIR_TRY(rc);
    agir_info(t->log, "sft: %s, %d layers, vocabulary %d (%d new rows); LoRA rank %d on %zu weights; %d x %d tokens "
              "per micro-batch, %d per update; %lld updates; device %s, weights %s", t->llm.source,
              t->llm.model.cfg.n_layer, t->llm.model.cfg.vocab, t->llm.model.cfg.vocab - t->llm.model.v0,
              t->lora.cfg.rank, t->tr.g.n_lora, t->B, t->T, t->accum, (long long)t->total, agir_device_name(dev),
              agir_ftype_name(t->w.wdt));
    return AGIR_OK;
}

static void teardown(sft_trainer *t) {
    for (int i = 0; t->mb && i < t->accum; i++) agir_sft_batch_free(&t->mb[i]);
    free(t->mb);
    free(t->h_mom);
    agir_sft_stream_close(&t->stream);
    agir_llm_trainer_free(&t->tr);
    agir_llama_acts_free(&t->a);
    agir_llama_weights_close(&t->w);
    if (t->have_lora) agir_lora_free(&t->lora);
    if (t->have_llm) agir_llm_free(&t->llm);
    agir_sft_inputs_close(&t->in);
    agir_ctx_close(&t->ctx);
}

// ---------------------------------------------------------------------------------------------
// Validation: mean cross-entropy per trained token of each task's held-out examples (at most
// val_max of them, evenly spaced through the walks), without dropout.

static int validate_task(sft_trainer *t, int task, double *loss, int64_t *tokens, agir_err *e) {
    const agir_sft_set *s = &t->in.set[1];
    int64_t n = 0, m;
    for (int64_t i = 0; i < s->n; i++) n += (int)s->s[i].task == task;
    m = t->val_max > 0 && t->val_max < n ? t->val_max : n;
    int64_t *all = malloc((size_t)(n ? n : 1) * sizeof *all), *idx = malloc((size_t)(m ? m : 1) * sizeof *idx);
    int rc = all && idx ? AGIR_OK : AGIR_BUG(e, "out of memory for validation");
    for (int64_t i = 0, k = 0; !rc && i < s->n; i++)
        if ((int)s->s[i].task == task) all[k++] = i;
    for (int64_t j = 0; !rc && j < m; j++) idx[j] = all[j * n / m];
    double sum = 0;
    int64_t next = 0, valid = 0;
    agir_sft_batch *b = &t->mb[0];
    while (!rc && next < m) {
        agir_sft_batch_fill_list(b, s, idx, m, t->pack, &next);
        if (!b->n_valid) continue;
        double l = 0;
        rc = agir_llama_forward_train(&t->w, &t->a, b->tokens, b->pos, b->seg, b->labels, NULL, e);
        if (!rc) rc = agir_llama_loss(&t->w, &t->a, b->labels, b->n_valid, 0, &l, e);
        sum += l * (double)b->n_valid, valid += b->n_valid;
    }
    free(all), free(idx);
    *loss = valid ? sum / (double)valid : NAN, *tokens = valid;
    return rc;
}

static int validate(sft_trainer *t, agir_sft_val *v, agir_err *e) {
    memset(v, 0, sizeof *v);
    if (!t->in.set[1].n) return AGIR_OK;
    cJSON *o = cJSON_CreateObject();
    char line[512];
    int n = snprintf(line, sizeof line, "step %lld: held-out loss", (long long)t->step);
    for (int task = 0; task < AGIR_SFT_NTASK; task++) {
        if (!t->in.set[1].counts.examples[task]) continue;
        int rc = validate_task(t, task, &v->loss[task], &v->tokens[task], e);
        if (rc) {
            cJSON_Delete(o);
            return rc;
        }
        v->tasks |= 1 << task;
        if (n > 0 && (size_t)n < sizeof line)
            n += snprintf(line + n, sizeof line - (size_t)n, " %s %.4f", agir_sft_task_name((agir_sft_task)task),
                          v->loss[task]);
        if (o) cJSON_AddNumberToObject(o, agir_sft_task_name((agir_sft_task)task), v->loss[task]);
    }
    agir_info(t->log, "%s", line);
    if (o) {
        cJSON_AddStringToObject(o, "event", "val");
        cJSON_AddNumberToObject(o, "step", (double)t->step);
        agir_metrics_emit(t->log, o);
    }
    return AGIR_OK;
}

// ---------------------------------------------------------------------------------------------
// One update

typedef struct update {
    agir_llm_step_stats st;
    int64_t tokens, valid;  // example tokens and trained labels of the update
    double lr;
} update;

static int run_update(sft_trainer *t, update *u, agir_err *e) {
    memset(u, 0, sizeof *u);
    for (int k = 0; k < t->accum; k++) {
        agir_sft_stream_fill(&t->stream, &t->pos, &t->mb[k]);
        u->tokens += t->mb[k].n_tokens, u->valid += t->mb[k].n_valid;
    }
    u->lr = agir_schedule_lr(&t->sched, t->step);
    double f = t->sched.lr > 0 ? u->lr / t->sched.lr : 0;
    t->tr.cfg.lr_lora = (float)u->lr, t->tr.cfg.lr_rows = (float)(t->lr_rows * f);
    AGIR_TRY(agir_llm_step_begin(&t->tr, u->valid, e));
    agir_rng drop;
    agir_rng_init(&drop, t->seed, DROPOUT_STREAM);
    for (int k = 0; k < t->accum; k++) {
        agir_rng r;
        // Every update and micro-batch draws its own masks, whatever happened before.
        agir_rng_child(&drop, (uint64_t)(t->step + t->skipped) * (uint64_t)t->accum + (uint64_t)k, &r);
        const agir_sft_batch *b = &t->mb[k];
        AGIR_TRY(agir_llm_step_micro(&t->tr, &t->a, b->tokens, b->pos, b->seg, b->labels, &r, NULL, e));
    }
    return agir_llm_step_apply(&t->tr, &u->st, e);
}

// ---------------------------------------------------------------------------------------------
// Logging

typedef struct interval {
    int n;
    double loss, gnorm, t0;
    int64_t tokens, valid, step0;
} interval;

static void log_interval(sft_trainer *t, interval *iv, double lr) {
    if (!iv->n) return;
    double dt = agir_now() - iv->t0, tps = dt > 0 ? (double)iv->tokens / dt : 0;
    agir_info(t->log, "step %lld/%lld  loss %.4f  lr %.3g  |g| %.3g  %.0f tokens/s", (long long)t->step,
              (long long)t->total, iv->loss / iv->n, lr, iv->gnorm / iv->n, tps);
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "event", "train");
        cJSON_AddNumberToObject(o, "step", (double)t->step);
        cJSON_AddNumberToObject(o, "loss", iv->loss / iv->n);
        cJSON_AddNumberToObject(o, "lr", lr);
        cJSON_AddNumberToObject(o, "grad_norm", iv->gnorm / iv->n);
        cJSON_AddNumberToObject(o, "tokens_per_s", tps);
        cJSON_AddNumberToObject(o, "tokens", (double)iv->tokens);
        cJSON_AddNumberToObject(o, "trained_tokens", (double)iv->valid);
        cJSON_AddNumberToObject(o, "epoch", (double)t->pos.epoch + (double)t->pos.cursor / (double)t->in.set[0].n);
        cJSON_AddNumberToObject(o, "skipped", (double)t->skipped);
        agir_metrics_emit(t->log, o);
    }
    *iv = (interval){.t0 = agir_now(), .step0 = t->step};
}


// ---------------------------------------------------------------------------------------------
// The loop

// The loop's cadence hooks (train/job.h).
typedef struct sft_loop {
    sft_trainer *t;
    interval *iv;
    double lr;
    agir_sft_val *val;
} sft_loop;

static void hook_log(void *self) {
    sft_loop *l = self;
    log_interval(l->t, l->iv, l->lr);
}

static int hook_validate(void *self, agir_err *e) {
    sft_loop *l = self;
    return validate(l->t, l->val, e);
}

static int hook_save(void *self, agir_err *e) {
    return agir_sftt_save(((sft_loop *)self)->t, e);
}

static int loop(sft_trainer *t, const agir_sft_train_opts *o, agir_sft_train_result *res, agir_err *e) {
    int64_t end = t->total, first = t->step;
    if (o->max_steps > 0 && t->step + o->max_steps < end) end = t->step + o->max_steps;
    if (t->step == 0) AGIR_TRY(validate(t, &res->first, e));
    agir_progress bar;
    agir_progress_start(&bar, t->log, "sft", t->total);
    agir_progress_resume(&bar, t->step);
    interval iv = {.t0 = agir_now(), .step0 = t->step};
    sft_loop lp = {t, &iv, agir_schedule_lr(&t->sched, t->step), &res->last};
    agir_job_hooks hooks = {&lp, hook_log, hook_validate, hook_save};
    agir_job_cadence cad = {.log_every = t->log_every, .val_every = t->val_every, .ckpt_every = t->ckpt_every};
    int bad = 0, rc = AGIR_OK, stop = 0;
    double t0 = agir_now(), ema = NAN;
    int64_t tokens = 0;
    for (int64_t iter = 0; !rc && t->step < end; iter++) {
        if ((stop = agir_signal_pending() != 0)) break;
        if (o->hook) o->hook(o->hook_arg, iter, t->w.lora_master, t->lora.n_params);
        update u;
        if ((rc = run_update(t, &u, e))) break;
        lp.lr = u.lr;
        tokens += u.tokens;
        if (u.st.skipped) {
            t->skipped++;
            rc = agir_job_skip(t->run, t->step, u.st.loss, u.st.grad_norm, ++bad, t->max_bad, t->skipped, e);
            continue;
        }
        bad = 0;
        t->step = t->tr.step;
        iv.n++, iv.loss += u.st.loss, iv.gnorm += u.st.grad_norm, iv.tokens += u.tokens, iv.valid += u.valid;
        ema = isnan(ema) ? u.st.loss : 0.9 * ema + 0.1 * u.st.loss;
        double dt = agir_now() - t0;
        agir_progress_note(&bar, "loss %.3f, %.0f tokens/s", ema, dt > 0 ? (double)tokens / dt : 0.0);
        agir_progress_add(&bar, 1);
        rc = agir_job_after_update(&cad, &hooks, t->step, e);
    }
    agir_progress_finish(&bar);
    double dt = agir_now() - t0;
    res->tokens_per_s = dt > 0 ? (double)tokens / dt : 0;
    if (rc) return rc;
    return agir_job_finish(&cad, &hooks, t->run, stop, first, t->step, t->total, e);
}

int agir_sft_train(agir_run *run, const agir_sft_train_opts *opts, agir_sft_train_result *res, agir_err *e) {
    sft_trainer t;
    memset(&t, 0, sizeof t);
    memset(res, 0, sizeof *res);
    res->resumed_from = -1;
    t.run = run, t.log = &run->log;
    double t0 = agir_now(), c0 = agir_job_cpu_seconds();
    int rc = setup(&t, opts, &res->resumed_from, e);
    if (!rc && t.step >= t.total) {
        agir_info(t.log, "sft: the run is complete (%lld of %lld steps; hint: raise train.steps or train.epochs to go "
                  "on)", (long long)t.step, (long long)t.total);
    } else if (!rc) {
        rc = agir_job_start(run, res->resumed_from, e);  // the run folder is written only now
        if (!rc) rc = agir_sftt_write_split(&t, e);
        agir_signals_defer(1);  // SIGINT and SIGTERM end the loop after the current update
        if (!rc) rc = loop(&t, opts, res, e);
        agir_signals_defer(0);
    }
    res->step = t.step, res->total = t.total, res->skipped = t.skipped;
    res->wall_s = agir_now() - t0, res->cpu_s = agir_job_cpu_seconds() - c0;
    teardown(&t);
    return rc;
}
