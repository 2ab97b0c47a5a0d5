// Run-folder checkpoints: atomic save (temporary folder, manifest, rename, LATEST, prune) and
// verified load with fallback to the previous intact checkpoint.
#include "checkpoints/ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoints/manifest.h"
#include "core/fsio.h"

static const char STATE_FILE[] = "state.json";
static const char LATEST_FILE[] = "LATEST";
static const char ST_EXT[] = ".safetensors";
enum { STATE_MAX_BYTES = 16 << 20, LATEST_MAX_BYTES = 256 };

static int name_ok(const char *s) {
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= AGIR_CKPT_NAME_MAX || s[0] == '.') return 0;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

// ---------------------------------------------------------------------------------------------
// Folder helpers

// "ckpt-<step>" with the canonical decimal spelling, so every step has exactly one folder name.
static int parse_ckpt_name(const char *s, int64_t *step) {
    if (strncmp(s, "ckpt-", 5)) return 0;
    const char *d = s + 5;
    size_t k = strspn(d, "0123456789");
    if (k == 0 || k > 15 || d[k] || (d[0] == '0' && k > 1)) return 0;
    *step = strtoll(d, NULL, 10);
    return 1;
}

static int cmp_desc(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x < y) - (x > y);
}

// Steps of the ckpt-<step> folders in run_dir, newest first (malloc'd; *n = 0 when none).
static int list_steps(const char *run_dir, int64_t **steps, int *n, agir_err *e) {
    *steps = NULL;
    *n = 0;
    DIR *d = opendir(run_dir);
    if (!d) return errno == ENOENT ? AGIR_OK : agir_err_io(e, run_dir, "cannot list folder");
    int cap = 0, rc = AGIR_OK;
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        int64_t s;
        if (!parse_ckpt_name(de->d_name, &s)) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            int64_t *p = realloc(*steps, (size_t)cap * sizeof *p);
            if (!p) rc = AGIR_BUG(e, "out of memory listing %s", run_dir);
            else *steps = p;
        }
        if (!rc) (*steps)[(*n)++] = s;
    }
    closedir(d);
    if (!rc && *n) qsort(*steps, (size_t)*n, sizeof **steps, cmp_desc);
    return rc;
}

// Removes a folder of plain files (the only kind a checkpoint folder holds).
static int remove_flat(const char *dir, agir_err *e) {
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? AGIR_OK : agir_err_io(e, dir, "cannot list folder");
    struct dirent *de;
    int rc = AGIR_OK;
    while (!rc && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char p[4096];
        rc = agir_path_join(p, sizeof p, dir, de->d_name, e);
        if (!rc && unlink(p) != 0) rc = agir_err_io(e, p, "cannot remove");
    }
    closedir(d);
    if (!rc && rmdir(dir) != 0) rc = agir_err_io(e, dir, "cannot remove folder");
    return rc;
}

// Deletes a checkpoint folder: first renamed to a hidden name, so a kill half-way through never
// leaves a partial folder under a ckpt-<step> name.
static int discard_folder(const char *run_dir, const char *name, agir_err *e) {
    char from[4096], hidden[256], to[4096];
    snprintf(hidden, sizeof hidden, ".trash-%s.%ld", name, (long)getpid());
    AGIR_TRY(agir_path_join(from, sizeof from, run_dir, name, e));
    AGIR_TRY(agir_path_join(to, sizeof to, run_dir, hidden, e));
    if (rename(from, to) != 0) return agir_err_io(e, from, "cannot move aside");
    return remove_flat(to, e);
}

// Leftovers of saves or prunes that were killed: hidden temporary and trash folders.
static void remove_leftovers(const char *run_dir, const agir_log *log) {
    DIR *d = opendir(run_dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *s = de->d_name;
        int tmp = !strncmp(s, ".ckpt-", 6) && strstr(s, ".tmp."), trash = !strncmp(s, ".trash-ckpt-", 12);
        if (!tmp && !trash) continue;
        char p[4096];
        agir_err e;
        agir_err_clear(&e);
        if (agir_path_join(p, sizeof p, run_dir, s, &e) || remove_flat(p, &e))
            if (log) agir_warn(log, "could not remove an interrupted checkpoint's leftovers: %s", e.msg);
    }
    closedir(d);
}

// ---------------------------------------------------------------------------------------------
// Non-finite check

static int is_float_type(agir_dtype t) {
    return t == AGIR_DT_F32 || t == AGIR_DT_F64 || t == AGIR_DT_F16 || t == AGIR_DT_BF16;
}

// Index of the first NaN or Inf in v (all exponent bits set, IEEE 754 and bfloat16 alike), or -1.
static int64_t first_nonfinite(const agir_tensor_view *v) {
    const unsigned char *p = v->data;
    if (v->dtype == AGIR_DT_F32) {
        for (size_t i = 0; i < v->nbytes / 4; i++) {
            uint32_t x;
            memcpy(&x, p + 4 * i, 4);
            if ((x & 0x7f800000u) == 0x7f800000u) return (int64_t)i;
        }
    } else if (v->dtype == AGIR_DT_F64) {
        for (size_t i = 0; i < v->nbytes / 8; i++) {
            uint64_t x;
            memcpy(&x, p + 8 * i, 8);
            if ((x & 0x7ff0000000000000ull) == 0x7ff0000000000000ull) return (int64_t)i;
        }
    } else if (v->dtype == AGIR_DT_F16 || v->dtype == AGIR_DT_BF16) {
        uint16_t mask = v->dtype == AGIR_DT_F16 ? 0x7c00 : 0x7f80;
        for (size_t i = 0; i < v->nbytes / 2; i++) {
            uint16_t x;
            memcpy(&x, p + 2 * i, 2);
            if ((x & mask) == mask) return (int64_t)i;
        }
    }
    return -1;
}

static int check_finite(const agir_ckpt_state *s, const agir_ckpt_group *g, int n_groups, const char *run_dir,
                        agir_err *e) {
    for (int i = 0; i < n_groups; i++)
        for (int64_t j = 0; j < g[i].n; j++) {
            const agir_tensor_view *v = &g[i].t[j];
            int64_t at = is_float_type(v->dtype) ? first_nonfinite(v) : -1;
            if (at >= 0)
                return AGIR_BAD(e, "%s: step %lld not saved: tensor %s/%s holds a non-finite value at element %lld "
                                "(hint: the run diverged; resume from the last checkpoint with a lower learning rate)",
                                run_dir, (long long)s->step, g[i].name, v->name, (long long)at);
        }
    return AGIR_OK;
}

// ---------------------------------------------------------------------------------------------
// state.json

static cJSON *hex64(uint64_t x) {
    char b[24];
    snprintf(b, sizeof b, "0x%016llx", (unsigned long long)x);
    return cJSON_CreateString(b);
}

static cJSON *rng_json(const agir_rng *r) {
    cJSON *o = cJSON_CreateObject(), *buf = cJSON_CreateArray();
    int ok = o && buf && cJSON_AddItemToObject(o, "seed", hex64(r->seed)) &&
             cJSON_AddItemToObject(o, "stream", hex64(r->stream)) && cJSON_AddItemToObject(o, "counter", hex64(r->counter));
    for (int k = 0; ok && k < 4; k++) ok = cJSON_AddItemToArray(buf, hex64(r->buf[k]));
    ok = ok && cJSON_AddItemToObject(o, "buf", buf);
    if (ok) buf = NULL;
    ok = ok && cJSON_AddNumberToObject(o, "used", r->used);
    cJSON_Delete(buf);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static char *state_text(const agir_ckpt_state *s) {
    cJSON *o = cJSON_CreateObject(), *rngs = cJSON_CreateObject();
    int ok = o && rngs && cJSON_AddStringToObject(o, "model_type", s->model_type) &&
             cJSON_AddNumberToObject(o, "step", (double)s->step) && cJSON_AddNumberToObject(o, "epoch", (double)s->epoch) &&
             cJSON_AddNumberToObject(o, "cursor", (double)s->cursor) &&
             cJSON_AddNumberToObject(o, "sched_step", (double)s->sched_step) &&
             cJSON_AddNumberToObject(o, "skipped", (double)s->skipped) &&
             cJSON_AddNumberToObject(o, "world_size", s->world_size) &&
             cJSON_AddStringToObject(o, "config_hash", s->config_hash);
    for (int i = 0; ok && i < s->n_rng; i++) ok = cJSON_AddItemToObject(rngs, s->rng[i].name, rng_json(&s->rng[i].r));
    ok = ok && cJSON_AddItemToObject(o, "rng", rngs);
    if (ok) rngs = NULL;
    cJSON *extra = ok && s->extra ? cJSON_Duplicate(s->extra, 1) : NULL;
    ok = ok && (!s->extra || (extra && cJSON_AddItemToObject(o, "extra", extra)));
    char *text = ok ? cJSON_Print(o) : NULL;
    if (!ok) cJSON_Delete(extra);
    cJSON_Delete(rngs);
    cJSON_Delete(o);
    return text;
}

static int get_hex64(const cJSON *v, const char *path, const char *what, uint64_t *out, agir_err *e) {
    const char *s = cJSON_IsString(v) ? v->valuestring : "";
    if (strlen(s) != 18 || strncmp(s, "0x", 2) || strspn(s + 2, "0123456789abcdef") != 16)
        return AGIR_BAD(e, "%s: %s is not a 0x-prefixed 16-digit hex string (hint: the checkpoint is corrupt)", path,
                        what);
    *out = strtoull(s + 2, NULL, 16);
    return AGIR_OK;
}

static int parse_rng(const cJSON *o, const char *path, agir_ckpt_rng *out, agir_err *e) {
    char what[128];
    if (!name_ok(o->string) || !cJSON_IsObject(o))
        return AGIR_BAD(e, "%s: rng entry '%.48s' is not a named object (hint: the checkpoint is corrupt)", path,
                        o->string);
    snprintf(out->name, sizeof out->name, "%s", o->string);
    agir_rng *r = &out->r;
    snprintf(what, sizeof what, "rng %s seed", o->string);
    AGIR_TRY(get_hex64(cJSON_GetObjectItemCaseSensitive(o, "seed"), path, what, &r->seed, e));
    snprintf(what, sizeof what, "rng %s stream", o->string);
    AGIR_TRY(get_hex64(cJSON_GetObjectItemCaseSensitive(o, "stream"), path, what, &r->stream, e));
    snprintf(what, sizeof what, "rng %s counter", o->string);
    AGIR_TRY(get_hex64(cJSON_GetObjectItemCaseSensitive(o, "counter"), path, what, &r->counter, e));
    const cJSON *buf = cJSON_GetObjectItemCaseSensitive(o, "buf");
    if (!cJSON_IsArray(buf) || cJSON_GetArraySize(buf) != 4)
        return AGIR_BAD(e, "%s: rng %s: \"buf\" is not an array of 4 words (hint: the checkpoint is corrupt)", path,
                        o->string);
    int k = 0;
    for (const cJSON *w = buf->child; w; w = w->next, k++) {
        uint64_t x;
        snprintf(what, sizeof what, "rng %s buf[%d]", o->string, k);
        AGIR_TRY(get_hex64(w, path, what, &x, e));
        if (x > UINT32_MAX) return AGIR_BAD(e, "%s: %s is over 32 bits (hint: the checkpoint is corrupt)", path, what);
        r->buf[k] = (uint32_t)x;
    }
    int64_t used;
    AGIR_TRY(agir_ckpt_json_count(o, "used", path, o->string, &used, e));
    if (used > 4) return AGIR_BAD(e, "%s: rng %s: \"used\" is %lld, more than 4", path, o->string, (long long)used);
    r->used = (int)used;
    return AGIR_OK;
}

static int get_name(const cJSON *o, const char *key, const char *path, char *out, size_t outsz, int allow_empty,
                    agir_err *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= outsz || (!allow_empty && !v->valuestring[0]))
        return AGIR_BAD(e, "%s: \"%s\" is missing or not a short string (hint: the checkpoint is corrupt)", path, key);
    snprintf(out, outsz, "%s", v->valuestring);
    return AGIR_OK;
}

static int parse_state(const cJSON *o, const char *path, agir_ckpt_state *s, agir_err *e) {
    if (!cJSON_IsObject(o)) return AGIR_BAD(e, "%s: not a JSON object (hint: the checkpoint is corrupt)", path);
    AGIR_TRY(get_name(o, "model_type", path, s->model_type, sizeof s->model_type, 0, e));
    AGIR_TRY(get_name(o, "config_hash", path, s->config_hash, sizeof s->config_hash, 1, e));
    int64_t ws;
    AGIR_TRY(agir_ckpt_json_count(o, "step", path, "", &s->step, e));
    AGIR_TRY(agir_ckpt_json_count(o, "epoch", path, "", &s->epoch, e));
    AGIR_TRY(agir_ckpt_json_count(o, "cursor", path, "", &s->cursor, e));
    AGIR_TRY(agir_ckpt_json_count(o, "sched_step", path, "", &s->sched_step, e));
    AGIR_TRY(agir_ckpt_json_count(o, "skipped", path, "", &s->skipped, e));
    AGIR_TRY(agir_ckpt_json_count(o, "world_size", path, "", &ws, e));
    if (ws < 1 || ws > 1 << 20) return AGIR_BAD(e, "%s: world_size %lld is out of range", path, (long long)ws);
    s->world_size = (int)ws;
    const cJSON *rngs = cJSON_GetObjectItemCaseSensitive(o, "rng");
    if (!cJSON_IsObject(rngs)) return AGIR_BAD(e, "%s: \"rng\" is not an object (hint: the checkpoint is corrupt)", path);
    for (const cJSON *r = rngs->child; r; r = r->next) {
        if (s->n_rng == AGIR_CKPT_MAX_RNG) return AGIR_BAD(e, "%s: more than %d RNGs", path, AGIR_CKPT_MAX_RNG);
        AGIR_TRY(parse_rng(r, path, &s->rng[s->n_rng], e));
        for (int i = 0; i < s->n_rng; i++)
            if (!strcmp(s->rng[i].name, s->rng[s->n_rng].name))
                return AGIR_BAD(e, "%s: rng %s appears twice", path, s->rng[i].name);
        s->n_rng++;
    }
    const cJSON *extra = cJSON_GetObjectItemCaseSensitive(o, "extra");
    if (extra && !cJSON_IsObject(extra)) return AGIR_BAD(e, "%s: \"extra\" is not an object", path);
    if (extra && !(s->extra = cJSON_Duplicate(extra, 1))) return AGIR_BUG(e, "out of memory copying %s", path);
    return AGIR_OK;
}

static int read_state(const char *dir, agir_ckpt_state *s, agir_err *e) {
    char path[4096], *text;
    size_t len;
    AGIR_TRY(agir_path_join(path, sizeof path, dir, STATE_FILE, e));
    AGIR_TRY(agir_read_file(path, STATE_MAX_BYTES, &text, &len, e));
    cJSON *o = cJSON_ParseWithLength(text, len);
    int rc = o ? parse_state(o, path, s, e) : AGIR_BAD(e, "%s: not valid JSON (hint: the checkpoint is corrupt)", path);
    cJSON_Delete(o);
    free(text);
    return rc;
}

// ---------------------------------------------------------------------------------------------
// Save

static int check_save_args(const agir_ckpt_state *s, const agir_ckpt_group *g, int n_groups, agir_err *e) {
    if (s->step < 0 || s->epoch < 0 || s->cursor < 0 || s->sched_step < 0 || s->skipped < 0 || s->world_size < 1)
        return AGIR_BUG(e, "checkpoint state has a negative counter or a world size under 1");
    if (!name_ok(s->model_type)) return AGIR_BUG(e, "checkpoint model type '%s' is not a valid name", s->model_type);
    if (s->n_rng < 0 || s->n_rng > AGIR_CKPT_MAX_RNG || n_groups < 0 || n_groups > AGIR_CKPT_MAX_GROUPS)
        return AGIR_BUG(e, "checkpoint with %d RNGs and %d groups", s->n_rng, n_groups);
    for (int i = 0; i < s->n_rng; i++)
        for (int j = 0; j <= i; j++)
            if (!name_ok(s->rng[i].name) || (j < i && !strcmp(s->rng[i].name, s->rng[j].name)))
                return AGIR_BUG(e, "checkpoint RNG name '%s' is invalid or repeated", s->rng[i].name);
    for (int i = 0; i < n_groups; i++)
        for (int j = 0; j <= i; j++)
            if (!name_ok(g[i].name) || (j < i && !strcmp(g[i].name, g[j].name)) || g[i].n_meta < 0 ||
                (g[i].n_meta && !g[i].meta))
                return AGIR_BUG(e, "checkpoint group '%s': its name is invalid or repeated, or its metadata is",
                                g[i].name ? g[i].name : "");
    if (s->extra && !cJSON_IsObject(s->extra)) return AGIR_BUG(e, "checkpoint extra state is not a JSON object");
    return AGIR_OK;
}

// Writes every file of the checkpoint into `tmp` (an empty folder), the manifest last.
static int write_files(const char *tmp, const agir_ckpt_state *s, const agir_ckpt_group *g, int n_groups,
                       agir_err *e) {
    char names[AGIR_CKPT_MAX_GROUPS + 1][AGIR_MANIFEST_NAME_MAX];
    const char *list[AGIR_CKPT_MAX_GROUPS + 1];
    char path[4096], step[32];
    snprintf(step, sizeof step, "%lld", (long long)s->step);
    for (int i = 0; i < n_groups; i++) {
        snprintf(names[i], sizeof names[i], "%s%s", g[i].name, ST_EXT);
        list[i] = names[i];
        AGIR_TRY(agir_path_join(path, sizeof path, tmp, names[i], e));
        agir_st_kv *meta = calloc((size_t)g[i].n_meta + 2, sizeof *meta);
        if (!meta) return AGIR_BUG(e, "out of memory writing a checkpoint");
        meta[0] = (agir_st_kv){"agir.step", step}, meta[1] = (agir_st_kv){"agir.model_type", s->model_type};
        for (int64_t k = 0; k < g[i].n_meta; k++) meta[2 + k] = g[i].meta[k];
        int rc = agir_st_write(path, g[i].t, g[i].n, meta, g[i].n_meta + 2, e);
        free(meta);
        AGIR_TRY(rc);
    }
    char *text = state_text(s);
    if (!text) return AGIR_BUG(e, "out of memory writing the checkpoint state");
    int rc = agir_path_join(path, sizeof path, tmp, STATE_FILE, e);
    if (!rc) rc = agir_write_atomic(path, text, strlen(text), e);
    free(text);
    AGIR_TRY(rc);
    list[n_groups] = STATE_FILE;
    return agir_manifest_write(tmp, s->step, list, n_groups + 1, e);
}

// Renames tmp to run_dir/final (moving aside a folder of the same step left by an earlier
// attempt), then makes the rename durable.
static int commit_folder(const char *run_dir, const char *tmp, const char *final, agir_err *e) {
    char to[4096];
    AGIR_TRY(agir_path_join(to, sizeof to, run_dir, final, e));
    struct stat st;
    if (stat(to, &st) == 0) AGIR_TRY(discard_folder(run_dir, final, e));
    if (rename(tmp, to) != 0) return agir_err_io(e, to, "cannot rename the checkpoint folder into place");
    return agir_fsync_dir(run_dir, e);
}

static void prune(const char *run_dir, int64_t step, int keep_last, const agir_log *log) {
    int64_t *steps;
    int n;
    agir_err e;
    agir_err_clear(&e);
    if (list_steps(run_dir, &steps, &n, &e)) {
        if (log) agir_warn(log, "not pruning old checkpoints: %s", e.msg);
        return;
    }
    int kept = 0;
    for (int i = 0; i < n; i++) {
        // Folders newer than the one just saved belong to an abandoned attempt: LATEST no longer
        // leads to them, so they go too.
        if (steps[i] <= step && kept < keep_last) {
            kept++;
            continue;
        }
        char name[64];
        snprintf(name, sizeof name, "ckpt-%lld", (long long)steps[i]);
        agir_err_clear(&e);
        if (discard_folder(run_dir, name, &e) && log) agir_warn(log, "could not prune %s: %s", name, e.msg);
    }
    free(steps);
}

int agir_ckpt_save(const char *run_dir, const agir_ckpt_state *s, const agir_ckpt_group *g, int n_groups,
                   const agir_ckpt_opts *opts, agir_err *e) {
    AGIR_TRY(check_save_args(s, g, n_groups, e));
    AGIR_TRY(check_finite(s, g, n_groups, run_dir, e));
    AGIR_TRY(agir_mkdirs(run_dir, e));
    const agir_log *log = opts ? opts->log : NULL;
    remove_leftovers(run_dir, log);
    char final[64], hidden[128], tmp[4096];
    snprintf(final, sizeof final, "ckpt-%lld", (long long)s->step);
    snprintf(hidden, sizeof hidden, ".%s.tmp.%ld", final, (long)getpid());
    AGIR_TRY(agir_path_join(tmp, sizeof tmp, run_dir, hidden, e));
    if (mkdir(tmp, 0777) != 0) return agir_err_io(e, tmp, "cannot create the checkpoint folder");
    int rc = write_files(tmp, s, g, n_groups, e);
    if (!rc) rc = agir_fsync_dir(tmp, e);
    if (!rc) rc = commit_folder(run_dir, tmp, final, e);
    if (rc) {
        agir_err ignored;
        agir_err_clear(&ignored);
        remove_flat(tmp, &ignored);
        return rc;
    }
    char latest[4096], text[80];
    int k = snprintf(text, sizeof text, "%s\n", final);
    AGIR_TRY(agir_path_join(latest, sizeof latest, run_dir, LATEST_FILE, e));
    AGIR_TRY(agir_write_atomic(latest, text, (size_t)k, e));
    if (opts && opts->keep_last > 0) prune(run_dir, s->step, opts->keep_last, log);
    return AGIR_OK;
}

// ---------------------------------------------------------------------------------------------
// Load

static void state_free(agir_ckpt_state *s) {
    cJSON_Delete(s->extra);
    s->extra = NULL;
}

void agir_ckpt_close(agir_ckpt *c) {
    for (int i = 0; i < c->n_groups; i++) agir_st_close(&c->file[i]);
    state_free(&c->state);
    memset(c, 0, sizeof *c);
}

static int open_groups(const agir_manifest *m, agir_ckpt *c, agir_err *e) {
    size_t ext = strlen(ST_EXT);
    for (int i = 0; i < m->n; i++) {
        size_t k = strlen(m->name[i]);
        if (k <= ext || strcmp(m->name[i] + k - ext, ST_EXT)) continue;
        if (c->n_groups == AGIR_CKPT_MAX_GROUPS)
            return AGIR_BAD(e, "%s: more than %d tensor groups (hint: the checkpoint is corrupt)", c->dir,
                            AGIR_CKPT_MAX_GROUPS);
        char path[4096];
        AGIR_TRY(agir_path_join(path, sizeof path, c->dir, m->name[i], e));
        snprintf(c->group[c->n_groups], AGIR_CKPT_NAME_MAX, "%.*s", (int)(k - ext), m->name[i]);
        memcpy(c->group_sha256[c->n_groups], m->sha256[i], sizeof c->group_sha256[0]);
        AGIR_TRY(agir_st_open(path, &c->file[c->n_groups], e));
        c->n_groups++;
    }
    return AGIR_OK;
}

// Loads one checkpoint folder. *wrong_run is set when it is intact but belongs to another model.
static int load_one(const char *run_dir, int64_t step, const char *model_type, agir_ckpt *c, int *wrong_run,
                    agir_err *e) {
    char name[64];
    snprintf(name, sizeof name, "ckpt-%lld", (long long)step);
    AGIR_TRY(agir_path_join(c->dir, sizeof c->dir, run_dir, name, e));
    agir_manifest m;
    AGIR_TRY(agir_manifest_verify(c->dir, step, &m, e));
    int has_state = 0;
    for (int i = 0; i < m.n; i++) has_state |= !strcmp(m.name[i], STATE_FILE);
    if (!has_state) return AGIR_BAD(e, "%s: the manifest does not list %s (hint: the checkpoint is corrupt)", c->dir,
                                    STATE_FILE);
    AGIR_TRY(read_state(c->dir, &c->state, e));
    if (c->state.step != step)
        return AGIR_BAD(e, "%s/%s: records step %lld (hint: the checkpoint is corrupt)", c->dir, STATE_FILE,
                        (long long)c->state.step);
    if (model_type && strcmp(c->state.model_type, model_type)) {
        *wrong_run = 1;
        return AGIR_BAD(e, "%s: checkpoint of a %s model, not %s (hint: point the job at its own run folder)", c->dir,
                        c->state.model_type, model_type);
    }
    AGIR_TRY(open_groups(&m, c, e));
    c->found = 1;
    return AGIR_OK;
}

// LATEST's step, or -1 with *why set when it is absent or not "ckpt-<step>\n".
static int64_t read_latest(const char *run_dir, char *why, size_t whysz) {
    char path[4096], *text;
    size_t len;
    agir_err e;
    agir_err_clear(&e);
    if (agir_path_join(path, sizeof path, run_dir, LATEST_FILE, &e) ||
        agir_read_file(path, LATEST_MAX_BYTES, &text, &len, &e)) {
        snprintf(why, whysz, "%s", e.msg);
        return -1;
    }
    if (len && text[len - 1] == '\n') text[--len] = '\0';
    int64_t step;
    int ok = strlen(text) == len && parse_ckpt_name(text, &step);
    free(text);
    if (ok) return step;
    snprintf(why, whysz, "%.1000s: does not hold a checkpoint name like ckpt-120", path);
    return -1;
}

int agir_ckpt_load_latest(const char *run_dir, const char *model_type, const agir_log *log, agir_ckpt *c,
                          agir_err *e) {
    memset(c, 0, sizeof *c);
    int64_t *steps;
    int n;
    AGIR_TRY(list_steps(run_dir, &steps, &n, e));
    char why[1100] = "";
    int64_t latest = read_latest(run_dir, why, sizeof why);
    if (latest < 0 && n == 0) {
        free(steps);
        return AGIR_OK;  // a fresh run
    }
    if (latest < 0 && log) agir_warn(log, "%s; using the newest intact checkpoint instead", why);
    // Candidates: LATEST's target, then older folders, newest first. Folders newer than LATEST
    // were never committed as the latest and are not trusted.
    int tried = 0, rc = AGIR_OK;
    char first_msg[1024] = "";
    for (int i = latest >= 0 ? -1 : 0; i < n; i++) {
        int64_t step = i < 0 ? latest : steps[i];
        if (i >= 0 && latest >= 0 && step >= latest) continue;
        agir_err one;
        agir_err_clear(&one);
        int wrong_run = 0;
        rc = load_one(run_dir, step, model_type, c, &wrong_run, &one);
        if (!rc) break;
        agir_ckpt_close(c);
        if (wrong_run) {
            free(steps);
            return agir_errf(e, rc, "%s", one.msg);
        }
        if (!tried++) snprintf(first_msg, sizeof first_msg, "%s", one.msg);
        if (log) agir_warn(log, "skipping checkpoint step %lld: %s", (long long)step, one.msg);
    }
    free(steps);
    if (c->found) {
        if (tried && log) agir_warn(log, "resuming from the older checkpoint %s", c->dir);
        return AGIR_OK;
    }
    return AGIR_BAD(e, "%s: no intact checkpoint among %d tried; newest: %s", run_dir, tried, first_msg);
}

int agir_ckpt_load_dir(const char *dir, const char *model_type, agir_ckpt *c, agir_err *e) {
    memset(c, 0, sizeof *c);
    char parent[4096];
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    if (n >= sizeof parent) return AGIR_BAD(e, "%.200s...: path too long", dir);
    memcpy(parent, dir, n);
    parent[n] = '\0';
    char *slash = strrchr(parent, '/');
    const char *base = slash ? slash + 1 : parent;
    int64_t step;
    if (!parse_ckpt_name(base, &step))
        return AGIR_BAD(e, "%s: not a checkpoint folder (hint: give a run folder or one of its ckpt-<step> folders)",
                        dir);
    if (!slash) snprintf(parent, sizeof parent, ".");
    else if (slash == parent) parent[1] = '\0';
    else *slash = '\0';
    int wrong_run = 0;
    int rc = load_one(parent, step, model_type, c, &wrong_run, e);
    if (rc) agir_ckpt_close(c);
    return rc;
}

// ---------------------------------------------------------------------------------------------
// Access and matching

const agir_st_file *agir_ckpt_group_file(const agir_ckpt *c, const char *name) {
    for (int i = 0; i < c->n_groups; i++)
        if (!strcmp(c->group[i], name)) return &c->file[i];
    return NULL;
}

const agir_rng *agir_ckpt_rng_get(const agir_ckpt *c, const char *name) {
    for (int i = 0; i < c->state.n_rng; i++)
        if (!strcmp(c->state.rng[i].name, name)) return &c->state.rng[i].r;
    return NULL;
}

int agir_ckpt_expect(const agir_ckpt *c, const char *name, const agir_tensor_view *want, int64_t n, agir_err *e) {
    const agir_st_file *f = agir_ckpt_group_file(c, name);
    if (!f)
        return AGIR_BAD(e, "%s: has no %s tensors (hint: the checkpoint is from another kind of job; use its own run "
                        "folder)", c->dir, name);
    for (int64_t i = 0; i < n; i++) {
        const agir_tensor_view *v = agir_st_find(f, want[i].name);
        if (!v)
            return AGIR_BAD(e, "%s/%s%s: has no tensor '%s' (hint: the checkpoint is from another configuration; use "
                            "a new run folder or the matching config)", c->dir, name, ST_EXT, want[i].name);
        int same = v->dtype == want[i].dtype && v->ndim == want[i].ndim;
        for (int d = 0; same && d < v->ndim; d++) same = v->shape[d] == want[i].shape[d];
        if (!same) {
            char a[256], b[256];
            agir_st_shape_str(v, a, sizeof a);
            agir_st_shape_str(&want[i], b, sizeof b);
            return AGIR_BAD(e, "%s/%s%s: tensor '%s' is %s %s, this model expects %s %s (hint: the checkpoint is from "
                            "another configuration)", c->dir, name, ST_EXT, want[i].name, agir_st_dtype_name(v->dtype),
                            a, agir_st_dtype_name(want[i].dtype) ? agir_st_dtype_name(want[i].dtype) : "?", b);
        }
    }
    if (f->n != n)
        return AGIR_BAD(e, "%s/%s%s: holds %lld tensors, this model has %lld (hint: the checkpoint is from another "
                        "configuration)", c->dir, name, ST_EXT, (long long)f->n, (long long)n);
    return AGIR_OK;
}
