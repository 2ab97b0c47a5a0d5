// The VQ-VAE training job: configuration, set-up and the step loop (design in vq_train.h).
#include "train/vq_train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsio.h"
#include "train/vq_train_impl.h"

// Defaults are T2M-GPT's (README command line of Mael-zys/T2M-GPT and options/option_vq.py):
// 1000 warm-up iterations, then 300000 at lr 2e-4 with the rate × 0.05 after 200000 of them.
const agir_key agir_vqvae_keys[] = {
    {"data", "path", AGIR_KEY_STRING, "data/synth.h5", 0, 0, NULL, "HDF5 gait dataset to train on ('agir synth' writes one)"},
    {"data", "fps", AGIR_KEY_FLOAT, "20", 1, 240, NULL, "the model's frame rate, Hz: every walk is resampled to it"},
    {"data", "window", AGIR_KEY_INT, "64", 1, 4096, NULL, "training window in frames at data.fps (a multiple of 2^model.down)"},
    {"data", "val_subjects", AGIR_KEY_STRING, "", 0, 0, NULL,
     "held-out subjects, comma-separated ids ('' = draw val_fraction of the subjects)"},
    {"data", "val_fraction", AGIR_KEY_FLOAT, "0.15", 0, 0.9, NULL,
     "share of subjects held out when val_subjects is empty (0 = none), drawn with [run] seed"},
    {"data", "std_floor", AGIR_KEY_FLOAT, "0.01", 1e-6, 100, NULL,
     "lower bound of each feature's standard deviation (before pooling by data.norm)"},
    {"data", "norm", AGIR_KEY_CHOICE, "group", 0, 0, "group|feature",
     "normalisation: one standard deviation per feature group (HumanML3D's) or per feature"},
    {"data", "feat_bias", AGIR_KEY_FLOAT, "1", 0.01, 100, NULL,
     "norm = group: divisor of the root and foot-contact groups' deviations (HumanML3D: 5; more weighs them more)"},
    {"data", "mirror", AGIR_KEY_BOOL, "true", 0, 0, NULL,
     "also train on the mirror image of every training walk (left and right exchanged)"},
    {"model", "width", AGIR_KEY_INT, "512", 1, 4096, NULL, "channels of every hidden convolution"},
    {"model", "depth", AGIR_KEY_INT, "3", 0, 16, NULL, "residual blocks per resolution"},
    {"model", "dilation_growth", AGIR_KEY_INT, "3", 1, 16, NULL, "dilations growth^(depth-1), ..., growth, 1 (9-3-1)"},
    {"model", "down", AGIR_KEY_INT, "2", 0, 6, NULL, "stride-2 down-samplings: one code per 2^down frames"},
    {"model", "codes", AGIR_KEY_INT, "512", 2, 65536, NULL, "codebook size K (the motion tokens)"},
    {"model", "code_dim", AGIR_KEY_INT, "512", 1, 4096, NULL, "dimension of each code"},
    {"model", "mu", AGIR_KEY_FLOAT, "0.99", 0, 0.99999, NULL, "EMA decay of the codebook statistics"},
    {"model", "commit", AGIR_KEY_FLOAT, "0.02", 0, 100, NULL, "weight of the commitment loss"},
    {"model", "w_joint", AGIR_KEY_FLOAT, "0.5", 0, 100, NULL, "weight of the joint-position reconstruction term"},
    {"optim", "lr", AGIR_KEY_FLOAT, "2e-4", 0, 1, NULL, "peak AdamW learning rate"},
    {"optim", "beta1", AGIR_KEY_FLOAT, "0.9", 0, 0.99999, NULL, "AdamW first-moment decay"},
    {"optim", "beta2", AGIR_KEY_FLOAT, "0.99", 0, 0.99999, NULL, "AdamW second-moment decay"},
    {"optim", "eps", AGIR_KEY_FLOAT, "1e-8", 1e-12, 1, NULL, "AdamW denominator epsilon"},
    {"optim", "weight_decay", AGIR_KEY_FLOAT, "0", 0, 1, NULL, "decoupled weight decay"},
    {"optim", "schedule", AGIR_KEY_CHOICE, "step", 0, 0, "constant|step|cosine", "learning-rate decay after the warm-up"},
    {"optim", "warmup", AGIR_KEY_INT, "1000", 0, 1e12, NULL, "updates of linear warm-up"},
    {"optim", "milestones", AGIR_KEY_STRING, "201000", 0, 0, NULL,
     "step schedule: updates (from the start) at which the rate is multiplied by gamma, comma-separated"},
    {"optim", "gamma", AGIR_KEY_FLOAT, "0.05", 0, 1, NULL, "step schedule: factor at each milestone"},
    {"optim", "min_lr", AGIR_KEY_FLOAT, "0", 0, 1, NULL, "cosine schedule: rate at the last update"},
    {"optim", "clip", AGIR_KEY_FLOAT, "0", 0, 1e9, NULL, "maximum global gradient norm (0 = no clipping)"},
    {"train", "steps", AGIR_KEY_INT, "301000", 1, 1e12, NULL, "updates of the whole run (warm-up included)"},
    {"train", "batch", AGIR_KEY_INT, "256", 1, 65536, NULL, "windows per update"},
    {"train", "log_every", AGIR_KEY_INT, "200", 1, 1e12, NULL, "updates between log lines and metrics records"},
    {"train", "val_every", AGIR_KEY_INT, "5000", 0, 1e12, NULL,
     "updates between validations on the held-out subjects (0 = only at the end)"},
    {"train", "ckpt_every", AGIR_KEY_INT, "5000", 1, 1e12, NULL, "updates between checkpoints (one is also saved at the end)"},
    {"train", "keep", AGIR_KEY_INT, "3", 0, 1e6, NULL, "checkpoints kept in the run folder (0 = all)"},
    {"train", "max_bad_steps", AGIR_KEY_INT, "5", 1, 1e6, NULL, "non-finite steps in a row that stop the run"},
    AGIR_KEYS_END,
};

// ---------------------------------------------------------------------------------------------
// Set-up

static int alloc_dev(vq_trainer *t, size_t bytes, void **p, agir_err *e) {
    return agir_dev_alloc(&t->ctx, bytes, p, e);
}

static int alloc_host(size_t n, size_t size, void **p, agir_err *e) {
    *p = calloc(n ? n : 1, size);
    return *p ? AGIR_OK : AGIR_BUG(e, "out of memory for training buffers");
}

static int read_config(vq_trainer *t, agir_err *e) {
    const agir_cfg *c = &t->run->cfg;
    t->B = (int)agir_cfg_int(c, "train", "batch");
    t->T = (int)agir_cfg_int(c, "data", "window");
    t->total = agir_cfg_int(c, "train", "steps");
    t->log_every = agir_cfg_int(c, "train", "log_every");
    t->val_every = agir_cfg_int(c, "train", "val_every");
    t->ckpt_every = agir_cfg_int(c, "train", "ckpt_every");
    t->keep = (int)agir_cfg_int(c, "train", "keep");
    t->max_bad = (int)agir_cfg_int(c, "train", "max_bad_steps");
    t->clip = agir_cfg_float(c, "optim", "clip");
    t->hp = (agir_adamw_hp){.beta1 = (float)agir_cfg_float(c, "optim", "beta1"),
                            .beta2 = (float)agir_cfg_float(c, "optim", "beta2"),
                            .eps = (float)agir_cfg_float(c, "optim", "eps"),
                            .weight_decay = (float)agir_cfg_float(c, "optim", "weight_decay")};
    int down = (int)agir_cfg_int(c, "model", "down");
    if (t->T % (1 << down)) {
        char at[1200];
        agir_cfg_origin(c, "data", "window", at, sizeof at);
        return AGIR_BAD(e, "%s: window %d is not a multiple of 2^model.down = %d (hint: e.g. window = 64)", at, t->T,
                        1 << down);
    }
    return agir_schedule_from_cfg(c, "optim", t->total, &t->sched, e);
}

static int load_data(vq_trainer *t, agir_err *e) {
    const agir_cfg *c = &t->run->cfg;
    const char *path = agir_cfg_str(c, "data", "path");
    char where[1200];
    agir_cfg_origin(c, "data", "val_subjects", where, sizeof where);
    agir_vq_split sp = {agir_cfg_str(c, "data", "val_subjects"), where, agir_cfg_float(c, "data", "val_fraction"),
                        (uint64_t)agir_cfg_int(c, "run", "seed")};
    agir_motion_opts mo = agir_motion_default_opts(agir_cfg_float(c, "data", "fps"));
    agir_gait g;
    AGIR_TRY(agir_gait_read(&g, path, e));
    agir_vq_data_opts opt = {.window = t->T,
                             .std_floor = agir_cfg_float(c, "data", "std_floor"),
                             .pool = !strcmp(agir_cfg_str(c, "data", "norm"), "group"),
                             .feat_bias = agir_cfg_float(c, "data", "feat_bias"),
                             .mirror = agir_cfg_bool(c, "data", "mirror")};
    int rc = agir_vq_data_load(&t->data, &g, path, &mo, &opt, &sp, (uint64_t)agir_cfg_int(c, "run", "seed"), e);
    agir_gait_free(&g);
    AGIR_TRY(rc);
    const agir_vq_data *d = &t->data;
    agir_info(t->log, "vqvae: %s: %d training walks (%d too short for a window left out), %d held-out walks of %d "
              "subjects (%d windows), %d features at %g fps", path, d->n_train, d->n_short, d->n_val_seq,
              d->n_val_subjects, d->n_val, d->dim, mo.fps);
    return AGIR_OK;
}

agir_vqvae_config agir_vq_model_config(const agir_cfg *c, const agir_motion_layout *L) {
    return (agir_vqvae_config){
        .in_dim = L->dim,
        .width = (int)agir_cfg_int(c, "model", "width"),
        .depth = (int)agir_cfg_int(c, "model", "depth"),
        .dilation_growth = (int)agir_cfg_int(c, "model", "dilation_growth"),
        .down = (int)agir_cfg_int(c, "model", "down"),
        .n_codes = (int)agir_cfg_int(c, "model", "codes"),
        .code_dim = (int)agir_cfg_int(c, "model", "code_dim"),
        .mu = (float)agir_cfg_float(c, "model", "mu"),
        .commit = (float)agir_cfg_float(c, "model", "commit"),
        .w_joint = (float)agir_cfg_float(c, "model", "w_joint"),
        // T2M-GPT's joint term: the root-relative joint positions of the features.
        .joint_c0 = AGIR_MOTION_RIC,
        .joint_c1 = agir_motion_vel_at(L),
    };
}

// Device buffers of the batch and AdamW's moments, and the host buffers of batches, validation and
// checkpoints.
static int alloc_buffers(vq_trainer *t, agir_err *e) {
    const agir_vqvae *m = &t->m;
    size_t P = m->n_params, K = (size_t)m->cfg.n_codes, KD = K * (size_t)m->cfg.code_dim, D = (size_t)t->data.dim;
    size_t BT = (size_t)t->B * t->T, J = (size_t)t->data.layout.n_joints;
    AGIR_TRY(alloc_dev(t, BT * D * sizeof(float), (void **)&t->x, e));
    AGIR_TRY(alloc_dev(t, P * sizeof(float), (void **)&t->adam_m, e));
    AGIR_TRY(alloc_dev(t, P * sizeof(float), (void **)&t->adam_v, e));
    AGIR_TRY(alloc_dev(t, BT, (void **)&t->mask, e));
    AGIR_TRY(alloc_host(BT * D, sizeof(float), (void **)&t->hx, e));
    AGIR_TRY(alloc_host(BT * D, sizeof(float), (void **)&t->hout, e));
    AGIR_TRY(alloc_host((size_t)t->T * J * 3, sizeof(float), (void **)&t->hjoints, e));
    AGIR_TRY(alloc_host((size_t)t->B * m->Tq, sizeof(int32_t), (void **)&t->hidx, e));
    AGIR_TRY(alloc_host(BT, 1, (void **)&t->hmask, e));
    AGIR_TRY(alloc_host(P, sizeof(float), (void **)&t->h_params, e));
    AGIR_TRY(alloc_host(KD, sizeof(float), (void **)&t->h_codebook, e));
    AGIR_TRY(alloc_host(K, sizeof(float), (void **)&t->h_count, e));
    AGIR_TRY(alloc_host(KD, sizeof(float), (void **)&t->h_sum, e));
    AGIR_TRY(alloc_host(P, sizeof(float), (void **)&t->h_m, e));
    AGIR_TRY(alloc_host(P, sizeof(float), (void **)&t->h_v, e));
    AGIR_TRY(alloc_host(D, sizeof(float), (void **)&t->h_mean, e));
    AGIR_TRY(alloc_host(D, sizeof(float), (void **)&t->h_std, e));
    memcpy(t->h_mean, t->data.mean, D * sizeof(float));
    memcpy(t->h_std, t->data.std, D * sizeof(float));
    // Zero moments: AdamW's state before its first update.
    AGIR_TRY(agir_dev_upload(&t->ctx, t->adam_m, t->h_m, P * sizeof(float), e));
    return agir_dev_upload(&t->ctx, t->adam_v, t->h_v, P * sizeof(float), e);
}

// Views over the host mirrors, in checkpoint order: the model as models/vqvae_io.h names it (made
// from a copy of the model whose tensors are the mirrors), and AdamW's moments.
static int make_views(vq_trainer *t, agir_err *e) {
    agir_vqvae host = t->m;
    host.params = t->h_params, host.codebook = t->h_codebook, host.ema_count = t->h_count, host.ema_sum = t->h_sum;
    AGIR_TRY(agir_vq_views_make(&t->views, &host, t->h_mean, t->h_std, e));
    size_t P = t->m.n_params;
    t->optim[0] = (agir_tensor_view){"exp_avg", AGIR_DT_F32, 1, {(int64_t)P}, t->h_m, P * sizeof(float)};
    t->optim[1] = (agir_tensor_view){"exp_avg_sq", AGIR_DT_F32, 1, {(int64_t)P}, t->h_v, P * sizeof(float)};
    return AGIR_OK;
}

static int setup(vq_trainer *t, agir_err *e) {
    AGIR_TRY(read_config(t, e));
    agir_device dev;
    char at[1200];
    agir_cfg_origin(&t->run->cfg, "run", "device", at, sizeof at);
    AGIR_TRY(agir_device_parse(agir_cfg_str(&t->run->cfg, "run", "device"), at, &dev, e));
    AGIR_TRY(agir_ctx_open(&t->ctx, dev, e));
    AGIR_TRY(load_data(t, e));
    uint64_t seed = (uint64_t)agir_cfg_int(&t->run->cfg, "run", "seed");
    t->meta = (agir_vq_meta){
        .cfg = agir_vq_model_config(&t->run->cfg, &t->data.layout), .motion = t->data.motion, .window = t->T};
    AGIR_TRY(agir_vqvae_init_ctx(&t->ctx, &t->m, &t->meta.cfg, t->B, t->T, seed, e));
    AGIR_TRY(agir_gradnorm_open(&t->gn, &t->ctx, e));
    agir_rng_init(&t->quant, seed, 0x76717175616e74ull);  // "vqquant"
    AGIR_TRY(alloc_buffers(t, e));
    AGIR_TRY(make_views(t, e));
    agir_info(t->log, "vqvae: %zu parameters, %d codes of %d, batch %d × %d frames, device %s", t->m.n_params,
              t->m.cfg.n_codes, t->m.cfg.code_dim, t->B, t->T, agir_device_name(dev));
    return AGIR_OK;
}

static void teardown(vq_trainer *t) {
    agir_dev_free(&t->ctx, t->x);
    agir_dev_free(&t->ctx, t->adam_m);
    agir_dev_free(&t->ctx, t->adam_v);
    agir_dev_free(&t->ctx, t->mask);
    void *h[] = {t->hx, t->hout, t->hjoints, t->hidx, t->hmask, t->h_params, t->h_codebook,
                 t->h_count, t->h_sum, t->h_m, t->h_v, t->h_mean, t->h_std};
    for (size_t i = 0; i < sizeof h / sizeof h[0]; i++) free(h[i]);
    agir_vq_views_free(&t->views);
    agir_gradnorm_close(&t->gn);
    agir_vqvae_free(&t->m);
    agir_vq_data_free(&t->data);
    agir_ctx_close(&t->ctx);
}

// ---------------------------------------------------------------------------------------------
// One step

// What a step sums over its batch: the part data-parallel ranks all-reduce.
typedef struct step_sums {
    agir_vqvae_losses loss;  // means over this rank's batch
    agir_vqvae_qstats q;
    double grad_sumsq;
    int finite;  // loss and gradient norm finite
} step_sums;

static int finite_tensor(vq_trainer *t, const float *x, size_t n, int *finite, agir_err *e) {
    double s;
    AGIR_TRY(agir_gradnorm_sumsq(&t->gn, &x, &n, 1, &s, e));
    *finite = isfinite(s);
    return AGIR_OK;
}

// Forward, losses and backward on this rank's batch.
static int local_pass(vq_trainer *t, agir_vq_batch_hook hook, void *hook_arg, step_sums *s, agir_err *e) {
    agir_vqvae *m = &t->m;
    size_t n = (size_t)t->B * t->T * t->data.dim;
    agir_vq_data_windows(&t->data, &t->pos, t->B, t->hx);
    if (hook) hook(hook_arg, t->step + t->skipped, t->hx, n);
    AGIR_TRY(agir_dev_upload(&t->ctx, t->x, t->hx, n * sizeof(float), e));
    AGIR_TRY(agir_vqvae_encode(&t->ctx, m, t->x, e));
    if (!m->codebook_ready) {
        // The first rows of the codebook come from this batch: never from a non-finite one.
        AGIR_TRY(finite_tensor(t, m->ze, (size_t)m->B * m->Tq * m->cfg.code_dim, &s->finite, e));
        if (!s->finite) {
            s->loss.total = s->grad_sumsq = NAN;
            return AGIR_OK;
        }
        AGIR_TRY(agir_vqvae_init_codebook(&t->ctx, m, &t->quant, e));
    }
    AGIR_TRY(agir_vqvae_quantize(&t->ctx, m, 0, NULL, &s->q, e));  // assignments and batch statistics only
    AGIR_TRY(agir_vqvae_decode(&t->ctx, m, m->zq, e));
    AGIR_TRY(agir_vqvae_loss(&t->ctx, m, t->x, NULL, &s->loss, e));
    AGIR_TRY(agir_vqvae_backward(&t->ctx, m, t->x, NULL, e));
    const float *g = m->grads;
    size_t np = m->n_params;
    AGIR_TRY(agir_gradnorm_sumsq(&t->gn, &g, &np, 1, &s->grad_sumsq, e));
    s->finite = isfinite(s->loss.total) && isfinite(s->grad_sumsq);
    return AGIR_OK;
}

// The reduce point. With R ranks this all-reduces (sums) m->grads, m->batch_count, m->batch_sum,
// the loss sums and the finiteness flag (a minimum), and recomputes the gradient norm of the summed
// gradients; the update then scales gradients by 1/R. One rank has nothing to combine.
static int reduce(vq_trainer *t, step_sums *s, int *world, agir_err *e) {
    (void)t, (void)s, (void)e;
    *world = 1;
    return AGIR_OK;
}

// The quantizer's EMA update with dead-code reset (rows from the "quant" stream), then AdamW.
static int apply(vq_trainer *t, step_sums *s, int world, double *lr, agir_err *e) {
    agir_vqvae *m = &t->m;
    AGIR_TRY(agir_vqvae_update_codebook(&t->ctx, m, &t->quant, &s->q.n_reset, e));
    *lr = agir_schedule_lr(&t->sched, t->step);
    agir_adamw_hp hp = t->hp;
    hp.lr = (float)*lr;
    hp.grad_scale = (float)(agir_clip_scale(sqrt(s->grad_sumsq), t->clip) / world);
    hp.step = t->step + 1;
    return agir_op_adamw(&t->ctx, m->params, m->grads, t->adam_m, t->adam_v, m->n_params, &hp, e);
}

// ---------------------------------------------------------------------------------------------
// Logging

typedef struct interval {
    int n;
    double rec, joint, commit, total, ppl, usage, gnorm, resets, t0;
    int64_t step0;
} interval;

static void interval_add(interval *iv, const step_sums *s) {
    iv->n++;
    iv->rec += s->loss.rec, iv->joint += s->loss.joint, iv->commit += s->loss.commit, iv->total += s->loss.total;
    iv->ppl += s->q.perplexity, iv->usage += s->q.usage, iv->gnorm += sqrt(s->grad_sumsq);
    iv->resets += s->q.n_reset;
}

static void log_interval(vq_trainer *t, interval *iv, double lr) {
    if (!iv->n) return;
    double n = iv->n, dt = agir_now() - iv->t0, rate = dt > 0 ? (double)(t->step - iv->step0) / dt : 0;
    agir_info(t->log, "step %lld/%lld  loss %.4f (rec %.4f, joint %.4f, commit %.4f)  perplexity %.1f  lr %.3g  "
              "|g| %.3g  %.2f steps/s", (long long)t->step, (long long)t->total, iv->total / n, iv->rec / n,
              iv->joint / n, iv->commit / n, iv->ppl / n, lr, iv->gnorm / n, rate);
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "event", "train");
        cJSON_AddNumberToObject(o, "step", (double)t->step);
        cJSON_AddNumberToObject(o, "loss", iv->total / n);
        cJSON_AddNumberToObject(o, "rec", iv->rec / n);
        cJSON_AddNumberToObject(o, "joint", iv->joint / n);
        cJSON_AddNumberToObject(o, "commit", iv->commit / n);
        cJSON_AddNumberToObject(o, "perplexity", iv->ppl / n);
        cJSON_AddNumberToObject(o, "usage", iv->usage / n);
        cJSON_AddNumberToObject(o, "grad_norm", iv->gnorm / n);
        cJSON_AddNumberToObject(o, "resets", iv->resets / n);
        cJSON_AddNumberToObject(o, "lr", lr);
        cJSON_AddNumberToObject(o, "steps_per_s", rate);
        cJSON_AddNumberToObject(o, "skipped", (double)t->skipped);
        agir_metrics_emit(t->log, o);
    }
    *iv = (interval){.t0 = agir_now(), .step0 = t->step};
}


static int validate(vq_trainer *t, agir_vq_val *v, agir_err *e) {
    if (t->data.n_val == 0) return AGIR_OK;
    AGIR_TRY(agir_vqt_validate(t, v, e));
    agir_info(t->log, "step %lld: held-out MPJPE %.1f mm (%.1f mm global), reconstruction %.4f, %.0f%% of the codes "
              "used, perplexity %.1f (%d windows)", (long long)t->step, v->mpjpe_mm, v->mpjpe_global_mm, v->rec,
              100 * v->usage, v->perplexity, v->windows);
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "event", "val");
        cJSON_AddNumberToObject(o, "step", (double)t->step);
        cJSON_AddNumberToObject(o, "mpjpe_mm", v->mpjpe_mm);
        cJSON_AddNumberToObject(o, "mpjpe_global_mm", v->mpjpe_global_mm);
        cJSON_AddNumberToObject(o, "rec", v->rec);
        cJSON_AddNumberToObject(o, "usage", v->usage);
        cJSON_AddNumberToObject(o, "perplexity", v->perplexity);
        cJSON_AddNumberToObject(o, "windows", v->windows);
        agir_metrics_emit(t->log, o);
    }
    return AGIR_OK;
}

// ---------------------------------------------------------------------------------------------
// The loop

// The loop's cadence hooks (train/job.h).
typedef struct vq_loop {
    vq_trainer *t;
    interval *iv;
    double lr;
    agir_vq_val *val;
} vq_loop;

static void hook_log(void *self) {
    vq_loop *l = self;
    log_interval(l->t, l->iv, l->lr);
}

static int hook_validate(void *self, agir_err *e) {
    vq_loop *l = self;
    return validate(l->t, l->val, e);
}

static int hook_save(void *self, agir_err *e) {
    return agir_vqt_save(((vq_loop *)self)->t, e);
}

static int loop(vq_trainer *t, const agir_vq_train_opts *o, agir_vq_train_result *res, agir_err *e) {
    int64_t end = t->total, first = t->step;
    if (o->max_steps > 0 && t->step + o->max_steps < end) end = t->step + o->max_steps;
    agir_progress bar;
    agir_progress_start(&bar, t->log, "train", t->total);
    agir_progress_resume(&bar, t->step);
    interval iv = {.t0 = agir_now(), .step0 = t->step};
    vq_loop lp = {t, &iv, agir_schedule_lr(&t->sched, t->step), &res->val};
    agir_job_hooks hooks = {&lp, hook_log, hook_validate, hook_save};
    agir_job_cadence cad = {.log_every = t->log_every, .val_every = t->val_every, .ckpt_every = t->ckpt_every};
    int bad = 0, rc = AGIR_OK, stop = 0;
    while (!rc && t->step < end) {
        if ((stop = agir_signal_pending() != 0)) break;
        step_sums s = {0};
        int world;
        rc = local_pass(t, o->hook, o->hook_arg, &s, e);
        if (!rc) rc = reduce(t, &s, &world, e);
        if (rc) break;
        agir_vq_pos_advance(&t->data, &t->pos, (int64_t)t->B * world);
        if (!s.finite) {
            t->skipped++;
            rc = agir_job_skip(t->run, t->step, s.loss.total, sqrt(s.grad_sumsq), ++bad, t->max_bad, t->skipped, e);
            continue;
        }
        bad = 0;
        if ((rc = apply(t, &s, world, &lp.lr, e))) break;
        t->step++;
        interval_add(&iv, &s);
        agir_progress_add(&bar, 1);
        rc = agir_job_after_update(&cad, &hooks, t->step, e);
    }
    agir_progress_finish(&bar);
    if (rc) return rc;
    return agir_job_finish(&cad, &hooks, t->run, stop, first, t->step, t->total, e);
}

int agir_vq_train(agir_run *run, const agir_vq_train_opts *opts, agir_vq_train_result *res, agir_err *e) {
    vq_trainer t;
    memset(&t, 0, sizeof t);
    memset(res, 0, sizeof *res);
    t.run = run, t.log = &run->log;
    double t0 = agir_now(), c0 = agir_job_cpu_seconds();
    int rc = setup(&t, e);
    if (!rc) rc = agir_vqt_resume(&t, opts->resume, &res->resumed_from, e);
    if (!rc && t.step >= t.total) {
        agir_info(t.log, "vqvae: the run is complete (%lld of %lld steps; hint: raise train.steps to go on)",
                  (long long)t.step, (long long)t.total);
    } else if (!rc) {
        rc = agir_job_start(run, res->resumed_from, e);  // the run folder is written only now
        // SIGINT and SIGTERM end the loop after the current update, with a checkpoint.
        agir_signals_defer(1);
        if (!rc) rc = loop(&t, opts, res, e);
        agir_signals_defer(0);
    }
    res->step = t.step, res->skipped = t.skipped;
    res->wall_s = agir_now() - t0, res->cpu_s = agir_job_cpu_seconds() - c0;
    teardown(&t);
    return rc;
}
