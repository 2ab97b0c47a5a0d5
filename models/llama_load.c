// Loading Llama-family checkpoints: HF folders (config.json, tokenizer.json, model.safetensors or
// model.safetensors.index.json with its shards), GGUF files (llama_gguf.c), the agir_llm bundle
// with tokenizer and chat template, and vocabulary extension with motion tokens (see llama_load.h).
#include "models/llama_load.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoints/default_model.h"
#include "checkpoints/gguf.h"
#include "checkpoints/safetensors.h"
#include "core/fsio.h"
#include "core/json.h"
#include "models/llama_load_impl.h"

enum { MAX_JSON_BYTES = 64 << 20, MAX_SHARDS = 4096 };

const agir_llama_names agir_llama_format_names[AGIR_LLAMA_NFORMAT] = {
    [AGIR_LLAMA_HF] = {.format = AGIR_LLAMA_HF, .embed = "model.embed_tokens.weight", .head = "lm_head.weight",
                       .norm = "model.norm.weight", .layer_prefix = "model.layers."},
    [AGIR_LLAMA_GGUF] = {.format = AGIR_LLAMA_GGUF, .embed = "token_embd.weight", .head = "output.weight",
                         .norm = "output_norm.weight", .layer_prefix = "blk."},
};

// HF's module names and llama.cpp's (its gguf-py tensor_mapping.py pairs them the same way).
const char *const agir_llama_layer_suffix[AGIR_LLAMA_NTENSOR][AGIR_LLAMA_NFORMAT] = {
    [AGIR_LLAMA_ATTN_NORM] = {".input_layernorm.weight", ".attn_norm.weight"},
    [AGIR_LLAMA_MLP_NORM] = {".post_attention_layernorm.weight", ".ffn_norm.weight"},
    [AGIR_LLAMA_W + AGIR_LORA_Q] = {".self_attn.q_proj.weight", ".attn_q.weight"},
    [AGIR_LLAMA_W + AGIR_LORA_K] = {".self_attn.k_proj.weight", ".attn_k.weight"},
    [AGIR_LLAMA_W + AGIR_LORA_V] = {".self_attn.v_proj.weight", ".attn_v.weight"},
    [AGIR_LLAMA_W + AGIR_LORA_O] = {".self_attn.o_proj.weight", ".attn_output.weight"},
    [AGIR_LLAMA_W + AGIR_LORA_GATE] = {".mlp.gate_proj.weight", ".ffn_gate.weight"},
    [AGIR_LLAMA_W + AGIR_LORA_UP] = {".mlp.up_proj.weight", ".ffn_up.weight"},
    [AGIR_LLAMA_W + AGIR_LORA_DOWN] = {".mlp.down_proj.weight", ".ffn_down.weight"},
    [AGIR_LLAMA_BQ] = {".self_attn.q_proj.bias", ".attn_q.bias"},
    [AGIR_LLAMA_BK] = {".self_attn.k_proj.bias", ".attn_k.bias"},
    [AGIR_LLAMA_BV] = {".self_attn.v_proj.bias", ".attn_v.bias"},
};

void agir_llama_layer_name(const agir_llama_names *nm, int l, agir_llama_tensor i, char out[AGIR_LLAMA_NAME_MAX]) {
    snprintf(out, AGIR_LLAMA_NAME_MAX, "%s%d%s", nm->layer_prefix, l, agir_llama_layer_suffix[i][nm->format]);
}

// ---- filling weights from any tensor source ----

static int all_finite(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

// Copies tensor `name` into dst after checking it (rows, cols; cols 0 for a vector).
static int put(const agir_weight_src *s, const char *name, float *dst, int64_t rows, int64_t cols, agir_err *e) {
    const char *file = "";
    const agir_tensor_view *v = s->find(s->ctx, name, &file);
    if (!v) return AGIR_BAD(e, "%s: tensor '%s' is missing (hint: is this a Llama/Qwen2 checkpoint?)", file, name);
    int ndim = cols ? 2 : 1;
    if (v->ndim != ndim || v->shape[0] != rows || (cols && v->shape[1] != cols)) {
        char got[128], want[64];
        agir_st_shape_str(v, got, sizeof got);
        if (cols) snprintf(want, sizeof want, "[%lld, %lld]", (long long)rows, (long long)cols);
        else snprintf(want, sizeof want, "[%lld]", (long long)rows);
        return AGIR_BAD(e, "%s: tensor '%s' has shape %s, %s implies %s", file, name, got, s->what, want);
    }
    int ok = v->dtype == AGIR_DT_F32 || v->dtype == AGIR_DT_F16 || v->dtype == AGIR_DT_BF16 ||
             (s->quantized && (v->dtype == AGIR_DT_Q8_0 || v->dtype == AGIR_DT_Q4_0 || v->dtype == AGIR_DT_Q4_1));
    if (!ok)
        return AGIR_BAD(e, "%s: tensor '%s' has type %s (hint: weights must be F32, F16 or BF16%s)", file, name,
                        agir_dtype_name(v->dtype), s->quantized ? ", or Q8_0, Q4_0, Q4_1" : "");
    AGIR_TRY(agir_view_to_f32(v, dst, e));
    if (!all_finite(dst, (size_t)rows * (size_t)(cols ? cols : 1)))
        return AGIR_BAD(e, "%s: tensor '%s' holds NaN or infinite values (hint: the file is corrupt)", file, name);
    return 0;
}

int agir_llama_check_held(const agir_llama_config *c, double held, const char *file, agir_err *e) {
    // In double: the sizes are not range-checked yet (agir_llama_alloc does that), so int products
    // could overflow; the matrices alone are a lower bound of the weight count. Up to twice `held`
    // passes, so that a near miss gets agir_llama_fill's message naming the mis-shaped tensor.
    double C = c->dim, HD = (double)c->n_head * c->head_dim, KD = (double)c->n_kv_head * c->head_dim;
    double need = (double)c->vocab * C * (c->tied ? 1 : 2) + (double)c->n_layer * C * (2 * HD + 2 * KD + 3.0 * c->ffn);
    if (need > 2 * held)
        return AGIR_BAD(e, "%s: the configuration implies at least %.0f weights but the tensors hold only %.0f "
                        "(hint: the layer count or sizes do not match the tensors)", file, need, held);
    return 0;
}

int agir_llama_fill(agir_llama *m, const agir_weight_src *s, agir_err *e) {
    const agir_llama_config *c = &m->cfg;
    const agir_llama_names *nm = s->names;
    int64_t C = c->dim;
    AGIR_TRY(put(s, nm->embed, m->embed, c->vocab, C, e));
    if (!c->tied) AGIR_TRY(put(s, nm->head, m->head, c->vocab, C, e));
    AGIR_TRY(put(s, nm->norm, m->norm, C, 0, e));
    size_t shape[AGIR_LLAMA_NTENSOR][2];
    agir_llama_layer_shapes(c, shape);
    for (int l = 0; l < c->n_layer; l++) {
        float **slot[AGIR_LLAMA_NTENSOR];
        agir_llama_layer_slots(&m->layers[l], slot);
        for (int i = 0; i < AGIR_LLAMA_NTENSOR; i++) {
            if (!shape[i][0]) continue;  // a bias the model does not have
            char name[AGIR_LLAMA_NAME_MAX];
            agir_llama_layer_name(nm, l, (agir_llama_tensor)i, name);
            AGIR_TRY(put(s, name, *slot[i], (int64_t)shape[i][0], (int64_t)shape[i][1], e));
        }
    }
    return 0;
}

// ---- HF safetensors: one file or shards ----

typedef struct hf_shards {
    agir_st_file *f;
    char (*path)[4096];
    int n;
} hf_shards;

static const agir_tensor_view *shards_find(const void *ctx, const char *name, const char **file) {
    const hf_shards *h = ctx;
    for (int i = 0; i < h->n; i++) {
        const agir_tensor_view *v = agir_st_find(&h->f[i], name);
        if (v) {
            *file = h->path[i];
            return v;
        }
    }
    *file = h->n == 1 ? h->path[0] : "model.safetensors.index.json";
    return NULL;
}

static void shards_close(hf_shards *h) {
    for (int i = 0; i < h->n; i++) agir_st_close(&h->f[i]);
    free(h->f);
    free(h->path);
    memset(h, 0, sizeof *h);
}

static int shards_add(hf_shards *h, const char *dir, const char *name, agir_err *e) {
    AGIR_TRY(agir_path_join(h->path[h->n], sizeof h->path[h->n], dir, name, e));
    AGIR_TRY(agir_st_open(h->path[h->n], &h->f[h->n], e));
    h->n++;
    return 0;
}

// The shard file names of an index's weight_map, each once, in first-use order. A name is a plain
// file name inside the folder: no path separators, so an index cannot point outside it.
static int index_files(const cJSON *map, const char *ipath, const char ***files, int *n, agir_err *e) {
    int cap = cJSON_GetArraySize(map);
    *files = calloc((size_t)(cap > 0 ? cap : 1), sizeof **files);
    *n = 0;
    if (!*files) return AGIR_BUG(e, "out of memory for %d index entries", cap);
    for (const cJSON *it = map->child; it; it = it->next) {
        if (!cJSON_IsString(it) || !it->string)
            return AGIR_BAD(e, "%s: weight_map[\"%s\"]: expected a file name string", ipath, agir_show(it->string).s);
        const char *f = it->valuestring;
        if (!f[0] || strchr(f, '/') || strchr(f, '\\') || !strcmp(f, ".") || !strcmp(f, ".."))
            return AGIR_BAD(e, "%s: weight_map[\"%s\"]: '%s' is not a file name in the model folder", ipath,
                            agir_show(it->string).s, agir_show(f).s);
        int seen = 0;
        for (int i = 0; i < *n && !seen; i++) seen = !strcmp((*files)[i], f);
        if (!seen) (*files)[(*n)++] = f;
    }
    if (*n == 0) return AGIR_BAD(e, "%s: weight_map is empty", ipath);
    if (*n > MAX_SHARDS) return AGIR_BAD(e, "%s: %d shard files (hint: at most %d)", ipath, *n, MAX_SHARDS);
    return 0;
}

// Every index entry is in the shard it names, no tensor is in two shards, and no shard holds a
// tensor the index does not list: each tensor exactly once.
static int check_shards(const hf_shards *h, const cJSON *map, const char *ipath, agir_err *e) {
    for (const cJSON *it = map->child; it; it = it->next) {
        if (cJSON_GetObjectItemCaseSensitive(map, it->string) != it)
            return AGIR_BAD(e, "%s: weight_map lists '%s' twice", ipath, agir_show(it->string).s);
        int where = -1;
        for (int i = 0; i < h->n && where < 0; i++)
            if (!strcmp(strrchr(h->path[i], '/') + 1, it->valuestring)) where = i;
        if (!agir_st_find(&h->f[where], it->string))
            return AGIR_BAD(e, "%s: tensor '%s' is listed in the index but missing from it (hint: the download is "
                            "incomplete)", h->path[where], agir_show(it->string).s);
    }
    for (int i = 0; i < h->n; i++)
        for (int64_t t = 0; t < h->f[i].n; t++) {
            const char *name = h->f[i].t[t].name;
            const cJSON *it = cJSON_GetObjectItemCaseSensitive(map, name);
            if (!it || strcmp(strrchr(h->path[i], '/') + 1, it->valuestring))
                return AGIR_BAD(e, "%s: tensor '%s' is not assigned to this shard by %s (hint: shards and index "
                                "disagree)", h->path[i], agir_show(name).s, ipath);
        }
    return 0;
}

static int read_json(const char *path, cJSON **root, agir_err *e) {
    char *text;
    size_t len;
    AGIR_TRY(agir_read_file(path, MAX_JSON_BYTES, &text, &len, e));
    const char *end = NULL;
    *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    ptrdiff_t at = end ? end - text : 0;
    free(text);
    if (!*root) return AGIR_BAD(e, "%s: not valid JSON near byte %td", path, at);
    return 0;
}

static int open_index(const char *dir, const char *ipath, hf_shards *h, agir_err *e) {
    cJSON *root;
    AGIR_TRY(read_json(ipath, &root, e));
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    const char **files = NULL;
    int n = 0, rc = cJSON_IsObject(map) ? 0
                                        : AGIR_BAD(e, "%s: weight_map: missing or not an object (hint: is this a "
                                                   "model.safetensors.index.json?)", ipath);
    if (!rc) rc = index_files(map, ipath, &files, &n, e);
    if (!rc) {
        h->f = calloc((size_t)n, sizeof *h->f);
        h->path = calloc((size_t)n, sizeof *h->path);
        if (!h->f || !h->path) rc = AGIR_BUG(e, "out of memory for %d shards", n);
    }
    for (int i = 0; i < n && !rc; i++) rc = shards_add(h, dir, files[i], e);
    if (!rc) rc = check_shards(h, map, ipath, e);
    free(files);
    cJSON_Delete(root);
    return rc;
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

// The single model.safetensors, or the shards of model.safetensors.index.json.
static int open_shards(const char *dir, hf_shards *h, agir_err *e) {
    char path[4096];
    memset(h, 0, sizeof *h);
    AGIR_TRY(agir_path_join(path, sizeof path, dir, "model.safetensors.index.json", e));
    int rc;
    if (is_file(path)) {
        rc = open_index(dir, path, h, e);
    } else {
        h->f = calloc(1, sizeof *h->f);
        h->path = calloc(1, sizeof *h->path);
        rc = h->f && h->path ? shards_add(h, dir, "model.safetensors", e) : AGIR_BUG(e, "out of memory");
    }
    if (rc) shards_close(h);
    return rc;
}

int agir_llama_load_hf(const char *dir, int n_new, agir_llama *m, agir_err *e) {
    char path[4096];
    agir_llama_config cfg;
    AGIR_TRY(agir_path_join(path, sizeof path, dir, "config.json", e));
    AGIR_TRY(agir_hf_config_load(path, &cfg, e));
    hf_shards h;
    AGIR_TRY(open_shards(dir, &h, e));
    double held = 0;
    for (int i = 0; i < h.n; i++)
        for (int64_t t = 0; t < h.f[i].n; t++) {
            uint64_t n = 0;
            agir_view_numel(&h.f[i].t[t], &n);  // cannot overflow: the reader matched it to the bytes
            held += (double)n;
        }
    agir_err sub = {0};
    int rc = agir_llama_check_held(&cfg, held, path, e);
    if (!rc && agir_llama_alloc(m, &cfg, n_new, &sub)) rc = agir_errf(e, sub.code, "%s: %s", path, sub.msg);
    if (!rc) {
        agir_weight_src s = {shards_find, &h, &agir_llama_format_names[AGIR_LLAMA_HF], 0, "config.json"};
        rc = agir_llama_fill(m, &s, e);
        if (rc) agir_llama_free(m);
    }
    shards_close(&h);
    return rc;
}

// ---- the agir_llm bundle ----

// A special token named by tokenizer_config.json: a string or an AddedToken object {"content": ...}.
static const char *token_content(const cJSON *v) {
    if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content");
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int named_token(const agir_llm *l, const cJSON *cfg, const char *key, const char *path, int32_t *id,
                       agir_err *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!v || cJSON_IsNull(v)) return 0;
    const char *s = token_content(v);
    if (!s) return AGIR_BAD(e, "%s: %s: expected a string or {\"content\": string}, not %s", path, key,
                            agir_json_kind(v));
    *id = agir_tok_find(l->tok, s, strlen(s));
    if (*id < 0) return AGIR_BAD(e, "%s: %s '%s' is not a token of tokenizer.json", path, key, agir_show(s).s);
    return 0;
}

// HF keeps the chat template in tokenizer_config.json "chat_template": a string, or a list of
// {"name", "template"} of which "default" is the one applied.
static int chat_template_of(const cJSON *cfg, const char *path, char **out, agir_err *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, "chat_template");
    const char *src = NULL;
    if (cJSON_IsArray(v)) {
        for (const cJSON *it = v->child; it && !src; it = it->next) {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
            const cJSON *tpl = cJSON_GetObjectItemCaseSensitive(it, "template");
            if (cJSON_IsString(name) && !strcmp(name->valuestring, "default") && cJSON_IsString(tpl))
                src = tpl->valuestring;
        }
    } else if (cJSON_IsString(v)) {
        src = v->valuestring;
    } else if (v && !cJSON_IsNull(v)) {
        return AGIR_BAD(e, "%s: chat_template: expected a string or a list of named templates, not %s", path,
                        agir_json_kind(v));
    }
    if (src && !(*out = strdup(src))) return AGIR_BUG(e, "out of memory");
    return 0;
}

// tokenizer_config.json is optional; it names the chat template and the BOS/EOS tokens.
static int hf_tokenizer_config(agir_llm *l, const char *dir, agir_err *e) {
    char path[4096];
    AGIR_TRY(agir_path_join(path, sizeof path, dir, "tokenizer_config.json", e));
    if (!is_file(path)) return 0;
    cJSON *cfg;
    AGIR_TRY(read_json(path, &cfg, e));
    int rc = cJSON_IsObject(cfg) ? 0 : AGIR_BAD(e, "%s: expected a JSON object", path);
    if (!rc) rc = chat_template_of(cfg, path, &l->chat_jinja, e);
    if (!rc) rc = named_token(l, cfg, "bos_token", path, &l->bos, e);
    if (!rc) rc = named_token(l, cfg, "eos_token", path, &l->eos, e);
    cJSON_Delete(cfg);
    return rc;
}

// Newer transformers save the template as chat_template.jinja beside tokenizer_config.json; it
// takes precedence, as in transformers.
static int hf_chat_template_file(agir_llm *l, const char *dir, agir_err *e) {
    char path[4096];
    size_t len;
    AGIR_TRY(agir_path_join(path, sizeof path, dir, "chat_template.jinja", e));
    if (!is_file(path)) return 0;
    free(l->chat_jinja);
    l->chat_jinja = NULL;
    AGIR_TRY(agir_read_file(path, MAX_JSON_BYTES, &l->chat_jinja, &len, e));
    if (strlen(l->chat_jinja) != len) return AGIR_BAD(e, "%s: holds a NUL byte", path);
    return 0;
}

static int load_hf_folder(agir_llm *l, const char *dir, agir_err *e) {
    char path[4096];
    AGIR_TRY(agir_llama_load_hf(dir, 0, &l->model, e));
    AGIR_TRY(agir_path_join(path, sizeof path, dir, "tokenizer.json", e));
    AGIR_TRY(agir_tok_load_json(&l->tok, path, e));
    AGIR_TRY(hf_tokenizer_config(l, dir, e));
    return hf_chat_template_file(l, dir, e);
}

static int gguf_token_id(const agir_gguf *g, const char *key, int32_t *id, agir_err *e) {
    if (!agir_gguf_find(g, key)) return 0;
    uint32_t v;
    AGIR_TRY(agir_gguf_get_u32(g, key, &v, e));
    if (v > INT32_MAX) return AGIR_BAD(e, "%s: key '%s': %u is not a token id", g->path, key, v);
    *id = (int32_t)v;
    return 0;
}

static int load_gguf_file(agir_llm *l, const char *path, agir_err *e) {
    agir_gguf g;
    AGIR_TRY(agir_gguf_open(path, &g, e));
    int rc = agir_llama_load_gguf(&g, &l->model, e);
    if (!rc) rc = agir_tok_load_gguf(&l->tok, &g, e);
    if (!rc && agir_gguf_find(&g, "tokenizer.chat_template"))
        rc = agir_gguf_get_str(&g, "tokenizer.chat_template", &l->chat_jinja, e);
    if (!rc) rc = gguf_token_id(&g, "tokenizer.ggml.bos_token_id", &l->bos, e);
    if (!rc) rc = gguf_token_id(&g, "tokenizer.ggml.eos_token_id", &l->eos, e);
    agir_gguf_close(&g);
    return rc;
}

int agir_llm_load(const char *path, agir_llm *l, agir_err *e) {
    memset(l, 0, sizeof *l);
    l->bos = l->eos = l->motion_first = -1;
    if (!path || !path[0]) {
        AGIR_TRY(agir_default_model_path(l->source, sizeof l->source, e));
    } else if ((size_t)snprintf(l->source, sizeof l->source, "%s", path) >= sizeof l->source) {
        return AGIR_BAD(e, "%.200s...: model path too long", path);
    }
    struct stat st;
    if (stat(l->source, &st)) return agir_err_io(e, l->source, "cannot open model");
    int rc = S_ISDIR(st.st_mode) ? load_hf_folder(l, l->source, e) : load_gguf_file(l, l->source, e);
    if (!rc) {
        int32_t nt = agir_tok_n_vocab(l->tok), V = l->model.cfg.vocab;
        if (nt > V)
            rc = AGIR_BAD(e, "%s: the tokenizer has %d tokens but the embedding only %d rows (hint: tokenizer and "
                          "weights come from different models)", l->source, nt, V);
        else if (l->bos >= nt || l->eos >= nt)
            rc = AGIR_BAD(e, "%s: BOS/EOS token id %d/%d is outside the vocabulary of %d", l->source, l->bos, l->eos, nt);
    }
    if (rc) agir_llm_free(l);
    return rc;
}

void agir_llm_free(agir_llm *l) {
    agir_llama_free(&l->model);
    agir_tok_free(l->tok);
    free(l->chat_jinja);
    memset(l, 0, sizeof *l);
    l->bos = l->eos = l->motion_first = -1;
}

// ---- vocabulary extension ----

// Every weight of `from` into `to`, whose configuration differs only in the vocabulary: embedding
// and output rows [0, rows) are copied, the rest of to's rows are left for the caller.
static void copy_weights(agir_llama *to, const agir_llama *from, int rows) {
    const agir_llama_config *c = &from->cfg;
    size_t C = (size_t)c->dim;
    memcpy(to->embed, from->embed, sizeof(float) * rows * C);
    if (!c->tied) memcpy(to->head, from->head, sizeof(float) * rows * C);
    memcpy(to->norm, from->norm, sizeof(float) * C);
    memcpy(to->inv_freq, from->inv_freq, sizeof(float) * (size_t)c->head_dim / 2);  // may hold GGUF rope_freqs
    size_t n[AGIR_LLAMA_NTENSOR];
    agir_llama_layer_sizes(c, n);
    for (int l = 0; l < c->n_layer; l++) {
        float **src[AGIR_LLAMA_NTENSOR], **dst[AGIR_LLAMA_NTENSOR];
        agir_llama_layer_slots(&from->layers[l], src);
        agir_llama_layer_slots(&to->layers[l], dst);
        for (int i = 0; i < AGIR_LLAMA_NTENSOR; i++)
            if (n[i]) memcpy(*dst[i], *src[i], sizeof(float) * n[i]);
    }
}

// out (C) = mean of rows ids[0..n) of w (rows, C), or of all rows [0, n) when ids is NULL; acc: (C)
// scratch, so the sum is in double whatever the vocabulary size.
static void mean_rows(const float *w, size_t C, const int32_t *ids, size_t n, double *acc, float *out) {
    memset(acc, 0, C * sizeof *acc);
    for (size_t i = 0; i < n; i++) {
        const float *row = w + (size_t)(ids ? ids[i] : (int32_t)i) * C;
        for (size_t j = 0; j < C; j++) acc[j] += row[j];
    }
    for (size_t j = 0; j < C; j++) out[j] = (float)(acc[j] / (double)n);
}

// The K + 2 new rows of one matrix w (its first `base` rows are the old vocabulary) into rows
// (K + 2, C). ids/n_ids: the text tokens of each new row (text mode; n_ids[i] == 0 means plain
// mean). which: 0 embedding, 1 untied output matrix (its own noise streams).
static int init_rows(const float *w, int base, int C, int n_new, const agir_new_rows_opts *o, agir_ids *text,
                     const agir_rng *r, int which, float *rows, agir_err *e) {
    float *mean = malloc(sizeof(float) * C);
    double *acc = malloc(sizeof(double) * C);
    if (!mean || !acc) {
        free(mean), free(acc);
        return AGIR_BUG(e, "out of memory");
    }
    mean_rows(w, (size_t)C, NULL, (size_t)base, acc, mean);
    for (int i = 0; i < n_new; i++) {
        float *row = rows + (size_t)i * C;
        if (text && text[i].n) mean_rows(w, (size_t)C, text[i].id, text[i].n, acc, row);
        else memcpy(row, mean, sizeof(float) * C);
        if (o->init != AGIR_NEW_ROWS_MEAN_NOISE) continue;
        agir_rng c;
        agir_rng_child(r, ((uint64_t)which << 32) | (uint64_t)i, &c);
        for (int j = 0; j < C; j++) row[j] += (float)(o->noise * agir_rng_normal(&c));
    }
    free(mean), free(acc);
    return 0;
}

static int check_new_rows(const agir_llm *l, int k, const agir_new_rows_opts *o, const agir_rng *r, agir_err *e) {
    if (l->motion_k) return AGIR_BUG(e, "motion tokens added twice");
    if (k < 1 || k > 65536) return AGIR_BAD(e, "motion codebook size %d out of range (hint: 1..65536)", k);
    if (o->init == AGIR_NEW_ROWS_MEAN_NOISE && !(o->noise >= 0 && o->noise < 1e3f))
        return AGIR_BAD(e, "new token rows: noise %g must be a small non-negative number", o->noise);
    if (o->init == AGIR_NEW_ROWS_MEAN_NOISE && !r) return AGIR_BUG(e, "noise init without a random stream");
    if (o->init == AGIR_NEW_ROWS_TEXT && !o->text) return AGIR_BUG(e, "text init without texts");
    if (o->init < AGIR_NEW_ROWS_MEAN || o->init > AGIR_NEW_ROWS_TEXT) return AGIR_BUG(e, "bad init %d", (int)o->init);
    return 0;
}

// Tokens of each new row's text with the base tokenizer (text mode), so they are base rows.
static int encode_texts(const agir_llm *l, int n_new, const agir_new_rows_opts *o, agir_ids *text, agir_err *e) {
    if (o->init != AGIR_NEW_ROWS_TEXT) return 0;
    for (int i = 0; i < n_new; i++) {
        const char *s = o->text[i];
        if (!s) continue;
        AGIR_TRY(agir_tok_encode(l->tok, s, strlen(s), &text[i], e));
        if (!text[i].n) return AGIR_BAD(e, "new token %d: init text '%s' has no tokens", i, agir_show(s).s);
    }
    return 0;
}

int agir_llm_add_motion(agir_llm *l, int k, const agir_new_rows_opts *o, const agir_rng *r, agir_err *e) {
    AGIR_TRY(check_new_rows(l, k, o, r, e));
    int base = agir_tok_n_vocab(l->tok), n_new = k + 2, C = l->model.cfg.dim, first;
    agir_ids *text = calloc((size_t)n_new, sizeof *text);
    if (!text) return AGIR_BUG(e, "out of memory");
    agir_llama_config cfg = l->model.cfg;
    cfg.vocab = base + n_new;  // rows past the tokenizer (padding) have no token: they are dropped
    agir_llama m = {0};
    int rc = encode_texts(l, n_new, o, text, e);
    if (!rc) rc = agir_llama_alloc(&m, &cfg, n_new, e);
    if (!rc) rc = agir_tok_add_motion(l->tok, k, &first, e);
    if (!rc && first != base) rc = AGIR_BUG(e, "motion tokens start at %d, expected %d", first, base);
    if (!rc) {
        copy_weights(&m, &l->model, base);
        rc = init_rows(l->model.embed, base, C, n_new, o, o->init == AGIR_NEW_ROWS_TEXT ? text : NULL, r, 0,
                       m.new_embed, e);
    }
    if (!rc && !cfg.tied)
        rc = init_rows(l->model.head, base, C, n_new, o, o->init == AGIR_NEW_ROWS_TEXT ? text : NULL, r, 1,
                       m.new_head, e);
    for (int i = 0; i < n_new; i++) agir_ids_free(&text[i]);
    free(text);
    if (rc) {
        agir_llama_free(&m);
        return rc;
    }
    agir_llama_free(&l->model);
    l->model = m;
    l->motion_first = first;
    l->motion_k = k;
    return 0;
}
