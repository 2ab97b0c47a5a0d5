// Checkpoints of the SFT job: what a save holds, resuming bit for bit, the start point of stage 2,
// and the run folder's split.json (design in sft_job.h).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoints/manifest.h"
#include "core/fsio.h"
#include "models/adapter.h"
#include "train/sft_train_impl.h"

// Keys that shape the run's trajectory. Left out: where things are (paths: the data's identity is
// checked through the split, the example counts and the tokenizer's hash), how the run is watched
// or paced, and the length of the run (train.steps, train.epochs), which may grow to extend it.
static int shapes_run(const agir_key *k) {
    const char *s = k->section, *n = k->name;
    if (!strcmp(s, "sft") || !strcmp(s, "lora") || !strcmp(s, "rows") || !strcmp(s, "optim") || !strcmp(s, "split"))
        return 1;
    if (!strcmp(s, "model")) return strcmp(n, "path") && strcmp(n, "init");
    if (!strcmp(s, "train")) return !strcmp(n, "batch_tokens") || !strcmp(n, "accum");
    return !strcmp(s, "run") && !strcmp(n, "seed");
}

static cJSON *string_array(char *const *s, const uint8_t *pick, uint8_t want, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++)
        if ((!pick || pick[i] == want) && !cJSON_AddItemToArray(a, cJSON_CreateString(s[i]))) {
            cJSON_Delete(a);
            return NULL;
        }
    return a;
}

static cJSON *split_json(const sft_trainer *t) {
    const agir_cfg *c = &t->run->cfg;
    const agir_split *s = &t->in.split;
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "mode", agir_cfg_str(c, "split", "mode"));
    cJSON_AddNumberToObject(o, "k", (double)agir_cfg_int(c, "split", "k"));
    cJSON_AddNumberToObject(o, "fold", (double)agir_cfg_int(c, "split", "fold"));
    cJSON_AddNumberToObject(o, "seed", (double)agir_cfg_int(c, "split", "seed"));
    cJSON_AddItemToObject(o, "train", string_array(s->subjects, s->test, 0, s->n));
    cJSON_AddItemToObject(o, "test", string_array(s->subjects, s->test, 1, s->n));
    cJSON_AddNumberToObject(o, "train_walks", (double)t->in.walks[0]);
    cJSON_AddNumberToObject(o, "test_walks", (double)t->in.walks[1]);
    cJSON *tok = t->in.tok_info ? cJSON_Duplicate(t->in.tok_info, 1) : cJSON_CreateNull();
    if (!tok || !cJSON_AddItemToObject(o, "tokenizer", tok) || !cJSON_GetObjectItem(o, "test")) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int agir_sftt_write_split(sft_trainer *t, agir_err *e) {
    cJSON *o = split_json(t);
    char *text = o ? cJSON_Print(o) : NULL, path[1200];
    cJSON_Delete(o);
    if (!text) return AGIR_BUG(e, "out of memory writing split.json");
    int rc = agir_run_path(t->run, "split.json", path, sizeof path, e);
    if (!rc) rc = agir_write_atomic(path, text, strlen(text), e);
    free(text);
    return rc;
}

static cJSON *state_extra(const sft_trainer *t) {
    cJSON *o = cJSON_CreateObject();
    cJSON *rec = agir_job_config_record(&t->run->cfg, shapes_run), *split = split_json(t);
    cJSON *ex = cJSON_CreateArray();
    int ok = o && rec && split && ex && cJSON_AddItemToObject(o, "config", rec);
    if (!ok) cJSON_Delete(rec);
    ok = ok && cJSON_AddItemToObject(o, "split", split);
    if (!ok) cJSON_Delete(split);
    for (int i = 0; ok && i < 2; i++) ok = cJSON_AddItemToArray(ex, cJSON_CreateNumber((double)t->in.set[i].n));
    ok = ok && cJSON_AddItemToObject(o, "examples", ex);
    if (!ok) cJSON_Delete(ex);
    ok = ok && cJSON_AddStringToObject(o, "tokenizer_hash", t->in.tok_hash) &&
         cJSON_AddStringToObject(o, "init_from", t->init_from);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static agir_tensor_view moments_view(const sft_trainer *t) {
    size_t n = 2 * t->tr.g.n;
    return (agir_tensor_view){"moments", AGIR_DT_F32, 1, {(int64_t)n}, t->h_mom, n * sizeof(float)};
}

int agir_sftt_save(sft_trainer *t, agir_err *e) {
    AGIR_TRY(agir_llama_weights_download_trainable(&t->w, &t->lora, &t->llm.model, e));
    AGIR_TRY(agir_dev_download(&t->ctx, t->h_mom, t->tr.mom, 2 * t->tr.g.n * sizeof(float), e));
    agir_ckpt_state s;
    AGIR_TRY(agir_job_ckpt_state(t->run, AGIR_SFT_MODEL_TYPE, t->step, t->skipped, t->pos.epoch, t->pos.cursor, &s, e));
    if (!(s.extra = state_extra(t))) return AGIR_BUG(e, "out of memory writing the checkpoint state");
    agir_adapter_views v;
    int rc = agir_adapter_views_make(&v, &t->llm, &t->lora, e);
    if (!rc) {
        agir_tensor_view mom = moments_view(t);
        agir_ckpt_group g[2] = {{"adapter", v.t, v.n, v.meta, AGIR_ADAPTER_N_META}, {"optim", &mom, 1, NULL, 0}};
        agir_ckpt_opts o = {(int)t->keep, t->log};
        rc = agir_ckpt_save(t->run->dir, &s, g, 2, &o, e);
        agir_adapter_views_free(&v);
    }
    cJSON_Delete(s.extra);
    AGIR_TRY(rc);
    agir_job_saved(t->log, t->run->dir, t->step);
    return AGIR_OK;
}

// ---------------------------------------------------------------------------------------------
// Resume

static int same_strings(const cJSON *a, const cJSON *b) {
    if (!cJSON_IsArray(a) || !cJSON_IsArray(b) || cJSON_GetArraySize(a) != cJSON_GetArraySize(b)) return 0;
    for (const cJSON *x = a->child, *y = b->child; x && y; x = x->next, y = y->next)
        if (!cJSON_IsString(x) || !cJSON_IsString(y) || strcmp(x->valuestring, y->valuestring)) return 0;
    return 1;
}

// The data the run was trained on: the same split, example counts and tokenizer.
static int check_data(const sft_trainer *t, const cJSON *extra, const char *where, agir_err *e) {
    cJSON *now = split_json(t);
    if (!now) return AGIR_BUG(e, "out of memory");
    const cJSON *was = cJSON_GetObjectItemCaseSensitive(extra, "split");
    int same = cJSON_IsObject(was) &&
               same_strings(cJSON_GetObjectItem(was, "train"), cJSON_GetObjectItem(now, "train")) &&
               same_strings(cJSON_GetObjectItem(was, "test"), cJSON_GetObjectItem(now, "test"));
    cJSON_Delete(now);
    const char *data = agir_cfg_str(&t->run->cfg, "data", "tokens");
    if (!same)
        return AGIR_BAD(e, "%s: the run was trained on another subject split than %s gives now (hint: the data "
                        "changed since the run started; train into a new run.dir)", where, data);
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(extra, "examples");
    const cJSON *hash = cJSON_GetObjectItemCaseSensitive(extra, "tokenizer_hash");
    int n = cJSON_IsArray(ex) ? cJSON_GetArraySize(ex) : 0;
    for (int i = 0; i < 2 && n == 2; i++) {
        const cJSON *x = cJSON_GetArrayItem(ex, i);
        if (!cJSON_IsNumber(x) || x->valuedouble != (double)t->in.set[i].n) n = 0;
    }
    if (n != 2 || !cJSON_IsString(hash) || strcmp(hash->valuestring, t->in.tok_hash))
        return AGIR_BAD(e, "%s: the run was trained on other examples or motion codes than %s and %s give now (hint: "
                        "the data changed since the run started; train into a new run.dir)", where, data,
                        agir_cfg_str(&t->run->cfg, "data", "texts"));
    return AGIR_OK;
}

int agir_sftt_restore(sft_trainer *t, const agir_ckpt *c, agir_err *e) {
    char where[4200];
    snprintf(where, sizeof where, "%s/state.json: extra", c->dir);
    const cJSON *extra = c->state.extra;
    AGIR_TRY(agir_job_config_check(&t->run->cfg, shapes_run, cJSON_GetObjectItemCaseSensitive(extra, "config"), where,
                                   "sft", e));
    AGIR_TRY(check_data(t, extra, where, e));
    agir_tensor_view mom = moments_view(t);
    AGIR_TRY(agir_ckpt_expect(c, "optim", &mom, 1, e));
    memcpy(t->h_mom, agir_st_find(agir_ckpt_group_file(c, "optim"), "moments")->data, mom.nbytes);
    const agir_ckpt_state *s = &c->state;
    if (s->world_size != 1)
        return AGIR_BAD(e, "%s/state.json: saved by %d ranks, this job trains on one (hint: resume it with as many "
                        "ranks)", c->dir, s->world_size);
    if (s->sched_step != s->step || s->cursor >= t->in.set[0].n || s->skipped > INT64_MAX - s->step)
        return AGIR_BAD(e, "%s/state.json: step %lld, schedule step %lld and data cursor %lld of %lld examples do not "
                        "fit together (hint: the data changed since the run started; train into a new run.dir)", c->dir,
                        (long long)s->step, (long long)s->sched_step, (long long)s->cursor, (long long)t->in.set[0].n);
    AGIR_TRY(agir_dev_upload(&t->ctx, t->tr.mom, t->h_mom, mom.nbytes, e));
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(extra, "init_from");
    snprintf(t->init_from, sizeof t->init_from, "%s", cJSON_IsString(from) ? from->valuestring : "");
    t->step = t->tr.step = s->step, t->skipped = s->skipped;
    t->pos = (agir_sft_pos){s->epoch, s->cursor};
    return AGIR_OK;
}

int agir_sftt_open_init(const char *path, const agir_log *log, agir_ckpt *c, agir_err *e) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    AGIR_TRY(!strncmp(base, "ckpt-", 5) ? agir_ckpt_load_dir(path, AGIR_SFT_MODEL_TYPE, c, e)
                                        : agir_ckpt_load_latest(path, AGIR_SFT_MODEL_TYPE, log, c, e));
    if (c->found) return AGIR_OK;
    agir_ckpt_close(c);
    return AGIR_BAD(e, "%s: holds no checkpoint of an SFT run (hint: model.init names a stage-1 run folder or one of "
                    "its ckpt-N folders; '' starts from the base model)", path);
}
