// Saving and loading adapters: LoRA matrices under PEFT's tensor names, the new token rows, and
// the metadata that ties them to their base model and tokens (see adapter.h).
#include "models/adapter.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoints/safetensors.h"
#include "core/json.h"
#include "models/llama_load_impl.h"

#define NEW_EMBED "agir.new_embed"
#define NEW_HEAD "agir.new_head"

// PEFT wraps the HF model: "base_model.model." + the HF module name + ".lora_A.weight".
static void lora_name(char *out, size_t n, int layer, int t, char ab) {
    const char *w = agir_llama_layer_suffix[AGIR_LLAMA_W + t][AGIR_LLAMA_HF];  // ".self_attn.q_proj.weight"
    int module = (int)(strlen(w) - strlen(".weight"));
    const char *prefix = agir_llama_format_names[AGIR_LLAMA_HF].layer_prefix;  // "model.layers."
    snprintf(out, n, "base_model.model.%s%d%.*s.lora_%c.weight", prefix, layer, module, w, ab);
}

uint64_t agir_vocab_hash(const agir_tok *t, int32_t n) {
    uint64_t h = 14695981039346656037ull;  // FNV-1a 64 offset basis and prime (Fowler, Noll, Vo)
    for (int32_t id = 0; id < n; id++) {
        size_t len = 0;
        const char *s = agir_tok_str(t, id, &len, NULL);
        unsigned char lb[4] = {(unsigned char)len, (unsigned char)(len >> 8), (unsigned char)(len >> 16),
                               (unsigned char)(len >> 24)};
        for (size_t i = 0; s && i < len; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
        for (int i = 0; i < 4; i++) h = (h ^ lb[i]) * 1099511628211ull;
    }
    return h;
}

// The vocabulary before extension: the new rows start there.
static int32_t base_vocab(const agir_llm *l) {
    return l->model.cfg.vocab > l->model.v0 ? l->model.v0 : agir_tok_n_vocab(l->tok);
}

// ---- save ----

static char *targets_str(unsigned bits) {
    static const size_t cap = 64;
    char *s = calloc(cap, 1);
    for (int t = 0; s && t < AGIR_LORA_NTARGET; t++)
        if (bits & (1u << t)) snprintf(s + strlen(s), cap - strlen(s), "%s%s", s[0] ? "," : "",
                                       agir_lora_target_name((agir_lora_target)t));
    return s;
}

// [[id, "string"], ...] of the new rows.
static char *new_tokens_json(const agir_llm *l) {
    cJSON *arr = cJSON_CreateArray();
    for (int32_t id = l->model.v0; arr && id < l->model.cfg.vocab; id++) {
        size_t len;
        const char *s = agir_tok_str(l->tok, id, &len, NULL);
        char *copy = s ? strndup(s, len) : NULL;
        cJSON *pair = cJSON_CreateArray();
        if (!copy || !pair || !cJSON_AddItemToArray(pair, cJSON_CreateNumber(id)) ||
            !cJSON_AddItemToArray(pair, cJSON_CreateString(copy)) || !cJSON_AddItemToArray(arr, pair)) {
            cJSON_Delete(pair);
            cJSON_Delete(arr);
            arr = NULL;
        }
        free(copy);
    }
    char *out = arr ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    return out;
}

static agir_tensor_view matrix(const char *name, const float *data, int rows, int cols) {
    agir_tensor_view v = {.name = name, .dtype = AGIR_DT_F32, .ndim = 2, .shape = {rows, cols}, .data = data,
                          .nbytes = sizeof(float) * (size_t)rows * (size_t)cols};
    return v;
}

void agir_adapter_views_free(agir_adapter_views *p) {
    free(p->t), free(p->names), free(p->targets), free(p->tokens);
    memset(p, 0, sizeof *p);
}

int agir_adapter_views_make(agir_adapter_views *p, const agir_llm *l, const agir_lora *lora, agir_err *e) {
    memset(p, 0, sizeof *p);
    const agir_llama *m = &l->model;
    int n_new = m->cfg.vocab - m->v0;
    if (lora->n_layer != m->cfg.n_layer) return AGIR_BUG(e, "LoRA for %d layers on a %d-layer model", lora->n_layer,
                                                         m->cfg.n_layer);
    size_t max_views = (size_t)m->cfg.n_layer * AGIR_LORA_NTARGET * 2 + 2;
    p->t = calloc(max_views, sizeof *p->t);
    p->names = calloc(max_views, sizeof *p->names);
    p->targets = targets_str(lora->cfg.targets), p->tokens = new_tokens_json(l);
    if (!p->t || !p->names || !p->targets || !p->tokens) {
        agir_adapter_views_free(p);
        return AGIR_BUG(e, "out of memory");
    }
    for (int layer = 0; layer < m->cfg.n_layer; layer++)
        for (int t = 0; t < AGIR_LORA_NTARGET; t++) {
            const agir_lora_mat *mt = agir_lora_at(lora, layer, (agir_lora_target)t);
            if (!mt->A) continue;
            lora_name(p->names[p->n], AGIR_ADAPTER_NAME_LEN, layer, t, 'A');
            p->t[p->n] = matrix(p->names[p->n], mt->A, lora->cfg.rank, mt->in), p->n++;
            lora_name(p->names[p->n], AGIR_ADAPTER_NAME_LEN, layer, t, 'B');
            p->t[p->n] = matrix(p->names[p->n], mt->B, mt->out, lora->cfg.rank), p->n++;
        }
    if (n_new > 0) p->t[p->n++] = matrix(NEW_EMBED, m->new_embed, n_new, m->cfg.dim);
    if (n_new > 0 && !m->cfg.tied) p->t[p->n++] = matrix(NEW_HEAD, m->new_head, n_new, m->cfg.dim);
    snprintf(p->num[0], sizeof p->num[0], "%d", lora->cfg.rank);
    snprintf(p->num[1], sizeof p->num[1], "%.9g", lora->cfg.alpha);
    snprintf(p->num[2], sizeof p->num[2], "%d", lora->cfg.rslora ? 1 : 0);
    snprintf(p->num[3], sizeof p->num[3], "%.9g", lora->cfg.dropout);
    snprintf(p->num[4], sizeof p->num[4], "%d", m->cfg.n_layer);
    snprintf(p->num[5], sizeof p->num[5], "%d", m->cfg.dim);
    snprintf(p->num[6], sizeof p->num[6], "%d", base_vocab(l));
    snprintf(p->num[7], sizeof p->num[7], "%016" PRIx64, agir_vocab_hash(l->tok, base_vocab(l)));
    const char *slash = strrchr(l->source, '/');
    agir_st_kv meta[AGIR_ADAPTER_N_META] = {
        {"format", "pt"},      {"agir.adapter", "1"},      {"rank", p->num[0]},       {"alpha", p->num[1]},
        {"rslora", p->num[2]}, {"dropout", p->num[3]},     {"targets", p->targets},   {"n_layer", p->num[4]},
        {"dim", p->num[5]},    {"base_vocab", p->num[6]},  {"base_vocab_hash", p->num[7]},
        {"base_name", slash ? slash + 1 : l->source},      {"new_tokens", p->tokens}, {"tied", m->cfg.tied ? "1" : "0"},
    };
    memcpy(p->meta, meta, sizeof meta);
    return AGIR_OK;
}

int agir_adapter_save(const char *path, const agir_llm *l, const agir_lora *lora, agir_err *e) {
    agir_adapter_views p;
    AGIR_TRY(agir_adapter_views_make(&p, l, lora, e));
    int rc = agir_st_write(path, p.t, p.n, p.meta, AGIR_ADAPTER_N_META, e);
    agir_adapter_views_free(&p);
    return rc;
}

// ---- load ----

static const char *need_meta(const agir_st_file *f, const char *path, const char *key, agir_err *e) {
    const char *s = agir_st_meta(f, key);
    if (!s) AGIR_BAD(e, "%s: metadata '%s' is missing (hint: is this an AGIR adapter?)", path, key);
    return s;
}

static int meta_int(const agir_st_file *f, const char *path, const char *key, long lo, long hi, int *out, agir_err *e) {
    const char *s = need_meta(f, path, key, e);
    if (!s) return AGIR_EINPUT;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return AGIR_BAD(e, "%s: metadata '%s': '%s' is not an integer in %ld..%ld", path, key, agir_show(s).s, lo, hi);
    *out = (int)v;
    return 0;
}

static int meta_float(const agir_st_file *f, const char *path, const char *key, float *out, agir_err *e) {
    const char *s = need_meta(f, path, key, e);
    if (!s) return AGIR_EINPUT;
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v) || fabs(v) > 1e30)
        return AGIR_BAD(e, "%s: metadata '%s': '%s' is not a finite number", path, key, agir_show(s).s);
    *out = (float)v;
    return 0;
}

static int lora_config(const agir_st_file *f, const char *path, agir_lora_cfg *c, agir_err *e) {
    memset(c, 0, sizeof *c);
    const char *fmt = agir_st_meta(f, "agir.adapter");
    if (!fmt || strcmp(fmt, "1"))
        return AGIR_BAD(e, "%s: not an AGIR adapter (metadata 'agir.adapter' is %s, expected \"1\")", path,
                        fmt ? agir_show(fmt).s : "missing");
    AGIR_TRY(meta_int(f, path, "rank", 1, 4096, &c->rank, e));
    AGIR_TRY(meta_float(f, path, "alpha", &c->alpha, e));
    AGIR_TRY(meta_float(f, path, "dropout", &c->dropout, e));
    AGIR_TRY(meta_int(f, path, "rslora", 0, 1, &c->rslora, e));
    const char *t = need_meta(f, path, "targets", e);
    if (!t) return AGIR_EINPUT;
    char what[4200];
    snprintf(what, sizeof what, "%s: metadata 'targets'", path);
    return agir_lora_parse_targets(t, what, &c->targets, e);
}

// The base the adapter was made for must be l's: layers, width, vocabulary size and hash.
static int check_base(const agir_st_file *f, const char *path, const agir_llm *l, agir_err *e) {
    int n_layer, dim, vocab;
    AGIR_TRY(meta_int(f, path, "n_layer", 1, 1 << 20, &n_layer, e));
    AGIR_TRY(meta_int(f, path, "dim", 1, 1 << 20, &dim, e));
    AGIR_TRY(meta_int(f, path, "base_vocab", 1, 1 << 30, &vocab, e));
    const char *hash = need_meta(f, path, "base_vocab_hash", e), *name = agir_st_meta(f, "base_name");
    if (!hash) return AGIR_EINPUT;
    char have[20];
    int32_t base = base_vocab(l);
    snprintf(have, sizeof have, "%016" PRIx64, agir_vocab_hash(l->tok, base));
    if (n_layer != l->model.cfg.n_layer || dim != l->model.cfg.dim || vocab != base || strcmp(hash, have))
        return AGIR_BAD(e, "%s: made for base '%s' (%d layers, width %d, vocabulary %d, hash %s), the loaded model "
                        "%s has %d layers, width %d, vocabulary %d, hash %s (hint: load the base it was trained on)",
                        path, name ? agir_show(name).s : "?", n_layer, dim, vocab, agir_show(hash).s, l->source,
                        l->model.cfg.n_layer, l->model.cfg.dim, base, have);
    return 0;
}

// The new tokens: [[id, "string"], ...] with ids consecutive from the base vocabulary and the
// strings agir_tok_add_motion writes for k motion tokens; *k = 0 when there are none.
static int new_tokens(const agir_st_file *f, const char *path, int32_t base, cJSON **list, int *k, agir_err *e) {
    const char *s = need_meta(f, path, "new_tokens", e);
    if (!s) return AGIR_EINPUT;
    *list = cJSON_Parse(s);
    if (!cJSON_IsArray(*list)) return AGIR_BAD(e, "%s: metadata 'new_tokens' is not a JSON array", path);
    int n = cJSON_GetArraySize(*list), i = 0;
    *k = n ? n - 2 : 0;
    if (n == 1 || n == 2 || n > 65538) return AGIR_BAD(e, "%s: metadata 'new_tokens': %d tokens (hint: K motion tokens + 2)", path, n);
    char want[32];
    for (const cJSON *p = (*list)->child; p; p = p->next, i++) {
        const cJSON *id = cJSON_GetArrayItem(p, 0), *str = cJSON_GetArrayItem(p, 1);
        if (i < *k) snprintf(want, sizeof want, "<motion_id_%d>", i);
        else snprintf(want, sizeof want, "%s", i == *k ? "<som>" : "<eom>");
        if (!cJSON_IsArray(p) || cJSON_GetArraySize(p) != 2 || !cJSON_IsNumber(id) || id->valuedouble != base + i ||
            !cJSON_IsString(str) || strcmp(str->valuestring, want))
            return AGIR_BAD(e, "%s: metadata 'new_tokens'[%d] is not [%d, \"%s\"] (hint: the adapter's tokens must "
                            "follow the base vocabulary)", path, i, base + i, want);
    }
    return 0;
}

// l's tokens [v0, vocab) must be exactly the adapter's list.
static int same_tokens(const agir_llm *l, const cJSON *list, const char *path, agir_err *e) {
    int n = cJSON_GetArraySize(list);
    if (l->model.cfg.vocab - l->model.v0 != n)
        return AGIR_BAD(e, "%s: the adapter has %d new tokens, the model %d (hint: apply it to its base model)", path,
                        n, l->model.cfg.vocab - l->model.v0);
    for (const cJSON *p = list->child; p; p = p->next) {
        int32_t id = (int32_t)cJSON_GetArrayItem(p, 0)->valuedouble;
        const char *want = cJSON_GetArrayItem(p, 1)->valuestring;
        size_t len;
        const char *s = agir_tok_str(l->tok, id, &len, NULL);
        if (!s || len != strlen(want) || memcmp(s, want, len))
            return AGIR_BAD(e, "%s: token %d is '%s' in the adapter but not in the model (hint: apply it to its base "
                            "model)", path, id, agir_show(want).s);
    }
    return 0;
}

// Tensor `name` (rows, cols), checked (shape, type, finite values) and copied into dst; with dst
// NULL only checked.
static int take(const agir_st_file *f, const char *path, const char *name, int rows, int cols, float *dst,
                agir_err *e) {
    const agir_tensor_view *v = agir_st_find(f, name);
    if (!v) return AGIR_BAD(e, "%s: tensor '%s' is missing (hint: the adapter's targets and tensors disagree)", path, name);
    if (v->ndim != 2 || v->shape[0] != rows || v->shape[1] != cols) {
        char got[128];
        agir_st_shape_str(v, got, sizeof got);
        return AGIR_BAD(e, "%s: tensor '%s' has shape %s, expected [%d, %d]", path, name, got, rows, cols);
    }
    if (v->dtype != AGIR_DT_F32 && v->dtype != AGIR_DT_F16 && v->dtype != AGIR_DT_BF16)
        return AGIR_BAD(e, "%s: tensor '%s' has type %s (hint: F32, F16 or BF16)", path, name, agir_dtype_name(v->dtype));
    size_t n = (size_t)rows * (size_t)cols;
    float *x = dst ? dst : malloc(n * sizeof *x);
    if (!x) return AGIR_BUG(e, "out of memory for tensor '%s'", name);
    int rc = agir_view_to_f32(v, x, e);
    for (size_t i = 0; i < n && !rc; i++)
        if (!isfinite(x[i])) rc = AGIR_BAD(e, "%s: tensor '%s' holds NaN or infinite values", path, name);
    if (!dst) free(x);
    return rc;
}

// Every tensor of the adapter: with fill == 0 only checked, so that a bad file is refused before l
// is extended; with fill == 1 copied.
static int tensors(const agir_st_file *f, const char *path, agir_llm *l, agir_lora *lora, int n_new, int fill,
                   agir_err *e) {
    char name[AGIR_ADAPTER_NAME_LEN];
    int64_t count = 0;
    for (int layer = 0; layer < lora->n_layer; layer++)
        for (int t = 0; t < AGIR_LORA_NTARGET; t++) {
            agir_lora_mat *mt = agir_lora_at(lora, layer, (agir_lora_target)t);
            if (!mt->A) continue;
            lora_name(name, sizeof name, layer, t, 'A');
            AGIR_TRY(take(f, path, name, lora->cfg.rank, mt->in, fill ? mt->A : NULL, e));
            lora_name(name, sizeof name, layer, t, 'B');
            AGIR_TRY(take(f, path, name, mt->out, lora->cfg.rank, fill ? mt->B : NULL, e));
            count += 2;
        }
    int C = l->model.cfg.dim, tied = l->model.cfg.tied;
    if (n_new) {
        AGIR_TRY(take(f, path, NEW_EMBED, n_new, C, fill ? l->model.new_embed : NULL, e));
        count++;
    }
    if (n_new && !tied) {
        AGIR_TRY(take(f, path, NEW_HEAD, n_new, C, fill ? l->model.new_head : NULL, e));
        count++;
    }
    if (tied && agir_st_find(f, NEW_HEAD))
        return AGIR_BAD(e, "%s: tensor '%s' is for an untied output matrix, the model ties it to the embedding", path,
                        NEW_HEAD);
    if (count != f->n)
        return AGIR_BAD(e, "%s: %lld tensors, the adapter's configuration implies %lld (hint: stray tensors)", path,
                        (long long)f->n, (long long)count);
    return 0;
}

// Each LoRA weight comes from its own tensor element, so a rank or target list far beyond the
// file's tensors is refused before allocating: a few bytes of metadata could ask for gigabytes.
// Up to twice the tensors' size passes, leaving near misses to take()'s message naming the tensor.
static int check_lora_size(const agir_st_file *f, const char *path, const agir_lora_cfg *lc, int n_layer,
                           const int dims[AGIR_LORA_NTARGET][2], agir_err *e) {
    double need = 0, held = 0;
    for (int t = 0; t < AGIR_LORA_NTARGET; t++)
        if (lc->targets & (1u << t)) need += (double)lc->rank * (dims[t][0] + dims[t][1]) * n_layer;
    for (int64_t i = 0; i < f->n; i++) {
        uint64_t n = 0;
        agir_view_numel(&f->t[i], &n);  // cannot overflow: the reader matched it to the bytes
        held += (double)n;
    }
    if (need > 2 * held)
        return AGIR_BAD(e, "%s: rank %d on the targets implies %.0f LoRA weights but the tensors hold only %.0f "
                        "(hint: metadata 'rank' or 'targets' does not match the tensors)", path, lc->rank, need, held);
    return 0;
}

static int apply(const agir_st_file *f, const char *path, agir_llm *l, agir_lora *lora, agir_err *e) {
    agir_lora_cfg lc;
    AGIR_TRY(lora_config(f, path, &lc, e));
    AGIR_TRY(check_base(f, path, l, e));
    cJSON *list = NULL;
    int k = 0, dims[AGIR_LORA_NTARGET][2];
    int rc = new_tokens(f, path, base_vocab(l), &list, &k, e);
    agir_llama_lora_dims(&l->model.cfg, dims);
    if (!rc) rc = check_lora_size(f, path, &lc, l->model.cfg.n_layer, dims, e);
    agir_err sub = {0};
    if (!rc && agir_lora_alloc(lora, &lc, l->model.cfg.n_layer, dims, &sub))
        rc = agir_errf(e, sub.code, "%s: %s", path, sub.msg);
    int extend = !rc && k > 0 && l->model.cfg.vocab == l->model.v0;
    int n_new = k ? k + 2 : 0;
    if (!rc) rc = tensors(f, path, l, lora, n_new, 0, e);
    if (extend) {
        agir_new_rows_opts o = {.init = AGIR_NEW_ROWS_MEAN};
        if (!rc) rc = agir_llm_add_motion(l, k, &o, NULL, e);
    }
    if (!rc) rc = same_tokens(l, list, path, e);
    if (!rc) rc = tensors(f, path, l, lora, n_new, 1, e);
    cJSON_Delete(list);
    return rc;
}

int agir_adapter_apply(const agir_st_file *f, const char *name, agir_llm *l, agir_lora *lora, agir_err *e) {
    memset(lora, 0, sizeof *lora);
    int rc = apply(f, name, l, lora, e);
    if (rc) agir_lora_free(lora);
    return rc;
}

int agir_adapter_load(const char *path, agir_llm *l, agir_lora *lora, agir_err *e) {
    agir_st_file f;
    memset(lora, 0, sizeof *lora);
    AGIR_TRY(agir_st_open(path, &f, e));
    int rc = agir_adapter_apply(&f, path, l, lora, e);
    agir_st_close(&f);
    return rc;
}
