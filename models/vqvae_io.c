// The VQ-VAE as checkpoints hold it: meta JSON (state.json "extra"), named tensor views in the
// checkpoint's order, and loading a trained tokenizer for inference (layout in vqvae_io.h).
#include "models/vqvae_io.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/fsio.h"
#include "core/json.h"
#include "core/utf8.h"

static const char MODEL_TYPE[] = "vqvae";

// ---------------------------------------------------------------------------------------------
// Meta JSON

typedef struct real_field {
    const char *key;
    size_t off;
    double lo, hi;
    int open_hi;  // hi itself excluded
} real_field;

static const real_field CFG_FLOATS[] = {
    {"mu", offsetof(agir_vqvae_config, mu), 0, 1, 1},
    {"commit", offsetof(agir_vqvae_config, commit), 0, 1e6, 0},
    {"w_joint", offsetof(agir_vqvae_config, w_joint), 0, 1e6, 0},
};
// Motion options are doubles; fps is bounded by what a token store records.
static const real_field MOTION_REALS[] = {
    {"fps", offsetof(agir_motion_opts, fps), 1e-3, AGIR_TOKENS_MAX_FPS, 0},
    {"facing_sigma", offsetof(agir_motion_opts, facing_sigma), 0, 1e4, 0},
    {"contact_speed", offsetof(agir_motion_opts, contact_speed), 0, 1e3, 0},
    {"contact_height", offsetof(agir_motion_opts, contact_height), 0, 1e3, 0},
};

cJSON *agir_vq_meta_to_json(const agir_vq_meta *m) {
    cJSON *o = cJSON_CreateObject();
    cJSON *v = o ? cJSON_AddObjectToObject(o, "vqvae") : NULL;
    cJSON *mo = v ? cJSON_AddObjectToObject(o, "motion") : NULL;
    int ok = mo && cJSON_AddNumberToObject(o, "window", m->window);
    for (int i = 0; ok && i < AGIR_VQVAE_N_INT_FIELDS; i++) {
        const agir_vqvae_int_field *f = &agir_vqvae_int_fields[i];
        ok = cJSON_AddNumberToObject(v, f->key, *(const int *)((const char *)&m->cfg + f->off)) != NULL;
    }
    for (size_t i = 0; ok && i < sizeof CFG_FLOATS / sizeof CFG_FLOATS[0]; i++)
        ok = cJSON_AddNumberToObject(v, CFG_FLOATS[i].key,
                                     *(const float *)((const char *)&m->cfg + CFG_FLOATS[i].off)) != NULL;
    for (size_t i = 0; ok && i < sizeof MOTION_REALS / sizeof MOTION_REALS[0]; i++)
        ok = cJSON_AddNumberToObject(mo, MOTION_REALS[i].key,
                                     *(const double *)((const char *)&m->motion + MOTION_REALS[i].off)) != NULL;
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static const cJSON *member(const cJSON *o, const char *key, const char *where, const char *sub, agir_err *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v)
        agir_errf(e, AGIR_EINPUT, "%s: %s%s\"%s\" is missing (hint: the checkpoint was not written by a VQ-VAE "
                  "training job, or was edited)", where, sub, sub[0] ? "." : "", key);
    return v;
}

static int get_int(const cJSON *o, const char *key, int lo, int hi, const char *where, const char *sub, int *out,
                   agir_err *e) {
    const cJSON *v = member(o, key, where, sub, e);
    if (!v) return AGIR_EINPUT;
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(d >= lo && d <= hi) || d != floor(d))
        return AGIR_BAD(e, "%s: %s%s\"%s\" is %s, not an integer in [%d, %d] (hint: the checkpoint state was edited or "
                        "is corrupt)", where, sub, sub[0] ? "." : "", key,
                        cJSON_IsNumber(v) ? "out of range" : agir_json_kind(v), lo, hi);
    *out = (int)d;
    return AGIR_OK;
}

static int get_real(const cJSON *o, const real_field *f, const char *where, const char *sub, double *out, agir_err *e) {
    const cJSON *v = member(o, f->key, where, sub, e);
    if (!v) return AGIR_EINPUT;
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(d >= f->lo && (f->open_hi ? d < f->hi : d <= f->hi)))
        return AGIR_BAD(e, "%s: %s.\"%s\" is %s, not a number in [%g, %g%s (hint: the checkpoint state was edited or is "
                        "corrupt)", where, sub, f->key, cJSON_IsNumber(v) ? "out of range" : agir_json_kind(v), f->lo,
                        f->hi, f->open_hi ? ")" : "]");
    *out = d;
    return AGIR_OK;
}

static const cJSON *get_object(const cJSON *o, const char *key, const char *where, agir_err *e) {
    const cJSON *v = member(o, key, where, "", e);
    if (v && !cJSON_IsObject(v)) {
        AGIR_BAD(e, "%s: \"%s\" is %s, not an object (hint: the checkpoint state was edited or is corrupt)", where, key,
                 agir_json_kind(v));
        return NULL;
    }
    return v;
}

// The model's rules across fields (joint channels within the features, dilations bounded), then the
// window a multiple of 2^down.
static int check_meta(const agir_vq_meta *m, const char *where, agir_err *e) {
    agir_err model = {0};
    if (agir_vqvae_check_config(&m->cfg, &model)) return AGIR_BAD(e, "%s: %s", where, model.msg);
    if (m->window % (1 << m->cfg.down))
        return AGIR_BAD(e, "%s: \"window\" %d is not a multiple of 2^down = %d (hint: the checkpoint state was edited "
                        "or is corrupt)", where, m->window, 1 << m->cfg.down);
    return AGIR_OK;
}

int agir_vq_meta_from_json(const cJSON *j, const char *where, agir_vq_meta *m, agir_err *e) {
    memset(m, 0, sizeof *m);
    if (!cJSON_IsObject(j))
        return AGIR_BAD(e, "%s: is %s, not an object (hint: the checkpoint was not written by a VQ-VAE training job)",
                        where, j ? agir_json_kind(j) : "missing");
    const cJSON *v = get_object(j, "vqvae", where, e), *mo = v ? get_object(j, "motion", where, e) : NULL;
    if (!mo) return AGIR_EINPUT;
    for (int i = 0; i < AGIR_VQVAE_N_INT_FIELDS; i++) {
        const agir_vqvae_int_field *f = &agir_vqvae_int_fields[i];
        AGIR_TRY(get_int(v, f->key, f->lo, f->hi, where, "vqvae", (int *)((char *)&m->cfg + f->off), e));
    }
    for (size_t i = 0; i < sizeof CFG_FLOATS / sizeof CFG_FLOATS[0]; i++) {
        double d;
        AGIR_TRY(get_real(v, &CFG_FLOATS[i], where, "vqvae", &d, e));
        *(float *)((char *)&m->cfg + CFG_FLOATS[i].off) = (float)d;
    }
    for (size_t i = 0; i < sizeof MOTION_REALS / sizeof MOTION_REALS[0]; i++)
        AGIR_TRY(get_real(mo, &MOTION_REALS[i], where, "motion", (double *)((char *)&m->motion + MOTION_REALS[i].off),
                          e));
    AGIR_TRY(get_int(j, "window", 1, 1 << 20, where, "", &m->window, e));
    return check_meta(m, where, e);
}

// ---------------------------------------------------------------------------------------------
// Tensor views

static agir_tensor_view f32_view(const char *name, int ndim, const int64_t *shape, const float *data, size_t numel) {
    agir_tensor_view t = {
        .name = name, .dtype = AGIR_DT_F32, .ndim = ndim, .data = data, .nbytes = numel * sizeof(float)};
    memcpy(t.shape, shape, (size_t)ndim * sizeof *shape);
    return t;
}

_Static_assert((int)AGIR_VQ_VIEW_NAME >= (int)AGIR_VQVAE_TENSOR_NAME, "view names hold the model's tensor names");

// The model's parameter tensors (models/vqvae.c's table, in layer order), then the codebook and the
// normalisation.
int agir_vq_views_make(agir_vq_views *v, const agir_vqvae *m, const float *mean, const float *std, agir_err *e) {
    memset(v, 0, sizeof *v);
    int n_conv = agir_vqvae_tensors(m, NULL, 0);
    int64_t n = n_conv + 3;
    agir_vqvae_tensor *ts = calloc((size_t)n_conv, sizeof *ts);
    v->model = calloc((size_t)n, sizeof *v->model);
    v->names = calloc((size_t)n_conv, sizeof *v->names);
    if (!ts || !v->model || !v->names) {
        free(ts);
        agir_vq_views_free(v);
        return AGIR_BUG(e, "out of memory for %lld tensor views", (long long)n);
    }
    agir_vqvae_tensors(m, ts, n_conv);
    for (int i = 0; i < n_conv; i++) {
        snprintf(v->names[i], AGIR_VQ_VIEW_NAME, "%s", ts[i].name);
        v->model[i] = f32_view(v->names[i], ts[i].ndim, ts[i].shape, m->params + ts[i].off, ts[i].numel);
    }
    free(ts);
    const agir_vqvae_config *c = &m->cfg;
    int64_t kd[2] = {c->n_codes, c->code_dim}, in[1] = {c->in_dim};
    v->model[n_conv] = f32_view("codebook", 2, kd, m->codebook, (size_t)c->n_codes * c->code_dim);
    v->model[n_conv + 1] = f32_view("norm.mean", 1, in, mean, (size_t)c->in_dim);
    v->model[n_conv + 2] = f32_view("norm.std", 1, in, std, (size_t)c->in_dim);
    v->n_model = n;
    v->n_ema = 2;
    v->ema[0] = f32_view("ema_count", 1, kd, m->ema_count, (size_t)c->n_codes);
    v->ema[1] = f32_view("ema_sum", 2, kd, m->ema_sum, (size_t)c->n_codes * c->code_dim);
    return AGIR_OK;
}

void agir_vq_views_free(agir_vq_views *v) {
    free(v->model);
    free(v->names);
    memset(v, 0, sizeof *v);
}

// ---------------------------------------------------------------------------------------------
// Loading a tokenizer

static int is_ckpt_folder(const char *path) {
    char p[4096];
    struct stat st;
    int k = snprintf(p, sizeof p, "%s/manifest.json", path);
    return k > 0 && (size_t)k < sizeof p && stat(p, &st) == 0;
}

// The run folder's newest intact checkpoint. Fallback warnings are shown only when an older
// checkpoint is used: when none loads, the one error line already names the newest one's fault.
static int load_latest(const char *path, const agir_log *log, agir_ckpt *c, agir_err *e) {
    char *text = NULL;
    size_t len = 0;
    agir_log held = log ? *log : (agir_log){0};
    held.out = log && log->out ? open_memstream(&text, &len) : NULL;
    int rc = agir_ckpt_load_latest(path, MODEL_TYPE, held.out ? &held : NULL, c, e);
    if (held.out) fclose(held.out);
    if (!rc && len) {
        fputs(text, log->out);
        fflush(log->out);
    }
    free(text);
    return rc;
}

static int open_ckpt(const char *path, const agir_log *log, agir_ckpt *c, agir_err *e) {
    struct stat st;
    if (stat(path, &st) != 0)
        return AGIR_BAD(e, "%s: %s (hint: give a VQ-VAE training run folder, e.g. runs/vqvae, or one of its "
                        "ckpt-<step> folders)", path, errno == ENOENT ? "does not exist" : strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return AGIR_BAD(e, "%s: is a file, not a tokenizer folder (hint: give a VQ-VAE training run folder, e.g. "
                        "runs/vqvae, or one of its ckpt-<step> folders)", path);
    if (is_ckpt_folder(path)) return agir_ckpt_load_dir(path, MODEL_TYPE, c, e);
    AGIR_TRY(load_latest(path, log, c, e));
    if (!c->found)
        return AGIR_BAD(e, "%s: holds no checkpoint (hint: give a VQ-VAE training run folder, e.g. runs/vqvae, or one "
                        "of its ckpt-<step> folders)", path);
    return AGIR_OK;
}

// Copies the checkpoint's tensors into the model's buffers (shapes already matched), refusing NaN,
// Inf and non-positive standard deviations.
static int copy_tensors(const agir_ckpt *c, const agir_vq_views *v, agir_err *e) {
    const agir_st_file *f = agir_ckpt_group_file(c, "model");
    for (int64_t i = 0; i < v->n_model; i++) {
        const agir_tensor_view *src = agir_st_find(f, v->model[i].name);
        if (!src || src->nbytes != v->model[i].nbytes)
            return AGIR_BUG(e, "%s: tensor %s changed after its shape was checked", c->dir, v->model[i].name);
        float *dst = (float *)v->model[i].data;
        memcpy(dst, src->data, src->nbytes);
        int is_std = !strcmp(v->model[i].name, "norm.std");
        for (size_t k = 0; k < src->nbytes / sizeof(float); k++)
            if (!isfinite(dst[k]) || (is_std && !(dst[k] > 0)))
                return AGIR_BAD(e, "%s/model.safetensors: tensor '%s' holds %s (%g) at element %zu (hint: the "
                                "checkpoint is damaged; use an earlier one)", c->dir, v->model[i].name,
                                is_std && isfinite(dst[k]) ? "a non-positive standard deviation" : "a non-finite value",
                                (double)dst[k], k);
    }
    return AGIR_OK;
}

// state.json extra "val_subjects": the subjects the training job held out, if it recorded them.
static int read_val_subjects(const cJSON *extra, const char *where, agir_vq_tokenizer *t, agir_err *e) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(extra, "val_subjects");
    if (!a) return AGIR_OK;
    int n = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : -1;
    if (n < 0 || n > 1 << 20)
        return AGIR_BAD(e, "%s: \"val_subjects\" is %s, not an array of subject ids (hint: the checkpoint state was "
                        "edited or is corrupt)", where, agir_json_kind(a));
    t->val_subjects = calloc(n ? (size_t)n : 1, sizeof *t->val_subjects);
    if (!t->val_subjects) return AGIR_BUG(e, "out of memory for %d subject ids", n);
    int i = 0;
    for (const cJSON *s = a->child; s; s = s->next, i++) {
        const char *str = cJSON_IsString(s) ? s->valuestring : NULL;
        if (!str || !str[0] || strlen(str) > 256 || !agir_utf8_valid(str, strlen(str)))
            return AGIR_BAD(e, "%s: \"val_subjects\"[%d] is not a subject id (a short UTF-8 string) (hint: the "
                            "checkpoint state was edited or is corrupt)", where, i);
        if (!(t->val_subjects[i] = strdup(str))) return AGIR_BUG(e, "out of memory for subject ids");
        t->n_val_subjects = i + 1;
    }
    return AGIR_OK;
}

static int load_from(agir_ckpt *c, int B, int T, agir_vq_tokenizer *t, agir_err *e) {
    char where[4200];
    snprintf(where, sizeof where, "%s/state.json: extra", c->dir);
    AGIR_TRY(agir_vq_meta_from_json(c->state.extra, where, &t->meta, e));
    AGIR_TRY(read_val_subjects(c->state.extra, where, t, e));
    const agir_vqvae_config *cfg = &t->meta.cfg;
    AGIR_TRY(agir_vqvae_init(&t->model, cfg, B, T ? T : t->meta.window, 0, e));
    t->mean = malloc((size_t)cfg->in_dim * sizeof *t->mean);
    t->std = malloc((size_t)cfg->in_dim * sizeof *t->std);
    if (!t->mean || !t->std) return AGIR_BUG(e, "out of memory for the feature normalisation");
    agir_vq_views v;
    AGIR_TRY(agir_vq_views_make(&v, &t->model, t->mean, t->std, e));
    int rc = agir_ckpt_expect(c, "model", v.model, v.n_model, e);
    if (!rc) rc = copy_tensors(c, &v, e);
    agir_vq_views_free(&v);
    AGIR_TRY(rc);
    // Inference never trains, so the codebook counts as initialised.
    t->model.codebook_ready = 1;
    for (int i = 0; i < c->n_groups; i++)
        if (!strcmp(c->group[i], "model")) snprintf(t->hash, sizeof t->hash, "sha256:%s", c->group_sha256[i]);
    t->step = c->state.step;
    snprintf(t->ckpt_dir, sizeof t->ckpt_dir, "%s", c->dir);
    return AGIR_OK;
}

int agir_vq_tokenizer_load(const char *path, int B, int T, const agir_log *log, agir_vq_tokenizer *t, agir_err *e) {
    memset(t, 0, sizeof *t);
    if (B < 1 || T < 0) return AGIR_BUG(e, "agir_vq_tokenizer_load: batch %d, window %d", B, T);
    agir_ckpt c;
    int rc = open_ckpt(path, log, &c, e);
    if (rc) return rc;
    rc = load_from(&c, B, T, t, e);
    agir_ckpt_close(&c);
    if (rc) agir_vq_tokenizer_free(t);
    return rc;
}

void agir_vq_tokenizer_free(agir_vq_tokenizer *t) {
    agir_vqvae_free(&t->model);
    free(t->mean);
    free(t->std);
    for (int i = 0; i < t->n_val_subjects; i++) free(t->val_subjects[i]);
    free(t->val_subjects);
    memset(t, 0, sizeof *t);
}
